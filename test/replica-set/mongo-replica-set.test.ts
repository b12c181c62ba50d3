import { MongoClient, type Collection, type CommandStartedEvent, type CommandSucceededEvent, type Document, type MongoClientOptions } from 'mongodb';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { PatientDocument } from '../../src/shared/mongo.ts';
import { createPatientSchema } from '../../src/shared/patient/patient-schema.ts';
import type { RecordResult } from '../../src/shared/queue.ts';
import { processPatientJob, versionOf, type JobInput, type JobOutcome, type ProcessorDeps } from '../../src/worker/process-patient-job.ts';
import { createPatientStore, type PatientStore } from '../../src/worker/write/batch-write.ts';
import { sendUnordered } from '../../src/worker/write/bulk-answers.ts';
import { chooseStrategy, mongoStrategy } from '../../src/worker/write/write-strategy.ts';
import { patientVersion } from '../support/fault-env.ts';
import { startReplicaSet, type ReplicaSet } from '../support/mongo-replica-set.ts';
import { patientDoc } from '../support/patient-docs.ts';

// Issue 21: what only a real MongoDB can show, on a 3-member mongo:8 replica set in containers
// (test/support/mongo-replica-set.ts), with the real driver and the real write layer and processor.
// The scripted wire server (test/unit/mongo-write-path.test.ts) plays the same cases with replies we
// wrote; here the server decides: failCommand (enableTestCommands=1) for write-concern errors and
// closed connections, paused secondaries for a lost majority, a killed primary for an election.
// Opt-in (`npm run test:replica-set`), never part of scripts/test.sh's runs: see test/README.md,
// which also says what this file has and has not been run against.

const APP = 'hemo-replica-set-test'; // failCommand is scoped to this appName: no other client meets it
const DB = 'hemo_replica_set';
const WCE = { code: 64, codeName: 'WriteConcernTimeout', errmsg: 'waiting for replication timed out', errInfo: { wtimeout: true } };
const T = Date.UTC(2026, 0, 5);
const schema = createPatientSchema({ timeZone: 'Asia/Bangkok', maxStringLength: 255 });
const MAJORITY = { readConcern: { level: 'majority' } } as const;

let rs: ReplicaSet;
let client: MongoClient;
let patients: Collection<PatientDocument>;
let store: PatientStore;
let started: CommandStartedEvent[] = [];
let succeeded: CommandSucceededEvent[] = [];
let collections = 0;

const connect = (options: MongoClientOptions = {}) =>
  new MongoClient(rs.url, { appName: APP, writeConcern: { w: 'majority', wtimeoutMS: 5000 }, serverSelectionTimeoutMS: 30_000, socketTimeoutMS: 30_000, ...options });

/** A collection of its own per test: no test sees another's patients. */
const freshPatients = (c: MongoClient) => c.db(DB).collection<PatientDocument>(`patients_${++collections}`);

beforeAll(async () => {
  rs = await startReplicaSet();
  const probe = connect();
  const build = await probe.db('admin').command({ buildInfo: 1 });
  console.log('[replica-set]', JSON.stringify({ image: rs.image, version: build.version, members: rs.ports.length, states: await rs.states() }));
  await probe.close();
}, 300_000);
afterAll(async () => {
  await rs?.stop();
}, 120_000);

beforeEach(async () => {
  client = connect({ monitorCommands: true });
  started = [];
  succeeded = [];
  client.on('commandStarted', (e) => started.push(e));
  client.on('commandSucceeded', (e) => succeeded.push(e));
  patients = freshPatients(client);
  store = createPatientStore({ patients, strategy: mongoStrategy('majority') });
});
afterEach(async () => {
  await rs.clearFailCommand(client).catch(() => {}); // a fail point a test left unconsumed
  await client.close();
});

/** The guarded replace's filter and op, as src/worker/write/guarded-replace.ts sends it. */
const guarded = (doc: PatientDocument) => ({ replaceOne: { filter: { _id: doc._id, '_ingest.version': { $not: { $gte: doc._ingest.version } } }, replacement: doc, upsert: true } });
/** Stores a version durably, as a write before the test. */
const seed = (...docs: PatientDocument[]) => patients.insertMany(docs);
const majorityRead = (id: string) => patients.findOne({ _id: id }, MAJORITY);
/** The commands of this name the test's client started on the test's collection (a retry is a second one). */
const commandsOn = (name: string) => started.filter((e) => e.commandName === name && e.command[name] === patients.collectionName);
const updateReplies = () => succeeded.filter((e) => e.commandName === 'update').map((e) => e.reply as Document);

