-- Points (user, resource) pairs at their pending request where no pointer exists yet
-- (store/redis.rs, point_at_pending_requests): requests stored before pending pointers did.
-- KEYS[1]: the pending status index; KEYS[1 + i]: the pending pointer of request i.
-- ARGV[2i - 1], ARGV[2i]: request i's id and deadline (ms).
-- A request no longer in the pending index (decided meanwhile) gets no pointer; a pointer
-- naming a pending request is never replaced, so the first, newest, of a pair is named.
-- One naming a request no longer pending (left by a writer that did not clear it) is.
for i = 2, #KEYS do
  local id, deadline = ARGV[2 * i - 3], ARGV[2 * i - 2]
  local holder = redis.call('HGET', KEYS[i], 'r')
  local held = holder and redis.call('ZSCORE', KEYS[1], holder)
  if redis.call('ZSCORE', KEYS[1], id) and not held then
    redis.call('HSET', KEYS[i], 'r', id, 'u', deadline)
    redis.call('PEXPIREAT', KEYS[i], deadline)
  end
end
return 0
