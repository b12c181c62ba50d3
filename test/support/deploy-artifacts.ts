// Shared by test/unit/deploy/*.test.ts: reads the deployment artefacts (Dockerfile, docker-compose.yml,
// deploy/k8s with kustomize's configMapGenerator, docs/operations.md, deploy/README.md, ignore files)
// into plain objects, and makes deliberately broken copies so that each check can prove it fails.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { ConfigSchema, loadConfig, type Config } from '../../src/shared/config/config.ts';

export const ROOT = join(import.meta.dirname, '..', '..');
export const K8S_DIR = 'deploy/k8s';
export const SHAPE: Record<string, { safeParse: (v: unknown) => { success: boolean; data?: unknown } }> = ConfigSchema.shape;
export const CONFIG_KEYS = new Set(Object.keys(SHAPE));
export const ENTRY = { api: ['node', 'dist/api/server.js'], worker: ['node', 'dist/worker/main.js'] } as const;
export type Role = keyof typeof ENTRY;
export const ROLES: Role[] = ['api', 'worker'];
/** src/shared/entry.ts: past SHUTDOWN_TIMEOUT_MS the process still has this long before its hard exit. */
export const HARD_EXIT_MARGIN_MS = 5000;
export const MEMORY_LIMIT = { api: 256 * 2 ** 20, worker: 384 * 2 ** 20 };
/** Variables read by Node itself, not by the service: the only others an artefact may set. */
const RUNTIME_VARS = new Set(['NODE_EXTRA_CA_CERTS', 'NODE_OPTIONS']);
/** API and worker must read these alike: the same queue, database and record rules. */
export const SHARED_KEYS = ['QUEUE_PREFIX', 'QUEUE_NAME', 'MONGO_DB', 'PATIENT_TIME_ZONE', 'PATIENT_STRING_MAX'] as const;
export const isKnownVar = (key: string) => CONFIG_KEYS.has(key) || RUNTIME_VARS.has(key);
/** In a container the HTTP ports must listen beyond loopback, or probes and scrapes cannot reach them. */
export const LISTEN = { api: ['API_HOST', 'API_PORT'], worker: ['WORKER_HTTP_HOST', 'WORKER_HTTP_PORT'] } as const;
const isLoopback = (host: string) => host === 'localhost' || host === '::1' || host.startsWith('127.');

export function listenProblems(where: string, role: Role, config: Config): string[] {
  const host = config[LISTEN[role][0]];
  return isLoopback(host) ? [`${where}: ${LISTEN[role][0]} is ${host}; in a container it must be 0.0.0.0 (probes come from outside)`] : [];
}
/** Stand-ins for the two required URLs where an artefact leaves them to the operator. */
// With TLS: the image sets NODE_ENV=production, which requires it.
export const URL_STANDINS = { REDIS_URL: 'rediss://standin:6380', MONGO_URL: 'mongodb://standin:27017/?tls=true' };

// ---------------------------------------------------------------------------------------------
// Loading

/** Repo-relative path -> text, for every file a check reads. */
export type Texts = Record<string, string>;
export type K8sObject = { file: string; kind: string; name: string; body: any };
export type Artifacts = { compose: any; dockerfile: Stage[]; doc: string; k8s: K8sObject[]; texts: Texts };

const OTHER_FILES = ['docker-compose.yml', 'Dockerfile', 'docs/operations.md', 'deploy/README.md', 'README.md', '.gitignore', '.dockerignore'];

function filesUnder(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((f) => (statSync(join(ROOT, dir, f)).isDirectory() ? filesUnder(join(dir, f)) : [join(dir, f)]));
}

export function readTexts(): Texts {
  const paths = [...OTHER_FILES.filter((p) => existsSync(join(ROOT, p))), ...filesUnder(K8S_DIR).sort()];
  return Object.fromEntries(paths.map((p) => [p, readFileSync(join(ROOT, p), 'utf8')]));
}

/** A kustomize env file: KEY=VALUE lines, `#` comments; values are taken as they are (no quotes). */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n').map((l) => l.trim())) {
    if (!line || line.startsWith('#')) continue;
    const at = line.indexOf('=');
    out[line.slice(0, at)] = line.slice(at + 1);
  }
  return out;
}

/** What `kubectl apply -k` would create from kustomization.yaml's configMapGenerator. */
function generatedConfigMaps(texts: Texts): K8sObject[] {
  const kustomization = parse(texts[`${K8S_DIR}/kustomization.yaml`] ?? '{}');
  return (kustomization?.configMapGenerator ?? []).map((g: any) => {
    const data: Record<string, string> = {};
    for (const file of g.envs ?? []) {
      const text = texts[join(K8S_DIR, file)];
      if (text === undefined) throw new Error(`kustomization.yaml: configMapGenerator ${g.name} reads ${file}, which does not exist`);
      Object.assign(data, parseEnvFile(text));
    }
    for (const literal of g.literals ?? []) Object.assign(data, parseEnvFile(String(literal)));
    return { file: 'kustomization.yaml', kind: 'ConfigMap', name: g.name, body: { kind: 'ConfigMap', metadata: { name: g.name }, data } };
  });
}

