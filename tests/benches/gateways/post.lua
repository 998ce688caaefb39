-- wrk: every request is `<method> <url>` with a fixed body read from a file.
-- Arguments (after `--`): <method> <body file>. Headers come from wrk's -H.
-- (tests/benches/gateways.rs: the `rates` scenarios POST one rate request.)

function init(args)
   wrk.method = args[1]
   local f = assert(io.open(args[2], "rb"))
   wrk.body = f:read("*a")
   f:close()
end
