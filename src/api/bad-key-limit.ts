// Failed authentications per client address: past AUTH_FAIL_MAX in a window, that address gets 429
// for the rest of the window, valid key or not (otherwise a 200 among the 429s would still tell a
// guesser which key works). In memory, per API process: a guesser spread over N pods gets N times
// the budget, still far too little to find a 256-bit key; the point is to keep 401s out of the
// logs and the CPU, not to be exact.

export type BadKeyLimit = {
  /** Seconds until the address may try again, or 0 when it may try now. */
  blockedFor: (address: string, now?: number) => number;
  failed: (address: string, now?: number) => void;
};

/** Addresses remembered at most: a flood of spoofed sources cannot grow memory without bound. */
const MAX_ADDRESSES = 100_000;

export function createBadKeyLimit(max: number, windowMs: number): BadKeyLimit {
  const windows = new Map<string, { count: number; resetAt: number }>();
  const current = (address: string, now: number) => {
    const entry = windows.get(address);
    if (entry && entry.resetAt <= now) {
      windows.delete(address);
      return undefined;
    }
    return entry;
  };
  return {
    blockedFor(address, now = Date.now()) {
      const entry = current(address, now);
      return entry && entry.count >= max ? Math.ceil((entry.resetAt - now) / 1000) : 0;
    },
    failed(address, now = Date.now()) {
      const entry = current(address, now);
      if (entry) {
        entry.count++;
        return;
      }
      // Map keeps insertion order: the oldest window goes first.
      if (windows.size >= MAX_ADDRESSES) windows.delete(windows.keys().next().value!);
      windows.set(address, { count: 1, resetAt: now + windowMs });
    },
  };
}
