-- Apply a gateway status under the order rule: the greatest (ts, online) pair wins.
-- KEYS: meta hash. ARGV: rank = ts * 2 + online. Returns 1 if it won.
local stored = tonumber(redis.call('HGET', KEYS[1], 'status') or '0')
if tonumber(ARGV[1]) > stored then
  redis.call('HSET', KEYS[1], 'status', ARGV[1])
  return 1
end
return 0
