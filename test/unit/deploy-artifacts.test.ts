// Keeps the deployment artefacts honest: Dockerfile, docker-compose.yml, deploy/k8s/*.yaml and
// docs/operations.md must agree with src/shared/config.ts (the one schema of every environment
// variable) and with each other. Every check is a function returning a list of problems; the
// first block runs them on the files in the repo, the second runs each one on a deliberately
// broken copy to prove that it can fail.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { ConfigSchema, loadConfig, type Config } from '../../src/shared/config.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const K8S_DIR = 'deploy/k8s';
const SHAPE: Record<string, { safeParse: (v: unknown) => { success: boolean; data?: unknown } }> = ConfigSchema.shape;
const CONFIG_KEYS = new Set(Object.keys(SHAPE));
const ENTRY = { api: ['node', 'dist/api/server.js'], worker: ['node', 'dist/worker/main.js'] } as const;
type Role = keyof typeof ENTRY;
const ROLES: Role[] = ['api', 'worker'];
/** src/shared/entry.ts: past SHUTDOWN_TIMEOUT_MS the process still has this long before its hard exit. */
const HARD_EXIT_MARGIN_MS = 5000;
const MEMORY_LIMIT = { api: 256 * 2 ** 20, worker: 384 * 2 ** 20 };
/** Variables read by Node itself, not by the service: the only others an artefact may set. */
const RUNTIME_VARS = new Set(['NODE_ENV', 'NODE_EXTRA_CA_CERTS', 'NODE_OPTIONS']);
/** API and worker must read these alike: the same queue, database and record rules. */
const SHARED_KEYS = ['QUEUE_PREFIX', 'QUEUE_NAME', 'MONGO_DB', 'PATIENT_TIME_ZONE', 'PATIENT_STRING_MAX'] as const;
const isKnownVar = (key: string) => CONFIG_KEYS.has(key) || RUNTIME_VARS.has(key);
/** In a container the HTTP ports must listen beyond loopback, or probes and scrapes cannot reach them. */
const LISTEN = { api: ['API_HOST', 'API_PORT'], worker: ['WORKER_HTTP_HOST', 'WORKER_HTTP_PORT'] } as const;
const isLoopback = (host: string) => host === 'localhost' || host === '::1' || host.startsWith('127.');
function listenProblems(where: string, role: Role, config: Config): string[] {
  const host = config[LISTEN[role][0]];
  return isLoopback(host) ? [`${where}: ${LISTEN[role][0]} is ${host}; in a container it must be 0.0.0.0 (probes come from outside)`] : [];
}
/** Stand-ins for the two required URLs where an artefact leaves them to the operator. */
const URL_STANDINS = { REDIS_URL: 'redis://standin:6379', MONGO_URL: 'mongodb://standin:27017/' };

// ---------------------------------------------------------------------------------------------
// Loading

type Texts = { compose: string; dockerfile: string; doc: string; k8s: Record<string, string> };
type K8sObject = { file: string; kind: string; name: string; body: any };
type Artifacts = { compose: any; dockerfile: Stage[]; doc: string; k8s: K8sObject[] };

function readTexts(): Texts {
  const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
  const k8s = Object.fromEntries(
    readdirSync(join(ROOT, K8S_DIR))
      .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
      .sort()
      .map((f) => [f, read(join(K8S_DIR, f))]),
  );
  return { compose: read('docker-compose.yml'), dockerfile: read('Dockerfile'), doc: read('docs/operations.md'), k8s };
}

function load(texts: Texts): Artifacts {
  const k8s: K8sObject[] = [];
  for (const [file, text] of Object.entries(texts.k8s)) {
    for (const doc of parseAllDocuments(text)) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
      const body = doc.toJS();
      if (body === null) continue; // a document of comments only
      k8s.push({ file, kind: body.kind, name: body.metadata?.name, body });
    }
  }
  return { compose: parse(texts.compose, { merge: true }), dockerfile: parseDockerfile(texts.dockerfile), doc: texts.doc, k8s };
}

// ---------------------------------------------------------------------------------------------
// Dockerfile

type Stage = { name: string; from: string; baseImage: string; env: Record<string, string>; user?: string; expose: string[]; healthcheck?: string; cmd?: string[]; run: string[] };

