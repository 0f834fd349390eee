/**
 * Lua run inside Redis by {@link RedisStore}. Every script reads the server's clock
 * (`TIME`), so hosts whose clocks disagree still share one timeline, and touches only keys
 * of one scope (one hash tag), so it runs on Redis Cluster too.
 */

/**
 * One admission, one round trip: the scope's suspension and pause, then the strict rolling
 * window and the token bucket, checked and taken atomically, in as few Redis calls as can be
 * (five in the steady state: TIME, HMGET, LINDEX, LINDEX, LPUSH).
 *
 * KEYS: 1 starts (a list, newest first, at most `cap` long; one entry when the cap does not
 * bind), 2 state (hash: su = suspended until, s = reason, pu = paused until; server ms).
 * Each start is stored as "time tokens expiry": the token bucket only changes when a call
 * starts, so the newest entry holds its state (tokens left after that start, and when); the
 * expiry is when the list's TTL runs out, refreshed once per window rather than per call.
 * ARGV: 1 tokens per second (-1: unlimited), 2 burst, 3 per-window cap (0: does not bind),
 * 4 window ms, 5.. ages (ms) of starts admitted by a process's fallback while Redis was
 * unreachable, so that the shared window counts them too.
 *
 * Replies: `{0, tokens, remaining, entry, nextMs}` admitted (`entry`: the start as stored,
 * for {@link REFUND_SCRIPT}; `nextMs`: nothing more is admitted before then; `remaining`: at
 * least this many more fit in the window, -1 when the cap does not bind); `{waitMs, tokens,
 * remaining}` not now; `{-1, ttlMs, reason}` suspended; `{-2, ttlMs}` paused.
 */
