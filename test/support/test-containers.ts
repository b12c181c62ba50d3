// The shared Redis and MongoDB-protocol server of a run with TEST_SERVERS=containers, started by
// testcontainers on the container engine at DOCKER_HOST (podman's API here: scripts/containers.sh).
// Images: TEST_REDIS_IMAGE (default redis:7) and TEST_MONGO_IMAGE (default: the FerretDB image that
// scripts/images.sh builds, TEST_FERRETDB_IMAGE, else mongo:8). A mongo image runs as a one-node
// replica set, as production does. Images are never pulled here: a missing one fails the run.
import { GenericContainer, Wait, type StartedTestContainer } from 'testcontainers';
import { until } from './records.ts';

export type Servers = { redisUrl: string; mongoUrl: string; stop: () => Promise<void> };

export async function startContainers(env: NodeJS.ProcessEnv = process.env): Promise<Servers> {
  const redisImage = env.TEST_REDIS_IMAGE ?? 'redis:7';
  const mongoImage = env.TEST_MONGO_IMAGE ?? env.TEST_FERRETDB_IMAGE ?? 'mongo:8';
  if (!env.DOCKER_HOST) throw new Error('TEST_SERVERS=containers needs a container engine at DOCKER_HOST: bash scripts/test.sh starts podman\'s (scripts/containers.sh)');
  const started: StartedTestContainer[] = [];
  const stop = async () => { await Promise.all(started.map((c) => c.stop({ timeout: 10_000 }))); };
  try {
    // The local images already run redis-server with AOF (fsync always) and noeviction; redis:7 is told so.
    const redis = new GenericContainer(redisImage).withExposedPorts(6379).withWaitStrategy(Wait.forListeningPorts());
    if (redisImage.startsWith('redis:')) redis.withCommand(['redis-server', '--appendonly', 'yes', '--appendfsync', 'always', '--maxmemory-policy', 'noeviction']);
    started.push(await redis.start());
    const isMongo = /(^|\/)mongo(:|$)/.test(mongoImage);
    const mongo = new GenericContainer(mongoImage).withExposedPorts(27017);
    if (isMongo) mongo.withCommand(['--replSet', 'rs0', '--bind_ip_all']).withWaitStrategy(Wait.forLogMessage(/Waiting for connections/));
    // FerretDB listens once its PostgreSQL is up and the lookup indexes are in (scripts/podman/ferretdb-entrypoint.sh).
    else mongo.withWaitStrategy(Wait.forListeningPorts().withStartupTimeout(60_000));
    const m = await mongo.start();
    started.push(m);
    if (isMongo) {
      await m.exec(['mongosh', '--quiet', '--eval', "rs.initiate({ _id: 'rs0', members: [{ _id: 0, host: '127.0.0.1:27017' }] })"]);
      let hello = '';
      await until(`the ${mongoImage} replica set to elect a primary`, 30_000, async () => (hello = (await m.exec(['mongosh', '--quiet', '--eval', 'db.hello().isWritablePrimary'])).output.trim()) === 'true', 300, async () => hello);
    }
    const r = started[0]!;
    return {
      redisUrl: `redis://${r.getHost()}:${r.getMappedPort(6379)}`,
      // directConnection: the member's own name (127.0.0.1 inside the container) is not reachable from here.
      mongoUrl: `mongodb://${m.getHost()}:${m.getMappedPort(27017)}/${isMongo ? '?directConnection=true' : ''}`,
      stop,
    };
  } catch (err) {
    await stop().catch(() => {});
    throw new Error(`TEST_SERVERS=containers: cannot start ${redisImage} and ${mongoImage} (${(err as Error).message}); the images are built by scripts/images.sh and never pulled here`);
  }
}
