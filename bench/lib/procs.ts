// The processes under test, started as ops would run them (`node <entry>` with env vars from
// src/shared/config/config.ts), their logs going to files in the run's temp dir, and their RSS sampled
// from /proc/<pid>/status.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../test/support/local-servers.ts';
import { productionNodeOptions } from '../../scripts/node-options.ts';
import { sleep } from './util.ts';

export type Role = 'api' | 'worker' | 'bare202' | 'syncMongo';

export const ENTRIES: Record<Role, string> = {
  // The real processes run as production does: compiled JavaScript (npm run build, done by scripts/bench.sh).
  api: 'dist/api/server.js',
  worker: 'dist/worker/main.js',
  bare202: 'bench/reference/bare-202.ts',
  syncMongo: 'bench/reference/sync-mongo.ts',
};

export type NodeProc = {
  role: Role;
  label: string;
  pid: number;
  logFile: string;
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, wait (SIGKILL after `graceMs`). Safe to call twice. */
  stop: (graceMs?: number) => Promise<void>;
};

const running = new Set<NodeProc>();

export type SpawnOptions = { logDir: string; env: Record<string, string>; label?: string; nodeArgs?: string[] };

export function spawnNode(role: Role, opts: SpawnOptions): NodeProc {
  const label = opts.label ?? role;
  const logFile = join(opts.logDir, `${label}.log`);
  const fd = openSync(logFile, 'a');
  // The real processes get the production heap limits (Dockerfile), then any flags of the run.
  const production = role === 'api' || role === 'worker' ? productionNodeOptions(ROOT)[role] : [];
  const child = spawn(process.execPath, [...production, ...(opts.nodeArgs ?? []), join(ROOT, ENTRIES[role])], {
    cwd: ROOT,
    // Each worker takes any free port for its HTTP side (several run at once; 3001 may be taken).
    env: { PATH: process.env.PATH ?? '', WORKER_HTTP_PORT: '0', ...opts.env },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    child.once('exit', (code, signal) => res({ code, signal })),
  );
  const proc: NodeProc = {
    role, label, logFile, child, exited,
    pid: child.pid ?? -1,
    async stop(graceMs = 20_000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      running.delete(proc);
    },
  };
  running.add(proc);
  return proc;
}

/** Used by the abort path: every process this harness started, and only those. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop(5000)));
}

function alive(proc: NodeProc): boolean {
  return proc.child.exitCode === null && proc.child.signalCode === null;
}

function tail(file: string, chars = 2000): string {
  try {
    const text = readFileSync(file, 'utf8');
    return text.slice(-chars);
  } catch {
    return '';
  }
}

export async function waitForLog(proc: NodeProc, pattern: RegExp, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive(proc)) throw new Error(`${proc.label} exited while starting: ${tail(proc.logFile)}`);
    if (pattern.test(tail(proc.logFile, 64_000))) return;
    await sleep(50);
  }
  throw new Error(`${proc.label} did not log ${pattern} within ${timeoutMs} ms: ${tail(proc.logFile)}`);
}

/** Ready when the port answers HTTP at all (any status). */
export async function waitForHttp(proc: NodeProc, url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive(proc)) throw new Error(`${proc.label} exited while starting: ${tail(proc.logFile)}`);
    try {
      await fetch(url, { signal: AbortSignal.timeout(1000) });
      return;
    } catch {
      await sleep(50);
    }
  }
  throw new Error(`${proc.label} did not answer ${url} within ${timeoutMs} ms: ${tail(proc.logFile)}`);
}

export function readRssKiB(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** User + system CPU seconds the process has used so far (/proc/<pid>/stat, clock ticks of 10 ms). */
export function readCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After "pid (comm) ": state is field 3, so utime (14) and stime (15) are at 11 and 12 here.
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

export type RssSample = { t: number; phase: string; label: string; role: Role; rssMB: number };

/** Samples VmRSS of every tracked process every `intervalMs`, tagged with the current phase. */
export class RssSampler {
  readonly samples: RssSample[] = [];
  phase = 'idle';
  private readonly tracked = new Set<NodeProc>();
  private timer: NodeJS.Timeout | undefined;
  private readonly t0 = performance.now();

  private readonly intervalMs: number;

  constructor(intervalMs: number) {
    this.intervalMs = intervalMs;
  }

  start(): void {
    this.timer ??= setInterval(() => this.sample(), this.intervalMs);
  }

  track(proc: NodeProc): void {
    this.tracked.add(proc);
    void proc.exited.then(() => this.tracked.delete(proc));
  }

  sample(): void {
    const t = (performance.now() - this.t0) / 1000;
    for (const proc of this.tracked) {
      const kib = readRssKiB(proc.pid);
      if (kib !== null) this.samples.push({ t, phase: this.phase, label: proc.label, role: proc.role, rssMB: kib / 1024 });
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Seconds since the sampler was created (the same clock as the samples). */
  now(): number {
    return (performance.now() - this.t0) / 1000;
  }
}
