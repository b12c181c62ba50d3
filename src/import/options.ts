// Flags and the one environment variable (API_KEY) of the import command, parsed once with zod.
import { parseArgs } from 'node:util';
import { z } from 'zod';
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
  --rejects PATH             rejected records, NDJSON (default <file>.rejects.ndjson in the current directory)
  --checkpoint PATH          progress file (default <file>.checkpoint.json in the current directory)
  --resume                   continue an interrupted import from its checkpoint
  --fresh                    start over although an unfinished checkpoint exists
  --wait                     at the end, wait until every accepted record is stored and count the outcomes
  --wait-timeout S           give up waiting after S seconds (default 600)
  --retry-for S              keep retrying a batch (429, 503, 5xx, network errors) this long (default 600)
  --timeout S                per-request timeout (default 120)
  --csv-null TEXT            an unquoted CSV value equal to TEXT is null (an empty unquoted value always is)
Exit code: 0 all accepted, 1 some records rejected (or failed, with --wait), 2 usage or connection error.
`;

const count = (name: string, min: number, max: number) =>
  z.coerce.number({ error: `${name} must be a number` }).int(`${name} must be a whole number`).min(min, `${name} must be at least ${min}`).max(max, `${name} must be at most ${max}`);

const Schema = z
  .object({
    file: z.string({ error: 'name one input file (or - for stdin)' }).min(1, 'name one input file (or - for stdin)'),
    format: z.enum(FORMATS, { error: '--format must be ndjson, json or csv' }).optional(),
    url: z.string().refine((u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol), '--url must be an http:// or https:// URL').default('http://127.0.0.1:3000'),
    key: z.string().min(1, '--key (or API_KEY) must not be empty').optional(),
    batchSize: count('--batch-size', 1, 100_000).optional(),
    concurrency: count('--concurrency', 1, 64).default(4),
    rejects: z.string().min(1).optional(),
    checkpoint: z.string().min(1).optional(),
    resume: z.boolean().default(false),
    fresh: z.boolean().default(false),
    wait: z.boolean().default(false),
    waitTimeoutS: count('--wait-timeout', 1, 7 * 86_400).default(600),
    retryForS: count('--retry-for', 0, 7 * 86_400).default(600),
    timeoutS: count('--timeout', 1, 3600).default(120),
    csvNull: z.string().optional(),
  })
  .refine((o) => !(o.resume && o.fresh), '--resume and --fresh exclude each other');

export type ImportOptions = z.infer<typeof Schema> & { format: Format };

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
  const result = Schema.safeParse({
    file: positionals[0], format: v.format, url: v.url, key: v.key ?? (env.API_KEY || undefined), batchSize: v['batch-size'],
    concurrency: v.concurrency, rejects: v.rejects, checkpoint: v.checkpoint, resume: v.resume, fresh: v.fresh, wait: v.wait,
    waitTimeoutS: v['wait-timeout'], retryForS: v['retry-for'], timeoutS: v.timeout, csvNull: v['csv-null'],
  });
  if (!result.success) throw usageError(result.error.issues.map((i) => i.message).join('; '));
  const options = result.data;
  const format = options.format ?? EXTENSIONS[extensionOf(options.file)];
  if (!format) throw usageError(options.file === '-' ? 'reading stdin needs --format ndjson|json|csv' : `cannot tell the format of ${options.file} from its extension: add --format ndjson|json|csv`);
  return { ...options, format };
}

const extensionOf = (file: string) => /\.[^./\\]+$/.exec(file.toLowerCase())?.[0] ?? '';
