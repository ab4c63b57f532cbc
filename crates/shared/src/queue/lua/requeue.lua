-- Creates a job for a video unless it already has an outstanding one (ready, scheduled
-- or in a registered worker's in-flight set). Remnants of a lost job are removed first.
-- The task is written in apalis-redis 1.0's layout (data hash entry, meta hash, the
-- idempotency key), at the back (a new upload) or the FRONT (recovered work) of the ready
-- list, or in the scheduled set.
-- (apalis' own push script cannot be used for this: with no idempotency TTL it runs
-- `EXPIRE key 0`, which deletes the key it has just set.)
-- Returns 1 when a job was created, 0 when one was already outstanding.
-- KEYS[1] task data hash   KEYS[2] ready list   KEYS[3] scheduled zset   KEYS[4] signal list
-- KEYS[5] worker zset
-- ARGV[1] idempotency prefix   ARGV[2] idempotency key (without prefix)   ARGV[3] new task id
-- ARGV[4] payload   ARGV[5] task meta prefix   ARGV[6] in-flight set prefix
-- ARGV[7] run_at (unix seconds, 0 = now)   ARGV[8] wake-up channel   ARGV[9] max attempts
-- ARGV[10] "front" | "back" (where a job to run now goes)
local idem = ARGV[1] .. ':' .. ARGV[2]
local old = redis.call('get', idem)
if old then
    if redis.call('hexists', KEYS[1], old) == 1 then
        local held = redis.call('zscore', KEYS[3], old) or redis.call('lpos', KEYS[2], old)
        if not held then
            for _, worker in ipairs(redis.call('zrange', KEYS[5], 0, -1)) do
                if redis.call('sismember', ARGV[6] .. ':' .. worker, old) == 1 then
                    held = true
                    break
                end
            end
        end
        if held then
            return 0
        end
    end
    redis.call('hdel', KEYS[1], old)
    redis.call('del', ARGV[5] .. ':' .. old)
    redis.call('lrem', KEYS[2], 0, old)
    redis.call('zrem', KEYS[3], old)
end
local id = ARGV[3]
redis.call('set', idem, id)
redis.call('hset', KEYS[1], id, ARGV[4])
redis.call('hset', ARGV[5] .. ':' .. id, 'attempts', 0, 'max_attempts', ARGV[9],
    'status', 'Pending', 'idempotency_key', ARGV[2])
local run_at = tonumber(ARGV[7])
if run_at > 0 then
    redis.call('zadd', KEYS[3], run_at, id)
else
    if ARGV[10] == 'front' then
        redis.call('lpush', KEYS[2], id)
    else
        redis.call('rpush', KEYS[2], id)
    end
    redis.call('del', KEYS[4])
    redis.call('lpush', KEYS[4], 1)
    redis.call('publish', ARGV[8], id)
end
return 1
