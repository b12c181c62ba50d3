// Real processes, as ops would run them: `node src/api/server.ts`, `node src/worker/main.ts`, `node src/import/main.ts`.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './local-servers.ts';
import { until } from './records.ts';

export type Proc = { child: ChildProcess; output: () => string; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> };

const ENTRIES = { api: 'src/api/server.ts', worker: 'src/worker/main.ts', import: 'src/import/main.ts' } as const;

/** The Node flags package.json's script for the entry gives it (the import command runs with a small heap). */
function nodeFlags(entry: keyof typeof ENTRIES): string[] {
  const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  const script = Object.values(scripts).find((s) => s.startsWith('node ') && s.endsWith(` ${ENTRIES[entry]}`));
  return script ? script.split(/\s+/).slice(1, -1) : [];
}

export function startProcess(entry: keyof typeof ENTRIES, env: Record<string, string>, args: string[] = [], cwd = ROOT): Proc {
  // Many workers may run at once: each takes any free port for its HTTP side unless told otherwise.
  const child = spawn(process.execPath, [...nodeFlags(entry), join(ROOT, ENTRIES[entry]), ...args], { cwd, env: { PATH: process.env.PATH ?? '', WORKER_HTTP_PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.once('exit', (code, signal) => res({ code, signal })));
  return { child, output: () => out, exited };
}

// A bound, not a timing check: loading the TypeScript sources on a loaded 2-core machine can take a while.
export async function waitForOutput(proc: Proc, pattern: RegExp, timeoutMs = 45_000): Promise<void> {
  const exited = () => proc.child.exitCode !== null || proc.child.signalCode !== null;
  await until(`${pattern} in the output`, timeoutMs, async () => pattern.test(proc.output()) || exited(), 25, async () => proc.output().slice(-3000));
  if (!pattern.test(proc.output())) throw new Error(`process exited early (${proc.child.exitCode ?? proc.child.signalCode}) before ${pattern}: ${proc.output().slice(-3000)}`);
}
