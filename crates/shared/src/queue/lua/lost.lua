-- Which of the given videos have no outstanding job: no task id under their
-- idempotency key, or one that is neither ready, scheduled, nor in a registered
-- worker's in-flight set (dead workers are released before this runs). Also drops ids
-- whose data is gone from the ready list and the scheduled set, since a data-less id
-- would make apalis' fetch fail.
-- KEYS[1] task data hash   KEYS[2] ready list   KEYS[3] scheduled zset   KEYS[4] worker zset
-- ARGV[1] idempotency prefix   ARGV[2] in-flight set prefix   ARGV[3..] video ids
local outstanding = {}
for _, id in ipairs(redis.call('lrange', KEYS[2], 0, -1)) do
    if redis.call('hexists', KEYS[1], id) == 1 then
        outstanding[id] = true
    else
        redis.call('lrem', KEYS[2], 0, id)
    end
end
for _, id in ipairs(redis.call('zrange', KEYS[3], 0, -1)) do
    if redis.call('hexists', KEYS[1], id) == 1 then
        outstanding[id] = true
    else
        redis.call('zrem', KEYS[3], id)
    end
end
for _, worker in ipairs(redis.call('zrange', KEYS[4], 0, -1)) do
    for _, id in ipairs(redis.call('smembers', ARGV[2] .. ':' .. worker)) do
        outstanding[id] = true
    end
end
local lost = {}
for i = 3, #ARGV do
    local id = redis.call('get', ARGV[1] .. ':video:' .. ARGV[i])
    if not (id and outstanding[id] and redis.call('hexists', KEYS[1], id) == 1) then
        table.insert(lost, ARGV[i])
    end
end
return lost
