import { createHash } from 'node:crypto';
import { redactText } from '../../classify/redact.js';
import type { TokenCaps } from '../../tokens/token-windows.js';
import { HEADER, NOW, OLD_HEADER, STATE_BYTES, TOKEN_ENTRY, TOKEN_STATE, tokenKeyIn } from './lua.js';

// The admission protocol: the script Redis runs for each batch of admissions (with the proof
// that it keeps the limits exact), the script that gives back starts nobody made, and the one
// place that encodes their arguments and decodes their replies.

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
 * Credits: the process may ask for up to `credits` starts beyond `count`, to make without
 * asking until `lease` ms from now (see RedisStoreOptions.maxCredits). They are granted only
 * when all `count` fit, at most a quarter of the room left in the window and in the bucket.
 * Each is checked as if made now and recorded as if made at the end of its lease: its ring
 * stamp is now + lease, and the bucket's tat moves on from no earlier than now + lease. Used
 * at any moment in between, it is covered on both sides. Why, in short (a start is checked at
 * c, made at s, recorded at r, with c <= s <= r; runs are serial, so checks are in order):
 * - Window: every start admitted (or credit not given back) keeps a record, in a slot of its
 *   own, until the record has left the window: a slot is taken only when its record r has
 *   (r + window <= now), REFUND_SCRIPT frees only credits their process dropped unused (and
 *   admissions whose callers never started), and it moves other records between slots without
 *   changing them. Take L + 1 starts made within one window [a, a + window), and q the last of
 *   them to be checked, at c <= s(q) < a + window. The L others were admitted before c and each
 *   recorded at r >= its start >= a > c - window: at c they filled all L slots, and q found none
 *   free. So at most L starts in any window.
 * - Bucket (GCRA, step = 1000 / rate, tau = (burst - 1) * step): for n starts made within a span
 *   [a, b], tat rose by a step for each admitted from the first of them on, starting from at
 *   least r + step >= a + step; the last was checked with tat <= c + tau <= b + tau. So
 *   a + (n - 1) * step <= b + tau: n <= burst + rate * (b - a), the bucket's bound.
 * - Token windows (weighted calls: each caller brings its cost, input and output; the caps on
 *   their total, input and output per window). Each admitted caller gets a record (ticket,
 *   stamp r, input, output) in the scope's token list, in admission order, and a grant of
 *   credits one record carrying tokens for them (perIn and perOut each); the sums of the
 *   records in the list are kept with the state (`T`). A record leaves the list only from its
 *   front, once r + window <= now, and is changed afterwards only by AMEND_SCRIPT
 *   (reconciliation). Callers are admitted in order while used + cost <= cap in every capped
 *   dimension (a zero cost: while used < cap), so at each check c the sum of the records in the
 *   list plus the cost admitted is within the cap. Take the starts made within one window
 *   [a, a + window), and q the last of them to be checked, at c. Every other one was checked
 *   before c and recorded at r >= its start >= a > c - window (a start on credit: at the end
 *   of its grant's lease, and its tokens were taken from its grant's record): at c, each
 *   record is still in the list (a record stamped later than one before it only keeps the
 *   records behind it longer, which errs on the safe side). So the window's starts, with q's
 *   cost, fit within the cap, as their records stood at c. Reconciliation changes records in
 *   place: a credit (less used than estimated) frees room at once, and a charge (more used)
 *   counts from when it reaches Redis until the record leaves the window; what a call used
 *   beyond its estimate before its charge arrived cannot be refused after the fact (as in one
 *   process).
 *
 * KEYS: 1 the scope's hash, 2 its token list (same hash tag). ARGV: 1 tokens per second (-1:
 * unlimited), 2 burst, 3 ring length L (0: the cap does not bind), 4 window ms, 5 probe lock
 * ms (0: the circuit is not shared), 6 count, 7 and 8 the ring slots this process expects to
 * be the next two (a hint, checked), 9 credits asked for, 10 their lease ms, 11 the token caps
 * "total,input,output" (-1: uncapped; '': the scope has none, and 12 and 13 are ''), 12 each
 * caller's cost "i,o,i,o,...", 13 the tokens each credit carries "i,o", 14.. ages (ms) of
 * starts admitted by a process's fallback while Redis was unreachable, so that the shared
 * window counts them too.
 *
 * Replies: `{admitted, tokens, remaining, waitMs, slot, stamp, probe, ticket, left total,
 * left input, left output}`: `ticket` is the first admitted caller's token record (the others
 * follow in order, then the credits' one); `left`: tokens left in each window (-1: uncapped);
 * `admitted` (0..count,
 * or more: the credits granted beyond count) started, each stored at `stamp` in the ring from
 * `slot` on (for REFUND_SCRIPT; slot -1: no ring); nothing more is admitted before `waitMs` (so
 * the others, if any, wait that long); `remaining`: at least this many more fit in the window (-1: the cap does not bind);
 * `probe` 1: the one admitted call is the fleet's half-open probe. `{-1, ttlMs, reason}`
 * suspended; `{-2, ttlMs}` paused; `{-3, ttlMs}` circuit open.
 */
