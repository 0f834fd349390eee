/**
 * The circuit's fleet-mode hooks (used by RedisStore with `shareCircuit`), driven with explicit
 * timestamps: no timers, no Redis.
 */
import { describe, expect, it } from 'vitest';
import { Circuit, type CircuitListener, type CircuitSink } from '../../src/breaker/circuit.js';

function setup(withSink: boolean): { circuit: Circuit; changes: string[]; told: string[] } {
  const changes: string[] = [];
  const told: string[] = [];
  const listener: CircuitListener = { onCircuitChange: (_owner, from, to) => changes.push(`${from}>${to}`) };
  const circuit = Circuit.consecutive('scope', listener, 2, 1_000);
  if (withSink) {
    const sink: CircuitSink = { opened: (ms) => told.push(`opened ${ms}`), closed: () => told.push('closed') };
    circuit.shareWith(sink);
  }
  return { circuit, changes, told };
}

describe('Circuit fleet hooks', () => {
  it('tells the sink of its own openings and probe successes only', () => {
    const { circuit, changes, told } = setup(true);
    circuit.failure(0);
    circuit.failure(10);
    expect(told).toEqual(['opened 1000']);
    expect(circuit.allow(500)).toBe(false);
    expect(circuit.allow(1_010)).toBe(true); // the probe
    circuit.failure(1_020);
    expect(told).toEqual(['opened 1000', 'opened 1000']);
    expect(circuit.allow(2_020)).toBe(true);
    circuit.success();
    expect(told).toEqual(['opened 1000', 'opened 1000', 'closed']);
    expect(changes).toEqual(['closed>open', 'open>half_open', 'half_open>open', 'open>half_open', 'half_open>closed']);
  });

  it('applies the fleet: forceOpen refuses until the given time, then lets one probe through; forceClose and beginProbe; none is told back', () => {
    const { circuit, changes, told } = setup(true);
    circuit.forceOpen(5_000);
    expect(circuit.stateName).toBe('open');
    expect(circuit.retryAt).toBe(5_000);
    // An earlier opening does not shorten it; a later one extends it without a new event.
    circuit.forceOpen(4_000);
    circuit.forceOpen(6_000);
    expect(circuit.retryAt).toBe(6_000);
    expect(circuit.allow(5_999)).toBe(false);
    expect(circuit.allow(6_000)).toBe(true);
    expect(circuit.allow(6_001)).toBe(false);
    circuit.forceClose();
    expect(circuit.allow(6_002)).toBe(true);
    circuit.beginProbe();
    expect(circuit.stateName).toBe('half_open');
    expect(circuit.allow(6_003)).toBe(false);
    expect(changes).toEqual(['closed>open', 'open>half_open', 'half_open>closed', 'closed>half_open']);
    expect(told).toEqual([]);
  });

  it('without a sink (the memory store) behaves as before', () => {
    const { circuit, changes } = setup(false);
    circuit.failure(0);
    circuit.failure(0);
    expect(circuit.allow(999)).toBe(false);
    expect(circuit.allow(1_000)).toBe(true);
    circuit.success();
    expect(changes).toEqual(['closed>open', 'open>half_open', 'half_open>closed']);
  });
});
