import { BlockList, isIP } from 'node:net';

// API_TRUST_PROXY as a test of one peer address, for what reads the socket before Fastify does
// (tracing: whose `traceparent` is continued). The same reading as Fastify's (proxy-addr): false
// trusts nobody, true everybody, a list its addresses and CIDRs; an IPv4-mapped IPv6 peer
// (::ffff:10.0.0.1, a dual-stack socket) counts as its IPv4 address.

export type TrustProxy = boolean | readonly string[];

const familyOf = (address: string) => (isIP(address) === 6 ? 'ipv6' : 'ipv4');

/** Whether one API_TRUST_PROXY entry is an address, or an address/prefix within its family's bits. */
export function isTrustEntry(entry: string): boolean {
  const [address = '', prefix, extra] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
}

export function trustedPeer(trust: TrustProxy): (address: string | undefined) => boolean {
  if (typeof trust === 'boolean') return () => trust;
  const list = new BlockList();
  for (const entry of trust) {
    const [address = '', prefix] = entry.split('/');
    if (prefix === undefined) list.addAddress(address, familyOf(address));
    else list.addSubnet(address, Number(prefix), familyOf(address));
  }
  return (peer) => {
    const address = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(peer ?? '')?.[1] ?? peer;
    return address !== undefined && isIP(address) !== 0 && list.check(address, familyOf(address));
  };
}