export const ADMIT_SCRIPT = `
${NOW}
local key = KEYS[1]
local x = redis.call('HMGET', key, 'H', 'x', ARGV[7], ARGV[8], 'T')
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
local weighted = ARGV[11] ~= ''
local rate = ARGV[1] + 0
local burst = ARGV[2] + 0
local limit = ARGV[3] + 0
local win = ARGV[4] + 0
local lease = ARGV[10] + 0
local credits = ARGV[9] + 0
if x[2] or probe == 1 then credits = 0 end
-- The bucket as GCRA: a start at time t fits while tat - t <= tau; each start moves tat on by one
-- step (tat: the "theoretical arrival time"; 0: no state yet, a full bucket).
local tat, e, h, rl, full, cu = 0, 0, 0, limit, 0, 0
local old = 0
if x[1] then
  -- A state written before the credits' lease end was kept (33 bytes) has none.
  if #x[1] < ${STATE_BYTES} then tat, e, h, rl, full = struct.unpack(${OLD_HEADER}, x[1])
  else tat, e, h, rl, full, cu = struct.unpack(${HEADER}, x[1]) end
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
if limit > 0 and (#ARGV > 13 or rl ~= limit) then
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
  for i = 14, #ARGV do
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
if rate <= 0 and limit == 0 and not weighted then
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
  if admitted == count and credits > 0 then
    local room = math.floor((free - admitted) / 4)
    if room < bucketRoom then bucketRoom = room end
  end
end
-- Token windows (weighted calls; see TOKEN_WINDOWS): the callers whose costs fit, in order.
local tkey = KEYS[2]
local tin, tout, tnext = 0, 0, 0
local caps = {-1, -1, -1}
local costIn, costOut = {}, {}
local tokenWait, tokenRoom = 0, 0
local perIn, perOut = 0, 0
local function over(cap, used, cost) return cap >= 0 and (used + cost > cap or (cost == 0 and used >= cap)) end
if weighted then
  local i = 1
  for v in string.gmatch(ARGV[11], '[^,]+') do caps[i] = v + 0; i = i + 1 end
  i = 0
  for a, b in string.gmatch(ARGV[12], '([^,]+),([^,]+)') do i = i + 1; costIn[i] = a + 0; costOut[i] = b + 0 end
  for a, b in string.gmatch(ARGV[13], '([^,]+),([^,]+)') do perIn = a + 0; perOut = b + 0 end
  if x[5] then tin, tout, tnext = struct.unpack(${TOKEN_STATE}, x[5])
  else
    -- No state: entries left by a state that expired first are stale. Tickets start from the
    -- clock (below 2^53), so that one given before cannot name an entry of a state made after.
    redis.call('DEL', tkey)
    tnext = math.floor(now) * 1000
  end
  -- Entries whose record has left the window, oldest first: dropped, their costs with them.
  local dropped, k, n = 0, 0, 0
  repeat
    local chunk = redis.call('LRANGE', tkey, dropped, dropped + 15)
    n = #chunk
    k = 0
    for j = 1, n do
      local _, at, a, b = struct.unpack(${TOKEN_ENTRY}, chunk[j])
      if at + win > now then break end
      tin = tin - a
      tout = tout - b
      k = k + 1
    end
    dropped = dropped + k
  until k < 16
  if dropped > 0 then redis.call('LTRIM', tkey, dropped, -1) end
  -- Empty: the sums restart from exactly 0 (floats cannot drift across quiet minutes).
  if k == n then tin, tout = 0, 0 end
  local ui, uo = tin, tout
  local fit = 0
  while fit < admitted do
    local a, b = costIn[fit + 1] or 0, costOut[fit + 1] or 0
    if over(caps[1], ui + uo, a + b) or over(caps[2], ui, a) or over(caps[3], uo, b) then break end
    ui = ui + a
    uo = uo + b
    fit = fit + 1
  end
  if fit < admitted then
    -- The next caller waits until enough of the oldest records have left the window (this run's
    -- last): a record may be stamped later than one after it (credits), hence the latest so far.
    local a, b = costIn[fit + 1] or 0, costOut[fit + 1] or 0
    local li, lo = ui, uo
    local latest = now
    tokenWait = win
    for _, entry in ipairs(redis.call('LRANGE', tkey, 0, -1)) do
      local _, at, ea, eb = struct.unpack(${TOKEN_ENTRY}, entry)
      if at > latest then latest = at end
      li = li - ea
      lo = lo - eb
      if not (over(caps[1], li + lo, a + b) or over(caps[2], li, a) or over(caps[3], lo, b)) then
        tokenWait = latest + win - now
        break
      end
    end
    admitted = fit
  end
  -- Credits carry tokens (perIn and perOut each): at most a quarter of each window's room.
  tokenRoom = credits
  local function room(cap, used, per)
    if cap < 0 then return end
    if used >= cap then
      tokenRoom = 0
    elseif per > 0 then
      local r = math.floor((cap - used) / 4 / per)
      if r < tokenRoom then tokenRoom = r end
    end
  end
  room(caps[1], ui + uo, perIn + perOut)
  room(caps[2], ui, perIn)
  room(caps[3], uo, perOut)
end
local granted = 0
if admitted == count and credits > 0 and bucketRoom > 0 then
  granted = credits
  if bucketRoom < granted then granted = bucketRoom end
  if weighted and tokenRoom < granted then granted = tokenRoom end
end
local taken = admitted + granted
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
-- Each caller admitted gets a record of its cost (its ticket: tnext on), and a grant of credits
-- one record of the tokens it carries; stamped like the ring's, at the end of the lease if any.
local tfirst = tnext
local newList = false
local tstate = false
if weighted then
  local entries = {}
  for i = 1, admitted do entries[i] = struct.pack(${TOKEN_ENTRY}, tnext + i - 1, stamp, costIn[i] or 0, costOut[i] or 0) end
  if granted > 0 then entries[admitted + 1] = struct.pack(${TOKEN_ENTRY}, tnext + admitted, stamp, granted * perIn, granted * perOut) end
  if #entries > 0 then
    -- A new list gets the key's lifetime (below); after that, the list's is refreshed with the key's.
    newList = redis.call('RPUSH', tkey, unpack(entries)) == #entries
    tnext = tnext + #entries
    for i = 1, admitted do
      tin = tin + (costIn[i] or 0)
      tout = tout + (costOut[i] or 0)
    end
    if granted > 0 then
      tin = tin + granted * perIn
      tout = tout + granted * perOut
    end
  end
  -- Written with the state below (one HSET), or alone when nothing is admitted.
  tstate = struct.pack(${TOKEN_STATE}, tin, tout, tnext)
end
-- When the bucket lets the next start in.
local nextMs = 0
if rate > 0 and tat - tau > now then nextMs = tat - tau - now end
local tokens = burst
if rate > 0 then tokens = burst - (tat - now) / step end
-- When the window frees a slot; but credits granted (here or to another process) and not lapsed
-- yet may come back unused before that: the wait is then only until their lease ends (the best
-- case; a give-back also wakes the waiters, see REFUND_SCRIPT).
local function windowWait(at)
  local w = at + win - now
  if cu > now and cu - now + 1 < w then w = cu - now + 1 end
  return w
end
if admitted < count then
  if after then
    local w = windowWait(after)
    if w > nextMs then nextMs = w end
  end
  if tokenWait > nextMs then nextMs = tokenWait end
  if nextMs <= 0 then nextMs = 1 end
end
-- Tokens left in each capped window (-1: uncapped), for the status report.
local left = {-1, -1, -1}
if weighted then
  local used = {tin + tout, tin, tout}
  for i = 1, 3 do
    if caps[i] >= 0 then
      left[i] = caps[i] - used[i]
      if left[i] < 0 then left[i] = 0 end
    end
  end
end
local remaining = -1
if admitted == 0 then
  if limit > 0 then
    remaining = limit - h
    if full == 1 then remaining = 0 end
  end
  if tstate then redis.call('HSET', key, 'T', tstate) end
  return {0, tokens, remaining, math.ceil(nextMs), -1, 0, 0, tfirst, left[1], left[2], left[3]}
end
-- The key lives as long as the window needs its starts and the bucket until it is full again,
-- refreshed once per such period rather than per call.
local keep = 0
if limit > 0 or weighted then keep = win + lease end
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
      local w = windowWait(after)
      if w > nextMs then nextMs = w end
    end
  end
end
if rate <= 0 then tat = 0 end
if granted > 0 and stamp > cu then cu = stamp end
local state = struct.pack(${HEADER}, tat, e, h, rl, full, cu)
if tstate then
  local kv = {'H', state, 'T', tstate}
  local at = tostring(stamp)
  for i = 0, taken - 1 do
    if slot < 0 then break end
    kv[#kv + 1] = (slot + i) % limit
    kv[#kv + 1] = at
  end
  redis.call('HSET', key, unpack(kv))
elseif slot < 0 then
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
if refresh then
  redis.call('PEXPIRE', key, math.ceil(last - now))
  if weighted then redis.call('PEXPIRE', tkey, math.ceil(last - now)) end
elseif newList then
  redis.call('PEXPIRE', tkey, math.ceil(last - now))
end
-- Redis truncates numbers in replies to integers: no math.floor needed.
return {taken, tokens, remaining, math.ceil(nextMs), slot, stamp, probe, tfirst, left[1], left[2], left[3]}
`;