/** A job of one record: patient `id`, version 1. */
const oneRecordJob = (jobId: string, id: number, attemptsMade: number, earlier?: JobOutcome): JobInput => ({
  id: jobId,
  data: { records: [{ patient: patientVersion(id, 1, T).patient, receivedAt: T }] },
  attemptsMade,
  decided: earlier?.results,
  tentative: earlier?.tentative,
});

/**
 * Runs a job's attempts as the worker does (each attempt keeps what earlier ones decided and their
 * tentative outcomes) until none is left undecided. The pause between attempts is the worker's retry
 * backoff, not a synchronisation.
 */
async function runToEnd(job: Omit<JobInput, 'attemptsMade'>, deps: ProcessorDeps, firstAttempt = 0, earlier?: JobOutcome, maxAttempts = 20): Promise<{ outcome: JobOutcome; attempts: number; retried: string[] }> {
  const retried: string[] = [];
  let last = earlier;
  for (let attempt = firstAttempt; attempt < firstAttempt + maxAttempts; attempt++) {
    const outcome = await processPatientJob({ ...job, attemptsMade: attempt, decided: last?.results, tentative: last?.tentative }, deps);
    if (!outcome.retry) return { outcome, attempts: attempt - firstAttempt + 1, retried };
    retried.push(outcome.retry.code);
    last = outcome;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`job ${job.id} still undecided after ${maxAttempts} attempts: ${retried.join(', ')}`);
}

describe('the server the write path finds', () => {
  it('when the write path asks the replica set what it is, then it is MongoDB 6 or later and the MongoDB strategy (one unordered bulk, no lock, majority reads) is chosen', async () => {
    const strategy = await chooseStrategy(client.db(DB), 'majority', () => {
      throw new Error('the server said it is FerretDB');
    });
    expect([strategy.name, strategy.exactBulkErrors, strategy.lockWaitMs]).toEqual(['mongodb', true, 0]);
    const hello = await client.db('admin').command({ hello: 1 });
    expect([hello.setName, (hello.hosts as string[]).length]).toEqual(['rs0', 3]);
  });
});

describe('durability: a write-concern error from the server leaves the record undecided', () => {
  it('when an insert is applied but answered with a write-concern timeout (failCommand), then the write answers DB_NOT_DURABLE with tentative "inserted", and a second write of the same document answers "unchanged"', async () => {
    await rs.failCommand(client, { commands: ['insert'], writeConcernError: WCE, appName: APP });
    const doc = patientDoc(1, 1);
    const [first] = await store.write([{ doc }]);
    expect(first).toMatchObject({ ok: false, error: { code: 'DB_NOT_DURABLE', permanent: false }, tentative: 'inserted' });
    // failCommand ran the insert and only then added the error: the version is on the primary.
    expect((await patients.findOne({ _id: doc._id }))?._ingest.version).toBe(doc._ingest.version);
    expect(await store.write([{ doc }])).toEqual([{ ok: true, outcome: 'unchanged' }]);
    expect(commandsOn('insert')).toHaveLength(2); // the driver did not retry the write-concern error itself
  });

  it('when the processor\'s first attempt gets that write-concern error, then the job is retried and the retry that finds the version reports "inserted", not "unchanged"', async () => {
    await rs.failCommand(client, { commands: ['insert'], writeConcernError: WCE, appName: APP });
    const deps = { schema, write: store.write };
    const first = await processPatientJob(oneRecordJob('41', 41, 0), deps);
    expect([first.results[0], first.retry?.code, first.tentative]).toEqual([null, 'DB_NOT_DURABLE', ['inserted']]);
    const second = await processPatientJob(oneRecordJob('41', 41, 1, first), deps);
    expect(second.retry).toBeUndefined();
    expect(second.results[0]).toMatchObject({ outcome: 'inserted', patientId: 41 });
    expect(await patients.countDocuments({ id: 41 })).toBe(1);
  });
});

