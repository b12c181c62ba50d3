// docs/operations.md documents every variable with its schema default; deploy/README.md's commands
// work as written and its claims still hold.
import { describe, expect, it } from 'vitest';
import { broken, CONFIG_KEYS, eachCheckFails, real, SHAPE, type Artifacts } from '../../support/deploy-artifacts.ts';

/** How the doc writes a default: the value the schema gives for a missing variable. */
function documentedDefault(key: string): string {
  const result = SHAPE[key]!.safeParse(undefined);
  if (!result.success) return 'required';
  return typeof result.data === 'string' ? result.data : JSON.stringify(result.data);
}

function docProblems(a: Artifacts): string[] {
  const problems: string[] = [];
  const rows = new Map<string, string>();
  // The reference is the section `## Configuration`, up to the next level-2 heading.
  const section = /^## Configuration\n([\s\S]*?)(?=^## |(?![\s\S]))/m.exec(a.doc)?.[1] ?? '';
  for (const [, key, cell] of section.matchAll(/^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|\s*([^|]*?)\s*\|/gm)) rows.set(key!, cell!);
  for (const key of CONFIG_KEYS) {
    if (!rows.has(key)) {
      problems.push(`docs/operations.md: no configuration row for ${key}`);
      continue;
    }
    const cell = rows.get(key)!;
    const expected = documentedDefault(key);
    const shown = expected === 'required' ? (/^\*?\*?required/i.test(cell) ? 'required' : cell) : /^`([^`]*)`/.exec(cell)?.[1];
    if (shown !== expected) problems.push(`docs/operations.md: ${key} default shown as ${JSON.stringify(cell)}, schema says ${expected}`);
  }
  for (const key of rows.keys()) if (!CONFIG_KEYS.has(key)) problems.push(`docs/operations.md: documents ${key}, which ConfigSchema does not have`);
  return problems;
}

/** Shell commands in the README's code blocks, continuation lines joined. */
function commands(markdown: string): string[] {
  const blocks = [...markdown.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  return blocks.flatMap((b) => b.replace(/\\\n\s*/g, ' ').split('\n')).map((l) => l.replace(/\s+#.*$/, '').trim()).filter(Boolean);
}

function deployReadmeProblems(a: Artifacts): string[] {
  const problems: string[] = [];
  const readme = a.texts['deploy/README.md'] ?? '';
  const lines = commands(readme);
  for (const line of lines.filter((l) => /\brollout status\b/.test(l))) {
    const resources = line.split(/\s+/).slice(line.split(/\s+/).indexOf('status') + 1).filter((w) => !w.startsWith('-'));
    if (resources.length !== 1) problems.push(`deploy/README.md: \`${line}\` names ${resources.length} resources; kubectl rollout status takes one`);
  }
  // Each Secret the README creates has the keys secret.example.yaml shows.
  for (const secret of a.k8s.filter((o) => o.kind === 'Secret')) {
    const create = lines.find((l) => new RegExp(`create secret generic ${secret.name}\\b`).test(l));
    if (!create) {
      problems.push(`deploy/README.md: no command creates Secret ${secret.name}`);
      continue;
    }
    for (const key of Object.keys({ ...secret.body.stringData, ...secret.body.data })) {
      if (!new RegExp(`--from-(literal|file)=${key}=`).test(create)) problems.push(`deploy/README.md: the command for ${secret.name} does not set ${key}`);
    }
  }
  // Claims about a check that no longer exists.
  for (const [file, text] of [['deploy/README.md', readme], ['deploy/k8s/secret.example.yaml', a.texts['deploy/k8s/secret.example.yaml'] ?? '']] as const) {
    if (/WHATWG|does not accept yet|until that check is relaxed/i.test(text)) problems.push(`${file}: describes the old MONGO_URL check (the driver parses it now)`);
  }
  return problems;
}

describe('documentation', () => {
  it('when docs/operations.md is read, then it has a row for every ConfigSchema key with the schema default, and none for unknown keys', () => {
    expect(docProblems(real)).toEqual([]);
  });

  it('when deploy/README.md is read, then each rollout status names one resource, each Secret command sets the example\'s keys, and no stale claim remains', () => {
    expect(deployReadmeProblems(real)).toEqual([]);
  });
});

describe('documentation: each check fails on a broken copy', () => {
  eachCheckFails([
    ['the doc documents a variable the schema lacks', () => broken('doc', /^(\| `API_PORT` .*\n)/m, '$1| `API_TIMEOUT_MS` | `1000` | API | not a setting |\n'), docProblems, /documents API_TIMEOUT_MS, which ConfigSchema does not have/],
    ['the doc loses a variable', () => broken('doc', /^\| `WORKER_LOCK_MS` \|.*\n/m, ''), docProblems, /no configuration row for WORKER_LOCK_MS/],
    ['the doc shows a wrong default', () => broken('doc', /^\| `API_PORT` \| `3000`/m, '| `API_PORT` | `8080`'), docProblems, /API_PORT default shown/],
    ['rollout status names two Deployments', () => broken('deploy/README.md', /rollout status deploy\/hemo-api\n/, 'rollout status deploy/hemo-api deploy/hemo-worker\n'), deployReadmeProblems, /names 2 resources/],
    ['the KEDA secret command forgets the CA', () => broken('deploy/README.md', / --from-file=ca=redis-ca\.pem/, ''), deployReadmeProblems, /hemo-keda-redis does not set ca/],
    ['the old URL claim comes back', () => broken('deploy/README.md', /\*\*MongoDB replica set\.\*\*/, '**MongoDB replica set.** The WHATWG URL parser refuses host lists.'), deployReadmeProblems, /describes the old MONGO_URL check/],
  ]);
});
