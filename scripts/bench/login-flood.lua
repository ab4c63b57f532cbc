-- wrk script: one client (one X-Forwarded-For address, web started with
-- TRUSTED_PROXIES=127.0.0.1) sending logins for random unknown accounts as fast as it can.
-- Usage: wrk -t1 -c16 -d40s -s scripts/bench/login-flood.lua http://127.0.0.1:18080
local counter = 0
request = function()
  counter = counter + 1
  local body = string.format('{"email":"flood-%d-%d@example.com","password":"guess"}', math.random(1e9), counter)
  return wrk.format("POST", "/api/auth/login",
    { ["Content-Type"] = "application/json", ["X-Forwarded-For"] = "203.0.113.66" }, body)
end

local codes = {}
response = function(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
end

done = function(summary, latency, requests)
  for code, n in pairs(codes) do
    io.write(string.format("flood status %d: %d\n", code, n))
  end
end
