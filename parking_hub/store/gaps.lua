-- Count one lot's gaps: the meta hash's total, the hour's bucket, and drop the hours past the window.
-- KEYS: meta hash, gap hours hash. ARGV: gaps, this hour, the oldest hour kept, when the hash expires (ms).
redis.call('HINCRBY', KEYS[1], 'gaps', ARGV[1])
redis.call('HINCRBY', KEYS[2], ARGV[2], ARGV[1])
local first = tonumber(ARGV[3])
for _, hour in ipairs(redis.call('HKEYS', KEYS[2])) do
  if tonumber(hour) < first then
    redis.call('HDEL', KEYS[2], hour)
  end
end
redis.call('PEXPIREAT', KEYS[2], ARGV[4])
return 0