export function load(texts: Texts): Artifacts {
  const k8s: K8sObject[] = [];
  for (const [path, text] of Object.entries(texts)) {
    if (!path.startsWith(`${K8S_DIR}/`) || !/\.ya?ml$/.test(path)) continue;
    const file = relative(K8S_DIR, path);
    for (const doc of parseAllDocuments(text)) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
      const body = doc.toJS();
      if (body === null) continue; // a document of comments only
      k8s.push({ file, kind: body.kind, name: body.metadata?.name, body });
    }
  }
  k8s.push(...generatedConfigMaps(texts));
  return { compose: parse(texts['docker-compose.yml']!, { merge: true }), dockerfile: parseDockerfile(texts.Dockerfile!), doc: texts['docs/operations.md']!, k8s, texts };
}

export const real = load(readTexts());

const ALIAS: Record<string, string> = { compose: 'docker-compose.yml', dockerfile: 'Dockerfile', doc: 'docs/operations.md' };

/**
 * The artefacts with one replacement in one file (`compose`, `dockerfile`, `doc`, `k8s/<file>` or a
 * repo path). The replacement must happen, or the test proves nothing.
 */
export function broken(file: string, from: string | RegExp, to: string): Artifacts {
  const texts = readTexts();
  const path = ALIAS[file] ?? (file.startsWith('k8s/') ? `${K8S_DIR}/${file.slice(4)}` : file);
  const before = texts[path];
  expect(before, `no file ${path}`).toBeDefined();
  const after = before!.replace(from, to);
  expect(after, `mutation of ${path} did not apply`).not.toBe(before);
  return load({ ...texts, [path]: after });
}

// ---------------------------------------------------------------------------------------------
// Dockerfile

export type Stage = { name: string; from: string; baseImage: string; env: Record<string, string>; user?: string; expose: string[]; healthcheck?: string; cmd?: string[]; run: string[] };

export function parseDockerfile(text: string): Stage[] {
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages: Stage[] = [];
  // ARGs before the first FROM, at their defaults (a build without --build-arg): `FROM ${NODE_IMAGE}`.
  const globalArgs: Record<string, string> = {};
  for (const line of lines) {
    const [instruction, ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    const op = instruction!.toUpperCase();
    if (op === 'ARG' && stages.length === 0) {
      const [k, v = ''] = args.split('=', 2) as [string, string?];
      globalArgs[k] = v;
      continue;
    }
    if (op === 'FROM') {
      const [written, , name] = rest as [string, string?, string?];
      const from = written.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, k: string) => globalArgs[k] ?? '');
      const parent = stages.find((s) => s.name === from);
      stages.push({
        name: name ?? `#${stages.length}`,
        from,
        baseImage: parent ? parent.baseImage : from,
        env: { ...parent?.env },
        user: parent?.user,
        expose: [...(parent?.expose ?? [])],
        healthcheck: parent?.healthcheck,
        cmd: parent?.cmd,
        run: [],
      });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) throw new Error(`Dockerfile: ${op} before FROM`);
    if (op === 'ENV') for (const [, k, v] of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S*)/g)) stage.env[k!] = v!.replace(/^"|"$/g, '');
    if (op === 'USER') stage.user = args;
    if (op === 'EXPOSE') stage.expose.push(...rest);
    if (op === 'HEALTHCHECK') stage.healthcheck = args;
    if (op === 'CMD') stage.cmd = JSON.parse(args) as string[];
    if (op === 'RUN') stage.run.push(args);
  }
  return stages;
}

// ---------------------------------------------------------------------------------------------
// docker-compose.yml

/**
 * Compose interpolation as on a host with no .env: `${X:-d}` and `${X-d}` give d, `${X}` gives '',
 * and `${X:?message}` (required) gives '' too: compose itself would refuse to start.
 */
export const interpolate = (value: string) =>
  value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(?::?-([^}]*))|(?::?\?[^}]*))?\}/g, (_m, _name, fallback) => fallback ?? '').replace(/\$\$/g, '$');

export function composeEnv(service: any): Record<string, string> {
  const env = service?.environment ?? {};
  const pairs: [string, string][] = Array.isArray(env)
    ? env.map((e: string) => [e.split('=')[0]!, e.slice(e.indexOf('=') + 1)])
    : Object.entries(env).map(([k, v]) => [k, v === null ? '' : String(v)]);
  return Object.fromEntries(pairs.map(([k, v]) => [k, interpolate(v)]));
}

export const seconds = (duration: string) => {
  let total = 0;
  for (const [, n, unit] of String(duration).matchAll(/(\d+(?:\.\d+)?)(ms|us|h|m|s)/g)) total += Number(n) * { h: 3600, m: 60, s: 1, ms: 1e-3, us: 1e-6 }[unit as 'h']!;
  return total;
};

export function healthUrl(test: unknown): { port: number; path: string } | undefined {
  const m = /http:\/\/(?:127\.0\.0\.1|localhost):(\d+)(\/[^'"\s)]*)/.exec(Array.isArray(test) ? test.join(' ') : String(test ?? ''));
  return m ? { port: Number(m[1]), path: m[2]! } : undefined;
}

/** Each case: a broken copy of the artefacts and the check that must report it. */
export type BrokenCase = [string, () => Artifacts, (a: Artifacts) => string[], RegExp];

export function eachCheckFails(cases: BrokenCase[]): void {
  for (const [what, make, check, expected] of cases) {
    it(`when ${what}, then the check reports it`, () => {
      expect(check(make())).toEqual(expect.arrayContaining([expect.stringMatching(expected)]));
    });
  }
}
