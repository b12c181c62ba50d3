import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, keysEnv, makeKey } from '../support/keys.ts';
import { until } from '../support/records.ts';
import { APP_IMAGES, buildAppImages, hostPort, images, inspectState, podman, runName } from '../support/podman.ts';

// Issue 23: the Dockerfile's `api` and `worker` targets, built by podman from this machine's Node 24
// base (NODE_IMAGE), run as a Docker host would run them: on a private network with the Redis and
// FerretDB containers, production settings, only the API's port published, on 127.0.0.1.

const SAMPLE = readFileSync(new URL('../../examples/patient.json', import.meta.url), 'utf8');
const sample = JSON.parse(SAMPLE) as { id: number; center_id: number; hn: string };
const writer = makeKey('center-3-writer', 'patients:write,patients:read', `centers=${sample.center_id}`);
const name = runName('dockerfile');
const made: string[] = [];
let apiUrl = '';

async function run(role: string, args: string[]): Promise<string> {
  const container = `${name}-${role}`;
  made.push(container);
  await podman(['run', '--detach', '--name', container, '--network', name, ...args]);
  return container;
}

const appEnv = (extra: Record<string, string>) =>
  Object.entries({
    REDIS_URL: `redis://${name}-redis:6379`, MONGO_URL: `mongodb://${name}-mongo:27017/`, MONGO_DB: 'hemo',
    // Plain text on the containers' own network only (as docker-compose.yml says).
    ALLOW_PLAINTEXT_DATASTORES: 'true', LOG_LEVEL: 'info', SHUTDOWN_TIMEOUT_MS: '10000', ...extra,
  }).flatMap(([k, v]) => ['--env', `${k}=${v}`]);

beforeAll(async () => {
  const base = images();
  await buildAppImages(base.node);
  await podman(['network', 'create', name]);
  await run('redis', [base.redis]);
  await run('mongo', [base.ferretdb]);
  await run('worker', [...appEnv({}), APP_IMAGES.worker]);
  const api = await run('api', [
    ...appEnv({ API_KEYS: keysEnv(writer), API_IDEMPOTENCY_SECRET: randomBytes(32).toString('base64') }),
    '--publish', '127.0.0.1::3000', APP_IMAGES.api,
  ]);
  apiUrl = `http://127.0.0.1:${await hostPort(api, 3000)}`;
  await until('the API container to answer /health/ready', 60_000, async () => (await fetch(`${apiUrl}/health/ready`)).ok, 250);
}, 900_000);

afterAll(async () => {
  for (const container of made.reverse()) await podman(['rm', '--force', '--time', '0', container]).catch(() => {});
  await podman(['network', 'rm', '--force', name]).catch(() => {});
});

describe('the Dockerfile built and run with podman', () => {
  it("when the seed's sample is posted to the API container's published port, then the worker container stores it and the API reads it back", async () => {
    const res = await fetch(`${apiUrl}/api/patients`, { method: 'POST', headers: { ...bearer(writer), 'content-type': 'application/json' }, body: SAMPLE });
    expect(res.status).toBe(202);
    const url = `${apiUrl}/api/patients/${sample.id}?center_id=${sample.center_id}`;
    let last = 0;
    await until('the sample to be stored', 60_000, async () => (last = (await fetch(url, { headers: bearer(writer) })).status) === 200, 250, async () => last);
    const stored = (await (await fetch(url, { headers: bearer(writer) })).json()) as Record<string, unknown>;
    expect(stored).toMatchObject({ id: sample.id, center_id: sample.center_id, hn: sample.hn });
  });

  it('when the images are inspected, then both run as uid 1000, their own user, with the HEALTHCHECK of the Dockerfile', async () => {
    for (const role of ['api', 'worker']) {
      expect(await podman(['exec', `${name}-${role}`, 'id', '-u'])).toBe('1000');
      expect(await podman(['exec', `${name}-${role}`, 'id', '-g'])).toBe('1000');
      const health = JSON.parse(await podman(['image', 'inspect', '--format', '{{json .Config.Healthcheck}}', APP_IMAGES[role as 'api' | 'worker']])) as { Test: string[] };
      expect(health.Test.join(' ')).toContain('/health/live');
    }
  });

  it('when the API and the worker get SIGTERM with a 20 s grace, then each exits by itself with code 0 (podman would SIGKILL at the grace: 137)', async () => {
    for (const role of ['api', 'worker']) {
      await podman(['stop', '--time', '20', `${name}-${role}`], 60_000);
      const state = await inspectState(`${name}-${role}`);
      expect(state.Running).toBe(false);
      expect(state.ExitCode, `${role} was killed at the grace, not stopped by SIGTERM`).toBe(0);
    }
    const logs = await podman(['logs', `${name}-api`]);
    expect(logs).not.toContain(sample.hn);
  });
});
