/** Scripts that change a scope's fleet-wide state (see lua.ts for the key layout) and PUBLISH it to every process. */
import { EXPIRE_STATE, NOW } from './lua.js';

/**
 * The longest provider pause the fleet takes, whatever a provider (or another process) asks:
 * 24 h. The manager clamps a pause to the scope's own ceiling before it is published; this
 * keeps one bad value (`retry-after: 999999999999`) from pausing every process for centuries.
 */
export const MAX_PAUSE_MS = 24 * 60 * 60 * 1000;

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

/** Lifts a scope's suspension and provider pause fleet-wide. KEYS: 1 the scope's hash. ARGV: 1 channel, 2 origin, 3 scope. */
export const RESUME_SCRIPT = `
${NOW}
redis.call('HDEL', KEYS[1], 'su', 's', 'pu')
${EXPIRE_STATE}
redis.call('PUBLISH', ARGV[1], cjson.encode({t = 'r', o = ARGV[2], k = ARGV[3]}))
return 1
`;

/**
 * Pauses a scope fleet-wide (a provider's Retry-After), for at most MAX_PAUSE_MS. KEYS: 1 the
 * scope's hash. ARGV: 1 ms, 2 channel, 3 origin, 4 scope.
 */
export const PAUSE_SCRIPT = `
${NOW}
local ms = tonumber(ARGV[1]) or 0
if ms > ${MAX_PAUSE_MS} then ms = ${MAX_PAUSE_MS} end
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

/**
 * Tells every process something that is not a scope's state (the anti-loop guard's degraded
 * mode): stores nothing. KEYS: 1 a key named after the topic (it routes the script on a cluster;
 * never written). ARGV: 1 payload, 2 channel, 3 origin, 4 topic.
 */
export const MESSAGE_SCRIPT = `
redis.call('PUBLISH', ARGV[2], cjson.encode({t = 'm', o = ARGV[3], k = ARGV[4], r = ARGV[1]}))
return 1
`;
