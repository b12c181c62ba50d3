// Scenario 3's updates (drain-updates.ts) in the report: their targets and their table.
import type { UpdatesResult } from '../scenarios/drain-updates.ts';
import type { SoakResult } from '../scenarios/end-to-end.ts';

type Row = [name: string, measured: number | null | undefined, comparator: '>=' | '<=', target: number, unit: string];

/** The targets of the embedded store at a registry's size (issue 20). */
export function updateTargets(u: UpdatesResult | undefined, soak: SoakResult | undefined): Row[] {
  const pct = (x: number | null | undefined) => (x === null || x === undefined ? null : x * 100);
  const large = u ? u.stored.large.toLocaleString('en-US') : '100,000';
  const small = u ? u.stored.small.toLocaleString('en-US') : '1,000';
  return [
    [`updates at ${large} stored: one worker vs raw guarded replaces (same ops in flight)`, pct(u?.ratios.workerVsRawLarge), '>=', 80, '%'],
    [`updates per second at ${large} stored ÷ at ${small} stored (flat with size)`, u?.ratios.largeVsSmall, '>=', 0.75, 'x'],
    [`updates at ${large} stored: one worker`, u?.medians.workerLargePerS, '>=', 800, 'records/s'],
    [`GET /api/patients/{id} p50 at ${large} stored, idle`, u?.medians.getIdleP50Ms, '<=', 20, 'ms'],
    [`GET /api/patients/{id} p50 at ${large} stored, during the update drain`, u?.medians.getDrainP50Ms, '<=', 20, 'ms'],
    ['soak of re-sent patients: 202 → stored p99', soak?.run.acceptedToStoredMs.p99, '<=', 2000, 'ms'],
  ];
}

const n = (x: number | null | undefined, digits = 0) => (x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));
const pc = (x: number | null | undefined) => (x === null || x === undefined ? 'n/a' : `${(x * 100).toFixed(0)} %`);

export function updatesMarkdown(u: UpdatesResult): string[] {
  const L: string[] = ['', `### Updates of stored patients (each writer at most ${u.maxSeconds} s)`, ''];
  L.push(`Each patient re-sent once in a newer version; the raw driver sends the worker's own write (\`${u.rawOperation}\`), ${u.rawInFlight} in flight (as many as the worker can have), on as many connections as the worker's pool (${u.rawPool}).`, '');
  L.push('| stored patients | updates | one worker: records/s | raw driver: records/s | worker ÷ raw | rounds (worker / raw) |', '| ---: | ---: | ---: | ---: | ---: | --- |');
  const rounds = (w: { perS: number; complete: boolean }[], r: { perS: number; complete: boolean }[]) =>
    w.map((x, i) => `${n(x.perS)}${x.complete ? '' : '*'} / ${n(r[i]?.perS)}${r[i]?.complete === false ? '*' : ''}`).join(' · ');
  L.push(`| ${n(u.stored.small)} | ${n(u.updates.small)} | ${n(u.medians.workerSmallPerS)} | ${n(u.medians.rawSmallPerS)} | ${pc(u.ratios.workerVsRawSmall)} | ${rounds(u.rounds.workerSmall, u.rounds.rawSmall)} |`);
  L.push(`| ${n(u.stored.large)} | ${n(u.updates.large)} | ${n(u.medians.workerLargePerS)} | ${n(u.medians.rawLargePerS)} | ${pc(u.ratios.workerVsRawLarge)} | ${rounds(u.rounds.workerLarge, u.rounds.rawLarge)} |`);
  L.push(`| ${n(u.stored.large)} | ${n(u.updates.large)} | | raw on ${u.rawWidePool} connections (not a target): ${n(u.medians.rawLargeWidePoolPerS)} | ${u.medians.rawLargeWidePoolPerS && u.medians.workerLargePerS ? pc(u.medians.workerLargePerS / u.medians.rawLargeWidePoolPerS) : 'n/a'} | ${u.rounds.rawLargeWidePool.map((x) => n(x.perS)).join(' · ')} |`);
  L.push('', `Large ÷ small (one worker): ${u.ratios.largeVsSmall === null ? 'n/a' : `${u.ratios.largeVsSmall.toFixed(2)}x`}. \\* = stopped at the time limit.`, '');
  const probe = (xs: { reads: number; errors: number; p50: number | null; p99: number | null }[]) => xs.map((x) => `${n(x.p50, 1)} / ${n(x.p99, 1)} ms (${x.reads} reads${x.errors ? `, ${x.errors} errors` : ''})`).join(' · ');
  L.push(`\`GET /api/patients/{id}\` of random stored patients through the real API, one at a time, at ${n(u.stored.large)} stored: p50 / p99 idle ${probe(u.rounds.readsIdle)}; during the worker's update drain ${probe(u.rounds.readsDuringDrain)}; during the raw driver's ${probe(u.rounds.readsDuringRaw)}.`);
  return L;
}
