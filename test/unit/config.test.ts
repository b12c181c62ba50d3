import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/shared/config/config.ts';
import { createStore } from '../../src/shared/mongo.ts';

const base = { REDIS_URL: 'redis://127.0.0.1:6379', MONGO_URL: 'mongodb://127.0.0.1:27017/' };

describe('loadConfig', () => {
  it('when only the two URLs are given, then every other setting has its documented default', () => {
    const config = loadConfig(base);
    expect(config).toMatchObject({ API_PORT: 3000, QUEUE_NAME: 'patients', PATIENT_TIME_ZONE: 'Asia/Bangkok', MONGO_WRITE_CONCERN: 'majority', MONGO_JOURNAL: true });
  });

  it('when REDIS_URL is missing, then the error names it', () => {
    expect(() => loadConfig({ MONGO_URL: base.MONGO_URL })).toThrow(/REDIS_URL is required/);
  });

  it('when variables are malformed, then each one is named and its value is not echoed', () => {
    let error: unknown;
    try {
      loadConfig({ ...base, API_PORT: 'seventy', MONGO_URL: 'http://secret-host', PATIENT_TIME_ZONE: 'Mars/Olympus' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toMatch(/API_PORT/);
    expect(message).toMatch(/MONGO_URL must be a URL with scheme mongodb: or mongodb\+srv:/);
    expect(message).toMatch(/PATIENT_TIME_ZONE/);
    expect(message).not.toContain('secret-host');
  });

  it('when MONGO_URL lists several replica-set members, then it is accepted', () => {
    expect(loadConfig({ ...base, MONGO_URL: 'mongodb://a:27017,b:27017,c:27017/?replicaSet=rs0&tls=true' }).MONGO_URL).toContain('replicaSet=rs0');
  });

  it('when rediss:// and numeric write concern are given, then they are accepted', () => {
    const config = loadConfig({ ...base, REDIS_URL: 'rediss://user:pw@redis.example:6380', MONGO_WRITE_CONCERN: '1', MONGO_JOURNAL: 'false' });
    expect(config.MONGO_WRITE_CONCERN).toBe(1);
    expect(config.MONGO_JOURNAL).toBe(false);
  });

  it('when MONGO_WRITE_CONCERN is 0, then it is refused by name (w:0 would fake success)', () => {
    expect(() => loadConfig({ ...base, MONGO_WRITE_CONCERN: '0' })).toThrow(/MONGO_WRITE_CONCERN must be majority or 1-50/);
  });

  it('when MONGO_WTIMEOUT_MS is not below half of WORKER_WRITE_LOCK_MS, then it is refused by name', () => {
    expect(() => loadConfig({ ...base, WORKER_WRITE_LOCK_MS: '3000', MONGO_WTIMEOUT_MS: '1500' })).toThrow(/MONGO_WTIMEOUT_MS must be below half of WORKER_WRITE_LOCK_MS/);
    expect(loadConfig({ ...base, WORKER_WRITE_LOCK_MS: '3000', MONGO_WTIMEOUT_MS: '1000' }).MONGO_WTIMEOUT_MS).toBe(1000);
  });
});

describe('loadConfig: security settings', () => {
  const messageOf = (env: Record<string, string>) => {
    try {
      loadConfig(env);
    } catch (err) {
      if (err instanceof ConfigError) return err.message;
      throw err;
    }
    return '(accepted)';
  };
  const entry = (id: string, sha: string) => ({ id, sha256: sha.repeat(64), scopes: ['patients:read'] });

  it('when NODE_ENV=production and a datastore URL has no TLS, then each one is named; with TLS it is accepted', () => {
    const message = messageOf({ ...base, NODE_ENV: 'production' });
    expect(message).toMatch(/REDIS_URL must be rediss:\/\/ \(TLS\) when NODE_ENV=production/);
    expect(message).toMatch(/MONGO_URL must use TLS/);
    expect(message).not.toContain('127.0.0.1');
    const tls = { REDIS_URL: 'rediss://u:p@redis:6380', NODE_ENV: 'production' };
    for (const MONGO_URL of ['mongodb://a:27017,b:27017/?replicaSet=rs0&tls=true', 'mongodb+srv://cluster.example.net/']) {
      expect(loadConfig({ ...tls, MONGO_URL }).NODE_ENV).toBe('production');
    }
    // One private host network (docker-compose.yml) may say so explicitly.
    expect(loadConfig({ ...base, NODE_ENV: 'production', ALLOW_PLAINTEXT_DATASTORES: 'true' }).REDIS_URL).toBe(base.REDIS_URL);
  });

  it('when MONGO_URL is malformed in a way only the driver notices, then it is named and not echoed', () => {
    const message = messageOf({ ...base, MONGO_URL: 'mongodb://secret-host:notaport/' });
    expect(message).toMatch(/MONGO_URL is not a connection string the MongoDB driver accepts/);
    expect(message).not.toContain('secret-host');
  });

  it('when API_KEYS repeats an id or a key, then API_KEYS is named', () => {
    expect(messageOf({ ...base, API_KEYS: JSON.stringify([entry('a', '1'), entry('a', '2')]) })).toMatch(/API_KEYS has two entries with the same id/);
    expect(messageOf({ ...base, API_KEYS: JSON.stringify([entry('a', '1'), entry('b', '1')]) })).toMatch(/API_KEYS has two entries with the same sha256/);
    expect(loadConfig({ ...base, API_KEYS: JSON.stringify([entry('a', '1'), entry('b', '2')]) }).API_KEYS).toHaveLength(2);
  });

  it('when CENTER_CLUSTERS and API_TRUST_PROXY are given, then they parse; malformed, they are named', () => {
    const config = loadConfig({ ...base, CENTER_CLUSTERS: '{"3":2,"4":2}', API_TRUST_PROXY: '10.0.0.0/8, 192.168.1.5' });
    expect([...config.CENTER_CLUSTERS]).toEqual([[3, 2], [4, 2]]);
    expect(config.API_TRUST_PROXY).toEqual(['10.0.0.0/8', '192.168.1.5']);
    expect(loadConfig(base).API_TRUST_PROXY).toBe(false);
    expect(messageOf({ ...base, CENTER_CLUSTERS: '{"three":2}' })).toMatch(/CENTER_CLUSTERS/);
    expect(messageOf({ ...base, CENTER_CLUSTERS: '[3,2]' })).toMatch(/CENTER_CLUSTERS/);
    expect(messageOf({ ...base, API_TRUST_PROXY: 'proxy.example' })).toMatch(/API_TRUST_PROXY/);
    // Not IP addresses, or prefixes beyond their family: refused at start, not by the proxy check later.
    for (const bad of ['10.0.0.0/33', '1.2.3', '::::', '10.0.0.1/8/1', 'fd00::/129']) expect(messageOf({ ...base, API_TRUST_PROXY: bad }), bad).toMatch(/API_TRUST_PROXY must be false, true, or a comma-separated list of IP addresses\/CIDRs/);
  });

  it('when nothing is said, then completed jobs (which hold the record) stay in Redis one hour', () => {
    expect(loadConfig(base).JOB_KEEP_COMPLETED_AGE_S).toBe(3600);
  });
});

describe('the store\'s socket timeout', () => {
  it.each([
    ['the defaults', {}],
    ['the mongo-unacknowledged fault test\'s settings', { WORKER_WRITE_LOCK_MS: '3000', MONGO_WTIMEOUT_MS: '1000', MONGO_TIMEOUT_MS: '1000' }],
  ])('when configured with %s, then a silent server is cut after MONGO_WTIMEOUT_MS and before a patient\'s write lock expires', async (_name, env) => {
    const config = loadConfig({ ...base, ...env });
    const store = createStore(config); // not connected: only its options are read
    try {
      const { socketTimeoutMS } = store.client.options;
      expect(socketTimeoutMS).toBeGreaterThan(config.MONGO_WTIMEOUT_MS);
      expect(socketTimeoutMS).toBeLessThan(config.WORKER_WRITE_LOCK_MS);
    } finally {
      await store.close();
    }
  });
});

describe('MONGO_URL options against the configuration (issue 21)', () => {
  it('when the URL sets w, journal, j, wtimeoutMS or retryWrites=false, then loadConfig names each option and the variable to use', () => {
    const message = (() => {
      try {
        loadConfig({ ...base, MONGO_URL: 'mongodb://h:27017/?W=1&journal=false&j=true&wtimeoutMS=10&retryWrites=false&replicaSet=rs0' });
      } catch (err) {
        return (err as Error).message;
      }
      return '';
    })();
    for (const named of ['must not set w (it would override MONGO_WRITE_CONCERN', 'must not set journal (it would override MONGO_JOURNAL', 'must not set j (', 'must not set wtimeoutMS (it would override MONGO_WTIMEOUT_MS', 'must not set retryWrites=false']) {
      expect(message).toContain(named);
    }
  });

  it('when the URL sets retryWrites=true, replicaSet, authSource or tls, then it is accepted', () => {
    expect(loadConfig({ ...base, MONGO_URL: 'mongodb://h:27017/?retryWrites=true&replicaSet=rs0&authSource=admin&tls=true' }).MONGO_URL).toContain('rs0');
  });

  it('when tlsInsecure, tlsAllowInvalidCertificates or tlsAllowInvalidHostnames is true, then production refuses each and development accepts them', () => {
    const url = 'mongodb://h:27017/?tls=true&tlsAllowInvalidCertificates=true&tlsAllowInvalidHostnames=true';
    const prod = { ...base, NODE_ENV: 'production', REDIS_URL: 'rediss://h:6380', AUTH_DEV_MODE: undefined };
    expect(() => loadConfig({ ...prod, MONGO_URL: url })).toThrow(/MONGO_URL must not set tlsAllowInvalidCertificates when NODE_ENV=production.*must not set tlsAllowInvalidHostnames/);
    expect(() => loadConfig({ ...prod, MONGO_URL: 'mongodb://h:27017/?tls=true&tlsInsecure=true' })).toThrow(/must not set tlsInsecure when NODE_ENV=production/);
    expect(loadConfig({ ...base, MONGO_URL: url }).NODE_ENV).toBe('development');
  });
});
