import { afterAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { createHarness, type Harness } from '../support/harness.ts';
import { keysEnv, makeKey } from '../support/keys.ts';
import { startProcess, type Proc } from '../support/processes.ts';
import { until } from '../support/records.ts';

// Development mode (no keys, every caller is admin) is for a developer's own machine only; other
// unsafe or malformed settings stop the process at start too (exit 2, the variable named, no stack).
const started: Proc[] = [];
const harnesses: Harness[] = [];
afterAll(async () => {
  for (const p of started) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  for (const h of harnesses) await h.close();
});

async function exitOf(env: Record<string, string>, entry: 'api' | 'worker' = 'api', timeoutMs = 20_000) {
  const proc = startProcess(entry, { REDIS_URL: inject('redisUrl'), MONGO_URL: inject('mongoUrl'), API_PORT: '0', ...env });
  started.push(proc);
  let exit: Awaited<Proc['exited']> | undefined;
  void proc.exited.then((e) => (exit = e));
  await until(`the ${entry} to exit`, timeoutMs, async () => exit !== undefined, 50, async () => proc.output().slice(-2000));
  return { code: exit!.code, output: proc.output() };
}

describe('development mode is refused where it could be reached', () => {
  it('when no API_KEYS are configured and development mode is not asked for, then the API exits 2 naming API_KEYS', async () => {
    const { code, output } = await exitOf({});
    expect(code).toBe(2);
    expect(output).toMatch(/API_KEYS is required/);
    expect(output).not.toMatch(/\n\s+at /);
  });

  it('when NODE_ENV=production and AUTH_DEV_MODE=true, then the API exits 2 naming AUTH_DEV_MODE, without a stack', async () => {
    const { code, output } = await exitOf({ NODE_ENV: 'production', AUTH_DEV_MODE: 'true', ALLOW_PLAINTEXT_DATASTORES: 'true' });
    expect(code).toBe(2);
    expect(output).toMatch(/AUTH_DEV_MODE=true is refused when NODE_ENV=production/);
    expect(output).not.toMatch(/\n\s+at /);
  });

  it('when the API would listen beyond loopback in development mode, then it exits 2 naming AUTH_DEV_MODE', async () => {
    const { code, output } = await exitOf({ AUTH_DEV_MODE: 'true', API_HOST: '0.0.0.0' });
    expect(code).toBe(2);
    expect(output).toMatch(/AUTH_DEV_MODE=true is refused unless API_HOST is a loopback address/);
  });
});

describe('other configuration refused at start', () => {
  it('when MONGO_URL is malformed, then the API exits 2 naming it, without its value or a stack', async () => {
    const { code, output } = await exitOf({ API_KEYS: keysEnv(makeKey('ops', 'ops')), MONGO_URL: 'mongodb://secret-host:notaport/' });
    expect(code).toBe(2);
    expect(output).toMatch(/MONGO_URL is not a connection string the MongoDB driver accepts/);
    expect(output).not.toContain('secret-host');
    expect(output).not.toMatch(/\n\s+at /);
  });

  it('when NODE_ENV=production and API_IDEMPOTENCY_SECRET is unset, then the API exits 2 naming it (replicas must share one)', async () => {
    const { code, output } = await exitOf({ NODE_ENV: 'production', ALLOW_PLAINTEXT_DATASTORES: 'true', API_KEYS: keysEnv(makeKey('ops', 'ops')) });
    expect(code).toBe(2);
    expect(output).toMatch(/API_IDEMPOTENCY_SECRET is required when NODE_ENV=production/);
    expect(output).not.toMatch(/\n\s+at /);
  });

  it('when NODE_ENV=production and the datastores are reached without TLS, then the worker exits 2 naming both', async () => {
    const { code, output } = await exitOf({ NODE_ENV: 'production' }, 'worker');
    expect(code).toBe(2);
    expect(output).toMatch(/REDIS_URL must be rediss:\/\/ \(TLS\) when NODE_ENV=production; MONGO_URL must use TLS/);
  });
});

describe('development mode says so', () => {
  it('when the API runs in development mode, then every answer carries X-Auth-Dev-Mode and the metric is 1; with keys, neither', async () => {
    const dev = await createHarness({ AUTH_DEV_MODE: 'true' });
    harnesses.push(dev);
    const keyed = await createHarness({ AUTH_DEV_MODE: 'false', API_KEYS: keysEnv(makeKey('ops', 'ops')) });
    harnesses.push(keyed);
    const live = await dev.app.inject({ method: 'GET', url: '/health/live' });
    expect(live.headers['x-auth-dev-mode']).toBe('true');
    expect((await dev.app.inject({ method: 'GET', url: '/metrics' })).body).toMatch(/^api_auth_dev_mode 1$/m);
    expect((await keyed.app.inject({ method: 'GET', url: '/health/live' })).headers['x-auth-dev-mode']).toBeUndefined();
  });
});
