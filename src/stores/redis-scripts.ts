/**
 * Lua run inside Redis by {@link RedisStore}. Every script reads the server's clock
 * (`TIME`), so hosts whose clocks disagree still share one timeline, and touches one key per
 * scope (a hash, under the scope's hash tag), so it runs on Redis Cluster too.
 *
 * The scope's hash holds everything an admission needs (server ms throughout):
 *   H        the admission state, packed (see {@link HEADER}): the token bucket (tokens left
 *            after the last start, and when that was; 0: no bucket state yet), when the key may
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
 * a script, costs time; one binary field read and written whole is about half of the time
 * the same state took as six fields.
 */

import { createHash } from 'node:crypto';

/** The time on the server, in ms. Lua turns the reply's strings into numbers by itself. */
const NOW = `local t = redis.call('TIME')
local now = t[1] * 1000 + t[2] / 1000`;

/** `struct` layout of the `H` field: the bucket's tat, expiry, next slot, ring length, full. */
const HEADER = `'<ddddB'`;

/**
 * Admissions of one scope, one round trip: suspension, pause, shared circuit, then the strict
 * window and the token bucket, checked and taken atomically. A process sends the admissions
 * of a scope that arise in the same tick together (`count`): the first `admitted` of them
 * start, in order, and the others wait; so a burst costs one trip and one script run, not one
 * each. Redis calls per run: TIME, one HMGET (the state, the marker, and the two ring slots
 * the process expects to be next), one HSET (the state and the slots taken); one HMGET more
 * when the expected slots were not the next ones (another process started in between) and
 * one more while `x` is set.
 *
 * KEYS: 1 the scope's hash. ARGV: 1 tokens per second (-1: unlimited), 2 burst, 3 ring length
 * L (0: the cap does not bind), 4 window ms, 5 probe lock ms (0: the circuit is not shared),
 * 6 count, 7 and 8 the ring slots this process expects to be the next two (a hint, checked),
 * 9.. ages (ms) of starts admitted by a process's fallback while Redis was unreachable, so
 * that the shared window counts them too.
 *
 * Replies: `{admitted, tokens, remaining, waitMs, slot, stamp, probe}`: `admitted` (0..count)
 * started, each stored at `stamp` in the ring from `slot` on (for {@link REFUND_SCRIPT}; slot
 * -1: no ring); nothing more is admitted before `waitMs` (so the others, if any, wait that
 * long); `remaining`: at least this many more fit in the window (-1: the cap does not bind);
 * `probe` 1: the one admitted call is the fleet's half-open probe. `{-1, ttlMs, reason}`
 * suspended; `{-2, ttlMs}` paused; `{-3, ttlMs}` circuit open.
 */
