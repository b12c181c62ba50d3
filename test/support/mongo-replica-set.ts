// A 3-member MongoDB replica set (`mongo:8`, or MONGO_IMAGE) in containers, for the tests only a real
// MongoDB can answer (test/replica-set/, issue 21). Each member is `mongod --replSet rs0` with host
// networking on its own loopback port, so the members reach each other and the tests on 127.0.0.1 only
// (no traffic leaves loopback), and with enableTestCommands=1, so the tests can script server faults
// with the `failCommand` fail point. Members can be paused (cgroup freezer: the process stops, its
// sockets stay open, as a hung or partitioned node), killed (SIGKILL) and started again on the same
// port and data. Needs a Docker-compatible engine and the image present: it never pulls, never skips.
import { MongoClient, type Document } from 'mongodb';
import { GenericContainer, getContainerRuntimeClient, ImageName, Wait, type ContainerRuntimeClient, type StartedTestContainer } from 'testcontainers';
import { restartablePort } from './local-servers.ts';
import { until } from './records.ts';

export const REPLICA_SET_NAME = 'rs0';
const HOW_TO = 'see test/README.md, "MongoDB replica set (testcontainers, opt-in)"';

/** A write-concern error as the server reports it (`failCommand` returns it after running the command). */
export type WriteConcernErrorSpec = { code: number; codeName?: string; errmsg: string; errInfo?: Document };

/** What `failCommand` does to the next `times` matching commands (`appName`: only those of a client with that appName). */
export type FailCommandSpec = {
  commands: string[];
  times?: number;
  writeConcernError?: WriteConcernErrorSpec;
  closeConnection?: boolean;
  errorCode?: number;
  errorLabels?: string[];
  appName?: string;
};

export type MemberState = 'running' | 'paused' | 'killed';

export type ReplicaSet = {
  /** `mongodb://127.0.0.1:P0,127.0.0.1:P1,127.0.0.1:P2/?replicaSet=rs0` */
  readonly url: string;
  readonly ports: readonly number[];
  readonly image: string;
  /** The member (0, 1, 2) that is the writable primary now, asked of the running members; throws if none is. */
  primary: () => Promise<number>;
  /** Waits for a writable primary (an election) and answers it. */
  waitForPrimary: (timeoutMs?: number) => Promise<number>;
  /** Waits until every member runs and is PRIMARY or SECONDARY (one primary), as after a start. */
  waitForHealthy: (timeoutMs?: number) => Promise<void>;
  /** replSetGetStatus of the running members, as each sees itself: for reports and timeout messages. */
  states: () => Promise<Record<number, string>>;
  pause: (members: readonly number[]) => Promise<void>;
  unpause: (members: readonly number[]) => Promise<void>;
  /** SIGKILL: no shutdown, no step-down; the data directory stays for `restart`. */
  kill: (member: number) => Promise<void>;
  /** Starts a killed member again (same port, same data) and waits until it answers `hello`. */
  restart: (member: number) => Promise<void>;
  /** Sets the `failCommand` fail point on the server `client`'s admin commands go to (the primary). */
  failCommand: (client: MongoClient, spec: FailCommandSpec) => Promise<void>;
  /** Turns the `failCommand` fail point off on the current primary. */
  clearFailCommand: (client: MongoClient) => Promise<void>;
  stop: () => Promise<void>;
};

type DockerContainer = ReturnType<ContainerRuntimeClient['container']['getById']>;

/** The container engine and the image, or an Error that says what is missing. */
async function engineWithImage(image: string): Promise<ContainerRuntimeClient> {
  let client: ContainerRuntimeClient;
  try {
    client = await getContainerRuntimeClient();
  } catch (err) {
    throw new Error(
      `the replica-set tests need a Docker-compatible container engine (DOCKER_HOST, or a socket such as /var/run/docker.sock) ` +
        `and the ${image} image; no engine answers (${(err as Error).message}); ${HOW_TO}`,
    );
  }
  let present: boolean;
  try {
    present = await client.image.exists(ImageName.fromString(image));
  } catch (err) {
    throw new Error(`the container engine could not say whether it has the image ${image} (${(err as Error).message}); ${HOW_TO}`);
  }
  if (!present) throw new Error(`the image ${image} is not on this container engine: pull it first (docker pull ${image}), or set MONGO_IMAGE to one that is; ${HOW_TO}`);
  return client;
}

