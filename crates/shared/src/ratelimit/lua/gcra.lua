-- Events against a GCRA limit ("N per period", bursts of up to N allowed).
-- KEYS[1]: the subject's key, holding its theoretical arrival time (ms).
-- ARGV[1]: emission interval in ms (period / N); ARGV[2]: period in ms;
-- ARGV[3]: most events to take at once (the caller keeps the extra ones for later
-- requests of the same subject, so a busy client costs one call per batch).
-- Returns {taken, wait_ms}: taken > 0 events counted, or 0 and the ms until one would be.
-- The clock is Redis' own, so every web instance agrees on it.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then
  tat = now
end
-- n events fit while tat + n * interval - period <= now
local fit = math.floor((now + period - tat) / interval)
if fit < 1 then
  return {0, tat + interval - period - now}
end
local taken = math.min(fit, want)
tat = tat + taken * interval
redis.call('SET', KEYS[1], tat, 'PX', tat - now)
return {taken, 0}
