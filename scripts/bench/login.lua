-- wrk script: POST /api/auth/login for the benchmark account (see wrk-read.sh).
-- Usage: wrk -t1 -c4 -d40s -s scripts/bench/login.lua http://127.0.0.1:18080
wrk.method = "POST"
wrk.path = "/api/auth/login"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email":"perf-login@example.com","password":"bench-password-1"}'

local codes = {}
response = function(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
end

done = function(summary, latency, requests)
  for code, n in pairs(codes) do
    io.write(string.format("status %d: %d\n", code, n))
  end
end
