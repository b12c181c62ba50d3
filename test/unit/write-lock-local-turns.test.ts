import { describe, expect, it } from 'vitest';
import { withLocalTurns, type LockKey, type WriteLock } from '../../src/worker/write/write-lock.ts';

// An in-memory lock with the WriteLock contract (what Redis would grant), to watch the local turns.
function memoryLock(heldElsewhere = new Set<LockKey>()): WriteLock & { held: Set<LockKey> } {
  const held = new Set<LockKey>();
  return {
    held,
    async acquire(keys) {
      const got = keys.filter((k) => !held.has(k) && !heldElsewhere.has(k));
      for (const k of got) held.add(k);
      return { held: new Set(got), release: async () => void got.forEach((k) => held.delete(k)) };
    },
  };
}

/** Lets every promise chain of the in-memory lock run to where it waits (no time passes: one macrotask turn). */
const settle = () => new Promise((r) => setImmediate(r));

describe('local turns in front of the patient lock', () => {
  it('when two jobs of one process want the same patient, then the second waits for the first instead of being refused', async () => {
    const lock = withLocalTurns(memoryLock());
    const first = await lock.acquire([1, 2]);
    const order: string[] = [];
    const second = lock.acquire([2, 3]).then((lease) => (order.push('second'), lease));
    await settle();
    expect(order).toEqual([]);
    order.push('first released');
    await first.release();
    const lease = await second;
    expect(order).toEqual(['first released', 'second']);
    expect([...lease.held].sort()).toEqual([2, 3]);
  });

  it('when jobs ask in opposite orders, then both get their keys (no deadlock) and in arrival order', async () => {
    const lock = withLocalTurns(memoryLock());
    const a = await lock.acquire([1, 2]);
    const b = lock.acquire([2, 1]);
    const c = lock.acquire([1]);
    await a.release();
    const lb = await b;
    expect([...lb.held].sort()).toEqual([1, 2]);
    let cDone = false;
    void c.then(() => (cDone = true));
    await settle();
    expect(cDone).toBe(false);
    await lb.release();
    expect([...(await c).held]).toEqual([1]);
  });

  it('when another process holds a patient, then it is not held here and its local turn is freed at once', async () => {
    const lock = withLocalTurns(memoryLock(new Set([7])));
    const lease = await lock.acquire([7, 8]);
    expect([...lease.held]).toEqual([8]);
    const again = await lock.acquire([7]); // not blocked by the first lease, which does not hold 7
    expect([...again.held]).toEqual([]);
    await lease.release();
    await lease.release(); // twice is harmless
  });
});
