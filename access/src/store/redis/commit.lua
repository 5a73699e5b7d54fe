-- Atomically applies one jitgate Change, planned in Rust (store/redis.rs).
--
-- KEYS: every key the change touches (all share one hash tag, so one Cluster slot).
-- ARGV[1]: JSON plan, every value a string:
--   checks: preconditions, all evaluated before anything is written
--     {"version", key, expected}          request hash field `v` equals expected ("" = absent)
--     {"holder", key, expected, at_ms}    grant pointer names expected ("" = none); a pointer
--                                         whose expiry `x` is <= at_ms counts as none
--     {"vacant", key, at_ms, pending_index_key}
--                                         no pending pointer whose deadline `u` is > at_ms and
--                                         whose request `r` is in the pending status index (a
--                                         pointer nobody cleared names a decided one: free)
--   ops: writes, run in order only when every check passed
--     {"clear_if", pointer_key, request_id, user_grants_key, resource}
--                                         delete the pointer only if it still names request_id
--     {"clear_pending_if", pointer_key, request_id}
--                                         delete the pending pointer only if it names request_id
--     {COMMAND, key, arg...}              any plain Redis command on KEYS[key]
-- Returns "ok", or having written nothing "conflict", or "pending:<request id>" when a
-- "vacant" check finds that request pending.
local plan = cjson.decode(ARGV[1])

for _, check in ipairs(plan.checks) do
  local key = KEYS[tonumber(check[2])]
  if check[1] == 'version' then
    local version = redis.call('HGET', key, 'v') or ''
    if version ~= check[3] then return 'conflict' end
  elseif check[1] == 'holder' then
    local holder = redis.call('HGET', key, 'r') or ''
    local expires = tonumber(redis.call('HGET', key, 'x') or '0')
    if holder ~= '' and expires <= tonumber(check[4]) then holder = '' end
    if holder ~= check[3] then return 'conflict' end
  elseif check[1] == 'vacant' then
    local holder = redis.call('HGET', key, 'r')
    local deadline = tonumber(redis.call('HGET', key, 'u') or '0')
    if holder and deadline > tonumber(check[3])
        and redis.call('ZSCORE', KEYS[tonumber(check[4])], holder) then
      return 'pending:' .. holder
    end
  else
    return redis.error_reply('unknown check ' .. tostring(check[1]))
  end
end

for _, op in ipairs(plan.ops) do
  local key = KEYS[tonumber(op[2])]
  if op[1] == 'clear_if' then
    if redis.call('HGET', key, 'r') == op[3] then
      redis.call('DEL', key)
      redis.call('SREM', KEYS[tonumber(op[4])], op[5])
    end
  elseif op[1] == 'clear_pending_if' then
    if redis.call('HGET', key, 'r') == op[3] then redis.call('DEL', key) end
  else
    redis.call(op[1], key, unpack(op, 3))
  end
end
return 'ok'
