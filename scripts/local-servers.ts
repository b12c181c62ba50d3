// Real Redis and FerretDB (MongoDB wire protocol on SQLite) as child processes on 127.0.0.1, for the
// Quick-start run and the tests on machines without a Docker engine. Each can be stopped, killed
// and started again on the same port and data directory (the fault tests do exactly that).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export type LocalServer = {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  start: () => Promise<void>;
  /** SIGTERM and wait (SIGKILL after 5 s). Safe to call twice. */
  stop: () => Promise<void>;
  kill: () => Promise<void>;
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

function managed(name: string, port: number, url: string, command: string, args: string[], env: NodeJS.ProcessEnv, log?: (line: string) => void): LocalServer {
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
      child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      const forward = (chunk: Buffer) => log?.(chunk.toString());
      child.stdout?.on('data', forward);
      child.stderr?.on('data', forward);
      await waitForPort(port, child, name);
    },
    stop: () => end('SIGTERM'),
    kill: () => end('SIGKILL'),
  };
}

export type RedisOptions = { dataDir: string; port?: number; fsync?: 'always' | 'everysec'; log?: (l: string) => void };

/** AOF on and noeviction: Redis must neither lose nor evict an acknowledged job. */
export async function redisServer(opts: RedisOptions): Promise<LocalServer> {
  const port = opts.port ?? (await restartablePort());
  mkdirSync(opts.dataDir, { recursive: true });
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', opts.dataDir, '--daemonize', 'no',
    '--appendonly', 'yes', '--appendfsync', opts.fsync ?? 'always', '--save', '',
    '--maxmemory-policy', 'noeviction', '--logfile', '',
  ];
  return managed('redis-server', port, `redis://127.0.0.1:${port}`, 'redis-server', args, {}, opts.log);
}

export function ferretdbBinary(env: NodeJS.ProcessEnv = process.env): string {
  return env.FERRETDB_BIN ?? join(ROOT, '.tools', 'bin', 'ferretdb');
}

export type FerretOptions = { dataDir: string; port?: number; bin?: string; log?: (l: string) => void };

export async function ferretdbServer(opts: FerretOptions): Promise<LocalServer> {
  const port = opts.port ?? (await restartablePort());
  const bin = opts.bin ?? ferretdbBinary();
  if (!existsSync(bin)) throw new Error(`FerretDB not found at ${bin}: run 'bash scripts/test.sh' (it builds it) or set MONGO_URL`);
  mkdirSync(opts.dataDir, { recursive: true });
  const args = [
    '--handler=sqlite', `--sqlite-url=file:${opts.dataDir}/`, `--state-dir=${opts.dataDir}`,
    `--listen-addr=127.0.0.1:${port}`, '--debug-addr=-', '--telemetry=disable', '--log-level=warn',
  ];
  // Telemetry off twice over: the flag and DO_NOT_TRACK. Nothing may leave this machine.
  return managed('ferretdb', port, `mongodb://127.0.0.1:${port}/`, bin, args, { DO_NOT_TRACK: '1' }, opts.log);
}

export async function started(server: Promise<LocalServer>): Promise<LocalServer> {
  const s = await server;
  await s.start();
  return s;
}