describe('the guard on a real server', () => {
  it('when an unordered bulk of three guarded replaces meets a newer stored version in the middle one, then that op alone is an E11000 and the other two are applied', async () => {
    const [a, b, c] = [patientDoc(11, 5), patientDoc(12, 5), patientDoc(13, 5)];
    await seed(patientDoc(11, 1), patientDoc(12, 9)); // 13 is not stored: its replace upserts
    const answer = await sendUnordered(patients, [a, b, c].map(guarded));
    expect(answer.answers).toEqual([
      { kind: 'applied', outcome: 'updated' },
      { kind: 'refused', code: 11000, index: '_id_' },
      { kind: 'applied', outcome: 'inserted' },
    ]);
    // One update command of three ops, and the server's own reply: one write error, at index 1.
    const sent = commandsOn('update');
    expect(sent.map((e) => (e.command.updates as unknown[]).length)).toEqual([3]);
    const [reply] = updateReplies();
    expect([(reply?.writeErrors as { index: number; code: number }[] | undefined)?.map((e) => [e.index, e.code]), reply?.n]).toEqual([[[1, 11000]], 2]);
    const versions = await patients.find({}, { ...MAJORITY, sort: { id: 1 } }).toArray();
    expect(versions.map((d) => [d.id, d._ingest.version])).toEqual([
      [11, a._ingest.version],
      [12, patientDoc(12, 9)._ingest.version],
      [13, c._ingest.version],
    ]);
  });

  it('when the write layer writes three known patients of which the middle one is stored newer, then it sends them in one bulk and answers updated, stale, updated', async () => {
    await seed(patientDoc(21, 1), patientDoc(22, 9), patientDoc(23, 1));
    const results = await store.write([21, 22, 23].map((id) => ({ doc: patientDoc(id, 5) })));
    expect(results).toEqual([
      { ok: true, outcome: 'updated' },
      { ok: true, outcome: 'stale' },
      { ok: true, outcome: 'updated' },
    ]);
    expect(commandsOn('update').map((e) => (e.command.updates as unknown[]).length)).toEqual([3]);
    expect((await majorityRead(patientDoc(22, 1)._id))?._ingest.version).toBe(patientDoc(22, 9)._ingest.version);
  });

  it('when stored and incoming versions order differently as UTF-16 and as UTF-8 bytes, then the server\'s guard and the worker agree on the byte order: "stale", and the stored one stays', async () => {
    const base = patientDoc(31, 1);
    const older = { ...base, _ingest: { ...base._ingest, version: `${base._ingest.version}\uFF61` } };
    const newer = { ...base, _ingest: { ...base._ingest, version: `${base._ingest.version}\u{1F600}` } };
    expect(newer._ingest.version < older._ingest.version).toBe(true); // JavaScript's UTF-16 order says the opposite
    await seed(newer);
    expect(await store.write([{ doc: older }])).toEqual([{ ok: true, outcome: 'stale' }]);
    expect((await majorityRead(base._id))?._ingest.version).toBe(newer._ingest.version);
    // The server refused the replace itself (the guard), it was not the worker that held it back.
    expect(updateReplies().map((r) => (r.writeErrors as { code: number }[] | undefined)?.map((e) => e.code))).toEqual([[11000]]);
  });
});

describe('a connection closed by the server', () => {
  it('when the server closes the connection on the guarded replace (failCommand closeConnection on update), then the driver retries it once with the same txnNumber and the record is stored once, "updated"', async () => {
    await seed(patientDoc(51, 1));
    await rs.failCommand(client, { commands: ['update'], closeConnection: true, appName: APP });
    expect(await store.write([{ doc: patientDoc(51, 2) }])).toEqual([{ ok: true, outcome: 'updated' }]);
    const updates = commandsOn('update');
    expect(updates).toHaveLength(2);
    expect(String(updates[1]!.command.txnNumber)).toBe(String(updates[0]!.command.txnNumber));
    expect(await patients.countDocuments({ id: 51 })).toBe(1);
    expect((await majorityRead(patientDoc(51, 1)._id))?._ingest.version).toBe(patientDoc(51, 2)._ingest.version);
  });
});

describe('majority loss: both secondaries paused', () => {
  it('when both secondaries are paused, then a write answers DB_NOT_DURABLE after wtimeoutMS, a majority read (the settling read too) does not return the unreplicated version, and once they are back the retry reports the tentative "inserted"', async () => {
    const short = connect({ writeConcern: { w: 'majority', wtimeoutMS: 1000 } });
    const shortPatients = short.db(DB).collection<PatientDocument>(patients.collectionName);
    const deps = { schema, write: createPatientStore({ patients: shortPatients, strategy: mongoStrategy('majority') }).write };
    const id = 61;
    const key = patientDoc(id, 1)._id;
    const primary = await rs.primary();
    const secondaries = rs.ports.map((_, m) => m).filter((m) => m !== primary);
    let first: JobOutcome;
    let during: JobOutcome;
    let local: PatientDocument | null;
    let majority: PatientDocument | null;
    // Everything while paused stays well inside the election timeout (10 s): the primary stays primary.
    await rs.pause(secondaries);
    try {
      first = await processPatientJob(oneRecordJob('61', id, 0), deps);
      local = await shortPatients.findOne({ _id: key });
      majority = await shortPatients.findOne({ _id: key }, MAJORITY);
      during = await processPatientJob(oneRecordJob('61', id, 1, first), deps);
    } finally {
      await rs.unpause(secondaries);
    }
    expect([first.results[0], first.retry?.code, first.tentative]).toEqual([null, 'DB_NOT_DURABLE', ['inserted']]);
    expect(local?._ingest.version).toBe(versionOf(local!.modify_time as Date, T, '61', 0)); // applied on the primary alone
    expect(majority).toBeNull();
    // The second attempt, still without a majority, finds its own version only on the primary: not settled "unchanged".
    expect([during.results[0], during.retry?.permanent, during.tentative]).toEqual([null, false, ['inserted']]);
    await rs.waitForHealthy();
    const end = await runToEnd(oneRecordJob('61', id, 2), deps, 2, during);
    expect(end.outcome.results[0]).toMatchObject({ outcome: 'inserted', patientId: id });
    expect((await shortPatients.findOne({ _id: key }, MAJORITY))?._ingest.jobId).toBe('61-0');
    console.log('[replica-set/majority-loss]', JSON.stringify({ primaryBefore: primary, primaryAfter: await rs.primary(), firstRetry: first.retry?.code, duringRetry: during.retry?.code, attemptsAfter: end.attempts, retriedAfter: end.retried, outcome: end.outcome.results[0]?.outcome }));
    await short.close();
  });
});

