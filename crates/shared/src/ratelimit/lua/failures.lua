-- One login attempt against an account's failure window. Every attempt counts as a
-- failure until it succeeds (the caller then deletes the key), so parallel guesses
-- cannot slip past the limit while their hashes are being checked.
-- KEYS[1]: the account's counter; ARGV[1]: allowed failures; ARGV[2]: window in ms.
-- Returns 0 when the attempt may go ahead, else the ms until the window ends.
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
if n > tonumber(ARGV[1]) then
  return ttl
end
return 0
