-- Events against a GCRA limit ("N per period", bursts of up to N allowed).
-- KEYS[1]: the subject's key, holding its theoretical arrival time (µs).
-- ARGV[1]: emission interval in µs (period / N); ARGV[2]: period in µs;
-- ARGV[3]: most events to take at once (the caller keeps the extra ones for later
-- requests of the same subject, so a busy client costs one call per batch).
-- Returns {taken, wait_us}: taken > 0 events counted, or 0 and the µs until one would be.
-- The clock is Redis' own, so every web instance agrees on it. Microseconds since the
-- epoch (~1.8e15) are exact in Lua's doubles (2^53 ~ 9e15).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
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
redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000))
return {taken, 0}
