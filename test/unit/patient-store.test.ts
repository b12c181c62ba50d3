import { describe, expect, it } from 'vitest';
import { createPatientStore } from '../../src/worker/write/batch-write.ts';
import { SINGLE_PARALLEL } from '../../src/worker/write/guarded-replace.ts';
import { ferretStrategy, mongoStrategy } from '../../src/worker/write/write-strategy.ts';
import { bulkOutcome, commandError, duplicateKey, networkError, WRITE_CONCERN_TIMEOUT } from '../support/driver-errors.ts';
import { patientDoc } from '../support/patient-docs.ts';
import { scriptedCollection } from '../support/scripted-collection.ts';

// The MongoDB path's decisions on answers a MongoDB replica set gives and FerretDB never does
// (write-concern errors, exact per-index errors), each answer built by the driver's own code.

const items = (...ids: number[]) => ids.map((id) => ({ doc: patientDoc(id, 5) }));
const allDuplicates = (n: number) => () => bulkOutcome('insert', n, { ok: 1, n: 0, writeErrors: Array.from({ length: n }, (_, i) => duplicateKey(i)) });

describe('the write path on MongoDB answers', () => {
  it('when the insert is applied but its write concern times out, then both items fail retryable DB_NOT_DURABLE, keeping "inserted" as tentative, and nothing more is sent', async () => {
    const { patients, sent } = scriptedCollection([() => bulkOutcome('insert', 2, { ok: 1, n: 2, writeConcernError: WRITE_CONCERN_TIMEOUT })]);
    const results = await createPatientStore({ patients, strategy: mongoStrategy('majority') }).write(items(1, 2));
    const notDurable = { ok: false, error: expect.objectContaining({ code: 'DB_NOT_DURABLE', permanent: false }), tentative: 'inserted' };
    expect(results).toEqual([notDurable, notDurable]);
    expect(sent).toHaveLength(1);
  });

  it('when a guarded replace of known patients is applied with a write-concern error, then the upserted one keeps "inserted" and the matched one "updated" as tentative', async () => {
    const { patients } = scriptedCollection([
      allDuplicates(2),
      () => bulkOutcome('update', 2, { ok: 1, n: 2, nModified: 1, upserted: [{ index: 1, _id: '3:2' }], writeConcernError: WRITE_CONCERN_TIMEOUT }),
    ]);
    const results = await createPatientStore({ patients, strategy: mongoStrategy('majority') }).write(items(1, 2));
    expect(results.map((r) => [r.ok, !r.ok && r.error.code, !r.ok && r.tentative])).toEqual([
      [false, 'DB_NOT_DURABLE', 'updated'],
      [false, 'DB_NOT_DURABLE', 'inserted'],
    ]);
  });

  it('when one guarded replace of three is refused (E11000, the stored version is newer), then one answer decides all three: nothing is re-sent', async () => {
    const newer = patientDoc(2, 9)._ingest;
    const { patients, sent, reads } = scriptedCollection(
      [allDuplicates(3), () => bulkOutcome('update', 3, { ok: 1, n: 2, nModified: 2, writeErrors: [duplicateKey(1)] })],
      new Map([['3:2', { _ingest: newer, center_id: 3, cluster_id: 2 }]]),
    );
    const results = await createPatientStore({ patients, strategy: mongoStrategy('majority') }).write(items(1, 2, 3));
    expect(results).toEqual([{ ok: true, outcome: 'updated' }, { ok: true, outcome: 'stale' }, { ok: true, outcome: 'updated' }]);
    expect(sent).toHaveLength(2); // one insert, one unordered bulk: no op-by-op round trips
    expect(reads).toEqual([['3:2']]); // only the refused patient is read
  });

  it('when the guarded replace is sent, then its filter is the record\'s own key and version only (no stored owner), and a refusal reads as stale', async () => {
    const { patients, sent } = scriptedCollection(
      [allDuplicates(1), () => bulkOutcome('update', 1, { ok: 1, n: 0, writeErrors: [duplicateKey(0)] })],
      new Map([['3:1', { _ingest: patientDoc(1, 9)._ingest, center_id: 3, cluster_id: 2 }]]),
    );
    const [result] = await createPatientStore({ patients, strategy: mongoStrategy('majority') }).write(items(1));
    const filter = (sent[1]![0] as { replaceOne: { filter: Record<string, unknown> } }).replaceOne.filter;
    expect(filter).toEqual({ _id: '3:1', '_ingest.version': { $not: { $gte: items(1)[0]!.doc._ingest.version } } });
    expect(result).toEqual({ ok: true, outcome: 'stale' });
  });

  it('when the stored document has no _ingest version (a migration), then the guarded filter still matches it: $not $gte, not $lt', async () => {
    const { patients, sent } = scriptedCollection([allDuplicates(1), () => bulkOutcome('update', 1, { ok: 1, n: 1, nModified: 1 })]);
    await createPatientStore({ patients, strategy: mongoStrategy('majority') }).write(items(1));
    const filter = (sent[1]![0] as { replaceOne: { filter: Record<string, unknown> } }).replaceOne.filter;
    expect(filter['_ingest.version']).toEqual({ $not: { $gte: items(1)[0]!.doc._ingest.version } });
  });

  it('when the connection is lost mid-write, then every item fails retryable DB_UNAVAILABLE', async () => {
    const { patients } = scriptedCollection([() => ({ error: networkError() })]);
    const results = await createPatientStore({ patients, strategy: mongoStrategy('majority') }).write(items(1, 2));
    for (const r of results) expect(r).toMatchObject({ ok: false, error: { code: 'DB_UNAVAILABLE', permanent: false } });
  });

  it('when the server answers code 13 (Unauthorized), then the items fail permanently (DB_REJECTED), not ten retries', async () => {
    const { patients } = scriptedCollection([() => ({ error: commandError(13, 'Unauthorized') })]);
    const [result] = await createPatientStore({ patients, strategy: mongoStrategy('majority') }).write(items(1));
    expect(result).toMatchObject({ ok: false, error: { code: 'DB_REJECTED', permanent: true } });
  });

  it('when one batch holds three versions of a patient, then only the newest is written and the others are stale or unchanged', async () => {
    const { patients, sent } = scriptedCollection([() => bulkOutcome('insert', 1, { ok: 1, n: 1 })]);
    const batch = [{ doc: patientDoc(1, 3) }, { doc: patientDoc(1, 7) }, { doc: patientDoc(1, 7) }];
    const results = await createPatientStore({ patients, strategy: mongoStrategy('majority') }).write(batch);
    expect(results).toEqual([{ ok: true, outcome: 'stale' }, { ok: true, outcome: 'inserted' }, { ok: true, outcome: 'unchanged' }]);
    expect(sent).toHaveLength(1);
  });
});

