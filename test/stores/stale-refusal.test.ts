/**
 * A refusal for the shared circuit that Redis gave before the fleet's latest closing can reach
 * a process after the closing's message (they come over two connections). No Redis here: the
 * limiter's answer handling is driven directly.
 */
import { describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { Circuit, type CircuitListener } from '../../src/breaker/circuit.js';
import { RedisStore } from '../../src/stores/redis-store.js';
import type { RedisLimiter } from '../../src/stores/redis-limiter.js';

function sharedCircuit(): { limiter: RedisLimiter; circuit: Circuit; changes: string[] } {
  const store = new RedisStore({ client: {} as Redis, subscribe: false, shareCircuit: true });
  const limiter = store.createLimiter('svc', { requestsPerSecond: 10, burst: 10, requestsPerMinute: 100 }, Date.now()) as RedisLimiter;
  const changes: string[] = [];
  const listener: CircuitListener = { onCircuitChange: (_owner, from, to) => changes.push(`${from}>${to}`) };
  const circuit = Circuit.consecutive('svc', listener, 2, 300);
  limiter.linkCircuit(circuit);
  return { limiter, circuit, changes };
}

describe('RedisLimiter: refusals for the shared circuit', () => {
  it('opens the circuit for a refusal asked for after the latest closing', () => {
    const { limiter, circuit } = sharedCircuit();
    const asked = limiter.circuitClosings;
    const until = limiter.circuitRefused(200, asked);
    expect(circuit.stateName).toBe('open');
    expect(circuit.retryAt).toBe(until);
  });

  it('does not open it again for a refusal asked for before a closing that came first', () => {
    const { limiter, circuit, changes } = sharedCircuit();
    circuit.forceOpen(Date.now() + 300);
    const asked = limiter.circuitClosings;
    circuit.forceClose(); // the fleet's probe succeeded; its message beat the refusal's reply
    const until = limiter.circuitRefused(200, asked);
    expect(until).toBeGreaterThan(Date.now()); // the refused callers still learn when to come back
    expect(circuit.stateName).toBe('closed');
    expect(changes).toEqual(['closed>open', 'open>closed']);
  });
});
