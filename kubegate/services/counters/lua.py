"""Lua scripts run atomically by Redis (one script = one check-and-act).

Both scripts accept ``now < 0`` meaning "use the Redis server's TIME", so
replicas with skewed clocks agree.  Times returned are milliseconds (Redis
truncates Lua numbers to integers).

RATE (KEYS: zset log, hash {t = total, s = seq}; ARGV: limit, period, cost, now
[, n]): the zset holds one member (scored with the exact ``now`` string: Lua
would round a number to 14 digits) ``"<seq>|<cost>"`` per admitted hit, scored
by its time.  Members with score <= now - period are removed and their costs
subtracted, then the hit is admitted iff total + cost <= limit -- exactly the
memory store's rule (cost 0 = is there room for one more? nothing recorded).
``n`` (default 1, cost > 0 only) is n identical hits at the same ``now``, decided
in order: the first ``admitted`` pass, recorded as one member of cost
admitted * cost, which is what n members would add up to.  Returns {admitted
(0/1 when n is 1), total after them, retry_ms for the ones refused}.

QUOTA (KEYS: hash {w = window, c = calls, b = bytes}; ARGV: calls|-1, kb|-1,
period, anchor, count, now, mode): the window index is floor((now-anchor)/period)
(0 when period is 0 = lifetime); a different stored index resets c and b.
mode "hit" checks calls then bandwidth and counts the call when admitted;
mode "bw" adds ``count`` bytes.  Keys expire 1 s after their window ends
(lifetime quotas never).  Returns {allowed, calls, bytes, retry_ms, exceeded}
with exceeded 0 = none, 1 = calls, 2 = bandwidth.
"""

RATE = """
local z, h = KEYS[1], KEYS[2]
local limit, period, cost, now_s = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
if tonumber(now_s) < 0 then local t = redis.call('TIME'); now_s = t[1] .. '.' .. string.format('%06d', tonumber(t[2])) end
local now = tonumber(now_s)
local cutoff = now - period
local total = tonumber(redis.call('HGET', h, 't') or '0')
local old = redis.call('ZRANGEBYSCORE', z, '-inf', cutoff)
if #old > 0 then
  for i = 1, #old do total = total - tonumber(string.match(old[i], '|(%d+)$')) end
  redis.call('ZREMRANGEBYSCORE', z, '-inf', cutoff)
  if redis.call('ZCARD', z) == 0 then total = 0 end
  redis.call('HSET', h, 't', total)
end
local units = cost
if units == 0 then
  if total + 1 <= limit then return {1, total, 0} end
  units = 1
end
local n = tonumber(ARGV[5] or '1')
local admitted = 0
if cost > 0 and total + cost <= limit then admitted = math.min(n, math.floor((limit - total) / cost)) end
if admitted > 0 then
  local seq = redis.call('HINCRBY', h, 's', 1)
  redis.call('ZADD', z, now_s, seq .. '|' .. (admitted * cost))
  total = total + admitted * cost
  redis.call('HSET', h, 't', total)
  local ttl = math.ceil(period * 1000) + 1000
  redis.call('PEXPIRE', z, ttl)
  redis.call('PEXPIRE', h, ttl)
  if admitted == n then return {n, total, 0} end
end
if units > limit then return {admitted, total, math.ceil(period * 1000)} end
local need, freed = total + units - limit, 0
local first = redis.call('ZRANGE', z, 0, need - 1, 'WITHSCORES')
for i = 1, #first, 2 do
  freed = freed + tonumber(string.match(first[i], '|(%d+)$'))
  if freed >= need then
    return {admitted, total, math.ceil((tonumber(first[i + 1]) + period - now) * 1000)}
  end
end
return {admitted, total, math.ceil(period * 1000)}
"""

QUOTA = """
local q = KEYS[1]
local calls, kb, period, anchor = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local count, now, mode = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
if now < 0 then local t = redis.call('TIME'); now = tonumber(t[1]) + tonumber(t[2]) / 1000000 end
local idx = 0
if period > 0 then idx = math.floor((now - anchor) / period) end
local st = redis.call('HMGET', q, 'w', 'c', 'b')
local c, b = 0, 0
if st[1] and tonumber(st[1]) == idx then c = tonumber(st[2] or '0'); b = tonumber(st[3] or '0') end
local retry = 0
if period > 0 then retry = math.ceil((anchor + (idx + 1) * period - now) * 1000) end
local exceeded = 0
if mode == 'bw' then
  b = b + count
elseif calls >= 0 and c + count > calls then
  exceeded = 1
elseif kb >= 0 and b >= kb * 1024 then
  exceeded = 2
else
  c = c + count
end
redis.call('HSET', q, 'w', idx, 'c', c, 'b', b)
if period > 0 then redis.call('PEXPIRE', q, retry + 1000) else redis.call('PERSIST', q) end
if exceeded > 0 then return {0, c, b, retry, exceeded} end
return {1, c, b, 0, 0}
"""


def _as_function(name: str, body: str) -> str:
    """A script body as a Lua function of (KEYS, ARGV): its `return` returns from it."""
    return f"local function {name}(KEYS, ARGV)\n{body.strip()}\nend\n"


BATCH = _as_function("rate", RATE) + _as_function("quota", QUOTA) + """
local fns = {r = rate, q = quota}
local out, ki, ai = {}, 1, 2
for op = 1, tonumber(ARGV[1]) do
  local fn, nk, na = fns[ARGV[ai]], tonumber(ARGV[ai + 1]), tonumber(ARGV[ai + 2])
  ai = ai + 3
  local keys, args = {}, {}
  for j = 1, nk do keys[j] = KEYS[ki]; ki = ki + 1 end
  for j = 1, na do args[j] = ARGV[ai]; ai = ai + 1 end
  local ok, res = pcall(fn, keys, args)
  if ok then out[op] = res else out[op] = redis.error_reply(tostring(res)) end
end
return out
"""
"""Several RATE/QUOTA operations in one call (one round trip, one script run): ARGV is
the operation count, then per operation its kind (r|q), key count, argument count
and arguments; KEYS are all operations' keys in order. Each operation runs in
`pcall`, so one failing operation answers with an error entry, not a failed batch."""
