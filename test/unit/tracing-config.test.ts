import { describe, expect, it } from 'vitest';
import { ConfigError, loadTracingConfig, tracingEnabled } from '../../src/shared/config/config.ts';
import { trustedPeer } from '../../src/shared/trusted-proxy.ts';

const on = (env: Record<string, string>) => tracingEnabled(loadTracingConfig(env));

describe('the tracing switch', () => {
  it('when no OTEL variable names an exporter or an endpoint, then tracing is off', () => {
    expect(on({})).toBe(false);
    expect(on({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_SERVICE_NAME: 'x', OTEL_EXPORTER_OTLP_ENDPOINT: '' })).toBe(false);
  });

  it('when an endpoint or an exporter is set, then tracing is on, unless OTEL_SDK_DISABLED or the exporter none says otherwise', () => {
    expect(on({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' })).toBe(true);
    expect(on({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://collector.example/v1/traces' })).toBe(true);
    expect(on({ OTEL_TRACES_EXPORTER: 'console' })).toBe(true);
    expect(on({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' })).toBe(false);
    expect(on({ OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' })).toBe(false);
  });

  it('when a tracing variable is malformed, then the error names it and not its value', () => {
    const bad = { OTEL_EXPORTER_OTLP_PROTOCOL: 'udp', OTEL_TRACES_EXPORTER: 'zipkin', OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' };
    expect(() => loadTracingConfig(bad)).toThrow(ConfigError);
    const message = (() => { try { loadTracingConfig(bad); } catch (err) { return (err as Error).message; } return ''; })();
    for (const name of Object.keys(bad)) expect(message).toContain(name);
    expect(message).not.toContain('zipkin');
  });

  it('when API_TRUST_PROXY is set, then the tracing switch reads it (whose traceparent is continued) and trusts exactly the peers Fastify would', () => {
    expect(loadTracingConfig({}).API_TRUST_PROXY).toBe(false);
    const trust = loadTracingConfig({ API_TRUST_PROXY: '10.244.0.0/16, 192.0.2.5, fd00::/8' }).API_TRUST_PROXY;
    expect(trust).toEqual(['10.244.0.0/16', '192.0.2.5', 'fd00::/8']);
    const trusted = trustedPeer(trust);
    const peers = ['10.244.3.7', '::ffff:10.244.3.7', '192.0.2.5', 'fd00::1', '10.245.0.1', '192.0.2.6', '127.0.0.1', 'fe80::1', undefined, 'not-an-address'];
    expect(peers.map((p) => trusted(p))).toEqual([true, true, true, true, false, false, false, false, false, false]);
    expect([trustedPeer(false)('10.244.3.7'), trustedPeer(true)('203.0.113.1')]).toEqual([false, true]);
  });
});
