-- Apply one lot's batch of berth reports under the order rule.
-- KEYS: occupancy bitmap, report ranks (i64 per berth), meta hash.
-- ARGV: n, the number of valid events this batch holds for the lot before de-duplication,
-- then n berth numbers, then n ranks (ts * 2 + occupied), one per berth, already the
-- greatest of the batch for that berth. A rank wins only if greater than the stored one, so the
-- outcome is the same in any order and under any number of concurrent writers.
-- Returns the number of reports that won.
local n = tonumber(ARGV[1])
local CHUNK = 1000 -- 4 arguments an event keeps each BITFIELD call inside Lua's 8000-slot stack

local won = 0
local first = 1
while first <= n do
  local last = math.min(first + CHUNK - 1, n)
  local get = {}
  for i = first, last do
    local j = #get
    get[j + 1] = 'GET'; get[j + 2] = 'i64'; get[j + 3] = '#' .. ARGV[2 + i]
  end
  local stored = redis.call('BITFIELD', KEYS[2], unpack(get))
  local set_rank, set_occ = {}, {}
  for i = first, last do
    local rank = tonumber(ARGV[2 + n + i])
    if rank > stored[i - first + 1] then
      local berth = ARGV[2 + i]
      local j = #set_rank
      set_rank[j + 1] = 'SET'; set_rank[j + 2] = 'i64'; set_rank[j + 3] = '#' .. berth
      set_rank[j + 4] = ARGV[2 + n + i]
      set_occ[j + 1] = 'SET'; set_occ[j + 2] = 'u1'; set_occ[j + 3] = berth
      set_occ[j + 4] = rank % 2
      won = won + 1
    end
  end
  if #set_rank > 0 then
    redis.call('BITFIELD', KEYS[2], unpack(set_rank))
    redis.call('BITFIELD', KEYS[1], unpack(set_occ))
  end
  first = last + 1
end
redis.call('HINCRBY', KEYS[3], 'applied', ARGV[2])
return won
