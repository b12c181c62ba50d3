// Starts the real servers once for the whole run. Picks, in order: REDIS_URL/MONGO_URL if set;
// containers started by testcontainers when TEST_SERVERS=containers (test/support/test-containers.ts);
// otherwise (TEST_SERVERS unset or local) a local redis-server and FerretDB (on PostgreSQL, or SQLite
// with LOCAL_MONGO_BACKEND=sqlite) on free ports with throw-away data directories. The choice is
// always explicit: a Docker socket that happens to exist changes nothing.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { ferretdbServer, redisServer, started, type LocalServer } from './support/local-servers.ts';
import { startContainers } from './support/test-containers.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    mongoUrl: string;
    serversKind: 'external' | 'containers' | 'local';
  }
}

async function localServers(stops: (() => Promise<unknown>)[], redisUrl?: string, mongoUrl?: string) {
  const dir = mkdtempSync(join(tmpdir(), 'hemo-test-'));
  const servers: LocalServer[] = [];
  try {
    if (!redisUrl) servers.push(await started(redisServer({ dataDir: join(dir, 'redis') })));
    if (!mongoUrl) servers.push(await started(ferretdbServer({ dataDir: join(dir, 'ferretdb') })));
  } catch (err) {
    await Promise.all(servers.map((s) => s.stop()));
    throw new Error(
      `cannot start local test servers (${(err as Error).message}). Install with: apt-get install -y redis-server postgresql; ` +
        `FerretDB is built by 'bash scripts/test.sh'. Or set REDIS_URL and MONGO_URL (or LOCAL_MONGO_BACKEND=sqlite).`,
    );
  }
  stops.push(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  });
  return { redisUrl: redisUrl ?? servers.find((s) => s.name === 'redis-server')!.url, mongoUrl: mongoUrl ?? servers.find((s) => s.name === 'ferretdb')!.url };
}

export default async function setup(project: TestProject) {
  // Unit tests need no servers; the containers and replica-set layers start their own: a run of those alone starts none.
  if (project.vitest.projects.every((p) => ['unit', 'containers', 'replica-set'].includes(p.name))) return;
  const stops: (() => Promise<unknown>)[] = [];
  let redisUrl = process.env.REDIS_URL;
  let mongoUrl = process.env.MONGO_URL;
  let kind: 'external' | 'containers' | 'local' = 'external';
  const wanted = process.env.TEST_SERVERS ?? 'local';
  if (wanted !== 'local' && wanted !== 'containers') throw new Error(`TEST_SERVERS must be containers or local, not ${JSON.stringify(wanted)}`);
  if (!redisUrl || !mongoUrl) {
    if (wanted === 'containers') {
      kind = 'containers';
      const servers = await startContainers();
      stops.push(servers.stop);
      redisUrl ??= servers.redisUrl;
      mongoUrl ??= servers.mongoUrl;
    } else {
      kind = 'local';
      ({ redisUrl, mongoUrl } = await localServers(stops, redisUrl, mongoUrl));
    }
  }
  project.provide('redisUrl', redisUrl!);
  project.provide('mongoUrl', mongoUrl!);
  project.provide('serversKind', kind);
  return async () => {
    for (const stop of stops) await stop();
  };
}
