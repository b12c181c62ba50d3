// Flags and the one environment variable (API_KEY) of the import command, parsed once.
import { parseArgs } from 'node:util';
import { usageError } from './errors.ts';

export const FORMATS = ['ndjson', 'json', 'csv'] as const;
export type Format = (typeof FORMATS)[number];

export const USAGE = `usage: npm run import -- <file | -> [options]     (or: hemo-import <file | -> [options])
Loads patient records through the API's POST /api/patients/batch: NDJSON, a JSON array, or CSV with a header row.
  --format ndjson|json|csv   default: from the extension (.ndjson/.jsonl, .json, .csv); required for stdin (-)
  --url URL                  the API (default http://127.0.0.1:3000)
  --key KEY                  API key (default: the API_KEY environment variable)
  --batch-size N             records per request (default: the API's maximum, from its /docs/json)
  --concurrency N            requests in flight (default 4)
  --rejects PATH             rejected records, NDJSON, mode 0600 (default <file>.rejects.ndjson beside the input)
  --checkpoint PATH          progress file, mode 0600 (default <file>.checkpoint.json beside the input)
  --resume                   continue an interrupted import from its checkpoint
  --fresh                    start over although an unfinished checkpoint exists
  --wait                     at the end, wait until every accepted record is stored and count the outcomes
  --wait-timeout S           give up waiting after S seconds (default 600)
  --retry-for S              keep retrying a batch (429, 503, 5xx, network errors) this long (default 600)
  --timeout S                per-request timeout (default 120)
  --csv-null TEXT            an unquoted CSV value equal to TEXT is null (an empty unquoted value always is)
Exit code: 0 all accepted, 1 some records rejected (or failed, with --wait), 2 usage or connection error.
`;

// Checked by hand rather than with zod: the importer's memory target (150 MB for any file size) is
// tight, and loading zod alone costs ~14 MB of resident memory for a dozen flags.
export type ImportOptions = {
  file: string;
  format: Format;
  url: string;
  key?: string;
  batchSize?: number;
  concurrency: number;
  rejects?: string;
  checkpoint?: string;
  resume: boolean;
  fresh: boolean;
  wait: boolean;
  waitTimeoutS: number;
  retryForS: number;
  timeoutS: number;
  csvNull?: string;
};

/** A whole number within bounds, or the problem with it (in `problems`); undefined when not given. */
function count(problems: string[], name: string, raw: string | undefined, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  const n = raw.trim() === '' ? Number.NaN : Number(raw);
  if (Number.isNaN(n)) problems.push(`${name} must be a number`);
  else if (!Number.isInteger(n)) problems.push(`${name} must be a whole number`);
  else if (n < min) problems.push(`${name} must be at least ${min}`);
  else if (n > max) problems.push(`${name} must be at most ${max}`);
  else return n;
  return undefined;
}

const isHttpUrl = (u: string) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol);

const EXTENSIONS: Record<string, Format> = { '.ndjson': 'ndjson', '.jsonl': 'ndjson', '.json': 'json', '.csv': 'csv' };

/** Throws a usage ImportError naming what is wrong; `help` asks for the usage text. */
export function parseOptions(argv: string[], env: Record<string, string | undefined>): ImportOptions | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        format: { type: 'string' }, url: { type: 'string' }, key: { type: 'string' }, 'batch-size': { type: 'string' },
        concurrency: { type: 'string' }, rejects: { type: 'string' }, checkpoint: { type: 'string' }, resume: { type: 'boolean' },
        fresh: { type: 'boolean' }, wait: { type: 'boolean' }, 'wait-timeout': { type: 'string' }, 'retry-for': { type: 'string' },
        timeout: { type: 'string' }, 'csv-null': { type: 'string' }, help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw usageError((err as Error).message);
  }
  const { values: v, positionals } = parsed;
  if (v.help) return 'help';
  if (positionals.length > 1) throw usageError(`one input file at a time (got ${positionals.length})`);
  const problems: string[] = [];
  const file = positionals[0];
  if (!file) problems.push('name one input file (or - for stdin)');
  if (v.format !== undefined && !(FORMATS as readonly string[]).includes(v.format)) problems.push('--format must be ndjson, json or csv');
  const url = v.url ?? 'http://127.0.0.1:3000';
  if (!isHttpUrl(url)) problems.push('--url must be an http:// or https:// URL');
  const key = v.key ?? (env.API_KEY || undefined);
  if (key === '') problems.push('--key (or API_KEY) must not be empty');
  for (const [name, value] of [['--rejects', v.rejects], ['--checkpoint', v.checkpoint]] as const) if (value === '') problems.push(`${name} must not be empty`);
  const options = {
    file: file ?? '',
    url,
    key,
    batchSize: count(problems, '--batch-size', v['batch-size'], 1, 100_000),
    concurrency: count(problems, '--concurrency', v.concurrency, 1, 64) ?? 4,
    rejects: v.rejects,
    checkpoint: v.checkpoint,
    resume: v.resume ?? false,
    fresh: v.fresh ?? false,
    wait: v.wait ?? false,
    waitTimeoutS: count(problems, '--wait-timeout', v['wait-timeout'], 1, 7 * 86_400) ?? 600,
    retryForS: count(problems, '--retry-for', v['retry-for'], 0, 7 * 86_400) ?? 600,
    timeoutS: count(problems, '--timeout', v.timeout, 1, 3600) ?? 120,
    csvNull: v['csv-null'],
  };
  if (options.resume && options.fresh) problems.push('--resume and --fresh exclude each other');
  if (problems.length > 0) throw usageError(problems.join('; '));
  const format = (v.format as Format | undefined) ?? EXTENSIONS[extensionOf(options.file)];
  if (!format) throw usageError(options.file === '-' ? 'reading stdin needs --format ndjson|json|csv' : `cannot tell the format of ${options.file} from its extension: add --format ndjson|json|csv`);
  return { ...options, format };
}

const extensionOf = (file: string) => /\.[^./\\]+$/.exec(file.toLowerCase())?.[0] ?? '';
