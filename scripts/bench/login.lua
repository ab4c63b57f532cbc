-- wrk script: POST /api/auth/login, answers counted by status.
-- Environment:
--   LOGIN_EMAIL     the account [perf-login@example.com]; "random" = a new unknown
--                   account per request (a credential-stuffing flood)
--   LOGIN_PASSWORD  [bench-password-1]
--   LOGIN_XFF       X-Forwarded-For of every request, to be one client behind a proxy
--                   (the web must trust 127.0.0.1: TRUSTED_PROXIES=127.0.0.1/32) [unset]
-- Usage: LOGIN_EMAIL=random LOGIN_XFF=203.0.113.66 \
--          wrk -t1 -c16 -d40s -s scripts/bench/login.lua http://127.0.0.1:18080
local email = os.getenv("LOGIN_EMAIL") or "perf-login@example.com"
local password = os.getenv("LOGIN_PASSWORD") or "bench-password-1"
local headers = { ["Content-Type"] = "application/json" }
if os.getenv("LOGIN_XFF") then
  headers["X-Forwarded-For"] = os.getenv("LOGIN_XFF")
end

local threads = {}
setup = function(thread)
  table.insert(threads, thread)
end

-- Per thread: its own counters, read back by done() in the main interpreter.
init = function(args)
  codes = {}
  sent = 0
end

request = function()
  sent = sent + 1
  local who = email
  if email == "random" then
    who = string.format("flood-%d-%d@example.com", math.random(1e9), sent)
  end
  local body = string.format('{"email":"%s","password":"%s"}', who, password)
  return wrk.format("POST", "/api/auth/login", headers, body)
end

response = function(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
end

done = function(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for code, n in pairs(thread:get("codes")) do
      total[code] = (total[code] or 0) + n
    end
  end
  for code, n in pairs(total) do
    io.write(string.format("status %d: %d\n", code, n))
  end
end
