import { readFileSync } from 'node:fs';
import { BlockList, isIPv4 } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEnvFile, ROOT } from '../support/deploy-artifacts.ts';
import { createHarness, type Harness } from '../support/harness.ts';
import { bearer, keysEnv, makeKey } from '../support/keys.ts';

// The API as deploy/k8s ships it behind the ingress controller (issue 22): with API_TRUST_PROXY=false
// every client had the controller's address, so 20 bad keys from one center locked out every center;
// with true, anyone could name any address. The shipped value lists the controller's range.
const SHIPPED = parseEnvFile(readFileSync(join(ROOT, 'deploy/k8s/config/api.env'), 'utf8')).API_TRUST_PROXY!;
const writer = makeKey('center-3-writer', 'patients:write,patients:read', 'centers=3');

/** An address inside the first shipped range: where the ingress controller's pod would be (any pod address if none is shipped). */
function ingressAddress(): string {
  const [base = ''] = SHIPPED.split(',')[0]!.trim().split('/');
  return isIPv4(base) ? base.replace(/\.\d+$/, '.7') : '10.244.0.7';
}
const INGRESS = ingressAddress();
const OUTSIDE = '198.51.100.9';

let h: Harness;
beforeAll(async () => {
  h = await createHarness({ AUTH_DEV_MODE: 'false', API_KEYS: keysEnv(writer), AUTH_FAIL_MAX: '3', API_TRUST_PROXY: SHIPPED });
});
afterAll(() => h.close());

const viaIngress = (client: string, headers: Record<string, string>, forged?: string) =>
  // The controller appends the address it saw to whatever the client sent.
  h.app.inject({ method: 'GET', url: '/api/patients/77', headers: { ...headers, 'x-forwarded-for': forged ? `${forged}, ${client}` : client }, remoteAddress: INGRESS });
const lastLine = () => h.apiLogs.lines().filter((l) => l.msg === 'request').at(-1)!;

describe('behind the ingress, with the shipped API_TRUST_PROXY', () => {
  it('when the shipped value is read, then the ingress controller\'s address is in it and an outside address is not', () => {
    const list = new BlockList();
    for (const entry of SHIPPED.split(',').map((s) => s.trim()).filter((s) => /^[0-9a-f.:]+(\/\d+)?$/i.test(s))) {
      const [address, prefix] = entry.split('/');
      if (prefix) list.addSubnet(address!, Number(prefix), isIPv4(address!) ? 'ipv4' : 'ipv6');
      else list.addAddress(address!, isIPv4(address!) ? 'ipv4' : 'ipv6');
    }
    expect([list.check(INGRESS), list.check(OUTSIDE)]).toEqual([true, false]);
  });

  it('when one center behind the ingress sends bad keys past AUTH_FAIL_MAX, then only that center gets 429; another center is counted apart', async () => {
    const a = '203.0.113.10', b = '203.0.113.20';
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await viaIngress(a, { authorization: `Bearer hk_bad_${i}` })).statusCode);
    expect(statuses).toEqual([401, 401, 401, 429]);
    expect(lastLine()).toMatchObject({ status: 429, clientAddress: a });
    expect((await viaIngress(b, { authorization: 'Bearer hk_bad_b' })).statusCode).toBe(401);
    expect((await viaIngress(b, bearer(writer))).statusCode).toBe(404);
    expect(lastLine()).toMatchObject({ clientAddress: b, client: 'center-3-writer' });
  });

  it('when a client writes its own X-Forwarded-For, then the address the ingress saw is recorded, not the forged one; from outside the range the header is ignored', async () => {
    await viaIngress('203.0.113.30', bearer(writer), '192.0.2.1');
    expect(lastLine()).toMatchObject({ clientAddress: '203.0.113.30' });
    const direct = await h.app.inject({ method: 'GET', url: '/api/patients/78', headers: { ...bearer(writer), 'x-forwarded-for': '203.0.113.40' }, remoteAddress: OUTSIDE });
    expect(direct.statusCode).toBe(404);
    expect(lastLine()).toMatchObject({ clientAddress: OUTSIDE });
    const audited = await h.store.db.collection('access_audit').findOne({ patientId: 78 });
    expect(audited).toMatchObject({ clientAddress: OUTSIDE, keyId: 'center-3-writer' });
  });
});
