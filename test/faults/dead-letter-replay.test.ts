import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFaultEnv, jobIdsOf, patientVersion, until, type FaultEnv } from '../support/fault-env.ts';

let env: FaultEnv;
beforeAll(async () => {
  env = await createFaultEnv();
});
afterAll(() => env.close());

describe('fault: dead letters are replayed once the cause is fixed', () => {
  it('when records failed under a wrong setting and the setting is fixed, then `dead-letters replay` stores them and marks each letter replayed with its new job', { timeout: 90_000 }, async () => {
    // The cause: a worker deployed with PATIENT_STRING_MAX=10 refuses every full name longer than that.
    const misconfigured = env.startWorker({ PATIENT_STRING_MAX: '10' });
    const records = [patientVersion(701, 1), patientVersion(702, 1), patientVersion(703, 1)];
    const refs = await env.enqueue(records, { perJob: 3 }); // one job: one letter per record
    await until('3 dead letters', 30_000, async () => (await env.store.deadLetters.countDocuments()) === 3, 100, () => env.counts());
    misconfigured.child.kill('SIGTERM');
    expect((await misconfigured.exited).code).toBe(0);

    const listed = await env.deadLetters('list');
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain('3 dead letter(s)');
    expect(listed.stdout).toMatch(/PATIENT_INVALID: patient record is invalid: fullname/);
    expect(listed.stdout).not.toContain('patient 701 version 1'); // no patient values on the terminal

    // The fix: the setting back to its default. Then one replay by id, the rest with --all.
    env.startWorker();
    const first = `${env.config.QUEUE_NAME}:${refs[0]}`;
    const one = await env.deadLetters('replay', first);
    const rest = await env.deadLetters('replay', '--all');
    const again = await env.deadLetters('replay', first);
    expect([one.code, rest.code, again.code]).toEqual([0, 0, 1]);
    expect(again.stderr).toMatch(/already replayed/);

    await until('3 patients stored', 30_000, async () => (await env.store.patients.countDocuments()) === 3);
    const letters = await env.store.deadLetters.find({}).sort({ jobId: 1 }).toArray();
    const replayResults = await Promise.all(letters.map(async (l) => (l.replayJobId ? (await env.recordResult(l.replayJobId)).result : undefined)));
    const stored = await env.store.patients.find({}).sort({ id: 1 }).toArray();
    const unreplayed = await env.deadLetters('list');
    console.log('[dead-letter-replay]', JSON.stringify({ acknowledged: refs.length, originalJobs: jobIdsOf(refs), deadLetters: letters.length, replayed: letters.filter((l) => l.replayedAt).length, replayResults, storedDocs: stored.length, listedAfter: unreplayed.stdout.trim() }));

    expect(jobIdsOf(refs)).toHaveLength(1);
    expect(letters.map((l) => l.jobId)).toEqual(refs);
    for (const letter of letters) {
      expect(letter.replayedAt).toBeInstanceOf(Date);
      expect(letter.replayJobId).toMatch(/^\d+-\d+$/); // the new record's reference
      expect(jobIdsOf(refs)).not.toContain(jobIdsOf([letter.replayJobId!])[0]);
    }
    expect(jobIdsOf(letters.map((l) => l.replayJobId!))).toHaveLength(3); // each letter its own new job
    expect(replayResults.map((r) => r?.outcome)).toEqual(['inserted', 'inserted', 'inserted']);
    expect(stored.map((d) => [d.id, d.fullname, d._ingest.jobId])).toEqual(letters.map((l, i) => [701 + i, `patient ${701 + i} version 1`, l.replayJobId]));
    expect(unreplayed.stdout).toContain('0 dead letter(s)');
  });
});
