import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ferretdbServer, started, type LocalServer } from '../support/local-servers.ts';
import { patientDoc } from '../support/patient-docs.ts';

// The embedded server's `_id` lookups are served by an index (scripts/sql/ferretdb-lookup-indexes.sql):
// FerretDB v1.24 sends `{_id: k}` as `_jsonb->$1 @> $2`, which its own btree cannot serve. The plan
// is read from PostgreSQL for the very statement FerretDB sent (pg_stat_statements), on a server of
// this file's own with 20,000 stored documents.

const STORED = 20_000;
let dir: string;
let server: LocalServer & { sql?: (q: string) => string[] };
let client: MongoClient;
let sql: (q: string) => string[];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hemo-embedded-indexes-'));
  server = await started(ferretdbServer({ dataDir: dir, backend: 'postgresql' }));
  sql = server.sql!;
  client = await MongoClient.connect(server.url);
  const patients = client.db('indexes').collection('patients');
  for (let i = 0; i < STORED; i += 1000) await patients.insertMany(Array.from({ length: 1000 }, (_, k) => patientDoc(i + k + 1, 1) as never), { ordered: false });
}, 180_000);
afterAll(async () => {
  await client?.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** FerretDB's table for a collection, from its own metadata table. */
const tableOf = (db: string, collection: string) => sql(`SELECT _jsonb->>'table' FROM "${db}"._ferretdb_database_metadata WHERE _jsonb->>'_id' = '${collection}'`)[0]!;

/** The plan PostgreSQL makes for the `_id` lookup FerretDB sent on this table, with a key's value put in. */
function lookupPlan(db: string, table: string, key: string): string {
  const [statement] = sql(`SELECT query FROM pg_stat_statements WHERE query LIKE '%"${db}"."${table}"%' AND query LIKE '%WHERE _jsonb->$1 @> $2%' AND query LIKE 'SELECT%'`);
  expect(statement, 'FerretDB sent its _id lookup as `_jsonb->$1 @> $2`').toBeDefined();
  // Six runs of one prepared statement: after five, PostgreSQL may switch to a generic plan, which
  // could not use the expression index; force_custom_plan keeps every run on the index.
  const plans = sql(`PREPARE lookup(text, jsonb) AS ${statement!.replace(/^SELECT\s+_jsonb/, 'SELECT _jsonb')}; ${Array.from({ length: 6 }, () => `EXPLAIN (COSTS OFF) EXECUTE lookup('_id', '${JSON.stringify(key)}');`).join(' ')}`);
  return plans.join('\n');
}

describe('the embedded server looks patients up by index', () => {
  it('when 20,000 patients are stored and one is found by _id, then PostgreSQL plans the statement FerretDB sent as an index scan, on every run', async () => {
    const patients = client.db('indexes').collection('patients');
    expect(await patients.findOne({ _id: '3:12345' as never })).toMatchObject({ id: 12345 });
    const table = tableOf('indexes', 'patients');
    const plan = lookupPlan('indexes', table, '3:12345');
    expect(plan).not.toMatch(/Seq Scan/);
    expect(plan.match(/Bitmap Index Scan on \S+_gin/g)).toHaveLength(6);
  });

  it('when the GIN index is dropped, then the same statement scans the whole table (what the index prevents)', async () => {
    const other = client.db('indexes_dropped').collection('patients');
    await other.insertMany(Array.from({ length: 2000 }, (_, k) => patientDoc(k + 1, 1) as never));
    await other.findOne({ _id: '3:7' as never });
    const table = tableOf('indexes_dropped', 'patients');
    const [gin] = sql(`SELECT indexrelid::regclass FROM pg_index WHERE indrelid = '"indexes_dropped"."${table}"'::regclass AND indexrelid::regclass::text LIKE '%_gin'`);
    expect(gin).toBeDefined();
    sql(`DROP INDEX ${gin}`);
    expect(lookupPlan('indexes_dropped', table, '3:7')).toMatch(/Seq Scan/);
  });

  it('when a collection is created after the server started (a new database), then its _id and single-field indexes get GIN twins at once', async () => {
    const later = client.db('created_later');
    await later.collection('patients').insertOne(patientDoc(1, 1) as never);
    await later.collection('patients').createIndex({ id: 1 }, { name: 'id_across_centers' });
    await later.collection('audit').createIndex({ 'entries.patientId': 1, at: 1 }, { name: 'patient_by_time' });
    const twins = (collection: string) => sql(`SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = '"created_later"."${tableOf('created_later', collection)}"'::regclass`).filter((d) => d.includes('USING gin'));
    expect(twins('patients').map((d) => /\(_jsonb -> '(\w+)'::text\)/.exec(d)?.[1]).sort()).toEqual(['_id', 'id']);
    // A compound index has no twin: FerretDB pushes down no range or dot-notation condition.
    expect(twins('audit').map((d) => /\(_jsonb -> '(\w+)'::text\)/.exec(d)?.[1])).toEqual(['_id']);
  });

  it('when the server is stopped and started again, then the setup runs again without error and adds no second twin', async () => {
    await server.stop();
    await server.start();
    const again = await MongoClient.connect(server.url);
    try {
      expect(await again.db('indexes').collection('patients').findOne({ _id: '3:5' as never })).toMatchObject({ id: 5 });
    } finally {
      await again.close();
    }
    const table = tableOf('indexes', 'patients');
    expect(sql(`SELECT count(*) FROM pg_index WHERE indrelid = '"indexes"."${table}"'::regclass AND indexrelid::regclass::text LIKE '%_gin'`)).toEqual(['1']);
    expect(sql('SHOW plan_cache_mode')).toEqual(['force_custom_plan']);
  });
});