export const ADMIT_SHA = createHash('sha1').update(ADMIT_SCRIPT).digest('hex');

/**
 * Gives back starts nobody made: admissions whose answer came after their callers' deadline
 * (the callers were answered by the fallback), and credits that lapsed unused. Their ring
 * slots are marked free (a start at time 0 has left every window). Then the free slots are
 * put where the next admissions look (from the ring's next slot on, or from slot 0 while the
 * ring has never been full), so the capacity is the fleet's again at once, not when the ring
 * comes round to them: when no start was taken after them, the ring's next slot moves back to
 * the first of them; otherwise the starts recorded where the next admissions look are moved
 * into them, each to a slot of its own (only starts already made: a record stamped later may
 * be another grant's credits, which their own give-back must still find where they were put).
 * The bucket gets `step` ms of its tat back per start. A fleet probe they took is released.
 * Then every process is told (`g`), so that callers waiting for room try again now.
 * KEYS: 1 the scope's hash. ARGV: 1 first slot (-1: none), 2 how many, 3 ring length,
 * 4 stamp, 5 1 when it took the probe, 6 the bucket's ms per start (0: keep the tokens:
 * counted twice, they only err on the safe side), 7 channel, 8 scope.
 */
export const REFUND_SCRIPT = `
${NOW}
local key = KEYS[1]
local n = ARGV[2] + 0
local holes = {}
if ARGV[1] ~= '-1' then
  local first = ARGV[1] + 0
  local length = ARGV[3] + 0
  for i = 0, n - 1 do
    local slot = (first + i) % length
    if redis.call('HGET', key, slot) == ARGV[4] then
      redis.call('HSET', key, slot, 0)
      holes[#holes + 1] = slot
    end
  end
end
if #holes > 0 or ARGV[6] ~= '0' then
  local state = redis.call('HGET', key, 'H')
  if state then
    local tat, e, h, rl, full, cu = 0, 0, 0, 0, 0, 0
    if #state < ${STATE_BYTES} then tat, e, h, rl, full = struct.unpack(${OLD_HEADER}, state)
    else tat, e, h, rl, full, cu = struct.unpack(${HEADER}, state) end
    -- The bucket's give-back is safe even when others started since: tat stays at least where
    -- it would be had these never been granted.
    tat = tat - n * ARGV[6]
    if #holes > 0 and rl == ARGV[3] + 0 then
      local first = ARGV[1] + 0
      if #holes == n and h == (first + n) % rl then
        h = first
      else
        -- Walk from where the next admissions look; a hole reached is in place, a start made is
        -- moved into the farthest hole not reached yet; stop at a record that may be credits.
        local open = {}
        for i = 1, #holes do open[holes[i]] = true end
        local left = #holes
        local start = 0
        if full == 1 then start = h end
        local function ahead(slot) return (slot - start) % rl end
        table.sort(holes, function(a, b) return ahead(a) < ahead(b) end)
        local last = #holes
        for i = 0, rl - 1 do
          if left == 0 then break end
          local q = (start + i) % rl
          if open[q] then
            open[q] = nil
            left = left - 1
          else
            local v = tonumber(redis.call('HGET', key, q) or '0') or 0
            if v > now then break end
            -- 0: a free slot already (not one of ours), passed over.
            if v > 0 then
              while not open[holes[last]] do last = last - 1 end
              redis.call('HSET', key, holes[last], v, q, 0)
              open[holes[last]] = nil
              left = left - 1
            end
          end
        end
      end
    end
    redis.call('HSET', key, 'H', struct.pack(${HEADER}, tat, e, h, rl, full, cu))
  end
end
if ARGV[5] == '1' then redis.call('HDEL', key, 'cp') end
if #holes > 0 or ARGV[6] ~= '0' then
  redis.call('PUBLISH', ARGV[7], cjson.encode({t = 'g', o = '', k = ARGV[8]}))
end
return 1
`;

