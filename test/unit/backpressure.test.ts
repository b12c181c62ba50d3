import { describe, expect, it } from 'vitest';
import { memoryShare } from '../../src/api/intake/backpressure.ts';

describe('memoryShare (INFO memory)', () => {
  it('when Redis has a maxmemory, then the share is used_memory over it', () => {
    expect(memoryShare('# Memory\r\nused_memory:4000000\r\nused_memory_human:3.81M\r\nmaxmemory:5000000\r\nmaxmemory_policy:noeviction\r\n')).toBeCloseTo(0.8);
  });

  it('when Redis has no maxmemory (0), then there is no memory limit to enforce', () => {
    expect(memoryShare('used_memory:4000000\r\nmaxmemory:0\r\n')).toBe(0);
  });
});
