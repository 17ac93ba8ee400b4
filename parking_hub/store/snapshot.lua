-- Read one lot's report array, meta fields and gap hours at one instant, so a check of the meta
-- hash made later compares against the reports it came with. KEYS: the report array, the meta hash
-- and the gap hours hash. ARGV: the meta fields to read. Returns the report array (or ''), then the
-- fields, then the gap hours as flat hour, count pairs.
local out = redis.call('HMGET', KEYS[2], unpack(ARGV))
table.insert(out, 1, redis.call('GET', KEYS[1]) or '')
for _, item in ipairs(redis.call('HGETALL', KEYS[3])) do
  table.insert(out, item)
end
return out