/**
 * Reconciles token records (weighted calls): adds `dIn` / `dOut` to each of the `n` records from
 * ticket `first` on, never below 0, and to the window's sums. A record that has left the list
 * (expired) or whose ticket is not the one asked for (the state was made again since) is left
 * alone: it no longer counts. When tokens were freed, every process is told (`g`), so that
 * callers waiting for room try again now.
 * KEYS: 1 the scope's hash, 2 its token list. ARGV: 1 first ticket, 2 n, 3 dIn, 4 dOut,
 * 5 channel, 6 scope.
 */
export const AMEND_SCRIPT = `
local state = redis.call('HGET', KEYS[1], 'T')
if not state then return 0 end
local tin, tout, tnext = struct.unpack(${TOKEN_STATE}, state)
local length = redis.call('LLEN', KEYS[2])
local base = tnext - length
local first = ARGV[1] + 0
local dIn, dOut = ARGV[3] + 0, ARGV[4] + 0
local freed = false
for ticket = first, first + ARGV[2] - 1 do
  local index = ticket - base
  if index >= 0 and index < length then
    local seq, at, a, b = struct.unpack(${TOKEN_ENTRY}, redis.call('LINDEX', KEYS[2], index))
    if seq == ticket then
      local na, nb = a + dIn, b + dOut
      if na < 0 then na = 0 end
      if nb < 0 then nb = 0 end
      if na < a or nb < b then freed = true end
      tin = tin + na - a
      tout = tout + nb - b
      redis.call('LSET', KEYS[2], index, struct.pack(${TOKEN_ENTRY}, seq, at, na, nb))
    end
  end
end
redis.call('HSET', KEYS[1], 'T', struct.pack(${TOKEN_STATE}, tin, tout, tnext))
if freed then redis.call('PUBLISH', ARGV[5], cjson.encode({t = 'g', o = '', k = ARGV[6]})) end
return 1
`;

