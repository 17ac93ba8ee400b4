-- Read one lot's report array and meta fields at one instant, so a check of the meta hash made
-- later compares against the reports it came with. KEYS: the report array and the meta hash.
-- ARGV: the meta fields to read. Returns the report array (or '') and then the fields.
local out = redis.call('HMGET', KEYS[2], unpack(ARGV))
table.insert(out, 1, redis.call('GET', KEYS[1]) or '')
return out
