import { describe, expect, it } from 'vitest';
import { SEED_SAMPLE } from '../../src/shared/patient/patient-fields.ts';
import { createPatientSchema } from '../../src/shared/patient/patient-schema.ts';
import type { RecordResult, WriteOutcome } from '../../src/shared/queue.ts';
import { JobError } from '../../src/worker/job-errors.ts';
import { processPatientJob, versionOf, type WriteItem, type WriteResult } from '../../src/worker/process-patient-job.ts';

// The processor of a batch job, with no server at all: `write` is the write layer's interface (one
// group commit per job, one result per item, in order), here a function that answers what each
// test needs and remembers what it was given.

const schema = createPatientSchema({ timeZone: 'Asia/Bangkok', maxStringLength: 255 });
const RECEIVED = Date.UTC(2025, 10, 1, 8, 0, 0);
const NOW = new Date(Date.UTC(2025, 10, 1, 9, 0, 0));
const valid = (id: number) => ({ patient: { ...SEED_SAMPLE, id }, receivedAt: RECEIVED, submittedBy: 'k1', tenant: { centers: [3], clusters: [] } });

function writeLayer(answer: (item: WriteItem, k: number) => WriteResult = () => ({ ok: true, outcome: 'inserted' })) {
  const calls: WriteItem[][] = [];
  return {
    calls,
    write: async (items: WriteItem[]) => {
      calls.push(items);
      return items.map(answer);
    },
  };
}