/** What to reconcile with AMEND_SCRIPT: `count` token records from ticket `first`, each changed by the deltas. */
export interface TokenAmend {
  readonly key: string;
  readonly scope: string;
  readonly first: number;
  readonly count: number;
  readonly input: number;
  readonly output: number;
}

/** A delta that brings any record to 0 (a late answer's records: nobody started). */
export const ALL_TOKENS = -1e300;

/** AMEND_SCRIPT's EVAL arguments (script, numkeys, keys, ARGV...), telling `channel`. */
export function encodeAmend(amend: TokenAmend, channel: string): (string | number)[] {
  return [AMEND_SCRIPT, 2, amend.key, tokenKeyIn(amend.key), amend.first, amend.count, amend.input, amend.output, channel, amend.scope];
}

// Encoding and decoding: nowhere else knows an argument's position or a reply's layout.

/** A scope's limits as the admission script takes them. */
export interface AdmitLimits {
  /** Starts per second; Infinity: no bucket. */
  readonly requestsPerSecond: number;
  readonly burst: number;
  /** The strict window's cap, as a ring of this many slots; 0: the cap does not bind. */
  readonly ringLength: number;
  readonly windowMs: number;
  /** How long the fleet's probe is held; 0: the circuit is not shared. */
  readonly probeLockMs: number;
  /** How long credits granted now stay usable; 0: none are asked for. */
  readonly leaseMs: number;
  /** The token caps (total, input, output; Infinity: uncapped); null: the scope has none (its calls are not weighted here). */
  readonly tokenCaps: TokenCaps | null;
}

