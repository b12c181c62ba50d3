// What has been acknowledged, kept on disk so an import survives a kill: the checkpoint (which
// batches the API has answered, the counts) and the two files it vouches for, the rejects file and
// the accepted file (status URLs for --wait). A batch's answer is appended to the files first and
// then the checkpoint is replaced atomically (write + rename) with their new lengths; a resume
// truncates the files to those lengths, so a batch cut off between the two is written once.
import { constants } from 'node:fs';
import { open, readFile, rename, type FileHandle } from 'node:fs/promises';
import { usageError } from './errors.ts';
import type { InputIdentity } from './source.ts';

export type Counts = { records: number; accepted: number; rejected: number };

type Checkpoint = Counts & {
  version: 1;
  input: InputIdentity;
  format: string;
  batchSize: number;
  /** Batches 0 .. done-1 are acknowledged; `ahead` lists acknowledged batches after those. */
  done: number;
  ahead: number[];
  rejectsBytes: number;
  acceptedBytes: number;
  complete: boolean;
};

export type LedgerPaths = { checkpoint: string; rejects: string; accepted: string };
export type Ledger = Awaited<ReturnType<typeof openLedger>>;

const readCheckpoint = async (path: string): Promise<Checkpoint | null> => {
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw usageError(`cannot read the checkpoint ${path}: ${err.code ?? err.message}`);
  });
  if (text === null) return null;
  try {
    const cp = JSON.parse(text) as Checkpoint;
    if (cp.version === 1 && Number.isSafeInteger(cp.done) && Array.isArray(cp.ahead)) return cp;
  } catch {}
  throw usageError(`${path} is not a checkpoint of this command; remove it or name another with --checkpoint`);
};

/** The input and batching of an earlier run, when resuming; else starts a new checkpoint. */
export async function openLedger(paths: LedgerPaths, start: { input: InputIdentity; format: string; resume: boolean; fresh: boolean; batchSize: () => Promise<number> }) {
  const earlier = await readCheckpoint(paths.checkpoint);
  if (start.resume && !earlier) throw usageError(`--resume: no checkpoint at ${paths.checkpoint}`);
  if (earlier && !earlier.complete && !start.resume && !start.fresh) {
    throw usageError(`${paths.checkpoint} holds an unfinished import of ${earlier.input.name}: add --resume to continue it, or --fresh to start over`);
  }
  if (start.resume && earlier) {
    const same = earlier.format === start.format && ['size', 'mtimeMs', 'head'].every((k) => earlier.input[k as keyof InputIdentity] === start.input[k as keyof InputIdentity]);
    if (!same) throw usageError(`--resume: the input is not the file (or format) that ${paths.checkpoint} was made for; use --fresh to start over`);
  }
  const resumed = start.resume ? earlier : null;
  const cp: Checkpoint = resumed ?? {
    version: 1, input: start.input, format: start.format, batchSize: await start.batchSize(), done: 0, ahead: [],
    records: 0, accepted: 0, rejected: 0, rejectsBytes: 0, acceptedBytes: 0, complete: false,
  };
  const rejects = await openAt(paths.rejects, cp.rejectsBytes);
  const accepted = await openAt(paths.accepted, cp.acceptedBytes);
  const ahead = new Set(cp.ahead);
  let chain: Promise<void> = Promise.resolve();

  const save = async () => {
    const tmp = `${paths.checkpoint}.tmp`;
    const handle = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, PRIVATE);
    try {
      await handle.chmod(PRIVATE); // an older tmp file keeps its mode otherwise
      await handle.writeFile(JSON.stringify({ ...cp, ahead: [...ahead].sort((a, b) => a - b) }));
    } finally {
      await handle.close();
    }
    await rename(tmp, paths.checkpoint);
  };
  // One commit at a time, in the order answers arrive: file appends, then the checkpoint.
  const serial = (step: () => Promise<void>) => (chain = chain.then(step));

  return {
    batchSize: cp.batchSize,
    resumed: resumed !== null,
    counts: (): Counts => ({ records: cp.records, accepted: cp.accepted, rejected: cp.rejected }),
    isDone: (batch: number) => batch < cp.done || ahead.has(batch),
    commit: (batch: number, answer: { rejectLines: string; acceptedLines: string; counts: Counts }) =>
      serial(async () => {
        cp.rejectsBytes += await append(rejects, answer.rejectLines);
        cp.acceptedBytes += await append(accepted, answer.acceptedLines);
        cp.records += answer.counts.records;
        cp.accepted += answer.counts.accepted;
        cp.rejected += answer.counts.rejected;
        ahead.add(batch);
        while (ahead.delete(cp.done)) cp.done++;
        await save();
      }),
    /** Every batch is acknowledged. */
    finish: () => serial(async () => {
      cp.complete = true;
      await save();
    }),
    async close() {
      await chain.catch(() => {});
      await Promise.all([rejects.close(), accepted.close()]);
    },
  };
}

// The files hold patient records (rejects) or point at them: readable by their owner only, and never
// written through a symlink (someone else's link in a shared directory would redirect them).
const PRIVATE = 0o600;
const APPEND = constants.O_RDWR | constants.O_CREAT | constants.O_APPEND | constants.O_NOFOLLOW;

async function openAt(path: string, length: number): Promise<FileHandle> {
  const handle = await open(path, APPEND, PRIVATE).catch((err: NodeJS.ErrnoException) => {
    throw usageError(`cannot write ${path}: ${err.code === 'ELOOP' ? 'it is a symbolic link' : (err.code ?? err.message)}`);
  });
  await handle.chmod(PRIVATE); // a file left by an older version keeps its mode otherwise
  // A resume drops what a killed run appended after its last checkpoint; a new import starts empty.
  await handle.truncate(length);
  return handle;
}

async function append(handle: FileHandle, text: string): Promise<number> {
  if (text === '') return 0;
  const bytes = Buffer.from(text);
  await handle.write(bytes);
  return bytes.length;
}
