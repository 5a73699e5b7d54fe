-- Signs one user out everywhere: every session in their index, the index itself, and the
-- announcement, as one step. Read-then-delete from the client left a window in which a
-- sign-in racing the admin's action added a session that survived it.
-- KEYS[1]: the user's session index; KEYS[2]: the events channel.
-- ARGV[1]: the prefix of session keys; ARGV[2]: the SessionsEndedFor event to publish.
-- Returns how many sessions were ended.
local ended = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  ended = ended + redis.call('DEL', ARGV[1] .. id)
end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', KEYS[2], ARGV[2])
return ended
