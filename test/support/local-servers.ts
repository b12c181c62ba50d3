// Real Redis and FerretDB (MongoDB wire protocol on PostgreSQL from Debian, or on SQLite) as child
// processes on 127.0.0.1, for the Quick-start run and the tests on machines without a Docker engine.
// Each can be stopped, killed and started again on the same port and data directory (the fault tests
// do exactly that).
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { applySqlFile, LOOKUP_INDEXES_SQL, sqlRows } from './postgres-sql.ts';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export type LocalServer = {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  start: () => Promise<void>;
  /** SIGTERM and wait (SIGKILL after 5 s). Safe to call twice. */
  stop: () => Promise<void>;
  kill: () => Promise<void>;
  /** Sends a signal to the (main) process, e.g. SIGSTOP / SIGCONT to freeze and resume it. */
  signal: (signal: NodeJS.Signals) => void;
};

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => res(port));
    });
  });
}

const canListen = (port: number) =>
  new Promise<boolean>((res) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => res(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => res(true)));
  });

/**
 * A free port BELOW the kernel's ephemeral range (32768+ here), for servers that are stopped and
 * started again on the same port. While such a server is down, its clients keep reconnecting; with a
 * port in the ephemeral range one of those attempts can connect to itself (TCP simultaneous open,
 * source port = destination port) and hold the port, so the restarted server cannot have it back.
 */
export async function restartablePort(): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await canListen(port)) return port;
  }
  return freePort();
}

async function waitForPort(port: number, child: ChildProcess, name: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with code ${child.exitCode} while starting`);
    const ok = await new Promise<boolean>((res) => {
      const sock = connect(port, '127.0.0.1', () => { sock.destroy(); res(true); });
      sock.on('error', () => res(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${name} did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
}

type RunAs = { uid: number; gid: number };

function managed(name: string, port: number, url: string, command: string, args: string[], env: NodeJS.ProcessEnv, log?: (line: string) => void, runAs?: RunAs): LocalServer {
  let child: ChildProcess | undefined;
  const exited = () => !child || child.exitCode !== null || child.signalCode !== null;
  const end = async (signal: NodeJS.Signals) => {
    if (exited()) return;
    const proc = child!;
    const done = new Promise((r) => proc.once('exit', r));
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await done;
    clearTimeout(timer);
  };
  return {
    name, port, url,
    async start() {
      if (!exited()) return;
      child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], ...runAs });
      const forward = (chunk: Buffer) => log?.(chunk.toString());
      child.stdout?.on('data', forward);
      child.stderr?.on('data', forward);
      await waitForPort(port, child, name);
    },
    stop: () => end('SIGTERM'),
    kill: () => end('SIGKILL'),
    signal: (signal) => void child?.kill(signal),
  };
}

export type RedisOptions = { dataDir: string; port?: number; fsync?: 'always' | 'everysec'; maxmemory?: string; log?: (l: string) => void; extraArgs?: string[] };

/** AOF on and noeviction: Redis must neither lose nor evict an acknowledged job. */
export async function redisServer(opts: RedisOptions): Promise<LocalServer> {
  const port = opts.port ?? (await restartablePort());
  mkdirSync(opts.dataDir, { recursive: true });
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', opts.dataDir, '--daemonize', 'no',
    '--appendonly', 'yes', '--appendfsync', opts.fsync ?? 'always', '--save', '',
    '--maxmemory-policy', 'noeviction', '--logfile', '', ...(opts.maxmemory ? ['--maxmemory', opts.maxmemory] : []), ...(opts.extraArgs ?? []),
  ];
  return managed('redis-server', port, `redis://127.0.0.1:${port}`, 'redis-server', args, {}, opts.log);
}

export type RedisCluster = {
  /** Every node, masters and replicas as `redis-cli --cluster create` chose them at the start. */
  readonly nodes: LocalServer[];
  /** `host:port` of every node (REDIS_CLUSTER_NODES). */
  readonly seeds: string[];
  /** The first node's URL (REDIS_URL: a seed, and the scheme for all). */
  readonly url: string;
  /** Stops every node still running. Safe to call twice. */
  stop: () => Promise<void>;
};

export type RedisClusterOptions = {
  dataDir: string; masters?: number; replicasPerMaster?: number; nodeTimeoutMs?: number; fsync?: 'always' | 'everysec'; log?: (l: string) => void;
  /** The port a node announces to clients and replicas (cluster-announce-port), e.g. a proxy's in front of it. */
  announcePort?: (port: number) => Promise<number>;
};

/**
 * A real Redis Cluster of Debian's redis-server on loopback: `masters` x (1 + replicasPerMaster)
 * nodes (3 x 2 by default) in cluster mode with AOF, created with `redis-cli --cluster create`.
 * A short cluster-node-timeout makes a killed master fail over in a few seconds (the tests kill one).
 * Resolves once every node reports cluster_state:ok with all 16384 slots served.
 */
