// The production Node flags (heap limits) per process, read from the Dockerfile, where they are
// set once (ENV NODE_OPTIONS in the `api` and `worker` stages). The Quick start and the benchmark
// run the processes with exactly these flags.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export type ProcessRole = 'api' | 'worker';

export function productionNodeOptions(root: string): Record<ProcessRole, string[]> {
  const text = readFileSync(join(root, 'Dockerfile'), 'utf8');
  const stages = text.split(/^FROM /m);
  const of = (role: ProcessRole) => {
    const stage = stages.find((s) => new RegExp(`\\bAS ${role}\\s*$`, 'm').test(s.split('\n')[0] ?? ''));
    const flags = stage ? /^ENV NODE_OPTIONS="([^"]*)"/m.exec(stage)?.[1] : undefined;
    if (flags === undefined) throw new Error(`Dockerfile: no ENV NODE_OPTIONS in the ${role} stage`);
    return flags.split(/\s+/).filter(Boolean);
  };
  return { api: of('api'), worker: of('worker') };
}
