// HTTP load with autocannon (in this process), keep-alive connections, bounded by duration.
import autocannon, { type Result } from 'autocannon';
import { AUTH_HEADERS } from './auth.ts';
import { readCpuSeconds } from './procs.ts';
import { say } from './util.ts';

export type LoadOptions = {
  label: string;
  url: string;
  connections: number;
  durationS: number;
  /** Body of the i-th request (i counts from 0 within this load). */
  body: (i: number) => string;
  /** Requests per second over all connections; unlimited when absent. */
  overallRate?: number;
  /** Called once a second with the responses of the last second. */
  onTick?: (perSecond: number) => void;
  /** The server's pid: its CPU time per answered request is measured too. */
  serverPid?: number;
};

export type LoadResult = {
  durationS: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  /** 2xx answers per second. */
  rps: number;
  /**
   * CPU time (user + system) the server process used per answer, in microseconds: far less
   * sensitive to other load on the machine than throughput. null when no pid was given.
   */
  serverCpuUsPerRequest: number | null;
  /** The server's CPU use during the load, in cores (1 = one core fully busy). */
  serverCores: number | null;
  /** Milliseconds, 2xx answers only (autocannon's resolution is 1 ms). */
  latencyMs: { p50: number; p90: number; p99: number; p99_9: number; max: number; mean: number };
};

export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  let i = 0;
  const started = performance.now();
  const cpu0 = opts.serverPid ? readCpuSeconds(opts.serverPid) : null;
  const result = await new Promise<Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: opts.url,
        connections: opts.connections,
        duration: opts.durationS,
        timeout: 10,
        ...(opts.overallRate ? { overallRate: opts.overallRate } : {}),
        requests: [
          {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...AUTH_HEADERS },
            setupRequest: (req) => ({ ...req, body: opts.body(i++) }),
          },
        ],
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    // Bounded twice: autocannon stops at `duration`; this stops it if it ever did not.
    const guard = setTimeout(() => instance.stop(), (opts.durationS + 30) * 1000);
    instance.once('done', () => clearTimeout(guard));
    let second = 0;
    instance.on('tick', ({ counter }: { counter: number }) => {
      second++;
      opts.onTick?.(counter);
      if (second % 5 === 0 || second === 1) say(`  ${opts.label}: ${second}/${opts.durationS} s, ${counter} answers in the last second`);
    });
  });
  const wall = (performance.now() - started) / 1000;
  const cpu1 = opts.serverPid ? readCpuSeconds(opts.serverPid) : null;
  const cpu = cpu0 !== null && cpu1 !== null ? cpu1 - cpu0 : null;
  const durationS = Number.isFinite(result.duration) && result.duration > 0 ? result.duration : wall;
  const ok = result['2xx'];
  return {
    durationS,
    ok,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes: Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([k, v]) => [k, v.count])),
    rps: ok / durationS,
    serverCpuUsPerRequest: cpu !== null && result.requests.total > 0 ? (cpu * 1e6) / result.requests.total : null,
    serverCores: cpu !== null ? cpu / wall : null,
    latencyMs: {
      p50: result.latency.p50,
      p90: result.latency.p90,
      p99: result.latency.p99,
      p99_9: result.latency.p99_9,
      max: result.latency.max,
      mean: result.latency.mean,
    },
  };
}