describe('re-sent patients skip the insert (resend-guess.ts)', () => {
  const replaced = (n: number) => () => bulkOutcome('update', n, { ok: 1, n, nModified: n });
  const kinds = (ops: unknown[]) => ops.map((op) => Object.keys(op as object)[0]);

  it('when the last batches were all of stored patients, then the next batch sends only guarded upserts, and a new patient in it is inserted by its upsert', async () => {
    // Four batches of stored patients (insert refused E11000, guarded replace applied), then one
    // batch of a stored and a new patient: the upsert of the new one reports it upserted.
    const warmup = Array.from({ length: 4 }, () => [allDuplicates(2), replaced(2)]).flat();
    const last = () => bulkOutcome('update', 2, { ok: 1, n: 2, nModified: 1, upserted: [{ index: 1, _id: '3:52' }] });
    const { patients, sent } = scriptedCollection([...warmup, last]);
    const store = createPatientStore({ patients, strategy: mongoStrategy('majority') });
    for (let b = 0; b < 4; b++) expect(await store.write(items(10 * b + 1, 10 * b + 2))).toEqual([{ ok: true, outcome: 'updated' }, { ok: true, outcome: 'updated' }]);
    expect(sent.map(kinds).slice(0, 2)).toEqual([['insertOne', 'insertOne'], ['replaceOne', 'replaceOne']]);
    const results = await store.write(items(51, 52));
    expect(results).toEqual([{ ok: true, outcome: 'updated' }, { ok: true, outcome: 'inserted' }]);
    expect(sent).toHaveLength(9); // 4 × (insert + replace), then the replace alone
    expect(kinds(sent[8]!)).toEqual(['replaceOne', 'replaceOne']);
    expect(sent[8]![1]).toMatchObject({ replaceOne: { filter: { _id: '3:52' }, upsert: true } });
  });

  it('when a process starts, or its last batches were new patients, then a batch is inserted first', async () => {
    const inserted = (n: number) => () => bulkOutcome('insert', n, { ok: 1, n });
    const { patients, sent } = scriptedCollection([inserted(2), inserted(2)]);
    const store = createPatientStore({ patients, strategy: mongoStrategy('majority') });
    expect(await store.write(items(1, 2))).toEqual([{ ok: true, outcome: 'inserted' }, { ok: true, outcome: 'inserted' }]);
    expect(await store.write(items(3, 4))).toEqual([{ ok: true, outcome: 'inserted' }, { ok: true, outcome: 'inserted' }]);
    expect(sent.map(kinds)).toEqual([['insertOne', 'insertOne'], ['insertOne', 'insertOne']]);
  });

  it('when a batch larger than the probe finds its first 32 patients stored, then the other 8 skip the insert and all 40 go to one guarded bulk', async () => {
    const ids = Array.from({ length: 40 }, (_, i) => i + 1);
    const { patients, sent } = scriptedCollection([allDuplicates(32), replaced(40)]);
    const results = await createPatientStore({ patients, strategy: mongoStrategy('majority') }).write(items(...ids));
    expect(results.every((r) => r.ok && r.outcome === 'updated')).toBe(true);
    expect(sent.map((ops) => [kinds(ops)[0], ops.length])).toEqual([['insertOne', 32], ['replaceOne', 40]]);
  });

  it('when a batch larger than the probe finds its first 32 patients new, then the other 8 are inserted too, with no guarded write', async () => {
    const inserted = (n: number) => () => bulkOutcome('insert', n, { ok: 1, n });
    const { patients, sent } = scriptedCollection([inserted(32), inserted(8)]);
    const results = await createPatientStore({ patients, strategy: mongoStrategy('majority') }).write(items(...Array.from({ length: 40 }, (_, i) => i + 1)));
    expect(results.every((r) => r.ok && r.outcome === 'inserted')).toBe(true);
    expect(sent.map((ops) => [kinds(ops)[0], ops.length])).toEqual([['insertOne', 32], ['insertOne', 8]]);
  });
});

describe('the embedded server\'s one-op-at-a-time writes when the server stops answering', () => {
  it('when the first guarded replaces are lost to the connection, then the batch sends no more of them and every item fails retryable DB_UNAVAILABLE', async () => {
    const lock = { acquire: async (keys: (string | number)[]) => ({ held: new Set(keys), release: async () => {} }) };
    const ids = Array.from({ length: 40 }, (_, i) => i + 1);
    // The probe insert finds its 32 patients stored; then SINGLE_PARALLEL guarded replaces go out at once, all lost.
    const { patients, sent } = scriptedCollection([allDuplicates(32), ...Array.from({ length: SINGLE_PARALLEL }, () => () => ({ error: networkError() }))]);
    const results = await createPatientStore({ patients, strategy: ferretStrategy(lock, 1000) }).write(items(...ids));
    for (const r of results) expect(r).toMatchObject({ ok: false, error: { code: 'DB_UNAVAILABLE', permanent: false } });
    expect(sent).toHaveLength(1 + SINGLE_PARALLEL); // the others were never sent: each would have waited for its own timeout
  });
});