describe('an election', () => {
  it('when the primary is killed while 200 records are written in jobs of 20, then after the election every record is stored once with its version (majority read), and none is reported stored that is not', async () => {
    const JOBS = 10;
    const PER_JOB = 20;
    const KILL_AT = 3; // the kill is sent as the 4th job starts writing
    const deps = { schema, write: store.write };
    const victim = await rs.primary();
    const jobs = Array.from({ length: JOBS }, (_, j) => ({
      id: String(700 + j),
      data: { records: Array.from({ length: PER_JOB }, (_, k) => ({ patient: patientVersion(7000 + j * PER_JOB + k, 1, T).patient, receivedAt: T })) },
    }));
    const reported = new Map<number, RecordResult & { jobId: string; index: number }>();
    const attempts: number[] = [];
    const retried: string[] = [];
    let killed: Promise<void> | undefined;
    try {
      for (const [j, job] of jobs.entries()) {
        if (j === KILL_AT) {
          killed = rs.kill(victim);
          killed.catch(() => {}); // awaited (and its error seen) after the run
        }
        const end = await runToEnd(job, deps, 0, undefined, 40);
        attempts.push(end.attempts);
        retried.push(...end.retried);
        end.outcome.results.forEach((r, index) => {
          if (r?.patientId !== null && r?.patientId !== undefined) reported.set(r.patientId, { ...r, jobId: job.id, index });
        });
      }
      await killed;
      const newPrimary = await rs.waitForPrimary();
      const stored = await patients.find({}, MAJORITY).toArray();
      const byId = new Map(stored.map((d) => [d.id, d]));
      const expected = jobs.flatMap((job, j) => Array.from({ length: PER_JOB }, (_, k) => ({ id: 7000 + j * PER_JOB + k, jobId: job.id, index: k })));
      const missing = expected.filter((e) => byId.get(e.id)?._ingest.jobId !== `${e.jobId}-${e.index}`).map((e) => e.id);
      const wrongVersion = stored.filter((d) => d._ingest.version !== versionOf(d.modify_time as Date, T, d._ingest.jobId.split('-')[0]!, Number(d._ingest.jobId.split('-')[1]))).map((d) => d.id);
      const reportedNotStored = [...reported.values()].filter((r) => ['inserted', 'updated', 'unchanged', 'stale'].includes(r.outcome) && !byId.has(r.patientId!)).map((r) => r.patientId);
      console.log('[replica-set/election]', JSON.stringify({ victim, newPrimary, records: expected.length, stored: stored.length, attemptsPerJob: attempts, retried, outcomes: countBy([...reported.values()].map((r) => r.outcome)), missing: missing.length, reportedNotStored: reportedNotStored.length }));
      expect(newPrimary).not.toBe(victim);
      expect([stored.length, new Set(stored.map((d) => d.id)).size]).toEqual([JOBS * PER_JOB, JOBS * PER_JOB]);
      expect(missing).toEqual([]);
      expect(wrongVersion).toEqual([]);
      expect(reportedNotStored).toEqual([]);
      // Every record decided; a new patient is "inserted", or "unchanged" where an attempt lost the answer to a write that was applied.
      expect(reported.size).toBe(JOBS * PER_JOB);
      expect([...reported.values()].filter((r) => r.outcome !== 'inserted' && r.outcome !== 'unchanged')).toEqual([]);
    } finally {
      await killed?.catch(() => {});
      // As an orchestrator restarts a dead pod: the killed member rejoins (and rolls back what only it had).
      await rs.restart(victim).catch(() => {});
      await rs.waitForHealthy().catch(() => {});
    }
  }, 300_000);
});

function countBy(values: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const v of values) counts[v] = (counts[v] ?? 0) + 1;
  return counts;
}
