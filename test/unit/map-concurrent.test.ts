import { describe, expect, it } from 'vitest';
import { mapConcurrent } from '../../src/shared/map-concurrent.ts';

const tick = () => new Promise((r) => setImmediate(r));

describe('mapConcurrent (the write path sends each FerretDB op alone, some at once)', () => {
  it('when items take different times, then at most `limit` run at once, a finished one frees its place at once, and results keep the items\' order', async () => {
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const results = await mapConcurrent([5, 1, 1, 1, 1, 1], 2, async (n, i) => {
      started.push(i);
      most = Math.max(most, ++running);
      for (let k = 0; k < n; k++) await tick();
      running--;
      return n * 10;
    });
    expect(results).toEqual([50, 10, 10, 10, 10, 10]);
    expect(most).toBe(2);
    // Item 0 is slow: items 2..5 all ran beside it (a sliding window, not chunks of two).
    expect(started).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('when one call fails, then it rejects with that error once every started call has settled, and starts no more', async () => {
    const settled: number[] = [];
    const run = mapConcurrent([1, 2, 3, 4], 2, async (n) => {
      await tick();
      if (n === 1) throw new Error('boom');
      settled.push(n);
      return n;
    });
    await expect(run).rejects.toThrow('boom');
    expect(settled).toEqual([2]);
  });
});
