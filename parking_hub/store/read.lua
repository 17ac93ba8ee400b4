-- Read lots' report arrays together with their tokens, atomically, so a compare-and-set made
-- against them later is sound. KEYS: per lot, its report array and meta hash.
-- Returns per lot the report array (or '') and the token (or '0').
local out = {}
for k = 1, #KEYS / 2 do
  out[2 * k - 1] = redis.call('GET', KEYS[2 * k - 1]) or ''
  out[2 * k] = redis.call('HGET', KEYS[2 * k], 'token') or '0'
end
return out
