// Small helpers shared by the harness: progress on stderr, sleeping, statistics.

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

let quiet = false;
export function setQuiet(value: boolean): void {
  quiet = value;
}

/** One progress line on stderr (the results go to files, never to stdout). */
export function say(msg: string): void {
  if (!quiet) process.stderr.write(`\x1b[1m[bench]\x1b[0m ${msg}\n`);
}

export function median(values: readonly number[]): number | null {
  const xs = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (xs.length === 0) return null;
  const mid = Math.floor(xs.length / 2);
  return xs.length % 2 === 1 ? xs[mid]! : (xs[mid - 1]! + xs[mid]!) / 2;
}

/** Nearest-rank percentile of an already sorted array (p in 0..100). */
export function percentileSorted(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

export function round(value: number | null | undefined, digits = 1): number | null {
  if (value === null || value === undefined || !Number.isFinite(value)) return null;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a === null || a === undefined || b === null || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return null;
  return a / b;
}

/** Medians of paired per-round ratios are robust against drift (other users on the box). */
export function medianRatio(pairs: readonly { a: number | null; b: number | null }[]): number | null {
  return median(pairs.map((p) => ratio(p.a, p.b)).filter((r): r is number => r !== null));
}

export const mb = (bytes: number) => bytes / (1024 * 1024);
