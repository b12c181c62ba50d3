#!/usr/bin/env -S node --optimize-for-size --max-old-space-size=64 --max-semi-space-size=1
// `npm run import -- <file> [options]`, or the `hemo-import` bin (compiled to dist/import/main.js).
// Both run Node with a small, eagerly collected heap (the flags above and in package.json's `import`
// script): the data in flight is a few batches (~20 MB of heap), and without the flags V8 lets
// garbage grow the process past 300 MB on a 200,000-record file.
// Ctrl-C once: no new batches, the ones in flight are acknowledged, and the checkpoint is kept for
// --resume; twice: exit at once (the checkpoint on disk is consistent at any moment).
import { readFileSync } from 'node:fs';
import { processOutput } from './output.ts';
import { runImport } from './run-import.ts';

// `npm run` starts scripts in the package's directory; file names are meant from where the user typed them.
if (process.env.INIT_CWD) process.chdir(process.env.INIT_CWD);
const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const stop = new AbortController();
process.on('SIGINT', () => {
  if (stop.signal.aborted) process.exit(130);
  stop.abort();
});
process.exitCode = await runImport(process.argv.slice(2), process.env, { stdin: process.stdin, output: processOutput(process.stdout, process.stderr), signal: stop.signal, version });
