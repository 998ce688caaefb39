-- Appended by tests/benches/common to every wrk script the benches run: at the end of
-- a run, one line with the exact latency percentiles (µs) and the counts wrk keeps,
-- which `--latency`'s rounded text lacks (no p99.9). A scenario script may define
-- `bench_extra()` returning text; it is printed on a `bench-extra` line (webhooks.lua
-- reports the statuses it saw).

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "bench-report requests=%d duration_us=%d p50=%d p99=%d p999=%d max=%d " ..
      "connect=%d read=%d write=%d status=%d timeout=%d\n",
      summary.requests, summary.duration,
      latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max,
      e.connect, e.read, e.write, e.status, e.timeout))
   if type(bench_extra) == "function" then
      io.write("bench-extra " .. bench_extra() .. "\n")
   end
end
