-- Write lots whose reports the hub has merged under the order rule, each only if nobody else wrote
-- the lot since the hub read it (compare-and-set on the lot's token).
-- KEYS: per lot, its occupancy bitmap, report array and meta hash.
-- ARGV: per lot: the token the hub read, the new token, the number of events it applied, the number
-- of report ranges and of bitmap ranges, then (byte offset, bytes) for each range.
-- A lot with no ranges only counts its events: its state did not change, so no check is needed.
-- Returns per lot 1 when written (or only counted), 0 when the token moved: the hub re-reads it.
local results = {}
local a = 1
for k = 1, #KEYS / 3 do
  local occ, rep, meta = KEYS[3 * k - 2], KEYS[3 * k - 1], KEYS[3 * k]
  local expected, token, events = ARGV[a], ARGV[a + 1], ARGV[a + 2]
  local ranges = tonumber(ARGV[a + 3]) + tonumber(ARGV[a + 4])
  local n_rep = tonumber(ARGV[a + 3])
  a = a + 5
  if ranges > 0 and (redis.call('HGET', meta, 'token') or '0') ~= expected then
    results[k] = 0
  else
    for i = 1, ranges do
      redis.call('SETRANGE', i <= n_rep and rep or occ, ARGV[a], ARGV[a + 1])
      a = a + 2
    end
    if ranges > 0 then
      redis.call('HSET', meta, 'token', token)
    end
    redis.call('HINCRBY', meta, 'applied', events)
    results[k] = 1
  end
  if results[k] == 0 then
    a = a + 2 * ranges
  end
end
return results
