// Failed authentications per client address: past AUTH_FAIL_MAX in a window, every further FAILED
// attempt from that address gets 429 for the rest of the window, unlogged. A valid key from the same
// address still gets through: behind a NAT, a proxy or an ingress many centers share an address, and
// one misconfigured client must not lock all of them out (issue 22). That a 200 among the 429s tells
// a guesser its key works costs nothing: it learns the same from 200 against 401, and keys are 256
// random bits (scripts/api-key.ts), beyond guessing at any rate. The point is to keep failures out of
// the logs and to tell a broken client to back off. In memory, per API process.

export type BadKeyLimit = {
  /** Counts a failed attempt; seconds the address must wait (answer 429), or 0 (answer 401). */
  failed: (address: string, now?: number) => number;
};

/** Addresses remembered at most: a flood of spoofed sources cannot grow memory without bound. */
const MAX_ADDRESSES = 100_000;

export function createBadKeyLimit(max: number, windowMs: number): BadKeyLimit {
  const windows = new Map<string, { count: number; resetAt: number }>();
  return {
    failed(address, now = Date.now()) {
      let entry = windows.get(address);
      if (entry && entry.resetAt <= now) {
        windows.delete(address);
        entry = undefined;
      }
      if (!entry) {
        // Map keeps insertion order: the oldest window goes first.
        if (windows.size >= MAX_ADDRESSES) windows.delete(windows.keys().next().value!);
        entry = { count: 0, resetAt: now + windowMs };
        windows.set(address, entry);
      }
      entry.count++;
      return entry.count > max ? Math.max(1, Math.ceil((entry.resetAt - now) / 1000)) : 0;
    },
  };
}
