// Starts the real servers once for the whole run. Picks, in order: REDIS_URL/MONGO_URL if set;
// testcontainers (redis:7, mongo:8) where a Docker engine answers; otherwise local redis-server
// and FerretDB on free ports with throw-away data directories.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { ferretdbServer, redisServer, started, type LocalServer } from '../scripts/local-servers.ts';

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
  const stops: (() => Promise<unknown>)[] = [];
  let redisUrl = process.env.REDIS_URL;
  let mongoUrl = process.env.MONGO_URL;
  let kind: 'external' | 'docker' | 'local' = 'external';

  if (!redisUrl || !mongoUrl) {
    if (await dockerEngine()) {
      kind = 'docker';
      const { GenericContainer, Wait } = await import('testcontainers');
      const redis = await new GenericContainer('redis:7').withCommand(['redis-server', '--appendonly', 'yes', '--maxmemory-policy', 'noeviction']).withExposedPorts(6379).start();
      const mongo = await new GenericContainer('mongo:8').withExposedPorts(27017).withWaitStrategy(Wait.forLogMessage(/Waiting for connections/)).start();
      stops.push(() => redis.stop(), () => mongo.stop());
      redisUrl ??= `redis://${redis.getHost()}:${redis.getMappedPort(6379)}`;
      mongoUrl ??= `mongodb://${mongo.getHost()}:${mongo.getMappedPort(27017)}/`;
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
          `cannot start local test servers (${(err as Error).message}). Install with: apt-get install -y redis-server; ` +
            `FerretDB is built by 'bash scripts/test.sh'. Or set REDIS_URL and MONGO_URL.`,
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