// Positions in the EVALSHA command: sha, numkeys, the two keys, then ARGV 1.. (see ADMIT_SCRIPT).
const RING_LENGTH = 6;
const COUNT = 9;
const HINT = 10;
const CREDITS = 12;
const LEASE = 13;
const COSTS = 15;
const PER_CREDIT = 16;

/** Where a sent admission command carries the admissions asked for and the credits' lease (for a recorder of the commands, as the fleet tests have). */
export const ADMIT_ARG_INDEX = Object.freeze({ count: COUNT, leaseMs: LEASE });

/**
 * The admission command of one scope, built when its limits change rather than per call; a
 * batch sets its count, the credits it asks for and the ring slots it expects, then sends it.
 */
export class AdmitCommand {
  /** The EVALSHA command as sent. ioredis copies the arguments at once, so it is reused. */
  private readonly args: string[];

  constructor(
    readonly key: string,
    readonly limits: AdmitLimits,
  ) {
    const caps = limits.tokenCaps;
    const cap = (n: number): string => (n === Infinity ? '-1' : String(n));
    this.args = [
      ADMIT_SHA,
      '2',
      key,
      tokenKeyIn(key),
      limits.requestsPerSecond === Infinity ? '-1' : String(limits.requestsPerSecond),
      String(limits.burst),
      String(limits.ringLength),
      String(limits.windowMs),
      String(limits.probeLockMs),
      '1',
      '0',
      limits.ringLength > 1 ? '1' : '0',
      '0',
      String(limits.leaseMs),
      caps === null ? '' : `${cap(caps.total)},${cap(caps.input)},${cap(caps.output)}`,
      '',
      '',
    ];
  }

  /**
   * The arguments for EVALSHA: `count` admissions asked for, and `credits` more (a decimal
   * string); with token caps, `costs` (each caller's input and output, in order: "i,o,i,o...")
   * and the tokens each credit carries ("i,o"). Unweighted scopes send ''.
   */
  encode(count: number, credits: string, costs = '', perCredit = ''): readonly string[] {
    const args = this.args;
    args[COUNT] = count === 1 ? '1' : String(count);
    args[CREDITS] = credits;
    args[COSTS] = costs;
    args[PER_CREDIT] = perCredit;
    return args;
  }

  /**
   * The same with ages of fallback starts to import (ARGV 11..), and as EVAL with the script's
   * text after NOSCRIPT: rare, so worth an array of its own.
   */
  encodeWith(count: number, credits: string, costs: string, perCredit: string, imports: readonly number[] | null, asEval: boolean): (string | number)[] {
    const args: (string | number)[] = [...this.encode(count, credits, costs, perCredit), ...(imports ?? [])];
    if (asEval) args[0] = ADMIT_SCRIPT;
    return args;
  }

