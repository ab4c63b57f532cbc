-- Puts a held task back: at the front of the ready list (run_at = 0: a hand-back at
-- shutdown) or into the scheduled set (a retry after backoff). The task keeps its id,
-- so the video still has exactly one outstanding job. Returns 0 when the task's data is
-- gone (Redis lost it): the caller then creates a new job for the video.
-- KEYS[1] task data hash   KEYS[2] ready list   KEYS[3] scheduled zset   KEYS[4] signal list
-- ARGV[1] task id   ARGV[2] task meta key   ARGV[3] run_at (unix seconds, 0 = now)
-- ARGV[4] wake-up channel   ARGV[5..] in-flight sets the task may be in
local id = ARGV[1]
for i = 5, #ARGV do
    redis.call('srem', ARGV[i], id)
end
if redis.call('hexists', KEYS[1], id) == 0 then
    return 0
end
redis.call('lrem', KEYS[2], 0, id)
redis.call('zrem', KEYS[3], id)
redis.call('hset', ARGV[2], 'status', 'Pending')
redis.call('hdel', ARGV[2], 'locked_at', 'locked_by')
local run_at = tonumber(ARGV[3])
if run_at > 0 then
    redis.call('zadd', KEYS[3], run_at, id)
else
    redis.call('lpush', KEYS[2], id)
    redis.call('del', KEYS[4])
    redis.call('lpush', KEYS[4], 1)
    redis.call('publish', ARGV[4], id)
end
return 1
