/**
 * Lua run inside Redis by {@link RedisStore}. Every script reads the server's clock
 * (`TIME`), so hosts whose clocks disagree still share one timeline, and touches one key per
 * scope (a hash, under the scope's hash tag), so it runs on Redis Cluster too.
 *
 * The scope's hash holds everything an admission needs (server ms throughout):
 *   H        the admission state, packed (see {@link HEADER}): the token bucket as GCRA (its
 *            "theoretical arrival time"; 0: no state yet, a full bucket), when the key may
 *            expire as far as the bucket and window are concerned, the ring's next slot, its
 *            length L (the cap it was built for), and 1 once every slot has been filled
 *   0..L-1   the strict window as a ring of the last L starts (L = the per-window cap)
 *   x        present once a suspension, pause or shared circuit has been written: only then
 *            does an admission read the next six; the first admission that finds none of them
 *            in force removes it
 *   su / s   suspended until / reason          pu   paused until (a provider's Retry-After)
 *   co       circuit open fleet-wide until     cp   the half-open probe is taken until
 *   ce       the circuit record is kept until (then the fleet forgets it)
 * The ring keeps the exact guarantee: a start may only overwrite a slot whose start has left
 * the window, so at most L starts are ever inside it; the slot it overwrites is the oldest of
 * the last L, i.e. the one that decides.
 *
 * Why packed: inside Redis every field read or written, and every number Redis formats for
 * a script, costs time; one binary field read and written whole costs less than the same
 * state as six fields of decimal numbers.
 *
 * The admission script itself is in redis-admit-script.ts.
 */

/** The time on the server, in ms. Lua turns the reply's strings into numbers by itself. */
export const NOW = `local t = redis.call('TIME')
local now = t[1] * 1000 + t[2] / 1000`;

/** `struct` layout of the `H` field: the bucket's tat, expiry, next slot, ring length, full. */
export const HEADER = `'<ddddB'`;

/**
 * Gives back starts nobody made: admissions whose answer came after their callers' deadline
 * (the callers were answered by the fallback), and credits that lapsed unused. Their ring
 * slots are marked free (a start at time 0 has left every window); when no start was taken
 * after them, the ring's next slot moves back to the first of them, so they are the next to
 * be used. The bucket gets `step` ms of its tat back per start. A fleet probe they took is
 * released.
 * KEYS: 1 the scope's hash. ARGV: 1 first slot (-1: none), 2 how many, 3 ring length,
 * 4 stamp, 5 1 when it took the probe, 6 the bucket's ms per start (0: keep the tokens:
 * counted twice, they only err on the safe side).
 */
export const REFUND_SCRIPT = `
local key = KEYS[1]
local n = ARGV[2] + 0
local rewind = false
if ARGV[1] ~= '-1' then
  local first = ARGV[1] + 0
  local length = ARGV[3] + 0
  local freed = 0
  for i = 0, n - 1 do
    local slot = (first + i) % length
    if redis.call('HGET', key, slot) == ARGV[4] then
      redis.call('HSET', key, slot, 0)
      freed = freed + 1
    end
  end
  rewind = freed == n
end
if rewind or ARGV[6] ~= '0' then
  local state = redis.call('HGET', key, 'H')
  if state then
    local tat, e, h, rl, full = struct.unpack(${HEADER}, state)
    -- The bucket's give-back is safe even when others started since: tat stays at least where
    -- it would be had these never been granted.
    tat = tat - n * ARGV[6]
    if rewind and rl == ARGV[3] + 0 and h == (ARGV[1] + n) % rl then h = ARGV[1] + 0 end
    redis.call('HSET', key, 'H', struct.pack(${HEADER}, tat, e, h, rl, full))
  end
end
if ARGV[5] == '1' then redis.call('HDEL', key, 'cp') end
return 1
`;

/** Keeps the hash exactly as long as the latest of its deadlines, or deletes it. */
const EXPIRE_STATE = `local d = redis.call('HMGET', KEYS[1], 'su', 'pu', 'ce', 'cp', 'H')
local last = 0
for i = 1, 4 do
  local v = tonumber(d[i])
  if v and v > last then last = v end
end
if d[5] then
  local _, e = struct.unpack(${HEADER}, d[5])
  if e > last then last = e end
end
if last > now then redis.call('PEXPIRE', KEYS[1], math.ceil(last - now)) else redis.call('DEL', KEYS[1]) end`;

/**
 * Suspends a scope fleet-wide (keeping a longer suspension already there) and tells every
 * process. KEYS: 1 the scope's hash. ARGV: 1 duration ms, 2 reason, 3 channel, 4 origin, 5 scope.
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
  redis.call('HSET', KEYS[1], 'su', now + ms, 's', reason, 'x', 1)
end
${EXPIRE_STATE}
redis.call('PUBLISH', ARGV[3], cjson.encode({t = 's', o = ARGV[4], k = ARGV[5], ms = ms, r = reason}))
return 1
`;

/** Lifts a scope's suspension fleet-wide. KEYS: 1 the scope's hash. ARGV: 1 channel, 2 origin, 3 scope. */
export const RESUME_SCRIPT = `
${NOW}
redis.call('HDEL', KEYS[1], 'su', 's')
${EXPIRE_STATE}
redis.call('PUBLISH', ARGV[1], cjson.encode({t = 'r', o = ARGV[2], k = ARGV[3]}))
return 1
`;

/** Pauses a scope fleet-wide (a provider's Retry-After). KEYS: 1 the scope's hash. ARGV: 1 ms, 2 channel, 3 origin, 4 scope. */
export const PAUSE_SCRIPT = `
${NOW}
local ms = tonumber(ARGV[1])
local pu = tonumber(redis.call('HGET', KEYS[1], 'pu') or '0')
if now + ms > pu then redis.call('HSET', KEYS[1], 'pu', now + ms, 'x', 1) end
${EXPIRE_STATE}
redis.call('PUBLISH', ARGV[2], cjson.encode({t = 'p', o = ARGV[3], k = ARGV[4], ms = ms}))
return 1
`;

/**
 * A process's circuit opened (failures reached its threshold, or its half-open probe failed):
 * open the scope fleet-wide for `ms` (keeping a later opening), release the probe, tell every
 * process. The record outlives the opening by another `ms`, so that the first admission after
 * it takes the probe; an idle fleet forgets it then. KEYS: 1 the scope's hash. ARGV: 1 ms,
 * 2 channel, 3 origin, 4 scope.
 */
export const CIRCUIT_OPEN_SCRIPT = `
${NOW}
local ms = tonumber(ARGV[1])
local co = tonumber(redis.call('HGET', KEYS[1], 'co') or '0')
if now + ms > co then co = now + ms end
redis.call('HSET', KEYS[1], 'co', co, 'ce', co + ms, 'x', 1)
redis.call('HDEL', KEYS[1], 'cp')
${EXPIRE_STATE}
redis.call('PUBLISH', ARGV[2], cjson.encode({t = 'o', o = ARGV[3], k = ARGV[4], ms = co - now}))
return 1
`;

/** The fleet's probe succeeded: the scope's circuit closes everywhere. KEYS: 1 the scope's hash. ARGV: 1 channel, 2 origin, 3 scope. */
export const CIRCUIT_CLOSE_SCRIPT = `
${NOW}
redis.call('HDEL', KEYS[1], 'co', 'cp', 'ce')
${EXPIRE_STATE}
redis.call('PUBLISH', ARGV[1], cjson.encode({t = 'c', o = ARGV[2], k = ARGV[3]}))
return 1
`;
