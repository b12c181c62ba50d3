import { describe, expect, it } from 'vitest';
import { outcomeCounts } from '../../src/api/admin.ts';

describe('the dashboard shows a batch job result as counts', () => {
  it('when a batch job finished with mixed outcomes, then the dashboard gets one count per outcome and no patient id', () => {
    const shown = outcomeCounts({ results: [
      { outcome: 'inserted', patientId: 101 }, { outcome: 'inserted', patientId: 102 },
      { outcome: 'stale', patientId: 103 }, { outcome: 'rejected', patientId: 104, code: 'PATIENT_INVALID', message: 'x' }, null,
    ] });
    expect(shown).toEqual({ inserted: 2, stale: 1, rejected: 1, undecided: 1 });
    expect(JSON.stringify(shown)).not.toMatch(/10[1-4]|PATIENT_INVALID/);
  });

  it('when the job has no result yet (or an unknown shape), then nothing is shown', () => {
    expect(outcomeCounts(null)).toEqual({});
    expect(outcomeCounts({ outcome: 'inserted' })).toEqual({});
  });
});
