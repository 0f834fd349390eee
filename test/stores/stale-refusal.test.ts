/**
 * A refusal for the shared circuit that Redis gave before the fleet's latest closing can reach
 * a process after the closing's message (they come over two connections); so can a suspension
 * refusal given before a resume. No Redis here: the answers are driven directly.
 */
import { describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { Circuit, type CircuitListener } from '../../src/breaker/circuit.js';
import { isPlatformSuspendedError } from '../../src/errors/errors.js';
import { ThrottleManager } from '../../src/manager/throttle-manager.js';
import type { RedisLimiter } from '../../src/stores/redis/limiter.js';
import { RedisStore } from '../../src/stores/redis/store.js';

function sharedCircuit(): { limiter: RedisLimiter; circuit: Circuit; changes: string[] } {
  const store = new RedisStore({ client: answeredByHand().client, subscribe: false, shareCircuit: true });
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

/** An ioredis stand-in whose admissions are answered by the test, one by one. */
function answeredByHand(): { client: Redis; answer: (reply: unknown[]) => void; sent: () => number } {
  const waiting: ((reply: unknown) => void)[] = [];
  let sent = 0;
  const client = {
    status: 'ready',
    evalsha: () => {
      sent++;
      return new Promise((resolve) => waiting.push(resolve));
    },
    eval: () => Promise.resolve(1),
    on: () => client,
    duplicate: () => client,
  };
  return { client: client as unknown as Redis, answer: (reply) => waiting.shift()!(reply), sent: () => sent };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('RedisStore: suspension refusals answered after a resume', () => {
  async function refusedWhileResuming(resume: boolean): Promise<{ manager: ThrottleManager; redis: ReturnType<typeof answeredByHand> }> {
    const redis = answeredByHand();
    const manager = new ThrottleManager({ store: new RedisStore({ client: redis.client, subscribe: false }), env: {} });
    manager.configure('svc', { maxWaitMs: 0, retryAttempts: 0 });
    const call = manager.execute('svc', async () => 'ok', { platform: 'p' });
    await tick();
    expect(redis.sent()).toBe(1);
    // The user lifts the suspension while Redis's refusal (from before) is on its way.
    if (resume) manager.resume('svc', { platform: 'p' });
    redis.answer([-1, 60_000, 'ban detected']);
    await expect(call).rejects.toSatisfy(isPlatformSuspendedError);
    return { manager, redis };
  }

  it('the refusal refuses its caller but does not suspend the scope here again', async () => {
    const { manager, redis } = await refusedWhileResuming(true);
    expect(manager.getStatusReport().scopes['svc:p']!.state).not.toBe('suspended');
    // The next call asks Redis again instead of being refused here for the old suspension.
    const next = manager.execute('svc', async () => 'ok', { platform: 'p' });
    await tick();
    expect(redis.sent()).toBe(2);
    redis.answer([1, 10, 99, 0, 0, Date.now(), 0]);
    await expect(next).resolves.toBe('ok');
    await manager.close();
  });

  it('without a resume in between, the same refusal suspends the scope', async () => {
    const { manager, redis } = await refusedWhileResuming(false);
    expect(manager.getStatusReport().scopes['svc:p']!.state).toBe('suspended');
    await expect(manager.execute('svc', async () => 'ok', { platform: 'p' })).rejects.toSatisfy(isPlatformSuspendedError);
    expect(redis.sent()).toBe(1);
    await manager.close();
  });
});