export async function redisCluster(opts: RedisClusterOptions): Promise<RedisCluster> {
  const count = (opts.masters ?? 3) * (1 + (opts.replicasPerMaster ?? 1));
  const nodes: LocalServer[] = [];
  try {
    for (let i = 0; i < count; i++) {
      // The cluster bus listens on port + 10000: both must be free.
      let port = await restartablePort();
      while (!(await canListen(port + 10_000))) port = await restartablePort();
      const dataDir = join(opts.dataDir, `node-${i}`);
      const extraArgs = ['--cluster-enabled', 'yes', '--cluster-config-file', join(dataDir, 'nodes.conf'), '--cluster-node-timeout', String(opts.nodeTimeoutMs ?? 1500)];
      if (opts.announcePort) extraArgs.push('--cluster-announce-port', String(await opts.announcePort(port)), '--cluster-announce-bus-port', String(port + 10_000));
      nodes.push(await started(redisServer({ dataDir, port, fsync: opts.fsync, log: opts.log, extraArgs })));
    }
    const seeds = nodes.map((n) => `127.0.0.1:${n.port}`);
    // Not execFileSync: redis-cli checks the nodes at their announced ports, which may be proxies served by this process.
    await promisify(execFile)('redis-cli', ['--cluster', 'create', ...seeds, '--cluster-replicas', String(opts.replicasPerMaster ?? 1), '--cluster-yes'], { timeout: 60_000 });
    const deadline = Date.now() + 30_000;
    for (const n of nodes) {
      for (;;) {
        const info = execFileSync('redis-cli', ['-p', String(n.port), 'cluster', 'info']).toString();
        // Slots served AND replication up: a replica that has not synced yet would fail a WAIT.
        const replication = execFileSync('redis-cli', ['-p', String(n.port), 'info', 'replication']).toString();
        const synced = /role:master/.test(replication) ? Number(/connected_slaves:(\d+)/.exec(replication)?.[1] ?? 0) >= (opts.replicasPerMaster ?? 1) : /master_link_status:up/.test(replication);
        if (/cluster_state:ok/.test(info) && /cluster_slots_ok:16384/.test(info) && synced) break;
        if (Date.now() > deadline) throw new Error(`redis cluster node ${n.port} not ok within 30 s: ${info.split('\n').slice(0, 3).join(' ')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    let stopped = false;
    return {
      nodes, seeds, url: `redis://${seeds[0]}`,
      stop: async () => {
        if (stopped) return;
        stopped = true;
        await Promise.all(nodes.map((n) => n.stop()));
      },
    };
  } catch (err) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw err;
  }
}

/** Where FerretDB keeps its data: PostgreSQL (the default: looks `_id` up by key) or SQLite (scans). */
export type EmbeddedBackend = 'postgresql' | 'sqlite';

export function embeddedBackend(env: NodeJS.ProcessEnv = process.env): EmbeddedBackend {
  const value = env.LOCAL_MONGO_BACKEND ?? 'postgresql';
  if (value !== 'postgresql' && value !== 'sqlite') throw new Error('LOCAL_MONGO_BACKEND must be postgresql or sqlite');
  return value;
}

/** Debian's PostgreSQL server binaries (postgresql-NN), the newest installed; PG_BIN_DIR overrides. */
export function postgresBinDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PG_BIN_DIR) return env.PG_BIN_DIR;
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? readdirSync(base).filter((v) => existsSync(join(base, v, 'bin', 'postgres'))).sort((a, b) => Number(b) - Number(a)) : [];
  if (versions.length === 0) throw new Error("PostgreSQL not found: run 'bash scripts/test.sh' (it installs it from Debian), set LOCAL_MONGO_BACKEND=sqlite, or set MONGO_URL");
  return join(base, versions[0]!, 'bin');
}

export type PostgresOptions = { dataDir: string; port?: number; log?: (l: string) => void };
/** A PostgreSQL server that also answers SQL (rows as `|`-joined text), for tests and the bench. */
export type SqlServer = LocalServer & { sql: (query: string) => string[] };

/**
 * A throw-away PostgreSQL cluster: initdb on first start (trust auth, reachable on loopback only),
 * run as the `postgres` user when we are root (PostgreSQL refuses to run as root).
 */
