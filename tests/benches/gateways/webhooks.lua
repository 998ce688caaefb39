-- wrk: DHL tracking pushes (the Unified shape the DHL normalizer reads), one new event
-- per request except every 10th, which repeats the previous event byte for byte: 10%
-- duplicates. The intake's event id is a hash of the body, so each new event differs
-- in its shipment id (the run id + a counter). Arguments (after `--`): <run id>, unique
-- per wrk run so that no run resends an earlier run's events. The static token and
-- the content type come from wrk's -H. (tests/benches/gateways.rs: `webhooks` against
-- Waypost, `direct-post` against the native upstream as the baseline.)
--
-- Counts the answers: 202 (accepted), 200 (duplicate when Waypost answers; any 200
-- from the upstream), others; report.lua prints them on its `bench-extra` line.

local run = "run"
local counter = 0
local previous = nil

local template = '{"shipments":[{"id":"%s","service":"express",' ..
   '"origin":{"address":{"addressLocality":"LEIPZIG - GERMANY","countryCode":"DE"}},' ..
   '"destination":{"address":{"addressLocality":"OSLO - NORWAY","countryCode":"NO"}},' ..
   '"status":{"timestamp":"2026-11-22T09:12:00+01:00",' ..
   '"location":{"address":{"addressLocality":"OSLO - NORWAY","postalCode":"0150","countryCode":"NO"}},' ..
   '"statusCode":"transit","status":"TRANSIT",' ..
   '"description":"Arrived at Delivery Facility in OSLO - NORWAY"}}]}'

accepted = 0
duplicate = 0
other = 0

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   run = args[1] or run
   wrk.method = "POST"
end

function request()
   counter = counter + 1
   local body
   if counter % 10 == 0 and previous then
      body = previous
   else
      body = string.format(template, "JD" .. run .. "-" .. counter)
      previous = body
   end
   return wrk.format("POST", nil, nil, body)
end

function response(status, headers, body)
   if status == 202 then
      accepted = accepted + 1
   elseif status == 200 then
      duplicate = duplicate + 1
   else
      other = other + 1
   end
end

function bench_extra()
   local a, d, o = 0, 0, 0
   for _, t in ipairs(threads) do
      a = a + t:get("accepted")
      d = d + t:get("duplicate")
      o = o + t:get("other")
   end
   return string.format("accepted=%d duplicate=%d other=%d", a, d, o)
end
