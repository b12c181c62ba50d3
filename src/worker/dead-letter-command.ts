// The dead-letter command (entry: dead-letter-cli.ts), with the same environment variables as the worker:
//   list [--all] [--json] [--limit N]   letters not yet replayed (--all: replayed ones too); no patient values
//   replay <letter-id>...                re-enqueue each letter's record as a new job, mark the letter replayed
//   replay --all                         the same for every letter not yet replayed
// Exit code 0 when all went well, 1 when some letter could not be replayed, 2 for usage or config errors.
import { Queue } from 'bullmq';
import type { Config } from '../shared/config.ts';
import { loadConfigOrExit } from '../shared/entry.ts';
import { createStore, type DeadLetter, type Store } from '../shared/mongo.ts';
import { JOB_NAME, queueSettings, recordRef, type PatientJobData } from '../shared/queue.ts';
import { createRedis } from '../shared/redis.ts';
import { listDeadLetters, replayDeadLetter } from './dead-letters.ts';
import { withTimeout } from '../shared/errors.ts';
import { classifyError, JobError } from './job-errors.ts';

const USAGE = 'usage: dead-letters list [--all] [--json] [--limit N] | replay <letter-id>... | replay --all\n';

type Out = (line: string) => void;

export async function runDeadLetterCommand(argv: string[], env: Record<string, string | undefined>, out: Out, err: Out): Promise<number> {
  const [command, ...args] = argv;
  if (command !== 'list' && command !== 'replay') {
    err(USAGE);
    return 2;
  }
  const config = loadConfigOrExit('dead-letters', env);
  const store = createStore(config);
  try {
    if (command === 'list') return await list(store, args, out, err);
    const replayAll = args.includes('--all');
    const ids = args.filter((a) => !a.startsWith('--'));
    if (replayAll === ids.length > 0) {
      err(USAGE);
      return 2;
    }
    const letters = replayAll
      ? await listDeadLetters(store, { includeReplayed: false, limit: 1_000_000 })
      : await store.deadLetters.find({ _id: { $in: ids } }).toArray();
    for (const id of ids) if (!letters.some((l) => l._id === id)) err(`${id}: no such dead letter\n`);
    const failures = await replay(store, config, letters, out, err);
    return failures > 0 || letters.length < ids.length ? 1 : 0;
  } finally {
    await store.close();
  }
}

async function list(store: Store, args: string[], out: Out, err: Out): Promise<number> {
  const limitAt = args.indexOf('--limit');
  const limit = limitAt >= 0 ? Number(args[limitAt + 1]) : 1000;
  if (!Number.isSafeInteger(limit) || limit < 1) {
    err(USAGE);
    return 2;
  }
  const letters = await listDeadLetters(store, { includeReplayed: args.includes('--all'), limit });
  for (const letter of letters) out(args.includes('--json') ? `${JSON.stringify(summary(letter))}\n` : line(letter));
  if (!args.includes('--json')) out(`${letters.length} dead letter(s)\n`);
  return 0;
}

/** What an operator needs to decide, without the record's values. */
function summary(l: DeadLetter) {
  return {
    id: l._id, queue: l.queue, jobId: l.jobId, patientId: l.patientId, errorCode: l.errorCode, errorMessage: l.errorMessage,
    attempts: l.attempts, failedAt: l.failedAt, replayedAt: l.replayedAt ?? null, replayJobId: l.replayJobId ?? null,
  };
}

const line = (l: DeadLetter) =>
  `${l._id}\tpatient ${l.patientId ?? '-'}\t${l.attempts} attempt(s)\t${l.failedAt.toISOString()}\t${l.errorCode}: ${l.errorMessage}` +
  (l.replayJobId ? `\treplayed as job ${l.replayJobId}` : '') + '\n';

async function replay(store: Store, config: Config, letters: DeadLetter[], out: Out, err: Out): Promise<number> {
  const producer = createRedis(config.REDIS_URL, 'producer');
  producer.on('error', () => {});
  const queues = new Map<string, Queue<PatientJobData>>();
  const { prefix, jobOptions } = queueSettings(config);
  const enqueue = async (name: string, data: unknown) => {
    let queue = queues.get(name);
    if (!queue) queues.set(name, (queue = new Queue<PatientJobData>(name, { connection: producer, prefix })));
    // Redis down must not hang the command: the letter then stays as it is and can be replayed later.
    const job = await withTimeout(queue.add(JOB_NAME, data as PatientJobData, jobOptions), 5000, () => new JobError('QUEUE_UNAVAILABLE', 'Redis did not take the job in time', false));
    return recordRef(String(job.id), 0);
  };
  let failures = 0;
  try {
    for (const letter of letters) {
      if (letter.replayJobId) {
        err(`${letter._id}: already replayed as job ${letter.replayJobId}\n`);
        failures++;
        continue;
      }
      try {
        out(`${letter._id}: replayed as job ${await replayDeadLetter(store, letter, enqueue)}\n`);
      } catch (e) {
        err(`${letter._id}: not replayed (${classifyError(e).message})\n`);
        failures++;
      }
    }
  } finally {
    await Promise.race([Promise.all([...queues.values()].map((q) => q.close())), new Promise((r) => setTimeout(r, 2000).unref())]);
    producer.disconnect();
  }
  return failures;
}