export async function postgresServer(opts: PostgresOptions): Promise<SqlServer> {
  const port = opts.port ?? (await restartablePort());
  const bin = postgresBinDir();
  const runAs = process.getuid?.() === 0 ? { uid: Number(execFileSync('id', ['-u', 'postgres']).toString()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString()) } : undefined;
  mkdirSync(opts.dataDir, { recursive: true });
  if (runAs) {
    chownSync(opts.dataDir, runAs.uid, runAs.gid);
    traversable(dirname(opts.dataDir));
  }
  if (!existsSync(join(opts.dataDir, 'PG_VERSION'))) {
    execFileSync(join(bin, 'initdb'), ['-D', opts.dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C'], { stdio: 'ignore', ...runAs });
  }
  const args = [
    '-D', opts.dataDir, '-p', String(port), '-k', opts.dataDir, '-c', 'listen_addresses=127.0.0.1',
    // Small and quiet: this is one embedded server, not a tuned database host.
    '-c', 'max_connections=200', '-c', 'logging_collector=off',
    // A registry of 100,000 patients is ~300 MB of rows and indexes: in shared buffers, an update does
    // not evict a dirty page first. Checkpoints 30 min apart write fewer full-page images per update
    // (durability is the same: every commit still waits for its WAL flush; only recovery takes longer).
    '-c', 'shared_buffers=512MB', '-c', 'max_wal_size=4GB', '-c', 'checkpoint_timeout=30min',
    // FerretDB's lookups carry the field name as a parameter (`_jsonb->$1 @> $2`): only a custom plan
    // matches them to the GIN indexes of ferretdb-lookup-indexes.sql; a generic plan would scan.
    '-c', 'plan_cache_mode=force_custom_plan', '-c', 'shared_preload_libraries=pg_stat_statements',
  ];
  const server = managed('postgres', port, `postgres://postgres@127.0.0.1:${port}/postgres`, join(bin, 'postgres'), args, {}, opts.log, runAs);
  return { ...server, start: async () => { await server.start(); await pgReady(bin, port); }, sql: (query) => sqlRows(bin, port, query) };
}

/**
 * The postgres user must be able to pass through the directories above its data directory; ours
 * (under the repository or the temp directory, e.g. a 0700 mkdtemp) get o+x, which lists nothing.
 */
function traversable(dir: string): void {
  for (let d = resolve(dir); d !== dirname(d); d = dirname(d)) {
    if ((statSync(d).mode & 0o001) !== 0) continue;
    if (!d.startsWith(ROOT) && !d.startsWith(resolve(tmpdir()))) throw new Error(`the postgres user cannot enter ${d}: put the data directory elsewhere or set LOCAL_MONGO_BACKEND=sqlite`);
    chmodSync(d, statSync(d).mode | 0o001);
  }
}

async function pgReady(bin: string, port: number): Promise<void> {
  // The port opens before the server takes connections (startup/recovery): ask it.
  for (let i = 0; i < 200; i++) {
    try {
      execFileSync(join(bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port), '-q']);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`postgres on 127.0.0.1:${port} did not become ready`);
}

export function ferretdbBinary(env: NodeJS.ProcessEnv = process.env): string {
  return env.FERRETDB_BIN ?? join(ROOT, '.tools', 'bin', 'ferretdb');
}

export type FerretOptions = { dataDir: string; port?: number; bin?: string; log?: (l: string) => void; backend?: EmbeddedBackend };

/**
 * FerretDB on its backend. With PostgreSQL, the cluster lives in `<dataDir>/postgres` and starts and
 * stops together with FerretDB (a stopped "MongoDB" is both), on a port of its own.
 */
export async function ferretdbServer(opts: FerretOptions): Promise<LocalServer & { sql?: SqlServer['sql'] }> {
  const backend = opts.backend ?? embeddedBackend();
  if (backend === 'postgresql') {
    const pg = await postgresServer({ dataDir: join(opts.dataDir, 'postgres'), log: opts.log });
    const ferret = await ferretdbProcess({ ...opts, handler: ['--handler=postgresql', `--postgresql-url=${pg.url}`] });
    return {
      name: ferret.name, port: ferret.port, url: ferret.url, sql: pg.sql,
      // The lookup indexes before FerretDB takes a connection: every start, idempotently.
      start: async () => { await pg.start(); applySqlFile(postgresBinDir(), pg.port, join(ROOT, LOOKUP_INDEXES_SQL)); await ferret.start(); },
      stop: async () => { await ferret.stop(); await pg.stop(); },
      kill: async () => { await ferret.kill(); await pg.stop(); },
      signal: ferret.signal,
    };
  }
  mkdirSync(opts.dataDir, { recursive: true });
  return ferretdbProcess({ ...opts, handler: ['--handler=sqlite', `--sqlite-url=file:${opts.dataDir}/`] });
}

async function ferretdbProcess(opts: FerretOptions & { handler: string[] }): Promise<LocalServer> {
  const port = opts.port ?? (await restartablePort());
  const bin = opts.bin ?? ferretdbBinary();
  if (!existsSync(bin)) throw new Error(`FerretDB not found at ${bin}: run 'bash scripts/test.sh' (it builds it) or set MONGO_URL`);
  mkdirSync(opts.dataDir, { recursive: true });
  const args = [
    ...opts.handler, `--state-dir=${opts.dataDir}`,
    `--listen-addr=127.0.0.1:${port}`, '--debug-addr=-', '--telemetry=disable', '--log-level=warn',
  ];
  // Telemetry off twice over: the flag and DO_NOT_TRACK. Nothing may leave this machine.
  // Go's collector ran a fifth of FerretDB's CPU: GOGC=1000 gave the same guarded replaces ~25 % more
  // per second (paired runs, src/worker/README.md), bounded by a soft heap limit (peak RSS 120 MB).
  const env = { DO_NOT_TRACK: '1', GOGC: '1000', GOMEMLIMIT: '512MiB' };
  return managed('ferretdb', port, `mongodb://127.0.0.1:${port}/`, bin, args, env, opts.log);
}

export async function started(server: Promise<LocalServer>): Promise<LocalServer> {
  const s = await server;
  await s.start();
  return s;
}
