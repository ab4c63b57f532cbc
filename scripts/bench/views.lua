-- wrk script: POST /api/public/videos/{id}/view, every request a new viewer (its own
-- X-Forwarded-For address; the web must trust 127.0.0.1: TRUSTED_PROXIES=127.0.0.1/32),
-- answers counted by status.
-- Environment:
--   VIEW_FIRST, VIEW_COUNT  the videos: ids VIEW_FIRST .. VIEW_FIRST+VIEW_COUNT-1, drawn
--                           at random per request [1, 1]
--   VIEW_RUN                a number that makes this run's viewers new [0]
-- Usage: VIEW_FIRST=1 VIEW_COUNT=200 wrk -t1 -c64 -d10s -s scripts/bench/views.lua URL
local first = tonumber(os.getenv("VIEW_FIRST") or "1")
local count = tonumber(os.getenv("VIEW_COUNT") or "1")
local run = tonumber(os.getenv("VIEW_RUN") or "0")

local threads = {}
setup = function(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

init = function(args)
  codes = {}
  sent = 0
end

request = function()
  sent = sent + 1
  -- 2001:db8::/32 (documentation) addresses: run, thread, request number.
  local xff = string.format("2001:db8:%x:%x:%x:%x::1", run % 65536, id,
    math.floor(sent / 65536) % 65536, sent % 65536)
  local video = first + math.random(count) - 1
  return wrk.format("POST", string.format("/api/public/videos/%d/view", video),
    { ["X-Forwarded-For"] = xff }, "")
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
