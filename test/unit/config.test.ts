import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/shared/config.ts';

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
