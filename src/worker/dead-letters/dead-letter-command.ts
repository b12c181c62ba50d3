// The dead-letter command (entry: dead-letter-cli.ts), with the same environment variables as the worker:
//   list [--all] [--json] [--limit N]   letters not yet replayed (--all: replayed ones too); no patient values
//   replay <letter-id>...                re-enqueue each letter's record as a new job, mark the letter replayed
//   replay --all                         the same for every letter not yet replayed
//   --operator <name>                    who replays (default: the OS user): the new job is submitted
//                                        as `operator:<name>` and each replay is in the access audit
// Exit code 0 when all went well, 1 when some letter could not be replayed, 2 for usage or config errors.
import { userInfo } from 'node:os';
import { Queue } from 'bullmq';
import { closeWithin } from '../../shared/close.ts';
import { CLOSE_EACH_MS } from '../../shared/connections.ts';
import { accessAuditCollection, createAccessAudit, type AccessAudit } from '../../shared/access-audit.ts';
import type { Config } from '../../shared/config/config.ts';
import { loadConfigOrExit } from '../../shared/entry.ts';
import { createStore, type DeadLetter, type Store } from '../../shared/mongo.ts';
import { JOB_NAME, partitionedRef, queueSettings, recordRef, type PatientJobData } from '../../shared/queue.ts';
import { redisFor } from '../../shared/redis.ts';
import { deadLetterSummary, replayPartition } from '../../shared/dead-letter-store.ts';
import { createReplicaWait } from '../../shared/replica-wait.ts';
import { listDeadLetters, replayDeadLetter } from './dead-letters.ts';
import { withTimeout } from '../../shared/errors.ts';
import { classifyError, JobError } from '../job-errors.ts';

const USAGE = 'usage: dead-letters list [--all] [--json] [--limit N] | replay [--operator <name>] <letter-id>... | replay [--operator <name>] --all\n';

type Out = (line: string) => void;

/** The OS account running the command; none (a uid without a passwd entry): --operator is required. */
function osUser(): string | undefined {
  try {
    return userInfo().username;
  } catch {
    return undefined;
  }
}

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
    const at = args.indexOf('--operator');
    const operator = at >= 0 ? args[at + 1] : osUser();
    if (!operator || !/^[A-Za-z0-9._@-]{1,64}$/.test(operator)) {
      err(USAGE);
      return 2;
    }
    const rest = at >= 0 ? args.filter((_, i) => i !== at && i !== at + 1) : args;
    const replayAll = rest.includes('--all');
    const ids = rest.filter((a) => !a.startsWith('--'));
    if (replayAll === ids.length > 0) {
      err(USAGE);
      return 2;
    }
    const letters = replayAll
      ? await listDeadLetters(store, { includeReplayed: false, limit: 1_000_000 })
      : await store.deadLetters.find({ _id: { $in: ids } }).toArray();
    for (const id of ids) if (!letters.some((l) => l._id === id)) err(`${id}: no such dead letter\n`);
    const audit = createAccessAudit(accessAuditCollection(store.db));
    const failures = await replay(store, config, letters, { keyId: `operator:${operator}`, audit }, out, err);
    return failures > 0 || letters.length < ids.length ? 1 : 0;
  } finally {
    await closeWithin(CLOSE_EACH_MS, () => store.close());
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
  for (const letter of letters) out(args.includes('--json') ? `${JSON.stringify(deadLetterSummary(letter))}\n` : line(letter));
  if (!args.includes('--json')) out(`${letters.length} dead letter(s)\n`);
  return 0;
}

const line = (l: DeadLetter) =>
  `${l._id}\tpatient ${l.centerId ?? '-'}:${l.patientId ?? '-'}\t${l.attempts} attempt(s)\t${l.failedAt.toISOString()}\t${l.errorCode}: ${l.errorMessage}` +
  (l.replayJobId ? `\treplayed as job ${l.replayJobId}` : '') + '\n';

type Operator = { keyId: string; audit: AccessAudit };

async function replay(store: Store, config: Config, letters: DeadLetter[], operator: Operator, out: Out, err: Out): Promise<number> {
  const producer = redisFor(config, 'producer');
  producer.on('error', () => {});
  const queues = new Map<string, Queue<PatientJobData>>();
  const { prefix, jobOptions, names } = queueSettings(config);
  const confirm = createReplicaWait(config.REDIS_WAIT_REPLICAS, config.REDIS_WAIT_TIMEOUT_MS);
  const enqueue = async (letterQueue: string, data: unknown) => {
    // A letter of this deployment goes to its patient's partition now; another queue's to that queue.
    const p = replayPartition(names, config.QUEUE_NAME, { queue: letterQueue }, data);
    const name = p === undefined ? letterQueue : names[p]!;
    let queue = queues.get(name);
    if (!queue) queues.set(name, (queue = new Queue<PatientJobData>(name, { connection: producer, prefix })));
    // Redis down must not hang the command: the letter then stays as it is and can be replayed later.
    // The replay is the operator's act: the write audit and the status belong to them. The original
    // tenant restriction stays, so a replay never writes more than the first submission could.
    const records = (data as PatientJobData).records.map((r) => (typeof r === 'object' && r !== null ? { ...r, submittedBy: operator.keyId } : r));
    const confirming = await confirm?.(queue);
    const job = await withTimeout(queue.add(JOB_NAME, { records }, jobOptions), 5000, () => new JobError('QUEUE_UNAVAILABLE', 'Redis did not take the job in time', false));
    await confirming?.();
    const ref = recordRef(String(job.id), 0);
    return p === undefined ? ref : partitionedRef(p, names.length, ref);
  };
  let failures = 0;
  try {
    for (const letter of letters) {
      if (letter.replayJobId) {
        err(`${letter._id}: already replayed as job ${letter.replayJobId}\n`);
        failures++;
        continue;
      }
      const entry = { action: 'dead-letter.replay' as const, keyId: operator.keyId, patientId: letter.patientId, clientAddress: null, letterId: letter._id };
      try {
        const jobId = await replayDeadLetter(store, letter, enqueue);
        await operator.audit.record({ ...entry, outcome: 'replayed', jobId });
        out(`${letter._id}: replayed as job ${jobId}\n`);
      } catch (e) {
        await operator.audit.record({ ...entry, outcome: 'failed' }).catch(() => {});
        err(`${letter._id}: not replayed (${classifyError(e).message})\n`);
        failures++;
      }
    }
  } finally {
    await closeWithin(CLOSE_EACH_MS, () => Promise.all([...queues.values()].map((q) => q.close())));
    producer.disconnect();
  }
  return failures;
}
