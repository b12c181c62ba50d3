// The benchmark harness (bench/run.ts) on a tiny load, so it cannot rot: it must start its servers and
// the real processes, run every scenario and write the three result files with the expected
// structure. No timing is asserted: this machine's numbers are not the point here.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../support/local-servers.ts';

const out = mkdtempSync(join(tmpdir(), 'hemo-bench-smoke-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

function runSmoke(): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'bench', 'run.ts'), '--smoke', '--out', out], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...(process.env.FERRETDB_BIN ? { FERRETDB_BIN: process.env.FERRETDB_BIN } : {}) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    // The harness has its own hard limit (3 minutes in smoke mode); this one is a second fence (a bound, not a synchronisation).
    const timer = setTimeout(() => child.kill("SIGTERM"), 360_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

const num = expect.any(Number);
const numOrNull = (v: unknown) => v === null || (typeof v === 'number' && Number.isFinite(v));

describe('npm run bench (smoke: tiny counts, every scenario)', () => {
  it('when run, then latest.json and latest.md (tables and charts) are written with the expected structure', async () => {
    const { code, output } = await runSmoke();
    expect(code, output.slice(-4000)).toBe(0);
    for (const f of ['latest.json', 'latest.md']) expect(existsSync(join(out, f)), f).toBe(true);

    const r = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8'));
    expect(r).toMatchObject({ schema: 1, mode: 'smoke', durationS: num, machine: { cpus: num, node: expect.any(String), mongo: expect.any(String) } });
    expect(r.steps).toEqual(['s1', 's2', 's3', 's4', 's5', 's7']);

    const s1 = r.scenarios.intakeSingle;
    for (const k of ['service', 'bare202', 'syncMongo']) {
      expect(s1.rounds[k]).toHaveLength(1);
      expect(s1.rounds[k][0]).toMatchObject({ ok: num, rps: num, latencyMs: { p50: num, p99: num, p99_9: num } });
      expect(s1.medians[k]).toMatchObject({ rps: num });
    }
    expect(numOrNull(s1.ratios.serviceVsBare202) && numOrNull(s1.ratios.serviceVsSyncMongo)).toBe(true);

    const s2 = r.scenarios.intakeBatch;
    if (s2.available) {
      expect(s2.sizes.map((s: { size: number }) => s.size)).toEqual([100, 1000]);
      for (const s of s2.sizes) expect(numOrNull(s.medians.servicePatientsPerS)).toBe(true);
    } else {
      expect(s2.reason).toEqual(expect.any(String));
    }

    const s3 = r.scenarios.drain;
    expect(s3).toMatchObject({ records: 300, recordsPerJob: num, workerConcurrency: num, rawBatchSize: num });
    for (const k of ['workerNew', 'rawNew', 'twoWorkersNew']) expect(s3.rounds[k][0]).toMatchObject({ records: 300, stored: num, seconds: num, perS: num });
    // Updates at two registry sizes (100 and 300 stored in smoke mode), raw beside each, reads at the large one.
    const u = s3.updates;
    expect(u).toMatchObject({ stored: { small: 100, large: 300 }, updates: { small: 100, large: 100 }, rawInFlight: num, rawPool: num });
    for (const k of ['workerSmall', 'rawSmall', 'workerLarge', 'rawLarge', 'rawLargeWidePool']) expect(u.rounds[k][0]).toMatchObject({ records: 100, stored: num, seconds: num, perS: num });
    for (const k of ['readsIdle', 'readsDuringDrain', 'readsDuringRaw']) expect(u.rounds[k][0]).toMatchObject({ reads: num, errors: 0 });
    expect(numOrNull(u.medians.getDrainP50Ms) && numOrNull(u.ratios.workerVsRawLarge) && numOrNull(u.ratios.largeVsSmall)).toBe(true);

    const s4 = r.scenarios.endToEnd;
    expect(s4.rounds[0]).toMatchObject({ offeredRate: num, acceptedPerS: num, storedPerS: num, maxQueueDepth: num });
    expect(s4.rounds[0].timeline.length).toBeGreaterThan(0);
    expect(numOrNull(s4.rounds[0].acceptedToStoredMs.p99)).toBe(true);

    expect(r.scenarios.soak).toMatchObject({ durationS: num, earlyAtS: num, note: expect.stringMatching(/shortened soak.*re-sends of [\d,]+ stored patients/) });
    expect(r.memory).toMatchObject({ byProcess: expect.any(Object) });
    expect(numOrNull(r.memory.apiPeakMB) && numOrNull(r.memory.workerPeakMB)).toBe(true);

    // The import command with --wait (issue 24): every record sent, then decided, read from receipts.
    expect(r.scenarios.importWait).toMatchObject({ records: 300, exitCode: 0, sentS: num, decidedS: num, lastStoredS: num, ratio: num });
    expect(r.scenarios.importWait.summary.join('\n')).toContain('stored 300, stale 0');
    // One row per target (issues 6, 9, 20 and 24), computed by the harness.
    expect(r.targets).toHaveLength(16);
    for (const t of r.targets) {
      expect(t).toMatchObject({ name: expect.any(String), target: num, unit: expect.any(String), comparator: expect.stringMatching(/^(>=|<=)$/) });
      expect(numOrNull(t.measured)).toBe(true);
      expect(t.met === null || typeof t.met === 'boolean').toBe(true);
      if (t.measured === null) expect(t.met).toBeNull();
    }

    const md = readFileSync(join(out, 'latest.md'), 'utf8');
    expect(md).toMatch(/^# Benchmark results \(smoke mode\)/);
    // One chart per measured scenario (1 has two: throughput and percentiles), each a Mermaid xychart.
    expect(md.match(/```mermaid\nxychart-beta\n/g)?.length).toBe(6);
  }, 400_000);
});
