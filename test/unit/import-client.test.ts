import { once } from 'node:events';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createClient } from '../../src/import/client.ts';
import { openLedger } from '../../src/import/ledger.ts';
import { ledgerPaths } from '../../src/import/run-import.ts';

// The import command's client and files (issue 22, lows): where the API key goes, and how the files
// that hold patient records are written. Real local HTTP servers, real files.
const servers: Server[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function serve(handler: (headers: IncomingHttpHeaders) => [number, unknown]): Promise<string> {
  const server = createServer((req, res) => {
    const [status, body] = handler(req.headers);
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const options = (url: string) => ({ url, key: 'hk_secret-key', timeoutMs: 2000, retryForMs: 0, userAgent: 'test' });

describe('the import client', () => {
  it('when an answer names a status URL on another origin, then the key is not sent there and the status is refused', async () => {
    // fails on 058d750: the other host received "Authorization: Bearer hk_secret-key".
    const seen: IncomingHttpHeaders[] = [];
    const other = await serve((headers) => (seen.push(headers), [200, { state: 'completed' }]));
    const api = await serve(() => [200, { state: 'completed' }]);
    const client = createClient(options(api));
    await expect(client.status(`//${new URL(other).host}/api/jobs/1-0`)).rejects.toMatchObject({ code: 'API_ANSWER_UNEXPECTED' });
    await expect(client.status(`${other}/api/jobs/1-0`)).rejects.toMatchObject({ code: 'API_ANSWER_UNEXPECTED' });
    expect(seen).toEqual([]);
  });

  it('when the status URL is the API\'s own (relative or absolute), then it is followed with the key', async () => {
    const seen: IncomingHttpHeaders[] = [];
    const api = await serve((headers) => (seen.push(headers), [200, { state: 'completed' }]));
    const client = createClient(options(api));
    expect(await client.status('/api/jobs/1-0')).toEqual({ state: 'completed', error: null });
    expect(await client.status(`${api}/api/jobs/1-0`)).toEqual({ state: 'completed', error: null });
    expect(seen.map((h) => h.authorization)).toEqual(['Bearer hk_secret-key', 'Bearer hk_secret-key']);
  });
});

describe('the import ledger files', () => {
  const start = { resume: false, fresh: true, input: { name: 'in.ndjson', size: 1, mtimeMs: 1, head: null }, format: 'ndjson', batchSize: async () => 10 };
  const place = () => {
    const dir = mkdtempSync(join(tmpdir(), 'ledger-'));
    dirs.push(dir);
    return { dir, paths: { checkpoint: join(dir, 'c.json'), rejects: join(dir, 'r.ndjson'), accepted: join(dir, 'c.accepted.ndjson') } };
  };

  it('when the ledger writes its files, then each is readable by its owner only, also a file left world-readable before', async () => {
    // fails on 058d750: the files were 0644 (the umask's default), and an existing file kept its mode.
    const { paths } = place();
    writeFileSync(paths.rejects, '');
    chmodSync(paths.rejects, 0o644);
    const ledger = await openLedger(paths, start);
    await ledger.commit(0, { rejectLines: '{"line":1}\n', acceptedLines: '', counts: { records: 1, accepted: 0, rejected: 1 } });
    await ledger.close();
    for (const file of [paths.checkpoint, paths.rejects, paths.accepted]) expect((statSync(file).mode & 0o777).toString(8), file).toBe('600');
  });

  it('when the rejects path is a symbolic link, then the ledger refuses it instead of writing through it', async () => {
    // fails on 058d750: the records were appended to the link's target.
    const { dir, paths } = place();
    const target = join(dir, 'elsewhere');
    symlinkSync(target, paths.rejects);
    await expect(openLedger(paths, start)).rejects.toThrow(/is a symbolic link/);
    expect(existsSync(target)).toBe(false);
  });
});

describe('where the import files go by default', () => {
  it('when no paths are given, then the checkpoint, rejects and accepted files are beside the input, not in the current directory', () => {
    // fails on 058d750: they landed in the current directory (a check run from the project root left them in the repo).
    const paths = ledgerPaths({ file: '/data/exports/registry.csv', checkpoint: undefined, rejects: undefined });
    expect(paths).toEqual({ checkpoint: '/data/exports/registry.csv.checkpoint.json', rejects: '/data/exports/registry.csv.rejects.ndjson', accepted: '/data/exports/registry.csv.checkpoint.accepted.ndjson' });
  });

  it('when paths are given, then they are taken as given (relative to the current directory)', () => {
    const paths = ledgerPaths({ file: '/data/exports/registry.csv', checkpoint: 'state/cp.json', rejects: 'state/r.ndjson' });
    expect(paths.checkpoint).toBe(join(process.cwd(), 'state/cp.json'));
    expect(paths.rejects).toBe(join(process.cwd(), 'state/r.ndjson'));
  });
});
