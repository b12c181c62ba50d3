// Starts the real servers once for the whole run. Picks, in order: REDIS_URL/MONGO_URL if set;
// testcontainers (redis:7, mongo:8 as a one-node replica set) where a Docker engine answers;
// otherwise local redis-server and FerretDB (on PostgreSQL, or SQLite with LOCAL_MONGO_BACKEND=sqlite)
// on free ports with throw-away data directories.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { until } from './support/records.ts';
import { ferretdbServer, redisServer, started, type LocalServer } from './support/local-servers.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    mongoUrl: string;
    serversKind: 'external' | 'docker' | 'local';
  }
}

async function dockerEngine(): Promise<boolean> {
  if (!process.env.DOCKER_HOST && !existsSync('/var/run/docker.sock')) return false;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

export default async function setup(project: TestProject) {
  // Unit tests need no servers: a run of the unit project alone starts none.
  if (project.vitest.projects.every((p) => p.name === 'unit')) return;
  const stops: (() => Promise<unknown>)[] = [];
  let redisUrl = process.env.REDIS_URL;
  let mongoUrl = process.env.MONGO_URL;
  let kind: 'external' | 'docker' | 'local' = 'external';

  // TEST_SERVERS=docker insists on containers, =local skips the Docker probe; unset: whichever is there.
  const wanted = process.env.TEST_SERVERS;
  if (!redisUrl || !mongoUrl) {
    const docker = wanted !== 'local' && (await dockerEngine());
    if (wanted === 'docker' && !docker) throw new Error('TEST_SERVERS=docker, but no Docker engine answers');
    if (docker) {
      kind = 'docker';
      const { GenericContainer, Wait } = await import('testcontainers');
      const redis = await new GenericContainer('redis:7').withCommand(['redis-server', '--appendonly', 'yes', '--maxmemory-policy', 'noeviction']).withExposedPorts(6379).start();
      // A one-node replica set, as production runs: majority write concern, retryable writes, elections.
      const mongo = await new GenericContainer('mongo:8').withCommand(['--replSet', 'rs0', '--bind_ip_all']).withExposedPorts(27017).withWaitStrategy(Wait.forLogMessage(/Waiting for connections/)).start();
      stops.push(() => redis.stop(), () => mongo.stop());
      await mongo.exec(['mongosh', '--quiet', '--eval', "rs.initiate({ _id: 'rs0', members: [{ _id: 0, host: '127.0.0.1:27017' }] })"]);
      let hello = '';
      await until('the mongo:8 replica set to elect a primary', 30_000, async () => (hello = (await mongo.exec(['mongosh', '--quiet', '--eval', 'db.hello().isWritablePrimary'])).output.trim()) === 'true', 300, async () => hello);
      redisUrl ??= `redis://${redis.getHost()}:${redis.getMappedPort(6379)}`;
      // directConnection: the member's own name (127.0.0.1 inside the container) is not reachable from here.
      mongoUrl ??= `mongodb://${mongo.getHost()}:${mongo.getMappedPort(27017)}/?directConnection=true`;
    } else {
      kind = 'local';
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
      redisUrl ??= servers.find((s) => s.name === 'redis-server')?.url;
      mongoUrl ??= servers.find((s) => s.name === 'ferretdb')?.url;
      stops.push(async () => {
        await Promise.all(servers.map((s) => s.stop()));
        rmSync(dir, { recursive: true, force: true });
      });
    }
  }
  project.provide('redisUrl', redisUrl!);
  project.provide('mongoUrl', mongoUrl!);
  project.provide('serversKind', kind);
  return async () => {
    for (const stop of stops) await stop();
  };
}
