/**
 * Lua shared by the scripts a RedisStore runs inside Redis. Every script reads the server's clock
 * (`TIME`), so hosts whose clocks disagree still share one timeline, and touches one key per
 * scope (a hash, under the scope's hash tag), so it runs on Redis Cluster too.
 *
 * The scope's hash holds everything an admission needs (server ms throughout):
 *   H        the admission state, packed (see {@link HEADER}): the token bucket as GCRA (its
 *            "theoretical arrival time"; 0: no state yet, a full bucket), when the key may
 *            expire as far as the bucket and window are concerned, the ring's next slot, its
 *            length L (the cap it was built for), 1 once every slot has been filled, and
 *            the latest end of a lease of credits granted (they may come back until then)
 *   0..L-1   the strict window as a ring of the last L starts (L = the per-window cap)
 *   x        present once a suspension, pause or shared circuit has been written: only then
 *            does an admission read the next six; the first admission that finds none of them
 *            in force removes it
 *   su / s   suspended until / reason          pu   paused until (a provider's Retry-After)
 *   co       circuit open fleet-wide until     cp   the half-open probe is taken until
 *   ce       the circuit record is kept until (then the fleet forgets it)
 *   T        the token windows' state (weighted calls), packed (see {@link TOKEN_STATE})
 * and, for a scope with token caps, a second key under the same hash tag (so the same cluster
 * slot), the list of its records (see {@link tokenKeyIn} and TOKEN_WINDOWS in admit-protocol.ts).
 * The ring keeps the exact guarantee: a start may only overwrite a slot whose start has left
 * the window, so at most L starts are ever inside it (the proof, credits and give-backs
 * included, is beside ADMIT_SCRIPT). Slots are reused in turn from the next slot on, so the
 * slot it overwrites is, but for give-backs, the oldest of the last L: the one that decides.
 *
 * Why packed: inside Redis every field read or written, and every number Redis formats for
 * a script, costs time; one binary field read and written whole costs less than the same
 * state as six fields of decimal numbers.
 *
 * The admission protocol (its script, arguments and replies) is in admit-protocol.ts; the
 * scripts that change the fleet-wide state and tell every process are in channel-scripts.ts.
 */

/** The time on the server, in ms. Lua turns the reply's strings into numbers by itself. */
export const NOW = `local t = redis.call('TIME')
local now = t[1] * 1000 + t[2] / 1000`;

/**
 * `struct` layout of the `H` field: the bucket's tat, expiry, next slot, ring length, full, and
 * the latest end of a credit lease granted (0: none yet).
 */
export const HEADER = `'<ddddBd'`;
/** Its size in bytes. */
export const STATE_BYTES = 41;
/**
 * The layout before the credits' lease end was kept: still read (as "no credits granted"), so
 * that processes of both versions can share a fleet while it is upgraded; the older version
 * reads the newer state's first fields and ignores the rest.
 */
export const OLD_HEADER = `'<ddddB'`;

/**
 * `struct` layout of the `T` field: the input and output tokens of the records in the list, and
 * the ticket the next record gets (the first record's is that less the list's length).
 */
export const TOKEN_STATE = `'<ddd'`;
/** `struct` layout of a record in the token list: its ticket, its stamp (ms), its input and output tokens. */
export const TOKEN_ENTRY = `'<dddd'`;

/** Keeps the hash exactly as long as the latest of its deadlines, or deletes it. */
export const EXPIRE_STATE = `local d = redis.call('HMGET', KEYS[1], 'su', 'pu', 'ce', 'cp', 'H')
local last = 0
for i = 1, 4 do
  local v = tonumber(d[i])
  if v and v > last then last = v end
end
if d[5] then
  local _, e = struct.unpack('<dd', d[5])
  if e > last then last = e end
end
if last > now then redis.call('PEXPIRE', KEYS[1], math.ceil(last - now)) else redis.call('DEL', KEYS[1]) end`;


/** The one key of a scope (a hash, laid out as above); the hash tag names its cluster slot. */
export function scopeKeyIn(prefix: string, scope: string): string {
  return `${prefix}{${scope}}`;
}

/** The list of a scope's token records, beside its hash (the same hash tag: the same cluster slot). */
export function tokenKeyIn(scopeKey: string): string {
  return `${scopeKey}:t`;
}
