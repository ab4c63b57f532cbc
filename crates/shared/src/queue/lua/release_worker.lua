-- Hands back what a worker holds: every task in its in-flight set (except those named
-- as still running in this process) goes to the FRONT of the ready list, so recovered
-- work does not wait behind a backlog; the worker leaves the worker set and its
-- metadata is deleted. Mode "dead" does this for every worker whose last heartbeat is
-- at or before a cutoff; mode "self" for one named worker (a restart, a rebuilt
-- consumer, a clean exit).
-- KEYS[1] worker zset   KEYS[2] ready list   KEYS[3] task data hash   KEYS[4] signal list
-- ARGV[1] in-flight set prefix   ARGV[2] task meta prefix   ARGV[3] worker metadata prefix
-- ARGV[4] wake-up channel   ARGV[5] "dead" | "self"
-- ARGV[6] cutoff (dead) | worker name (self)   ARGV[7..] (self) ids still running here
local workers = {}
local keep = {}
if ARGV[5] == 'dead' then
    workers = redis.call('zrangebyscore', KEYS[1], '-inf', ARGV[6])
else
    workers = { ARGV[6] }
    for i = 7, #ARGV do
        keep[ARGV[i]] = true
    end
end
local moved = 0
for _, worker in ipairs(workers) do
    local inflight = ARGV[1] .. ':' .. worker
    for _, id in ipairs(redis.call('smembers', inflight)) do
        if not keep[id] then
            redis.call('srem', inflight, id)
            if redis.call('hexists', KEYS[3], id) == 1 then
                redis.call('lrem', KEYS[2], 0, id)
                redis.call('lpush', KEYS[2], id)
                local meta = ARGV[2] .. ':' .. id
                redis.call('hset', meta, 'status', 'Pending')
                redis.call('hdel', meta, 'locked_at', 'locked_by')
                moved = moved + 1
            end
        end
    end
    redis.call('zrem', KEYS[1], worker)
    redis.call('del', ARGV[3] .. worker)
end
if moved > 0 then
    redis.call('del', KEYS[4])
    redis.call('lpush', KEYS[4], 1)
    redis.call('publish', ARGV[4], 'released')
end
return { #workers, moved }