/** Distinct ports below the ephemeral range: a killed member must get its port back (local-servers.ts, restartablePort). */
async function distinctPorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await restartablePort());
  return [...ports];
}

/** `hello` of one member, directly (not through the set), with short timeouts. */
async function hello(port: number): Promise<Document> {
  const client = new MongoClient(`mongodb://127.0.0.1:${port}/?directConnection=true`, { serverSelectionTimeoutMS: 2000, connectTimeoutMS: 2000, socketTimeoutMS: 3000 });
  try {
    return await client.db('admin').command({ hello: 1 });
  } finally {
    await client.close().catch(() => {});
  }
}

function memberCommand(port: number): string[] {
  return [
    'mongod',
    '--replSet', REPLICA_SET_NAME,
    '--bind_ip', '127.0.0.1',
    '--port', String(port),
    '--setParameter', 'enableTestCommands=1',
    // Three members on one machine: a small cache each (the default takes half the RAM per member).
    '--wiredTigerCacheSizeGB', '0.25',
  ];
}

export async function startReplicaSet(options: { image?: string; startupTimeoutMs?: number } = {}): Promise<ReplicaSet> {
  const image = options.image ?? process.env.MONGO_IMAGE ?? 'mongo:8';
  const runtime = await engineWithImage(image);
  const ports = await distinctPorts(3);
  const startups = await Promise.allSettled(
    ports.map((port) =>
      new GenericContainer(image)
        .withNetworkMode('host')
        .withCommand(memberCommand(port))
        .withWaitStrategy(Wait.forLogMessage(/Waiting for connections/))
        .withStartupTimeout(options.startupTimeoutMs ?? 120_000)
        .start(),
    ),
  );
  const containers = startups.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = startups.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await Promise.allSettled(containers.map((c) => c.stop()));
    throw new Error(`a member of the ${image} replica set did not start: ${(failed.reason as Error).message}; ${HOW_TO}`);
  }
  const states: MemberState[] = ports.map(() => 'running');
  const docker = (member: number): DockerContainer => runtime.container.getById(memberAt(containers, member).getId());
  const url = `mongodb://${ports.map((p) => `127.0.0.1:${p}`).join(',')}/?replicaSet=${REPLICA_SET_NAME}`;

  const running = () => states.flatMap((s, i) => (s === 'running' ? [i] : []));
  const primary = async (): Promise<number> => {
    const members = running();
    const answers = await Promise.allSettled(members.map((m) => hello(ports[m]!)));
    const found = members.filter((_, k) => {
      const a = answers[k]!;
      return a.status === 'fulfilled' && a.value.isWritablePrimary === true;
    });
    if (found.length !== 1) throw new Error(`no single writable primary among the running members ${JSON.stringify(members)} (found ${JSON.stringify(found)})`);
    return found[0]!;
  };
  const memberStates = async (): Promise<Record<number, string>> => {
    const seen: Record<number, string> = {};
    await Promise.all(
      ports.map(async (port, m) => {
        if (states[m] !== 'running') {
          seen[m] = states[m]!;
          return;
        }
        try {
          const h = await hello(port);
          seen[m] = h.isWritablePrimary === true ? 'PRIMARY' : h.secondary === true ? 'SECONDARY' : 'OTHER';
        } catch (err) {
          seen[m] = `unreachable (${(err as Error).message})`;
        }
      }),
    );
    return seen;
  };
  const waitForPrimary = async (timeoutMs = 60_000): Promise<number> => {
    let found = -1;
    await until('a writable primary in the replica set', timeoutMs, async () => ((found = await primary()), true), 250, memberStates);
    return found;
  };
  const waitForHealthy = async (timeoutMs = 90_000): Promise<void> => {
    await until(
      'every member of the replica set running as PRIMARY or SECONDARY, one PRIMARY',
      timeoutMs,
      async () => {
        const seen = Object.values(await memberStates());
        return seen.filter((s) => s === 'PRIMARY').length === 1 && seen.every((s) => s === 'PRIMARY' || s === 'SECONDARY');
      },
      250,
      memberStates,
    );
  };

  const set: ReplicaSet = {
    url,
    ports,
    image,
    primary,
    waitForPrimary,
    waitForHealthy,
    states: memberStates,
    async pause(members) {
      for (const m of members) if (states[m] !== 'running') throw new Error(`member ${m} is ${states[m]}, not running: cannot pause it`);
      await Promise.all(members.map((m) => docker(m).pause()));
      for (const m of members) states[m] = 'paused';
    },
    async unpause(members) {
      const paused = members.filter((m) => states[m] === 'paused');
      await Promise.all(paused.map((m) => docker(m).unpause()));
      for (const m of paused) states[m] = 'running';
    },
    async kill(member) {
      if (states[member] !== 'running') throw new Error(`member ${member} is ${states[member]}, not running: cannot kill it`);
      await docker(member).kill({ signal: 'SIGKILL' });
      states[member] = 'killed';
      await until(`member ${member} stopped after SIGKILL`, 30_000, async () => (await docker(member).inspect()).State.Running === false, 100);
    },
    async restart(member) {
      if (states[member] !== 'killed') throw new Error(`member ${member} is ${states[member]}, not killed: cannot restart it`);
      await docker(member).start();
      states[member] = 'running';
      await until(`member ${member} answering hello again on 127.0.0.1:${ports[member]}`, 60_000, async () => (await hello(ports[member]!)).ok === 1, 250);
    },
    async failCommand(client, spec) {
      const data: Document = { failCommands: spec.commands };
      if (spec.writeConcernError) data.writeConcernError = spec.writeConcernError;
      if (spec.closeConnection) data.closeConnection = true;
      if (spec.errorCode !== undefined) data.errorCode = spec.errorCode;
      if (spec.errorLabels) data.errorLabels = spec.errorLabels;
      if (spec.appName) data.appName = spec.appName;
      await client.db('admin').command({ configureFailPoint: 'failCommand', mode: { times: spec.times ?? 1 }, data });
    },
    async clearFailCommand(client) {
      await client.db('admin').command({ configureFailPoint: 'failCommand', mode: 'off' });
    },
    async stop() {
      await set.unpause(ports.map((_, m) => m)).catch(() => {});
      await Promise.allSettled(containers.map((c) => c.stop({ timeout: 10_000 })));
    },
  };

  try {
    await initiate(memberAt(containers, 0), ports);
    // Member 0 has priority 2: it is elected first, and the set is whole before any test runs.
    await until('member 0 elected primary of the new replica set', 90_000, async () => (await primary()) === 0, 300, memberStates);
    await waitForHealthy();
  } catch (err) {
    await set.stop();
    throw err;
  }
  return set;
}

function memberAt(containers: StartedTestContainer[], member: number): StartedTestContainer {
  const c = containers[member];
  if (!c) throw new Error(`no member ${member} in a replica set of ${containers.length}`);
  return c;
}

async function initiate(first: StartedTestContainer, ports: readonly number[]): Promise<void> {
  const config = { _id: REPLICA_SET_NAME, members: ports.map((port, i) => ({ _id: i, host: `127.0.0.1:${port}`, priority: i === 0 ? 2 : 1 })) };
  const result = await first.exec(['mongosh', '--quiet', '--port', String(ports[0]), '--eval', `JSON.stringify(rs.initiate(${JSON.stringify(config)}))`]);
  if (result.exitCode !== 0 || !/"ok":1/.test(result.output)) {
    throw new Error(`rs.initiate failed (exit ${result.exitCode}): ${result.output.trim().slice(0, 500)}`);
  }
}