  /** Redis admitted starts up to ring slot `next - 1`: the next admission hints the two slots after. */
  expectSlot(next: number): void {
    const length = this.limits.ringLength;
    if (length === 0) return;
    this.args[HINT] = String(next % length);
    this.args[HINT + 1] = String((next + 1) % length);
  }

  /** The ring length as sent (for REFUND_SCRIPT). */
  get ringLengthArg(): string {
    return this.args[RING_LENGTH]!;
  }
}

/** The admission script's answer, decoded. */
export type AdmitAnswer =
  | {
      readonly kind: 'admitted';
      /** Starts taken: the callers admitted, then credits granted beyond the count asked for. */
      readonly taken: number;
      /** Tokens left in the bucket. */
      readonly tokens: number;
      /** At least this many more fit in the window; null: the cap does not bind. */
      readonly remaining: number | null;
      /** Nothing more is admitted before this many ms (the callers not admitted wait that long). */
      readonly waitMs: number;
      /** The ring slot of the first start taken (-1: no ring or nothing taken), and their stamp (for REFUND_SCRIPT). */
      readonly slot: number;
      readonly stamp: number;
      /** The one admitted call is the fleet's half-open probe. */
      readonly probe: boolean;
      /** Weighted: the ticket of the first caller's token record (the others follow; then the credits' one). */
      readonly ticket: number;
      /** Weighted: tokens left in each capped window (null where uncapped, and without token caps). */
      readonly tokensLeft: { readonly total: number | null; readonly input: number | null; readonly output: number | null };
    }
  | { readonly kind: 'suspended'; readonly ms: number; readonly reason: string }
  | { readonly kind: 'paused'; readonly ms: number }
  | { readonly kind: 'circuit_open'; readonly ms: number };

/** Decodes a reply of ADMIT_SCRIPT (see its doc for the layout). */
export function decodeAdmitReply(reply: unknown): AdmitAnswer {
  const r = reply as readonly (number | string)[];
  const code = Number(r[0]);
  if (code >= 0) {
    const remaining = Number(r[2]);
    return {
      kind: 'admitted',
      taken: code,
      tokens: Number(r[1]),
      remaining: remaining < 0 ? null : remaining,
      waitMs: Number(r[3] ?? 0),
      slot: Number(r[4] ?? -1),
      stamp: Number(r[5] ?? 0),
      probe: r[6] === 1,
      ticket: Number(r[7] ?? 0),
      tokensLeft: { total: left(r[8]), input: left(r[9]), output: left(r[10]) },
    };
  }
  // Another process wrote the reason (an older version, or anyone with access to Redis): redacted here.
  if (code === -1) return { kind: 'suspended', ms: Number(r[1]), reason: redactText(String(r[2] ?? '')) };
  if (code === -2) return { kind: 'paused', ms: Number(r[1]) };
  return { kind: 'circuit_open', ms: Number(r[1]) };
}

const left = (value: number | string | undefined): number | null => {
  const n = Number(value ?? -1);
  return n < 0 ? null : n;
};

/** What to give back with REFUND_SCRIPT. */
export interface Refund {
  readonly key: string;
  /** The scope, as the processes told of the give-back know it. */
  readonly scope: string;
  readonly ringLength: number | string;
  /** The first ring slot (-1: none). */
  readonly slot: number;
  readonly count: number;
  readonly stamp: number;
  /** The fleet's probe is among them. */
  readonly probe: boolean;
  /** The bucket's ms per start to give back; 0 keeps its tokens. */
  readonly step: number;
  /** Token records to reconcile too (weighted calls), or null. */
  readonly tokens?: TokenAmend | null;
}

/** REFUND_SCRIPT's EVAL arguments (script, numkeys, key, ARGV...), telling `channel`; null when there is nothing to give back. */
export function encodeRefund(refund: Refund, channel: string): (string | number)[] | null {
  if (refund.slot < 0 && !refund.probe && refund.step === 0) return null;
  return [REFUND_SCRIPT, 1, refund.key, refund.slot, refund.count, refund.ringLength, refund.stamp, refund.probe ? 1 : 0, refund.step, channel, refund.scope];
}

