-- A job reached its end (processed, failed for good, or nothing to do): remove every
-- trace of the task, so Redis holds only live work.
-- KEYS[1] task data hash   KEYS[2] ready list   KEYS[3] scheduled zset
-- ARGV[1] task id   ARGV[2] task meta key   ARGV[3] the video's idempotency key
-- ARGV[4..] in-flight sets the task may be in
local id = ARGV[1]
for i = 4, #ARGV do
    redis.call('srem', ARGV[i], id)
end
redis.call('hdel', KEYS[1], id)
redis.call('del', ARGV[2])
redis.call('lrem', KEYS[2], 0, id)
redis.call('zrem', KEYS[3], id)
if redis.call('get', ARGV[3]) == id then
    redis.call('del', ARGV[3])
end
return 1