export const ADMIT_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local win = tonumber(ARGV[4])
local key = KEYS[1]
local imported = false
if limit > 0 and #ARGV > 4 then
  imported = true
  local entries = {}
  for _, v in ipairs(redis.call('LRANGE', key, 0, limit - 1)) do
    entries[#entries + 1] = {tonumber(string.match(v, '^[^ ]+')), v}
  end
  for i = 5, #ARGV do
    local at = now - tonumber(ARGV[i])
    -- Fallback starts carry no bucket state: 0 tokens then, which only errs on the safe side.
    if at > now - win then entries[#entries + 1] = {at, math.ceil(at) .. ' 0 0'} end
  end
  table.sort(entries, function(a, b) return a[1] > b[1] end)
  redis.call('DEL', key)
  local n = #entries
  if n > limit then n = limit end
  for i = 1, n do redis.call('RPUSH', key, entries[i][2]) end
end
local x = redis.call('HMGET', KEYS[2], 'su', 's', 'pu')
if x[1] and tonumber(x[1]) > now then return {-1, math.ceil(tonumber(x[1]) - now), x[2] or ''} end
if x[3] and tonumber(x[3]) > now then return {-2, math.ceil(tonumber(x[3]) - now)} end
if rate <= 0 and limit == 0 then return {0, burst, -1, '', 0} end
local wait = 0
local remaining = -1
if limit > 0 then
  local held = redis.call('LINDEX', key, limit - 1)
  if held then
    local w = tonumber(string.match(held, '^[^ ]+')) + win - now
    if w > 0 then wait = w end
  end
end
local tokens = burst
local expiry = 0
local head = redis.call('LINDEX', key, 0)
if head then
  local at, left, exp = string.match(head, '^([^ ]+) ([^ ]+) ([^ ]+)')
  expiry = tonumber(exp)
  if rate > 0 then
    local elapsed = now - tonumber(at)
    if elapsed < 0 then elapsed = 0 end
    tokens = tonumber(left) + elapsed * rate / 1000
    if tokens > burst then tokens = burst end
  end
end
if rate > 0 and tokens < 1 then
  local refill = (1 - tokens) * 1000 / rate
  if refill > wait then wait = refill end
end
if wait > 0 then
  if limit > 0 then remaining = 0 end
  return {math.ceil(wait), math.floor(tokens), remaining}
end
local nextMs = 0
if rate > 0 then
  tokens = tokens - 1
  if tokens < 1 then nextMs = (1 - tokens) * 1000 / rate end
end
-- The list lives as long as the window needs it, and the bucket until it is full again.
local keep = 0
if limit > 0 then keep = win end
if rate > 0 then
  local refill = (burst - tokens) * 1000 / rate
  if refill > keep then keep = refill end
end
local entry
local refresh = imported or expiry < now + keep
if refresh then
  expiry = math.ceil(now + 2 * keep + 1)
end
-- Whole ms, rounded up: a start is never remembered earlier than it happened.
entry = math.ceil(now) .. ' ' .. tokens .. ' ' .. expiry
local n = 0
if limit > 0 then
  n = redis.call('LPUSH', key, entry)
  if n > limit then
    redis.call('RPOP', key)
    n = limit
  end
  remaining = limit - n
  if remaining == 0 then
    local w = tonumber(string.match(redis.call('LINDEX', key, limit - 1), '^[^ ]+')) + win - now
    if w > nextMs then nextMs = w end
  end
elseif head then
  redis.call('LSET', key, 0, entry)
else
  redis.call('LPUSH', key, entry)
end
if refresh then redis.call('PEXPIRE', key, math.ceil(expiry - now)) end
return {0, math.floor(tokens), remaining, entry, math.floor(nextMs)}
`;

/**
 * Gives back an admission whose answer came after its caller's deadline (the caller was
 * answered by the fallback): removes its start from the window (the bucket's state rides on
 * the newest start, so a refunded newest start also returns its token). KEYS: 1 starts.
 * ARGV: 1 the entry.
 */
export const REFUND_SCRIPT = `
redis.call('LREM', KEYS[1], 1, ARGV[1])
return 1
`;

/** The time on the server, in ms (shared by the scripts below). */
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000`;

/** Keeps the state hash exactly as long as its later deadline. */
const EXPIRE_STATE = `local su = tonumber(redis.call('HGET', KEYS[1], 'su') or '0')
local pu = tonumber(redis.call('HGET', KEYS[1], 'pu') or '0')
local last = su
if pu > last then last = pu end
if last > now then redis.call('PEXPIRE', KEYS[1], math.ceil(last - now)) else redis.call('DEL', KEYS[1]) end`;

/**
 * Suspends a scope fleet-wide (keeping a longer suspension already there) and tells every
 * process. KEYS: 1 state. ARGV: 1 duration ms, 2 reason, 3 channel, 4 origin, 5 scope.
 */
export const SUSPEND_SCRIPT = `
${NOW}
local ms = tonumber(ARGV[1])
local reason = ARGV[2]
local su = tonumber(redis.call('HGET', KEYS[1], 'su') or '0')
if su - now >= ms then
  ms = su - now
  reason = redis.call('HGET', KEYS[1], 's') or reason
else
  redis.call('HSET', KEYS[1], 'su', string.format('%.3f', now + ms), 's', reason)
end
${EXPIRE_STATE}
redis.call('PUBLISH', ARGV[3], cjson.encode({t = 's', o = ARGV[4], k = ARGV[5], ms = ms, r = reason}))
return 1
`;

/** Lifts a scope's suspension fleet-wide. KEYS: 1 state. ARGV: 1 channel, 2 origin, 3 scope. */
export const RESUME_SCRIPT = `
${NOW}
redis.call('HDEL', KEYS[1], 'su', 's')
${EXPIRE_STATE}
redis.call('PUBLISH', ARGV[1], cjson.encode({t = 'r', o = ARGV[2], k = ARGV[3]}))
return 1
`;

/** Pauses a scope fleet-wide (a provider's Retry-After). KEYS: 1 state. ARGV: 1 ms, 2 channel, 3 origin, 4 scope. */
export const PAUSE_SCRIPT = `
${NOW}
local ms = tonumber(ARGV[1])
local pu = tonumber(redis.call('HGET', KEYS[1], 'pu') or '0')
if now + ms > pu then redis.call('HSET', KEYS[1], 'pu', string.format('%.3f', now + ms)) end
${EXPIRE_STATE}
redis.call('PUBLISH', ARGV[2], cjson.encode({t = 'p', o = ARGV[3], k = ARGV[4], ms = ms}))
return 1
`;