export const ADMIT_SCRIPT = `
${NOW}
local key = KEYS[1]
local x = redis.call('HMGET', key, 'H', 'x', ARGV[7], ARGV[8])
local count = ARGV[6] + 0
local probe = 0
local ce = false
if x[2] then
  -- A suspension, pause or circuit record may apply: rare, so read only then.
  local y = redis.call('HMGET', key, 'su', 's', 'pu', 'co', 'cp', 'ce')
  if y[1] and y[1] - now > 0 then return {-1, math.ceil(y[1] - now), y[2] or ''} end
  if y[3] and y[3] - now > 0 then return {-2, math.ceil(y[3] - now)} end
  if y[4] then
    if ARGV[5] ~= '0' then
      if y[4] - now > 0 then return {-3, math.ceil(y[4] - now)} end
      if y[5] and y[5] - now > 0 then return {-3, math.ceil(y[5] - now)} end
      -- The first admission after the opening is the fleet's one probe.
      probe = 1
      count = 1
    end
    ce = y[6]
  else
    -- Nothing left that can refuse: the admissions after this one need not look.
    redis.call('HDEL', key, 'x', 'su', 's', 'pu')
  end
end
local rate = ARGV[1] + 0
local burst = ARGV[2] + 0
local limit = ARGV[3] + 0
local win = ARGV[4] + 0
local lease = ARGV[10] + 0
local credits = ARGV[9] + 0
if x[2] or probe == 1 then credits = 0 end
-- The bucket as GCRA: a start at time t fits while tat - t <= tau; each start moves tat on by one
-- step (tat: the "theoretical arrival time"; 0: no state yet, a full bucket).
local tat, e, h, rl, full = 0, 0, 0, limit, 0
local old = 0
if x[1] then
  tat, e, h, rl, full = struct.unpack(${HEADER}, x[1])
  old = rl
end
local step, tau = 0, 0
if rate > 0 then
  step = 1000 / rate
  tau = (burst - 1) * step
end
if tat < now then tat = now end
-- x[3] and x[4] are the next two slots' starts while the process's hint is right.
local hinted = limit > 0 and h == tonumber(ARGV[7])
if limit > 0 and (#ARGV > 10 or rl ~= limit) then
  -- Rare: fallback starts to import, or the cap changed. Rebuild the ring in time order
  -- from the starts still inside the window, keeping the newest L.
  hinted = false
  credits = 0
  local starts = {}
  for first = 0, old - 1, 1000 do
    local fields = {}
    for i = first, math.min(first + 999, old - 1) do fields[#fields + 1] = i end
    local values = redis.call('HMGET', key, unpack(fields))
    for i = 1, #values do
      local at = tonumber(values[i])
      if at and at > now - win then starts[#starts + 1] = at end
    end
    redis.call('HDEL', key, unpack(fields))
  end
  local newest = 0
  for i = 11, #ARGV do
    local at = math.ceil(now - ARGV[i])
    if at > now - win then
      starts[#starts + 1] = at
      if at > newest then newest = at end
    end
  end
  -- Fallback starts carry no bucket state: an empty bucket at the newest, which errs on the safe side.
  if newest > 0 and newest + burst * step > tat then tat = newest + burst * step end
  table.sort(starts)
  local skip = 0
  if #starts > limit then skip = #starts - limit end
  local n = #starts - skip
  for first = 1, n, 500 do
    local kv = {}
    for i = first, math.min(first + 499, n) do
      kv[#kv + 1] = i - 1
      kv[#kv + 1] = starts[skip + i]
    end
    redis.call('HSET', key, unpack(kv))
  end
  h = n % limit
  if n == limit then full = 1 else full = 0 end
  rl = limit
end
if rate <= 0 and limit == 0 then
  if probe == 1 then
    redis.call('HSET', key, 'cp', now + ARGV[5], 'ce', now + 2 * ARGV[5])
    redis.call('PEXPIRE', key, math.ceil(2 * ARGV[5]))
  end
  return {count, burst, -1, 0, -1, 0, probe}
end
-- How many the bucket lets start now.
local admitted = count
if rate > 0 then
  local fit = math.floor((now + tau - tat) / step + 1e-9) + 1
  if fit < admitted then admitted = fit end
  if admitted < 0 then admitted = 0 end
end
-- Credits (starts a process may make without asking, until now + lease) are granted only when
-- every start asked for fits, and at most a quarter of the room left. They are recorded as if they
-- started at the latest moment they may (in the ring and the bucket), and counted as if they
-- started now when checked: so however early or late they are used, both limits hold exactly.
local bucketRoom = credits
if credits > 0 and admitted == count and rate > 0 then
  local latest = tat + admitted * step
  if latest < now + lease then latest = now + lease end
  bucketRoom = math.floor(((now + tau - latest) / step + 1e-9 + 1) / 4)
end
-- How many ring slots are free (unused, or holding a start that has left the window) from h on.
local taken = admitted
local after = false
local slots = false
local read = 0
if limit > 0 and admitted > 0 then
  if admitted > limit then admitted = limit end
  local unused = 0
  if full == 0 then unused = limit - h end
  local look = admitted
  if admitted == count and credits > 0 then look = admitted + 4 * credits end
  if look > limit then look = limit end
  local free = unused
  if free > look then free = look end
  if look > unused then
    -- Slots to reuse: read them, and the one after (it decides how long the next start waits).
    read = look + 1
    if read > limit then read = limit end
    if hinted and read <= 2 then
      slots = {x[3], x[4]}
    else
      local fields = {}
      for i = 0, read - 1 do fields[i + 1] = (h + i) % limit end
      slots = redis.call('HMGET', key, unpack(fields))
    end
    while free < look and (not slots[free + 1] or slots[free + 1] + win <= now) do free = free + 1 end
  end
  if free < admitted then admitted = free end
  taken = admitted
  if admitted == count and credits > 0 then
    local room = math.floor((free - admitted) / 4)
    if room < bucketRoom then bucketRoom = room end
  end
end
local granted = 0
if admitted == count and credits > 0 and bucketRoom > 0 then
  granted = credits
  if bucketRoom < granted then granted = bucketRoom end
end
taken = admitted + granted
if slots and taken < read then after = slots[taken + 1] or false end
-- Whole ms, rounded up: a start is never remembered earlier than it happened. With credits,
-- every start of this run is remembered at the end of their lease.
local stamp = math.ceil(now)
if granted > 0 then stamp = math.ceil(now + lease) end
-- Every slot taken by this run: the next start waits for this run's starts to leave the window.
if limit > 0 and taken == limit then after = stamp end
if rate > 0 then
  tat = tat + admitted * step
  if granted > 0 then
    if tat < now + lease then tat = now + lease end
    tat = tat + granted * step
  end
end
-- When the bucket lets the next start in.
local nextMs = 0
if rate > 0 and tat - tau > now then nextMs = tat - tau - now end
local tokens = burst
if rate > 0 then tokens = burst - (tat - now) / step end
if admitted < count then
  if after then
    local w = after + win - now
    if w > nextMs then nextMs = w end
  end
  if nextMs <= 0 then nextMs = 1 end
end
local remaining = -1
if admitted == 0 then
  if limit > 0 then
    remaining = limit - h
    if full == 1 then remaining = 0 end
  end
  return {0, tokens, remaining, math.ceil(nextMs), -1, 0, 0}
end
-- The key lives as long as the window needs its starts and the bucket until it is full again,
-- refreshed once per such period rather than per call.
local keep = 0
if limit > 0 then keep = win + lease end
if rate > 0 and tat - now > keep then keep = tat - now end
local refresh = e < now + keep
if refresh then e = math.ceil(now + 2 * keep + 1) end
local slot = -1
if limit > 0 then
  slot = h
  h = (h + taken) % limit
  if slot + taken >= limit then full = 1 end
  remaining = 0
  if full == 0 then remaining = limit - h end
  if full == 1 and admitted == count then
    -- No unused slot left: the next start waits for the slot it would reuse to leave the window.
    if not after then after = redis.call('HGET', key, h) end
    if after then
      local w = after + win - now
      if w > nextMs then nextMs = w end
    end
  end
end
if rate <= 0 then tat = 0 end
local state = struct.pack(${HEADER}, tat, e, h, rl, full)
if slot < 0 then
  redis.call('HSET', key, 'H', state)
elseif taken == 1 then
  -- The slot's name as the process sent it, when it is: Redis formats every number it is given.
  local name = slot
  if hinted then name = ARGV[7] end
  redis.call('HSET', key, 'H', state, name, tostring(stamp))
else
  local kv = {'H', state}
  local at = tostring(stamp)
  for i = 0, taken - 1 do
    kv[#kv + 1] = (slot + i) % limit
    kv[#kv + 1] = at
  end
  redis.call('HSET', key, unpack(kv))
end
local last = e
if probe == 1 then
  local cp = now + ARGV[5]
  redis.call('HSET', key, 'cp', cp, 'ce', cp + ARGV[5])
  refresh = true
  if cp + ARGV[5] > last then last = cp + ARGV[5] end
elseif ce and ce - last > 0 then
  last = ce + 0
end
if refresh then redis.call('PEXPIRE', key, math.ceil(last - now)) end
-- Redis truncates numbers in replies to integers: no math.floor needed.
return {taken, tokens, remaining, math.ceil(nextMs), slot, stamp, probe}
`;

