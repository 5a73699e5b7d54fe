-- Leases due outbox notifications to one worker (store/redis.rs, claim_notifications).
-- KEYS[1]: the outbox due set (score: next attempt, ms).
-- ARGV: now_ms, lease_end_ms, limit. Returns the claimed ids, oldest due first.
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], ARGV[2], id)
end
return ids
