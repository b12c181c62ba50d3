// Quick start, command 1 (via scripts/start.sh): Redis and FerretDB under .data/ (unless REDIS_URL /
// MONGO_URL point elsewhere), then the API and one worker as separate processes, as in production.
// Ctrl-C stops everything in order: API and worker first (they drain), then the servers.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ferretdbServer, redisServer, ROOT, started, type LocalServer } from '../test/support/local-servers.ts';
import { productionNodeOptions, type ProcessRole } from './node-options.ts';

const env = process.env;
// LOCAL_DATA_DIR: another place for the servers' data (a test runs a second Quick-start stack beside yours).
const data = env.LOCAL_DATA_DIR ?? join(ROOT, '.data');
const servers: LocalServer[] = [];
const say = (msg: string) => process.stderr.write(`\x1b[1m[run]\x1b[0m ${msg}\n`);

async function main() {
  if (!env.REDIS_URL) {
    const redis = await started(redisServer({ dataDir: join(data, 'redis'), port: Number(env.LOCAL_REDIS_PORT ?? 6380) }));
    servers.push(redis);
    env.REDIS_URL = redis.url;
  }
  if (!env.MONGO_URL) {
    const mongo = await started(ferretdbServer({ dataDir: join(data, 'ferretdb'), port: Number(env.LOCAL_MONGO_PORT ?? 27018) }));
    servers.push(mongo);
    env.MONGO_URL = mongo.url;
  }
  // The Quick start runs in development mode unless keys are configured (it says so loudly).
  if (!env.API_KEYS) env.AUTH_DEV_MODE ??= 'true';
  say(`Redis ${env.REDIS_URL}  MongoDB protocol (FerretDB) ${env.MONGO_URL}`);

  // As production runs them: compiled JavaScript (scripts/start.sh builds it) with the Dockerfile's heap limits.
  const children = [run('api', 'dist/api/server.js'), run('worker', 'dist/worker/main.js')];
  const api = `http://${env.API_HOST ?? '127.0.0.1'}:${env.API_PORT ?? 3000}`;
  say(`API on ${api}  (POST ${api}/api/patients)  — Ctrl-C to stop`);
  say(`try: curl -si ${api}/api/patients -H 'content-type: application/json' -d @examples/patient.json`);

  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await Promise.all(children.map((c) => terminate(c)));
    for (const s of servers.reverse()) await s.stop();
    process.exit(code);
  };
  for (const child of children) child.on('exit', (code) => void (stopping || (say(`a process exited (${code}); stopping`), stopAll(1))));
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));
}

function run(name: ProcessRole, entry: string): ChildProcess {
  // Own process group: Ctrl-C reaches only this script, which then stops the children in order.
  return spawn(process.execPath, [...productionNodeOptions(ROOT)[name], join(ROOT, entry)], { env, stdio: ['ignore', 'inherit', 'inherit'], detached: true }).on('error', (err) => say(`${name}: ${err.message}`));
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await done;
}

main().catch(async (err: Error) => {
  say(`failed: ${err.message}`);
  for (const s of servers) await s.stop();
  process.exit(1);
});
