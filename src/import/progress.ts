// Progress through cli-progress: a bar on a terminal, a plain line every few seconds otherwise (CI
// logs). The fraction and ETA come from the bytes read against the file size; without a size
// (stdin) only the counts and the rate are shown.
import cliProgress from 'cli-progress';
import { number, type Output } from './output.ts';

export type ProgressCounts = { sent: number; accepted: number; rejected: number; note: string };

const COUNTS = '{sent} sent | {accepted} accepted | {rejected} rejected | {rate} rec/s{note}';

export function createProgress(output: Output, size: number | null, plainEveryMs = 5000) {
  const tty = output.progressStream.isTTY === true;
  const format = size
    ? `${tty ? '{bar} ' : ''}{percentage}% | ${COUNTS} | ETA {eta_formatted}`
    : COUNTS;
  const bar = new cliProgress.SingleBar({
    stream: output.progressStream as NodeJS.WritableStream,
    format,
    noTTYOutput: true,
    notTTYSchedule: plainEveryMs,
    fps: 5,
    etaBuffer: 200,
    etaAsynchronousUpdate: true,
    hideCursor: true,
    gracefulExit: false, // the command handles signals itself
    formatValue: (v, _o, type) => (type === 'value' || type === 'total' ? number(v) : String(v)),
  }, cliProgress.Presets.shades_classic);
  const started = Date.now();
  let sentAtStart = -1;
  let counts: ProgressCounts = { sent: 0, accepted: 0, rejected: 0, note: '' };
  const payload = () => {
    const seconds = (Date.now() - started) / 1000;
    const rate = seconds > 0 ? Math.round((counts.sent - Math.max(0, sentAtStart)) / seconds) : 0;
    return { sent: number(counts.sent), accepted: number(counts.accepted), rejected: number(counts.rejected), rate: number(rate), note: counts.note ? ` | ${counts.note}` : '' };
  };
  return {
    start(first: ProgressCounts) {
      counts = first;
      sentAtStart = first.sent;
      bar.start(size ?? 1, 0, payload());
    },
    update(bytes: number, next: Partial<ProgressCounts>) {
      counts = { ...counts, ...next };
      bar.update(size ? Math.min(bytes, size) : 0, payload());
    },
    stop() {
      bar.stop();
    },
  };
}