describe('processPatientJob (a batch of records, one attempt)', () => {
  it('when a job mixes valid, invalid and malformed records, then the valid ones go to one write in order and the others are rejected on their own', async () => {
    const layer = writeLayer((item) => ({ ok: true, outcome: item.doc.id === 1 ? 'inserted' : 'updated' }));
    const data = { records: [valid(1), { patient: { ...SEED_SAMPLE, id: 9, isactive: 999 }, receivedAt: RECEIVED }, { not: 'a record' }, valid(2)] };
    const out = await processPatientJob({ id: '7', data, attemptsMade: 0 }, { schema, write: layer.write, now: () => NOW });

    expect(layer.calls).toHaveLength(1); // one group commit for the job
    expect(layer.calls[0]!.map((i) => [i.doc._id, i.doc.id, i.doc.center_id])).toEqual([['3:1', 1, 3], ['3:2', 2, 3]]); // keyed by (center_id, id)
    expect(layer.calls[0]![1]!.doc._ingest).toEqual({ version: versionOf(new Date('2025-10-31T12:55:09.138Z'), RECEIVED, '7', 3), jobId: '7-3', receivedAt: new Date(RECEIVED), appliedAt: NOW, attempt: 1 });
    expect(layer.calls[0]![1]!.doc._ingest.version).toMatch(/\|0000000000000007\.00003$/);
    expect(out.results).toEqual([
      { outcome: 'inserted', patientId: 1 },
      { outcome: 'rejected', patientId: 9, code: 'PATIENT_INVALID', message: expect.stringMatching(/^patient record is invalid: isactive /) },
      { outcome: 'rejected', patientId: null, code: 'JOB_MALFORMED', message: expect.any(String) },
      { outcome: 'updated', patientId: 2 },
    ]);
    expect(out.rejected.map((r) => [r.index, r.error.code])).toEqual([[1, 'PATIENT_INVALID'], [2, 'JOB_MALFORMED']]);
    expect(out.rejected[1]!.record).toEqual({ not: 'a record' }); // kept as it came, for the dead letter
    expect(out.retry).toBeUndefined();
    expect(JSON.stringify(out.results)).not.toContain('999'); // messages name fields and rules, never values
  });

  it('when records were decided by an earlier attempt, then only the undecided ones are written and the decided results are kept', async () => {
    const layer = writeLayer();
    const decided: (RecordResult | null)[] = [{ outcome: 'inserted', patientId: 1 }, null, { outcome: 'rejected', patientId: 3, code: 'PATIENT_INVALID', message: 'm' }];
    const out = await processPatientJob({ id: '8', data: { records: [valid(1), valid(2), valid(3)] }, attemptsMade: 1, decided }, { schema, write: layer.write });

    expect(layer.calls.map((c) => c.map((i) => i.doc._id))).toEqual([['3:2']]);
    expect(layer.calls[0]![0]!.doc._ingest).toMatchObject({ jobId: '8-1', attempt: 2 });
    expect(out.results).toEqual([decided[0], { outcome: 'inserted', patientId: 2 }, decided[2]]);
    expect(out.rejected).toEqual([]); // refused in an earlier attempt, dead-lettered then
  });

  it('when every record was decided before, then nothing is written', async () => {
    const layer = writeLayer();
    const out = await processPatientJob({ id: '9', data: { records: [valid(1)] }, attemptsMade: 2, decided: [{ outcome: 'stale', patientId: 1 }] }, { schema, write: layer.write });
    expect(layer.calls).toEqual([]);
    expect(out.results).toEqual([{ outcome: 'stale', patientId: 1 }]);
  });

  it('when the write layer answers a transient error for some records, then those stay undecided and the job is to be retried with that error', async () => {
    const transient = new JobError('DB_UNAVAILABLE', 'database unreachable', false);
    const layer = writeLayer((item) => (item.doc.id === 2 || item.doc.id === 3 ? { ok: false, error: transient } : { ok: true, outcome: 'unchanged' as WriteOutcome }));
    const out = await processPatientJob({ id: '10', data: { records: [valid(1), valid(2), valid(3), valid(4)] }, attemptsMade: 0 }, { schema, write: layer.write });

    expect(out.results).toEqual([{ outcome: 'unchanged', patientId: 1 }, null, null, { outcome: 'unchanged', patientId: 4 }]);
    expect(out.retry).toBe(transient);
    expect(out.rejected).toEqual([]);
  });

  it('when the write layer answers a permanent error for a record, then that record alone is rejected and nothing is retried', async () => {
    const refused = new JobError('DB_REJECTED', 'MongoDB refused the document', true);
    const layer = writeLayer((item) => (item.doc.id === 2 ? { ok: false, error: refused } : { ok: true, outcome: 'inserted' }));
    const out = await processPatientJob({ id: '11', data: { records: [valid(1), valid(2)] }, attemptsMade: 0 }, { schema, write: layer.write });

    expect(out.results).toEqual([{ outcome: 'inserted', patientId: 1 }, { outcome: 'rejected', patientId: 2, code: 'DB_REJECTED', message: refused.message }]);
    expect(out.rejected.map((r) => [r.index, r.error])).toEqual([[1, refused]]);
    expect(out.retry).toBeUndefined();
  });

  it('when a record has no center (development mode, admin), then its key is "-:<id>", apart from every center\'s', async () => {
    const layer = writeLayer();
    const out = await processPatientJob({ id: '13', data: { records: [{ patient: { ...SEED_SAMPLE, id: 7, center_id: null, cluster_id: null }, receivedAt: RECEIVED }, valid(7)] }, attemptsMade: 0 }, { schema, write: layer.write });
    expect(layer.calls[0]!.map((i) => i.doc._id)).toEqual(['-:7', '3:7']);
    expect(out.results).toEqual([{ outcome: 'inserted', patientId: 7 }, { outcome: 'inserted', patientId: 7 }]);
  });

  it('when a record\'s own center is not one its key may write, then it alone is rejected FORBIDDEN_TENANT, never written, and no center is named', async () => {
    const layer = writeLayer();
    const foreign = { ...valid(2), patient: { ...SEED_SAMPLE, id: 2, center_id: 4 } };
    const out = await processPatientJob({ id: '14', data: { records: [valid(1), foreign] }, attemptsMade: 0 }, { schema, write: layer.write });
    expect(layer.calls[0]!.map((i) => i.doc._id)).toEqual(['3:1']);
    expect(out.results[1]).toMatchObject({ outcome: 'rejected', patientId: 2, code: 'FORBIDDEN_TENANT' });
    expect(out.results[1]!.message).not.toMatch(/\d/);
  });

  it('when a job of the one-record shape (before batches) is still queued, then it is processed as a batch of one', async () => {
    const layer = writeLayer();
    const out = await processPatientJob({ id: '12', data: valid(5), attemptsMade: 0 }, { schema, write: layer.write });
    expect(out.results).toEqual([{ outcome: 'inserted', patientId: 5 }]);
    expect(layer.calls[0]![0]!.doc._ingest.jobId).toBe('12-0');
  });

  it('when versions are compared as text, then modify_time decides first, then receivedAt, then job sequence, then place in the job', () => {
    const t = new Date('2025-01-01T00:00:00Z');
    const ordered = [
      versionOf(null, RECEIVED + 5, '999'),
      versionOf(t, RECEIVED, '999', 99),
      versionOf(t, RECEIVED + 1, '2', 0),
      versionOf(t, RECEIVED + 1, '10', 0),
      versionOf(t, RECEIVED + 1, '10', 1),
      versionOf(t, RECEIVED + 1, '10', 10),
      versionOf(new Date('2025-01-01T00:00:01Z'), 0, '1', 0),
    ];
    expect([...ordered].sort()).toEqual(ordered);
  });

  it('when neither version has a modify_time, then the later receivedAt wins; any modify_time beats none', () => {
    expect(versionOf(null, RECEIVED, '5') < versionOf(null, RECEIVED + 1, '1')).toBe(true);
    expect(versionOf(null, RECEIVED + 86_400_000, '9') < versionOf(new Date('0001-01-02T00:00:00Z'), RECEIVED, '1')).toBe(true);
  });

  it('when modify_time and receivedAt are equal, then the later job wins, numerically (job 10 after job 9), then the later place in the job', () => {
    const t = new Date('2025-01-01T00:00:00Z');
    expect(versionOf(t, RECEIVED, '9', 3) < versionOf(t, RECEIVED, '10', 0)).toBe(true);
    expect(versionOf(t, RECEIVED, '10', 2) < versionOf(t, RECEIVED, '10', 3)).toBe(true);
  });

  it('when the same record of the same job is versioned again (a re-delivery), then the version is identical: the write finds itself and is unchanged', () => {
    const t = new Date('2025-01-01T00:00:00.123Z');
    expect(versionOf(t, RECEIVED, '42', 7)).toBe(versionOf(new Date(t.getTime()), RECEIVED, '42', 7));
    expect(versionOf(null, RECEIVED, '42', 7)).toBe(versionOf(null, RECEIVED, '42', 7));
  });
});
