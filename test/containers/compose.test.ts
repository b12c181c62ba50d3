import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_SAMPLE } from '../../src/shared/patient/patient-fields.ts';
import { bearer, keysEnv, makeKey } from '../support/keys.ts';
import { freePort, ROOT } from '../support/local-servers.ts';
import { until } from '../support/records.ts';
import { images, podman, runName } from '../support/podman.ts';

// Issue 23: docker-compose.yml itself, brought up by podman-compose with deploy/compose/ferretdb.yml
// (which swaps only the mongo service for FerretDB): Redis, the API and three workers as the file says.

const run = promisify(execFile);
const project = runName('compose').replaceAll('-', '');
const writer = makeKey('center-3-writer', 'patients:write,patients:read', 'centers=3');
let apiUrl = '';
let env: NodeJS.ProcessEnv = {};

/** podman-compose on the two files, in this test's own project; its output goes into a failure's message. */
async function compose(args: string[], timeoutMs = 600_000): Promise<string> {
  const bin = process.env.PODMAN_COMPOSE ?? 'podman-compose';
  try {
    const { stdout } = await run(bin, ['--project-name', project, '-f', 'docker-compose.yml', '-f', 'deploy/compose/ferretdb.yml', ...args], { cwd: ROOT, env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    throw new Error(`podman-compose ${args.join(' ')} failed: ${`${e.stderr ?? ''}\n${e.stdout ?? ''}`.trim().split('\n').slice(-12).join(' | ') || e.message}`);
  }
}

const running = async (service: string) =>
  (await podman(['ps', '--filter', `label=io.podman.compose.project=${project}`, '--filter', `label=com.docker.compose.service=${service}`, '--format', '{{.Names}}'])).split('\n').filter(Boolean);

beforeAll(async () => {
  const base = images();
  const port = await freePort();
  apiUrl = `http://127.0.0.1:${port}`;
  // Compose reads these from the environment (a Docker host would have them in .env).
  env = {
    ...process.env, API_KEYS: keysEnv(writer), API_IDEMPOTENCY_SECRET: randomBytes(32).toString('base64'),
    API_HOST_PORT: String(port), REDIS_IMAGE: base.redis, FERRETDB_IMAGE: base.ferretdb, NODE_IMAGE: base.node,
  };
  await compose(['up', '--detach', '--build']);
  await until('the compose API to answer /health/ready', 120_000, async () => (await fetch(`${apiUrl}/health/ready`)).ok, 500);
}, 900_000);

afterAll(async () => {
  await compose(['down', '--volumes', '--timeout', '20'], 180_000).catch(() => {});
});

describe('docker-compose.yml brought up with podman-compose', () => {
  it("when the stack is up, then Redis, FerretDB in place of mongo, one API and three workers run, and each one's health check passes", async () => {
    const counts = { redis: 1, mongo: 1, api: 1, worker: 3 };
    for (const [service, count] of Object.entries(counts)) {
      const names = await running(service);
      expect(names, service).toHaveLength(count);
      // podman schedules health checks through systemd, which this machine lacks: run each one once.
      for (const name of names) await until(`${name}'s health check to pass`, 60_000, async () => podman(['healthcheck', 'run', name]).then(() => true), 1000);
    }
  });

  it('when a batch of 30 patients is posted to the published API port, then all 30 are stored and read back', async () => {
    const records = Array.from({ length: 30 }, (_, i) => ({ ...SEED_SAMPLE, id: 900_000 + i, hn: `HN${900_000 + i}` }));
    const res = await fetch(`${apiUrl}/api/patients/batch`, { method: 'POST', headers: { ...bearer(writer), 'content-type': 'application/json' }, body: JSON.stringify(records) });
    expect(res.status).toBe(202);
    const missing = async () => {
      const statuses = await Promise.all(records.map(async (r) => (await fetch(`${apiUrl}/api/patients/${r.id}?center_id=${r.center_id}`, { headers: bearer(writer) })).status));
      return statuses.filter((s) => s !== 200).length;
    };
    await until('the 30 patients to be stored', 90_000, async () => (await missing()) === 0, 500, missing);
    const one = (await (await fetch(`${apiUrl}/api/patients/900017?center_id=${SEED_SAMPLE.center_id}`, { headers: bearer(writer) })).json()) as Record<string, unknown>;
    expect(one).toMatchObject({ id: 900_017, hn: 'HN900017', center_id: SEED_SAMPLE.center_id });
  });

  it('when the stack is taken down with its volumes, then none of its containers or volumes is left', async () => {
    await compose(['down', '--volumes', '--timeout', '20'], 180_000);
    expect(await podman(['ps', '--all', '--filter', `label=io.podman.compose.project=${project}`, '--format', '{{.Names}}'])).toBe('');
    expect(await podman(['volume', 'ls', '--filter', `label=io.podman.compose.project=${project}`, '--format', '{{.Name}}'])).toBe('');
  });
});
