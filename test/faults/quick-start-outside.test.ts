import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '../../src/api/auth.ts';
import { SEED_SAMPLE } from '../../src/shared/patient/patient-fields.ts';
import { freePort, restartablePort, ROOT } from '../support/local-servers.ts';
import { until } from '../support/records.ts';

// Issue 22's acceptance, checked from outside: the Quick-start stack (`bash scripts/start.sh`: its own
// Redis and FerretDB, the compiled API and worker as processes with the production heap limits),
// probed over HTTP on loopback only, as an attacker with a key (or none) would.
const WRITE_KEY = 'hk_outside-write-only-0123456789abcdef';
const FULL_KEY = 'hk_outside-read-write-0123456789abcdef';
const keys = [
  { id: 'writer', sha256: sha256(WRITE_KEY).toString('hex'), scopes: ['patients:write'], centers: [SEED_SAMPLE.center_id] },
  { id: 'reader', sha256: sha256(FULL_KEY).toString('hex'), scopes: ['patients:write', 'patients:read'], centers: [SEED_SAMPLE.center_id] },
];
let dir: string;
let stack: ChildProcess;
let output = '';
let base: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hemo-quick-start-'));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? dir, LOCAL_DATA_DIR: dir, API_PORT: String(port), WORKER_HTTP_PORT: '0', LOCAL_REDIS_PORT: String(await restartablePort()), LOCAL_MONGO_PORT: String(await restartablePort()), API_KEYS: JSON.stringify(keys) };
  stack = spawn('bash', [join(ROOT, 'scripts/start.sh')], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  stack.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  stack.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  await until('the Quick-start stack answers', 120_000, async () => (await fetch(`${base}/health/ready`).catch(() => null))?.ok === true, 250, async () => output.slice(-2000));
}, 150_000);
afterAll(async () => {
  if (stack && stack.exitCode === null) {
    const exited = new Promise((r) => stack.once('exit', r));
    stack.kill('SIGTERM'); // run-local.ts stops the API and worker, then the servers
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

const live = async () => (await fetch(`${base}/health/live`)).status;
const post = (path: string, key: string | null, body: string, headers: Record<string, string> = {}) =>
  fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers }, body });

describe('the Quick-start stack, from outside', () => {
  it('when an authenticated client posts a 4 MB batch body of nested arrays, then it gets a 4xx and the API stays up and takes records', async () => {
    // fails on 058d750: the API died with "JavaScript heap out of memory".
    const depth = 2_047_980;
    const res = await post('/api/patients/batch', WRITE_KEY, '['.repeat(depth) + ']'.repeat(depth));
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(await live()).toBe(200);
    expect((await post('/api/patients', WRITE_KEY, JSON.stringify({ ...SEED_SAMPLE, id: 880001 }))).status).toBe(202);
  });

  it('when a write-only key posts a stale version with Prefer: wait, then no value of the stored record comes back', async () => {
    // fails on 058d750: the answer carried the whole stored (newer) record.
    const stored = { ...SEED_SAMPLE, id: 880002, fullname: 'Stored Newer-Name', modify_time: '2026-06-01T10:00:00' };
    expect((await post('/api/patients', FULL_KEY, JSON.stringify(stored), { prefer: 'wait=20' })).status).toBe(201); // stored: created
    const stale = await post('/api/patients', WRITE_KEY, JSON.stringify({ ...stored, fullname: 'Dummy', modify_time: '2020-01-01T10:00:00' }), { prefer: 'wait=20' });
    const text = await stale.text();
    expect(stale.status).toBeLessThan(500);
    expect(text).not.toContain('Stored Newer-Name');
    expect(text).not.toContain(SEED_SAMPLE.hn);
  });

  it('when anyone posts to an unknown route, then 404 comes before the body is read: broken JSON and a body over the limit alike', async () => {
    // fails on 058d750: broken JSON answered 400 (parsed), a large body 413.
    for (const body of ['{"broken', '['.repeat(2 * 1024 * 1024)]) {
      const res = await post('/nonexistent', null, body);
      expect([res.status, res.headers.get('cache-control')]).toEqual([404, 'no-store']);
    }
    expect(await live()).toBe(200);
  });
});