function parseDockerfile(text: string): Stage[] {
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages: Stage[] = [];
  for (const line of lines) {
    const [instruction, ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    const op = instruction!.toUpperCase();
    if (op === 'FROM') {
      const [from, , name] = rest as [string, string?, string?];
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

function dockerfileProblems(a: Artifacts): string[] {
  const problems: string[] = [];
  const stages = a.dockerfile;
  if (stages.length === 0) problems.push('Dockerfile: no stage');
  for (const s of stages) {
    if (!/^node:24(-slim)?$/.test(s.baseImage)) problems.push(`Dockerfile stage ${s.name}: base image ${s.baseImage}, expected node:24-slim`);
  }
  if (!stages.some((s) => s.run.some((r) => /\bnpm ci\b.*--omit=dev/.test(r)))) problems.push('Dockerfile: no `npm ci --omit=dev`');
  for (const role of ROLES) {
    const stage = stages.find((s) => s.name === role);
    if (!stage) {
      problems.push(`Dockerfile: no stage (target) named ${role}`);
      continue;
    }
    if (!stage.user || /^(root|0)(:|$)/.test(stage.user)) problems.push(`Dockerfile target ${role}: runs as ${stage.user ?? 'root (no USER)'}`);
    if (JSON.stringify(stage.cmd) !== JSON.stringify(ENTRY[role])) problems.push(`Dockerfile target ${role}: CMD ${JSON.stringify(stage.cmd)}, expected ${JSON.stringify(ENTRY[role])}`);
    for (const key of Object.keys(stage.env)) {
      if (!isKnownVar(key)) problems.push(`Dockerfile target ${role}: ENV ${key} is not in ConfigSchema`);
    }
    let config: Config;
    try {
      config = loadConfig({ ...URL_STANDINS, ...stage.env });
    } catch (err) {
      problems.push(`Dockerfile target ${role}: ${(err as Error).message}`);
      continue;
    }
    problems.push(...listenProblems(`Dockerfile target ${role}`, role, config));
    const portVar = LISTEN[role][1];
    const port = String(config[portVar]);
    if (!stage.expose.includes(port)) problems.push(`Dockerfile target ${role}: EXPOSE ${stage.expose.join(' ')}, expected ${port} (${portVar})`);
    // The check reads the port from the variable and falls back to the same number.
    const hc = /process\.env\.([A-Z_]+) \|\| '(\d+)'\) \+ '(\/[^']*)'/.exec(stage.healthcheck ?? '');
    if (!hc) problems.push(`Dockerfile target ${role}: no HEALTHCHECK fetching http://127.0.0.1:$${portVar}/health/live`);
    else {
      if (hc[1] !== portVar) problems.push(`Dockerfile target ${role}: HEALTHCHECK port from ${hc[1]}, expected ${portVar}`);
      if (hc[2] !== port) problems.push(`Dockerfile target ${role}: HEALTHCHECK fallback port ${hc[2]}, expected ${port}`);
      if (hc[3] !== '/health/live') problems.push(`Dockerfile target ${role}: HEALTHCHECK path ${hc[3]}, expected /health/live`);
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// docker-compose.yml

/** Compose interpolation as on a host with no .env: `${X:-d}` and `${X-d}` give d, `${X}` gives ''. */
const interpolate = (value: string) => value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}/g, (_m, _name, fallback) => fallback ?? '').replace(/\$\$/g, '$');

function composeEnv(service: any): Record<string, string> {
  const env = service?.environment ?? {};
  const pairs: [string, string][] = Array.isArray(env)
    ? env.map((e: string) => [e.split('=')[0]!, e.slice(e.indexOf('=') + 1)])
    : Object.entries(env).map(([k, v]) => [k, v === null ? '' : String(v)]);
  return Object.fromEntries(pairs.map(([k, v]) => [k, interpolate(v)]));
}

const seconds = (duration: string) => {
  let total = 0;
  for (const [, n, unit] of String(duration).matchAll(/(\d+(?:\.\d+)?)(ms|us|h|m|s)/g)) total += Number(n) * { h: 3600, m: 60, s: 1, ms: 1e-3, us: 1e-6 }[unit as 'h']!;
  return total;
};

function healthUrl(test: unknown): { port: number; path: string } | undefined {
  const m = /http:\/\/(?:127\.0\.0\.1|localhost):(\d+)(\/[^'"\s)]*)/.exec(Array.isArray(test) ? test.join(' ') : String(test ?? ''));
  return m ? { port: Number(m[1]), path: m[2]! } : undefined;
}

function composeProblems(a: Artifacts): string[] {
  const problems: string[] = [];
  const services = a.compose?.services ?? {};
  const configs: Partial<Record<Role, Config>> = {};
  for (const role of ROLES) {
    const service = services[role];
    if (!service) {
      problems.push(`compose: no service ${role}`);
      continue;
    }
    const env = composeEnv(service);
    for (const key of Object.keys(env)) if (!isKnownVar(key)) problems.push(`compose ${role}: ${key} is not in ConfigSchema`);
    let config: Config;
    try {
      config = loadConfig(env);
    } catch (err) {
      problems.push(`compose ${role}: ${(err as Error).message}`);
      continue;
    }
    configs[role] = config;
    if (JSON.stringify(service.command) !== JSON.stringify(ENTRY[role])) problems.push(`compose ${role}: command ${JSON.stringify(service.command)}, expected ${JSON.stringify(ENTRY[role])}`);
    if (service.build?.target !== role) problems.push(`compose ${role}: build target ${service.build?.target}, expected ${role}`);
    if (service.image !== undefined && !String(service.image).startsWith(`hemo-patient-ingest-${role}:`)) problems.push(`compose ${role}: image ${service.image} is not hemo-patient-ingest-${role}`);
    problems.push(...listenProblems(`compose ${role}`, role, config));
    const port = config[LISTEN[role][1]];
    const check = healthUrl(service.healthcheck?.test);
    if (!check) problems.push(`compose ${role}: no healthcheck fetching /health/live`);
    else if (check.port !== port || check.path !== '/health/live') problems.push(`compose ${role}: healthcheck on :${check.port}${check.path}, expected :${port}/health/live`);
    if (role === 'api') {
      const published = (service.ports ?? []).map((p: unknown) => Number(String(p).split(':').at(-1)!.split('/')[0]));
      if (!published.includes(config.API_PORT)) problems.push(`compose api: ports ${JSON.stringify(service.ports)} do not publish container port ${config.API_PORT} (API_PORT)`);
    }
    const grace = seconds(service.stop_grace_period ?? '10s') * 1000;
    if (grace <= config.SHUTDOWN_TIMEOUT_MS + HARD_EXIT_MARGIN_MS) {
      problems.push(`compose ${role}: stop_grace_period ${service.stop_grace_period ?? '10s (default)'} is not above SHUTDOWN_TIMEOUT_MS + ${HARD_EXIT_MARGIN_MS} ms`);
    }
  }
  if (configs.api && configs.worker) {
    for (const key of SHARED_KEYS) {
      if (configs.api[key] !== configs.worker[key]) problems.push(`compose: api and worker disagree on ${key}`);
    }
  }
  if (services.worker?.deploy?.replicas !== 3) problems.push(`compose worker: deploy.replicas ${services.worker?.deploy?.replicas}, expected 3`);
  const redis = (services.redis?.command ?? []).join(' ');
  for (const flag of ['--appendonly yes', '--appendfsync always', '--maxmemory-policy noeviction']) {
    if (!redis.includes(flag)) problems.push(`compose redis: command lacks ${flag}`);
  }
  const mongo = (services.mongo?.command ?? []).join(' ');
  const replSet = /--replSet (\S+)/.exec(mongo)?.[1];
  if (!replSet) problems.push('compose mongo: not started as a replica set (--replSet)');
  for (const role of ROLES) {
    const url = composeEnv(services[role]).MONGO_URL ?? '';
    if (replSet && !url.includes(`replicaSet=${replSet}`) && !url.includes('directConnection=true')) problems.push(`compose ${role}: MONGO_URL names neither replicaSet=${replSet} nor directConnection=true`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// deploy/k8s

type Container = { deployment: K8sObject; spec: any; podSpec: any; annotations: Record<string, string>; role: Role | undefined; env: Record<string, string>; envNames: string[] };

function containers(a: Artifacts, problems: string[] = []): Container[] {
  const lookup = (kind: string, name: string) => a.k8s.find((o) => o.kind === kind && o.name === name)?.body;
  const out: Container[] = [];
  for (const deployment of a.k8s.filter((o) => o.kind === 'Deployment')) {
    const podSpec = deployment.body.spec?.template?.spec ?? {};
    for (const spec of podSpec.containers ?? []) {
      const env: Record<string, string> = {};
      const envNames: string[] = [];
      for (const source of spec.envFrom ?? []) {
        const ref = source.configMapRef ?? source.secretRef;
        const kind = source.configMapRef ? 'ConfigMap' : 'Secret';
        const body = lookup(kind, ref?.name);
        if (!body) {
          problems.push(`${deployment.file} ${deployment.name}: envFrom ${kind} ${ref?.name} is not in ${K8S_DIR}`);
          continue;
        }
        const data: Record<string, string> = { ...body.data, ...body.stringData };
        if (body.data && kind === 'Secret') for (const [k, v] of Object.entries(body.data)) data[k] = Buffer.from(String(v), 'base64').toString('utf8');
        for (const [k, v] of Object.entries(data)) {
          envNames.push(k);
          env[k] = String(v);
        }
      }
      for (const e of spec.env ?? []) {
        envNames.push(e.name);
        if (e.value !== undefined) env[e.name] = String(e.value);
        else if (e.valueFrom?.configMapKeyRef || e.valueFrom?.secretKeyRef) {
          const ref = e.valueFrom.configMapKeyRef ?? e.valueFrom.secretKeyRef;
          const body = lookup(e.valueFrom.configMapKeyRef ? 'ConfigMap' : 'Secret', ref.name);
          const value = body?.data?.[ref.key] ?? body?.stringData?.[ref.key];
          if (value === undefined) problems.push(`${deployment.file} ${deployment.name}: env ${e.name} refers to ${ref.name}/${ref.key}, not in ${K8S_DIR}`);
          else env[e.name] = String(value);
        }
      }
      const command = JSON.stringify([...(spec.command ?? []), ...(spec.args ?? [])]);
      const role = ROLES.find((r) => JSON.stringify(ENTRY[r]) === command);
      out.push({ deployment, spec, podSpec, annotations: deployment.body.spec?.template?.metadata?.annotations ?? {}, role, env, envNames });
    }
  }
  return out;
}

/** Placeholders an operator must replace (e.g. the example API key) are left out of the parse. */
const isPlaceholder = (value: string) => /REPLACE/.test(value);

function k8sConfig(c: Container): Config {
  return loadConfig(Object.fromEntries(Object.entries(c.env).filter(([, v]) => !isPlaceholder(v))));
}

const bytes = (quantity: unknown) => {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(String(quantity ?? ''));
  if (!m) return Number.NaN;
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 }[m[2] as 'Ki'] ?? 1;
  return Number(m[1]) * unit;
};

function k8sProblems(a: Artifacts): string[] {
  const problems: string[] = [];
  const all = containers(a, problems);
  for (const c of all) {
    const where = `${c.deployment.file} ${c.deployment.name}/${c.spec.name}`;
    for (const key of c.envNames) if (!isKnownVar(key)) problems.push(`${where}: ${key} is not in ConfigSchema`);
    if (!c.role) {
      problems.push(`${where}: command ${JSON.stringify(c.spec.command)} is neither ${JSON.stringify(ENTRY.api)} nor ${JSON.stringify(ENTRY.worker)}`);
      continue;
    }
    if (!String(c.spec.image).startsWith(`hemo-patient-ingest-${c.role}:`)) problems.push(`${where}: image ${c.spec.image} is not hemo-patient-ingest-${c.role} (Dockerfile target ${c.role})`);
    let config: Config;
    try {
      config = k8sConfig(c);
    } catch (err) {
      problems.push(`${where}: ${(err as Error).message}`);
      continue;
    }
    problems.push(...listenProblems(where, c.role, config));
    const portVar = LISTEN[c.role][1];
    const port = config[portVar];
    const ports: { name?: string; containerPort: number }[] = c.spec.ports ?? [];
    if (!ports.some((p) => p.containerPort === port)) problems.push(`${where}: no containerPort ${port} (${portVar})`);
    const resolve = (p: unknown) => (typeof p === 'number' ? p : ports.find((q) => q.name === p)?.containerPort);
    for (const [probe, path] of [['readinessProbe', '/health/ready'], ['livenessProbe', '/health/live']] as const) {
      const get = c.spec[probe]?.httpGet;
      if (!get) problems.push(`${where}: no ${probe} httpGet`);
      else if (get.path !== path || resolve(get.port) !== port) problems.push(`${where}: ${probe} on :${resolve(get.port)}${get.path}, expected :${port}${path}`);
    }
    if (c.annotations['prometheus.io/port'] !== undefined && Number(c.annotations['prometheus.io/port']) !== port) {
      problems.push(`${where}: prometheus.io/port ${c.annotations['prometheus.io/port']}, expected ${port}`);
    }
    const limit = bytes(c.spec.resources?.limits?.memory);
    const request = bytes(c.spec.resources?.requests?.memory);
    if (!(limit <= MEMORY_LIMIT[c.role])) problems.push(`${where}: memory limit ${c.spec.resources?.limits?.memory}, at most ${MEMORY_LIMIT[c.role] / 2 ** 20}Mi`);
    if (!(request <= limit) || !c.spec.resources?.requests?.cpu) problems.push(`${where}: needs cpu and memory requests, memory request <= limit`);
    const pod = c.podSpec.securityContext ?? {};
    const own = c.spec.securityContext ?? {};
    const runAsNonRoot = own.runAsNonRoot ?? pod.runAsNonRoot;
    const runAsUser = own.runAsUser ?? pod.runAsUser;
    if (runAsNonRoot !== true || !(runAsUser > 0)) problems.push(`${where}: must set runAsNonRoot: true and a non-zero runAsUser`);
    if (own.readOnlyRootFilesystem !== true) problems.push(`${where}: readOnlyRootFilesystem is not true`);
    if (own.allowPrivilegeEscalation !== false) problems.push(`${where}: allowPrivilegeEscalation is not false`);
    const preStop = (c.spec.lifecycle?.preStop?.exec?.command ?? []).join(' ');
    const preStopMs = (Number(/^sleep (\d+)$/.exec(preStop)?.[1] ?? 0) || 0) * 1000;
    const grace = (c.podSpec.terminationGracePeriodSeconds ?? 30) * 1000;
    if (grace <= preStopMs + config.SHUTDOWN_TIMEOUT_MS + HARD_EXIT_MARGIN_MS) problems.push(`${where}: terminationGracePeriodSeconds is not above preStop + SHUTDOWN_TIMEOUT_MS + ${HARD_EXIT_MARGIN_MS} ms`);
  }
  for (const role of ROLES) {
    const n = all.filter((c) => c.role === role).length;
    if (n !== 1) problems.push(`${K8S_DIR}: ${n} ${role} containers, expected 1`);
  }
  // The API's Service must reach the API container's port.
  const api = all.find((c) => c.role === 'api');
  if (api) {
    const labels = api.deployment.body.spec?.template?.metadata?.labels ?? {};
    const service = a.k8s.find((o) => o.kind === 'Service' && Object.entries(o.body.spec?.selector ?? {}).every(([k, v]) => labels[k] === v));
    const target = service?.body.spec?.ports?.[0]?.targetPort;
    const resolved = typeof target === 'number' ? target : api.spec.ports?.find((p: { name?: string }) => p.name === target)?.containerPort;
    if (!service) problems.push(`${K8S_DIR}: no Service selecting the API pods`);
    else if (resolved !== k8sConfigSafe(api)?.API_PORT) problems.push(`${service.file} ${service.name}: targetPort ${target} does not reach API_PORT`);
  }
  // Each Deployment is covered by a PodDisruptionBudget.
  for (const deployment of a.k8s.filter((o) => o.kind === 'Deployment')) {
    const labels = deployment.body.spec?.template?.metadata?.labels ?? {};
    const covered = a.k8s.some((o) => o.kind === 'PodDisruptionBudget' && Object.entries(o.body.spec?.selector?.matchLabels ?? { none: 'none' }).every(([k, v]) => labels[k] === v));
    if (!covered) problems.push(`${deployment.file} ${deployment.name}: no PodDisruptionBudget selects it`);
  }
  // API and worker must name the same queue and database.
  const worker = all.find((c) => c.role === 'worker');
  const [ac, wc] = [api && k8sConfigSafe(api), worker && k8sConfigSafe(worker)];
  if (ac && wc) for (const key of SHARED_KEYS) if (ac[key] !== wc[key]) problems.push(`${K8S_DIR}: api and worker disagree on ${key}`);
  return problems;
}

function k8sConfigSafe(c: Container): Config | undefined {
  try {
    return k8sConfig(c);
  } catch {
    return undefined;
  }
}

function autoscalerProblems(a: Artifacts): string[] {
  const problems: string[] = [];
  const scaled = a.k8s.filter((o) => o.kind === 'ScaledObject');
  if (scaled.length !== 1) problems.push(`${K8S_DIR}: ${scaled.length} KEDA ScaledObjects, expected 1`);
  const worker = containers(a).find((c) => c.role === 'worker');
  const config = worker && k8sConfigSafe(worker);
  if (!worker || !config) return [...problems, `${K8S_DIR}: no worker container with a valid configuration`];
  for (const so of scaled) {
    if (so.body.spec?.scaleTargetRef?.name !== worker.deployment.name) problems.push(`${so.file} ${so.name}: scales ${so.body.spec?.scaleTargetRef?.name}, expected ${worker.deployment.name}`);
    const triggers: any[] = so.body.spec?.triggers ?? [];
    const redis = triggers.filter((t) => t.type === 'redis' || t.type === 'redis-cluster');
    if (redis.length === 0) problems.push(`${so.file} ${so.name}: no redis list trigger`);
    const expected = `${config.QUEUE_PREFIX}:${config.QUEUE_NAME}:wait`;
    for (const t of redis) if (t.metadata?.listName !== expected) problems.push(`${so.file} ${so.name}: listName ${t.metadata?.listName}, expected ${expected}`);
    const tls = redis.map((t) => t.metadata?.enableTLS);
    const rediss = config.REDIS_URL.startsWith('rediss:');
    if (tls.some((v) => (v === 'true') !== rediss)) problems.push(`${so.file} ${so.name}: enableTLS ${tls.join(',')} but REDIS_URL is ${rediss ? 'rediss' : 'redis'}://`);
  }
  return problems;
}

/** Values set in the manifests' ConfigMaps and Secrets parse with the schema, placeholders excepted. */
function k8sValueProblems(a: Artifacts): string[] {
  const problems: string[] = [];
  for (const o of a.k8s.filter((x) => x.kind === 'ConfigMap' || x.kind === 'Secret')) {
    for (const [key, value] of Object.entries<string>({ ...o.body.data, ...o.body.stringData })) {
      const schema = SHAPE[key];
      if (!schema) continue; // not a variable (e.g. KEDA's address); envFrom use is checked by k8sProblems
      const ok = schema.safeParse(String(value)).success;
      if (isPlaceholder(String(value)) && ok) problems.push(`${o.file} ${o.name}: placeholder ${key} is accepted by the schema; it must be rejected so nobody runs with it`);
      if (!isPlaceholder(String(value)) && !ok) problems.push(`${o.file} ${o.name}: ${key}=${value} is rejected by ConfigSchema`);
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// docs/operations.md

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

// ---------------------------------------------------------------------------------------------

const real = load(readTexts());

describe('deployment artefacts agree with src/shared/config.ts and with each other', () => {
  it('when the files are read, then there is something to check in each of them', () => {
    expect(real.dockerfile.map((s) => s.name)).toEqual(expect.arrayContaining(['api', 'worker']));
    expect(Object.keys(real.compose.services)).toEqual(expect.arrayContaining(['redis', 'mongo', 'api', 'worker']));
    expect(real.k8s.map((o) => o.kind)).toEqual(expect.arrayContaining(['Deployment', 'Service', 'PodDisruptionBudget', 'ConfigMap', 'Secret', 'ScaledObject']));
    expect(containers(real).map((c) => c.role).sort()).toEqual(['api', 'worker']);
    expect(containers(real).every((c) => c.envNames.length >= 5)).toBe(true);
  });

  it('when the Dockerfile is parsed, then it builds on node:24-slim, runs as a non-root USER, and each target has its entry, port and health check', () => {
    expect(dockerfileProblems(real)).toEqual([]);
  });

  it('when docker-compose.yml is resolved, then every variable is in ConfigSchema and parses, and commands, ports, health checks and grace periods agree', () => {
    expect(composeProblems(real)).toEqual([]);
  });

  it('when the Kubernetes manifests are resolved, then every variable is in ConfigSchema and ports, probes, images, resources and security settings agree', () => {
    expect(k8sProblems(real)).toEqual([]);
  });

  it('when the ConfigMaps and Secrets are read, then each value parses with its schema and each placeholder is refused', () => {
    expect(k8sValueProblems(real)).toEqual([]);
  });

  it('when the KEDA ScaledObject is read, then it scales the worker on the list <QUEUE_PREFIX>:<QUEUE_NAME>:wait from the worker env', () => {
    expect(autoscalerProblems(real)).toEqual([]);
  });

  it('when docs/operations.md is read, then it has a row for every ConfigSchema key with the schema default, and none for unknown keys', () => {
    expect(docProblems(real)).toEqual([]);
  });
});

describe('each check fails on a broken copy', () => {
  const texts = readTexts();
  /** Replaces text in one file (the replacement must happen, or the test proves nothing). */
  const broken = (file: 'compose' | 'dockerfile' | 'doc' | `k8s/${string}`, from: string | RegExp, to: string): Artifacts => {
    const copy: Texts = { ...texts, k8s: { ...texts.k8s } };
    const k8sFile = file.startsWith('k8s/') ? file.slice(4) : undefined;
    const before = k8sFile ? copy.k8s[k8sFile]! : copy[file as 'compose'];
    const after = before.replace(from, to);
    expect(after, `mutation of ${file} did not apply`).not.toBe(before);
    if (k8sFile) copy.k8s[k8sFile] = after;
    else copy[file as 'compose'] = after;
    return load(copy);
  };

  const cases: [string, () => Artifacts, (a: Artifacts) => string[], RegExp][] = [
    ['the Dockerfile uses node:22', () => broken('dockerfile', /FROM node:24-slim AS runtime/, 'FROM node:22-slim AS runtime'), dockerfileProblems, /base image node:22-slim/],
    ['the Dockerfile drops its USER', () => broken('dockerfile', /^USER node$/m, '# no user'), dockerfileProblems, /runs as root/],
    ['the worker target runs the API', () => broken('dockerfile', /CMD \["node", "dist\/worker\/main.js"\]/, 'CMD ["node", "dist/api/server.js"]'), dockerfileProblems, /target worker: CMD/],
    ['the worker HEALTHCHECK reads API_PORT', () => broken('dockerfile', /process\.env\.WORKER_HTTP_PORT/, 'process.env.API_PORT'), dockerfileProblems, /HEALTHCHECK port from API_PORT/],
    ['the Dockerfile sets an unknown variable', () => broken('dockerfile', /ENV API_HOST=0\.0\.0\.0/, 'ENV API_HOSTNAME=0.0.0.0'), dockerfileProblems, /ENV API_HOSTNAME is not in ConfigSchema/],
    ['compose sets an unknown variable', () => broken('compose', /WORKER_CONCURRENCY: "50"/, 'WORKER_THREADS: "50"'), composeProblems, /worker: WORKER_THREADS is not in ConfigSchema/],
    ['compose sets a malformed value', () => broken('compose', /API_PORT: "3000"/, 'API_PORT: "three thousand"'), composeProblems, /compose api: invalid configuration: API_PORT/],
    ['compose moves API_PORT but not the published port', () => broken('compose', /API_PORT: "3000"/, 'API_PORT: "3100"'), composeProblems, /do not publish container port 3100/],
    ['the worker health check probes the API port', () => broken('compose', /127\.0\.0\.1:3001\/health\/live/, '127.0.0.1:3000/health/live'), composeProblems, /worker: healthcheck on :3000/],
    ['the compose worker runs the API', () => broken('compose', /command: \["node", "dist\/worker\/main.js"\]/, 'command: ["node", "dist/api/server.js"]'), composeProblems, /worker: command/],
    ['the worker stop grace period is shorter than the shutdown', () => broken('compose', /stop_grace_period: 20s\n    deploy:/, 'stop_grace_period: 12s\n    deploy:'), composeProblems, /worker: stop_grace_period 12s/],
    ['Redis loses appendfsync always', () => broken('compose', /- always\n/, '- everysec\n'), composeProblems, /--appendfsync always/],
    ['a k8s ConfigMap sets an unknown variable', () => broken('k8s/config.yaml', /WORKER_CONCURRENCY: "[0-9]+"/, 'WORKER_BATCH_SIZE: "200"'), k8sProblems, /WORKER_BATCH_SIZE is not in ConfigSchema/],
    ['the API moves to another port than its containerPort', () => broken('k8s/config.yaml', /API_PORT: "3000"/, 'API_PORT: "8080"'), k8sProblems, /no containerPort 8080/],
    ['the worker readiness probe has the wrong path', () => broken('k8s/worker.yaml', /path: \/health\/ready/, 'path: /healthz'), k8sProblems, /readinessProbe on :3001\/healthz/],
    ['the worker container port is not WORKER_HTTP_PORT', () => broken('k8s/worker.yaml', /containerPort: 3001/, 'containerPort: 3000'), k8sProblems, /no containerPort 3001/],
    ['the API memory limit exceeds 256Mi', () => broken('k8s/api.yaml', /memory: 256Mi/, 'memory: 512Mi'), k8sProblems, /memory limit 512Mi/],
    ['the worker root filesystem is writable', () => broken('k8s/worker.yaml', /readOnlyRootFilesystem: true/, 'readOnlyRootFilesystem: false'), k8sProblems, /readOnlyRootFilesystem/],
    ['the worker image is the API image', () => broken('k8s/worker.yaml', /image: hemo-patient-ingest-worker:/, 'image: hemo-patient-ingest-api:'), k8sProblems, /is not hemo-patient-ingest-worker/],
    ['a Deployment reads a ConfigMap that does not exist', () => broken('k8s/worker.yaml', /name: hemo-worker-config/, 'name: hemo-worker-settings'), k8sProblems, /ConfigMap hemo-worker-settings is not in/],
    ['a ConfigMap value is malformed', () => broken('k8s/config.yaml', /LOG_LEVEL: info/, 'LOG_LEVEL: verbose'), k8sValueProblems, /LOG_LEVEL=verbose is rejected/],
    ['the queue prefix changes but not the KEDA list', () => broken('k8s/config.yaml', /QUEUE_PREFIX: bull/, 'QUEUE_PREFIX: "{bull}"'), autoscalerProblems, /listName bull:patients:wait, expected \{bull\}:patients:wait/],
    ['KEDA scales another Deployment', () => broken('k8s/worker-autoscaling.yaml', /scaleTargetRef:\n    name: hemo-worker/, 'scaleTargetRef:\n    name: hemo-api'), autoscalerProblems, /scales hemo-api/],
    ['the API pods get less time to stop than they need', () => broken('k8s/api.yaml', /terminationGracePeriodSeconds: 30/, 'terminationGracePeriodSeconds: 15'), k8sProblems, /hemo-api\/api: terminationGracePeriodSeconds/],
    ['the API Service targets another port', () => broken('k8s/api.yaml', /targetPort: http/, 'targetPort: 8080'), k8sProblems, /targetPort 8080 does not reach API_PORT/],
    ['the worker Deployment has no PodDisruptionBudget', () => broken('k8s/worker.yaml', /kind: PodDisruptionBudget\nmetadata:\n  name: hemo-worker/, 'kind: ConfigMap\nmetadata:\n  name: hemo-worker'), k8sProblems, /hemo-worker: no PodDisruptionBudget/],
    ['the k8s worker reads another queue than the API', () => broken('k8s/config.yaml', /WORKER_HTTP_PORT: "3001"/, 'WORKER_HTTP_PORT: "3001"\n  QUEUE_NAME: patients-v2'), k8sProblems, /api and worker disagree on QUEUE_NAME/],
    ['compose worker reads records in another time zone', () => broken('compose', /WORKER_CONCURRENCY: "50"/, 'WORKER_CONCURRENCY: "50"\n      PATIENT_TIME_ZONE: UTC'), composeProblems, /api and worker disagree on PATIENT_TIME_ZONE/],
    ['compose MongoDB is no replica set', () => broken('compose', /"--replSet", "rs0", /, ''), composeProblems, /not started as a replica set/],
    ['the API_KEYS placeholder becomes a valid entry', () => broken('k8s/secret.example.yaml', /"id":"center-12","sha256":"REPLACE-WITH-THE-SHA256-FROM-scripts\/api-key.ts"/, `"id":"REPLACE-ME","sha256":"${'0'.repeat(64)}"`), k8sValueProblems, /placeholder API_KEYS is accepted/],
    ['KEDA talks plain Redis while REDIS_URL is rediss://', () => broken('k8s/worker-autoscaling.yaml', /enableTLS: "true"/, 'enableTLS: "false"'), autoscalerProblems, /enableTLS false but REDIS_URL is rediss/],
    ['the doc documents a variable the schema lacks', () => broken('doc', /^(\| `API_PORT` .*\n)/m, '$1| `API_TIMEOUT_MS` | `1000` | API | not a setting |\n'), docProblems, /documents API_TIMEOUT_MS, which ConfigSchema does not have/],
    ['the worker image listens on loopback only', () => broken('dockerfile', /ENV WORKER_HTTP_HOST=0\.0\.0\.0 /, 'ENV '), dockerfileProblems, /target worker: WORKER_HTTP_HOST is 127\.0\.0\.1/],
    ['the compose API listens on loopback only', () => broken('compose', /API_HOST: 0\.0\.0\.0/, 'API_HOST: 127.0.0.1'), composeProblems, /compose api: API_HOST is 127\.0\.0\.1/],
    ['the k8s worker listens on loopback only', () => broken('k8s/config.yaml', /WORKER_HTTP_HOST: 0\.0\.0\.0/, 'WORKER_HTTP_HOST: localhost'), k8sProblems, /WORKER_HTTP_HOST is localhost/],
    ['the doc loses a variable', () => broken('doc', /^\| `WORKER_LOCK_MS` \|.*\n/m, ''), docProblems, /no configuration row for WORKER_LOCK_MS/],
    ['the doc shows a wrong default', () => broken('doc', /^\| `API_PORT` \| `3000`/m, '| `API_PORT` | `8080`'), docProblems, /API_PORT default shown/],
  ];

  for (const [what, make, check, expected] of cases) {
    it(`when ${what}, then the check reports it`, () => {
      expect(check(make())).toEqual(expect.arrayContaining([expect.stringMatching(expected)]));
    });
  }
});
