import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

// The shape README "Where things are" promises, kept true by the suite rather than by review.
const SRC = resolve(import.meta.dirname, '../../src');
const MAX_LINES = 150;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

/** Relative imports of a file (static and dynamic, type-only included: a type cycle is still a cycle to read). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:from|import\()\s*'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]!);
  return specs.map((s) => resolve(dirname(file), s));
}

function cycles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string) => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'open') found.push(stack.slice(stack.indexOf(next)).concat(next));
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node);
  return found;
}

const files = sourceFiles(SRC);
const rel = (f: string) => relative(SRC, f);
const graph = new Map(files.map((f) => [f, importsOf(f)]));

describe('architecture of src/', () => {
  it('when the imports of src/ are followed, then no file reaches itself again (no import cycle)', () => {
    expect(files.length).toBeGreaterThan(50);
    expect(cycles(graph).map((c) => c.map(rel).join(' -> '))).toEqual([]);
  });

  it('when the layers are read, then shared imports neither api nor worker, and api and worker never import each other', () => {
    const wrong = [...graph].flatMap(([file, deps]) => {
      const from = rel(file).split('/')[0];
      return deps.filter((d) => {
        const to = rel(d).split('/')[0];
        return (from === 'shared' && to !== 'shared') || (from === 'api' && to === 'worker') || (from === 'worker' && to === 'api');
      }).map((d) => `${rel(file)} -> ${rel(d)}`);
    });
    expect(wrong).toEqual([]);
  });

  it(`when every file of src/ is measured, then none is over ${MAX_LINES} lines`, () => {
    const long = files.map((f) => [rel(f), readFileSync(f, 'utf8').trimEnd().split('\n').length] as const).filter(([, n]) => n > MAX_LINES);
    expect(long).toEqual([]);
  });

  it('when process.env is looked for, then only entry points touch it (to hand it to the one config parser)', () => {
    const entry = /(^|\/)(server|main|[a-z-]+-cli)\.ts$/;
    const readers = files.filter((f) => /process\.env\b/.test(readFileSync(f, 'utf8').replace(/\/\/.*$/gm, ''))).map(rel);
    expect(readers.length).toBeGreaterThan(1);
    expect(readers.filter((f) => !entry.test(f))).toEqual([]);
  });
});
