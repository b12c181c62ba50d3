// docker-compose.yml: every variable known and valid (with the image's own ENV, as the container
// sees it), commands, ports, health checks, grace periods; restart policies; keys by default.
import { describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../../src/shared/config/config.ts';
import {
  broken, composeEnv, eachCheckFails, ENTRY, HARD_EXIT_MARGIN_MS, healthUrl, isKnownVar, LISTEN, listenProblems, real, ROLES, seconds, SHARED_KEYS, type Artifacts, type Role,
} from '../../support/deploy-artifacts.ts';

function composeProblems(a: Artifacts): string[] {
  const problems: string[] = [];
  const services = a.compose?.services ?? {};
  const configs: Partial<Record<Role, Config>> = {};
  for (const role of ROLES) {
    const service = services[role];
    if (!service) {
      problems.push(`compose: no service ${role}`);
      continue;
    }
    const env = composeEnv(service);
    for (const key of Object.keys(env)) if (!isKnownVar(key)) problems.push(`compose ${role}: ${key} is not in ConfigSchema`);
    let config: Config;
    try {
      config = loadConfig(env);
    } catch (err) {
      problems.push(`compose ${role}: ${(err as Error).message}`);
      continue;
    }
    configs[role] = config;
    if (JSON.stringify(service.command) !== JSON.stringify(ENTRY[role])) problems.push(`compose ${role}: command ${JSON.stringify(service.command)}, expected ${JSON.stringify(ENTRY[role])}`);
    if (service.build?.target !== role) problems.push(`compose ${role}: build target ${service.build?.target}, expected ${role}`);
    if (service.image !== undefined && !String(service.image).startsWith(`hemo-patient-ingest-${role}:`)) problems.push(`compose ${role}: image ${service.image} is not hemo-patient-ingest-${role}`);
    problems.push(...listenProblems(`compose ${role}`, role, config));
    const port = config[LISTEN[role][1]];
    const check = healthUrl(service.healthcheck?.test);
    if (!check) problems.push(`compose ${role}: no healthcheck fetching /health/live`);
    else if (check.port !== port || check.path !== '/health/live') problems.push(`compose ${role}: healthcheck on :${check.port}${check.path}, expected :${port}/health/live`);
    if (role === 'api') {
      const published = (service.ports ?? []).map((p: unknown) => Number(String(p).split(':').at(-1)!.split('/')[0]));
      if (!published.includes(config.API_PORT)) problems.push(`compose api: ports ${JSON.stringify(service.ports)} do not publish container port ${config.API_PORT} (API_PORT)`);
    }
    const grace = seconds(service.stop_grace_period ?? '10s') * 1000;
    if (grace <= config.SHUTDOWN_TIMEOUT_MS + HARD_EXIT_MARGIN_MS) {
      problems.push(`compose ${role}: stop_grace_period ${service.stop_grace_period ?? '10s (default)'} is not above SHUTDOWN_TIMEOUT_MS + ${HARD_EXIT_MARGIN_MS} ms`);
    }
  }
  if (configs.api && configs.worker) {
    for (const key of SHARED_KEYS) {
      if (configs.api[key] !== configs.worker[key]) problems.push(`compose: api and worker disagree on ${key}`);
    }
  }
  if (services.worker?.deploy?.replicas !== 3) problems.push(`compose worker: deploy.replicas ${services.worker?.deploy?.replicas}, expected 3`);
  const redis = (services.redis?.command ?? []).join(' ');
  for (const flag of ['--appendonly yes', '--appendfsync always', '--maxmemory-policy noeviction']) {
    if (!redis.includes(flag)) problems.push(`compose redis: command lacks ${flag}`);
  }
  const mongo = (services.mongo?.command ?? []).join(' ');
  const replSet = /--replSet (\S+)/.exec(mongo)?.[1];
  if (!replSet) problems.push('compose mongo: not started as a replica set (--replSet)');
  for (const role of ROLES) {
    const url = composeEnv(services[role]).MONGO_URL ?? '';
    if (replSet && !url.includes(`replicaSet=${replSet}`) && !url.includes('directConnection=true')) problems.push(`compose ${role}: MONGO_URL names neither replicaSet=${replSet} nor directConnection=true`);
  }
  return problems;
}

/** What a container of the service really gets: the image target's ENV, then compose's environment. */
function containerEnv(a: Artifacts, role: 'api' | 'worker'): Record<string, string> {
  return { ...a.dockerfile.find((s) => s.name === role)?.env, ...composeEnv(a.compose?.services?.[role]) };
}

/** Restart policies, keys required (never development mode by default), config valid with the image's NODE_ENV. */
function composeHardeningProblems(a: Artifacts): string[] {
  const problems: string[] = [];
  const services = a.compose?.services ?? {};
  for (const [name, service] of Object.entries<any>(services)) {
    if (!['always', 'unless-stopped'].includes(service.restart) && !/^on-failure/.test(service.restart ?? '')) problems.push(`compose ${name}: no restart policy`);
  }
  const raw = services.api?.environment ?? {};
  if (!/^\$\{API_KEYS:\?[^}]+\}$/.test(String(raw.API_KEYS ?? ''))) problems.push('compose api: API_KEYS is not required (${API_KEYS:?message}): without a .env the API must not start');
  // The image runs with NODE_ENV=production, where the API refuses to start without it (src/api/idempotency-secret.ts).
  if (!/^\$\{API_IDEMPOTENCY_SECRET:\?[^}]+\}$/.test(String(raw.API_IDEMPOTENCY_SECRET ?? ''))) problems.push('compose api: API_IDEMPOTENCY_SECRET is not required (${API_IDEMPOTENCY_SECRET:?message})');
  for (const role of ROLES) {
    let config: Config;
    try {
      config = loadConfig(containerEnv(a, role));
    } catch (err) {
      problems.push(`compose ${role} with the image's ENV: ${(err as Error).message}`);
      continue;
    }
    if (config.AUTH_DEV_MODE) problems.push(`compose ${role}: AUTH_DEV_MODE is true without a .env`);
  }
  return problems;
}

