/**
 * Lua run inside Redis by {@link RedisStore}. Every script reads the server's clock
 * (`TIME`), so hosts whose clocks disagree still share one timeline, and touches only keys
 * of one scope (one hash tag), so it runs on Redis Cluster too.
 */

/**
 * One admission, one round trip: the scope's suspension and pause, then the strict rolling
 * window and the token bucket, checked and taken atomically.
 *
 * KEYS: 1 bucket (hash t=tokens, u=updated ms), 2 window (list of start times, newest
 * first), 3 suspension (string: the reason; PX = its remaining time), 4 pause (PX = remaining).
 * ARGV: 1 tokens per second (-1: unlimited), 2 burst, 3 per-window cap (0: does not bind),
 * 4 window ms, 5.. ages (ms) of starts admitted by a process's fallback while Redis was
 * unreachable, so that the shared window counts them too.
 *
 * Replies: `{0, tokens, remaining, stamp, nextMs}` admitted (`stamp`: the start as stored
 * in the window, for {@link REFUND_SCRIPT}; `nextMs`: nothing more is admitted before then); `{waitMs, tokens, remaining}` not now (`remaining` is
 * -1 when the cap does not bind); `{-1, ttlMs, reason}` suspended; `{-2, ttlMs}` paused.
 */
export const ADMIT_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local win = tonumber(ARGV[4])
local wkey = KEYS[2]
if limit > 0 and #ARGV > 4 then
  local times = {}
  for _, v in ipairs(redis.call('LRANGE', wkey, 0, limit - 1)) do times[#times + 1] = tonumber(v) end
  for i = 5, #ARGV do
    local at = now - tonumber(ARGV[i])
    if at > now - win then times[#times + 1] = at end
  end
  table.sort(times, function(a, b) return a > b end)
  redis.call('DEL', wkey)
  local n = #times
  if n > limit then n = limit end
  for i = 1, n do redis.call('RPUSH', wkey, times[i]) end
  if n > 0 then redis.call('PEXPIRE', wkey, math.ceil(win)) end
end
local reason = redis.call('GET', KEYS[3])
if reason then return {-1, redis.call('PTTL', KEYS[3]), reason} end
local paused = redis.call('PTTL', KEYS[4])
if paused > 0 then return {-2, paused} end
local wait = 0
local remaining = -1
if limit > 0 then
  local cutoff = now - win
  for _ = 1, 64 do
    local last = redis.call('LINDEX', wkey, -1)
    if not last or tonumber(last) > cutoff then break end
    redis.call('RPOP', wkey)
  end
  local count = redis.call('LLEN', wkey)
  if count >= limit then
    wait = tonumber(redis.call('LINDEX', wkey, limit - 1)) + win - now
    remaining = 0
  else
    remaining = limit - count
  end
end
local tokens = burst
if rate > 0 then
  local b = redis.call('HMGET', KEYS[1], 't', 'u')
  if b[1] then
    local elapsed = now - tonumber(b[2])
    if elapsed < 0 then elapsed = 0 end
    tokens = tonumber(b[1]) + elapsed * rate / 1000
    if tokens > burst then tokens = burst end
  end
  if tokens < 1 then
    local refill = (1 - tokens) * 1000 / rate
    if refill > wait then wait = refill end
  end
end
if wait > 0 then return {math.ceil(wait), math.floor(tokens), remaining} end
if rate > 0 then
  tokens = tokens - 1
  redis.call('HSET', KEYS[1], 't', tokens, 'u', now)
  redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) * 1000 / rate) + 1)
end
local stamp = ''
if limit > 0 then
  stamp = string.format('%.3f', now)
  redis.call('LPUSH', wkey, stamp)
  redis.call('PEXPIRE', wkey, math.ceil(win))
  remaining = remaining - 1
end
local nextMs = 0
if rate > 0 and tokens < 1 then nextMs = (1 - tokens) * 1000 / rate end
if limit > 0 and remaining == 0 then
  local held = redis.call('LINDEX', wkey, limit - 1)
  if held then
    local w = tonumber(held) + win - now
    if w > nextMs then nextMs = w end
  end
end
return {0, math.floor(tokens), remaining, stamp, math.floor(nextMs)}
`;

/**
 * Gives back an admission whose answer came after its caller's deadline (the caller was
 * answered by the fallback): removes its start from the window and returns its token.
 * KEYS: 1 bucket, 2 window. ARGV: 1 stamp ('' when the cap does not bind), 2 burst.
 */
export const REFUND_SCRIPT = `
if ARGV[1] ~= '' then redis.call('LREM', KEYS[2], 1, ARGV[1]) end
local t = redis.call('HGET', KEYS[1], 't')
if t then
  local v = tonumber(t) + 1
  local burst = tonumber(ARGV[2])
  if v > burst then v = burst end
  redis.call('HSET', KEYS[1], 't', v)
end
return 1
`;

/**
 * Suspends a scope fleet-wide (keeping a longer suspension already there) and tells every
 * process. KEYS: 1 suspension. ARGV: 1 duration ms, 2 reason, 3 channel, 4 origin, 5 scope.
 */
export const SUSPEND_SCRIPT = `
local ms = tonumber(ARGV[1])
local reason = ARGV[2]
local ttl = redis.call('PTTL', KEYS[1])
if ttl >= ms then
  ms = ttl
  reason = redis.call('GET', KEYS[1]) or reason
else
  redis.call('SET', KEYS[1], reason, 'PX', math.ceil(ms))
end
redis.call('PUBLISH', ARGV[3], cjson.encode({t = 's', o = ARGV[4], k = ARGV[5], ms = ms, r = reason}))
return ms
`;

/** Lifts a scope's suspension fleet-wide. KEYS: 1 suspension. ARGV: 1 channel, 2 origin, 3 scope. */
export const RESUME_SCRIPT = `
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[1], cjson.encode({t = 'r', o = ARGV[2], k = ARGV[3]}))
return 1
`;

/** Pauses a scope fleet-wide (a provider's Retry-After). KEYS: 1 pause. ARGV: 1 ms, 2 channel, 3 origin, 4 scope. */
export const PAUSE_SCRIPT = `
local ms = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ms then redis.call('SET', KEYS[1], '1', 'PX', math.ceil(ms)) end
redis.call('PUBLISH', ARGV[2], cjson.encode({t = 'p', o = ARGV[3], k = ARGV[4], ms = ms}))
return 1
`;
