// Scenario 7 (issue 24): `npm run import -- <file> --wait` on 20,000 records against the real API and
// one worker. The import command runs as a process, as a user runs it; the harness stamps the moment
// its "done:" line (everything sent and acknowledged) appears and the moment it exits (every record
// decided, read from one receipt per batch). Goal: time to all decided ÷ time to all sent ≤ 1.5.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../test/support/local-servers.ts';
import { AUTH_HEADERS } from '../lib/auth.ts';
import { dropDb, startHttp, startWorker, type Ctx } from '../lib/context.ts';
import { patientBody, takeIds } from '../lib/patients.ts';
import { round, say } from '../lib/util.ts';

/**
 * `lastStoredS`: when the worker stored the last record (the newest `_ingest.appliedAt`), from the same
 * start: `decidedS - lastStoredS` is what following the receipts itself adds; the rest is the drain.
 */
export type ImportWaitResult = { records: number; exitCode: number | null; sentS: number | null; decidedS: number | null; lastStoredS: number | null; ratio: number | null; summary: string[] };

export function importWaitMarkdown(r: ImportWaitResult): string[] {
  return [
    `## 7. \`npm run import -- --wait\` of ${r.records.toLocaleString('en-US')} records`, '',
    '| all sent (s) | last stored by the worker (s) | all decided, as --wait saw it (s) | decided ÷ sent | exit code |', '| ---: | ---: | ---: | ---: | ---: |',
    `| ${r.sentS ?? 'n/a'} | ${r.lastStoredS ?? 'n/a'} | ${r.decidedS ?? 'n/a'} | ${r.ratio ?? 'n/a'} | ${r.exitCode ?? 'n/a'} |`, '',
    'What the command printed:', '', '```', ...r.summary, '```',
  ];
}

export async function importWait(ctx: Ctx, records: number): Promise<ImportWaitResult> {
  const target = { queue: 'import', db: 'bench_import' };
  const api = await startHttp(ctx, 'api', target, 'api-s7', { RATE_LIMIT_MAX: '10000000', JOB_KEEP_COMPLETED: '1000000' });
  const worker = await startWorker(ctx, 'worker', target, 'worker-s7');
  const file = join(ctx.logDir, 'import-wait.ndjson');
  const first = takeIds(records);
  writeFileSync(file, Array.from({ length: records }, (_, i) => patientBody(first + i)).join('\n'));
  say(`s7: import --wait of ${records.toLocaleString('en-US')} records`);
  const started = performance.now();
  const startedAt = Date.now();
  let sentAt: number | null = null;
  const summary: string[] = [];
  const child = spawn(process.execPath, [join(ROOT, 'src/import/main.ts'), file, '--url', api.url, '--wait', '--fresh'], {
    cwd: ctx.logDir,
    env: { PATH: process.env.PATH ?? '', API_KEY: AUTH_HEADERS.authorization!.slice('Bearer '.length) },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let pending = '';
  child.stdout.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (line.startsWith('done:')) sentAt ??= performance.now();
      if (!line.includes(ROOT)) summary.push(line); // file paths stay out of the results
    }
  });
  const exitCode = await new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const decidedS = (performance.now() - started) / 1000;
  const sentS = sentAt === null ? null : (sentAt - started) / 1000;
  const last = await ctx.mongo.db(target.db).collection('patients').find({}, { projection: { '_ingest.appliedAt': 1 } }).sort({ '_ingest.appliedAt': -1 }).limit(1).next();
  const appliedAt = (last?._ingest as { appliedAt?: Date } | undefined)?.appliedAt;
  const lastStoredS = appliedAt instanceof Date ? round((appliedAt.getTime() - startedAt) / 1000, 2) : null;
  await dropDb(ctx, target.db);
  await api.stop();
  await worker.stop();
  return { records, exitCode, sentS: sentS === null ? null : round(sentS, 2), decidedS: round(decidedS, 2), lastStoredS, ratio: sentS ? round(decidedS / sentS, 2) : null, summary };
}