describe('docker-compose.yml', () => {
  it('when docker-compose.yml is resolved, then every variable is in ConfigSchema and parses, and commands, ports, health checks and grace periods agree', () => {
    expect(Object.keys(real.compose.services)).toEqual(expect.arrayContaining(['redis', 'mongo', 'api', 'worker']));
    expect(composeProblems(real)).toEqual([]);
  });

  it('when docker-compose.yml is resolved with the image\'s ENV, then every service restarts, the API requires keys and the configuration is valid in production mode', () => {
    expect(composeHardeningProblems(real)).toEqual([]);
  });
});

describe('docker-compose.yml: each check fails on a broken copy', () => {
  eachCheckFails([
    ['compose sets an unknown variable', () => broken('compose', /WORKER_CONCURRENCY: "50"/, 'WORKER_THREADS: "50"'), composeProblems, /worker: WORKER_THREADS is not in ConfigSchema/],
    ['compose sets a malformed value', () => broken('compose', /API_PORT: "3000"/, 'API_PORT: "three thousand"'), composeProblems, /compose api: invalid configuration: API_PORT/],
    ['compose moves API_PORT but not the published port', () => broken('compose', /API_PORT: "3000"/, 'API_PORT: "3100"'), composeProblems, /do not publish container port 3100/],
    ['the worker health check probes the API port', () => broken('compose', /127\.0\.0\.1:3001\/health\/live/, '127.0.0.1:3000/health/live'), composeProblems, /worker: healthcheck on :3000/],
    ['the compose worker runs the API', () => broken('compose', /command: \["node", "dist\/worker\/main.js"\]/, 'command: ["node", "dist/api/server.js"]'), composeProblems, /worker: command/],
    ['the worker stop grace period is shorter than the shutdown', () => broken('compose', /stop_grace_period: 20s\n    deploy:/, 'stop_grace_period: 12s\n    deploy:'), composeProblems, /worker: stop_grace_period 12s/],
    ['Redis loses appendfsync always', () => broken('compose', /- always\n/, '- everysec\n'), composeProblems, /--appendfsync always/],
    ['compose worker reads records in another time zone', () => broken('compose', /WORKER_CONCURRENCY: "50"/, 'WORKER_CONCURRENCY: "50"\n      PATIENT_TIME_ZONE: UTC'), composeProblems, /api and worker disagree on PATIENT_TIME_ZONE/],
    ['compose MongoDB is no replica set', () => broken('compose', /"--replSet", "rs0", /, ''), composeProblems, /not started as a replica set/],
    ['the compose API listens on loopback only', () => broken('compose', /API_HOST: 0\.0\.0\.0/, 'API_HOST: 127.0.0.1'), composeProblems, /compose api: API_HOST is 127\.0\.0\.1/],
    ['a service has no restart policy', () => broken('compose', /(  worker:\n(?:.*\n)*?)    restart: unless-stopped\n/, '$1'), composeHardeningProblems, /compose worker: no restart policy/],
    ['compose lets the API start without an idempotency secret', () => broken('compose', /\n\s*API_IDEMPOTENCY_SECRET: \$\{API_IDEMPOTENCY_SECRET:\?[^}]*\}/, ''), composeHardeningProblems, /API_IDEMPOTENCY_SECRET is not required/],
    ['compose falls back to development mode without keys', () => broken('compose', /API_KEYS: \$\{API_KEYS:\?[^}]*\}/, 'API_KEYS: ${API_KEYS:-}\n      AUTH_DEV_MODE: ${AUTH_DEV_MODE:-true}'), composeHardeningProblems, /API_KEYS is not required/],
    ['compose drops the plaintext switch under the image\'s NODE_ENV=production', () => broken('compose', /  ALLOW_PLAINTEXT_DATASTORES: "true"\n/, ''), composeHardeningProblems, /compose api with the image's ENV: .*REDIS_URL must be rediss/],
  ]);
});