export const ADMIT_SHA = createHash('sha1').update(ADMIT_SCRIPT).digest('hex');

/**
 * Gives back starts nobody made: admissions whose answer came after their callers' deadline
 * (the callers were answered by the fallback), and credits that lapsed unused. Their ring
 * slots are marked free (a start at time 0 has left every window); when no start was taken
 * after them, the ring's next slot moves back to the first of them, so they are the next to
 * be used, and the bucket gets `step` ms back per start. A fleet probe they took is released.
 * KEYS: 1 the scope's hash. ARGV: 1 first slot (-1: none), 2 how many, 3 ring length,
 * 4 stamp, 5 1 when it took the probe, 6 the bucket's ms per start (0: keep the tokens:
 * counted twice, they only err on the safe side).
 */
export const REFUND_SCRIPT = `
local key = KEYS[1]
if ARGV[1] ~= '-1' then
  local first = ARGV[1] + 0
  local n = ARGV[2] + 0
  local length = ARGV[3] + 0
  local freed = 0
  for i = 0, n - 1 do
    local slot = (first + i) % length
    if redis.call('HGET', key, slot) == ARGV[4] then
      redis.call('HSET', key, slot, 0)
      freed = freed + 1
    end
  end
  local state = redis.call('HGET', key, 'H')
  if freed == n and state then
    local tat, e, h, rl, full = struct.unpack(${HEADER}, state)
    if rl == length and h == (first + n) % length then
      tat = tat - n * ARGV[6]
      redis.call('HSET', key, 'H', struct.pack(${HEADER}, tat, e, first, rl, full))
    end
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
