// deploy/k8s: containers, their environment (generated ConfigMaps and Secrets, plus the image's
// own ENV), probes, resources, security settings, the Service, disruption budgets, network policies.
import { describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../../src/shared/config/config.ts';
import {
  broken, eachCheckFails, ENTRY, HARD_EXIT_MARGIN_MS, isKnownVar, K8S_DIR, LISTEN, listenProblems, MEMORY_LIMIT, real, ROLES, SHAPE, SHARED_KEYS, type Artifacts,
} from '../../support/deploy-artifacts.ts';
import { bytes, containers, isPlaceholder, k8sConfig, k8sConfigSafe, podLabels, selects } from '../../support/deploy-k8s.ts';

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

/** Generated ConfigMaps only, every manifest applied, production mode valid, a NetworkPolicy per Deployment. */
function k8sHardeningProblems(a: Artifacts): string[] {
  const problems: string[] = [];
  for (const o of a.k8s.filter((x) => x.kind === 'ConfigMap' && x.file !== 'kustomization.yaml')) {
    problems.push(`${o.file} ${o.name}: a plain ConfigMap (pods keep the old values after apply -k); use configMapGenerator in kustomization.yaml`);
  }
  const kustomization = a.k8s.find((o) => o.kind === 'Kustomization')?.body ?? {};
  const applied = new Set<string>(kustomization.resources ?? []);
  const manifests = new Set(a.k8s.filter((o) => o.kind !== 'Kustomization').map((o) => o.file));
  for (const file of manifests) {
    if (file !== 'kustomization.yaml' && !applied.has(file) && !['secret.example.yaml', 'worker-autoscaling.yaml'].includes(file)) problems.push(`kustomization.yaml: ${file} is not in resources`);
  }
  for (const c of containers(a)) {
    if (!c.role) continue;
    // The container sees the image's ENV (NODE_ENV=production) under the manifests' values.
    const image = a.dockerfile.find((s) => s.name === c.role)?.env ?? {};
    const env = Object.fromEntries(Object.entries({ ...image, ...c.env }).filter(([, v]) => !isPlaceholder(v)));
    try {
      loadConfig(env);
    } catch (err) {
      problems.push(`${c.deployment.name} with the image's ENV: ${(err as Error).message}`);
    }
  }
  const policies = a.k8s.filter((o) => o.kind === 'NetworkPolicy');
  const denyAll = policies.some((p) => Object.keys(p.body.spec?.podSelector ?? { x: 1 }).length === 0 && !p.body.spec?.ingress && !p.body.spec?.egress && ['Ingress', 'Egress'].every((t) => p.body.spec?.policyTypes?.includes(t)));
  if (!denyAll) problems.push(`${K8S_DIR}: no default-deny NetworkPolicy (podSelector {}, Ingress and Egress, no rules)`);
  for (const c of containers(a)) {
    if (!c.role) continue;
    const own = policies.filter((p) => selects(p.body.spec?.podSelector?.matchLabels, podLabels(c.deployment)));
    if (own.length === 0) problems.push(`${c.deployment.name}: no NetworkPolicy selects its pods`);
    const port = k8sConfigSafe(c)?.[LISTEN[c.role][1]];
    const ports = own.flatMap((p) => (p.body.spec?.ingress ?? []).flatMap((r: any) => (r.ports ?? [{ port: 'any' }]).map((x: any) => x.port)));
    if (!ports.includes(port)) problems.push(`${c.deployment.name}: its NetworkPolicy lets nothing in on ${LISTEN[c.role][1]} ${port}`);
    for (const other of ports.filter((p: unknown) => p !== port)) problems.push(`${c.deployment.name}: its NetworkPolicy opens port ${other}, which it does not serve`);
  }
  return problems;
}

/** The ports a process must reach: DNS, and the datastores as the example Secret names them. */
function datastorePorts(a: Artifacts): number[] {
  const secret = a.k8s.find((o) => o.kind === 'Secret' && o.name === 'hemo-datastores')?.body.stringData ?? {};
  const redis = Number(new URL(String(secret.REDIS_URL)).port || 6379);
  const mongo = Number(/^mongodb:\/\/[^/]*?:(\d+)/.exec(String(secret.MONGO_URL))?.[1] ?? 27017);
  return [53, redis, mongo];
}

/**
 * Egress to named peers only (issue 22): every rule has `to` and ports; each peer is an ipBlock
 * narrower than everything, or pods picked by labels; DNS (53) goes to kube-system's kube-dns and
 * nothing else does; each process can still reach DNS and both datastores.
 */
function egressProblems(a: Artifacts): string[] {
  const problems: string[] = [];
  const policies = a.k8s.filter((o) => o.kind === 'NetworkPolicy');
  for (const p of policies) {
    for (const [i, rule] of (p.body.spec?.egress ?? []).entries()) {
      const where = `${p.file} ${p.name} egress[${i}]`;
      const ports: unknown[] = (rule.ports ?? []).map((x: { port?: unknown }) => x.port);
      if (!rule.to?.length) problems.push(`${where}: no \`to\`, so any destination`);
      if (ports.length === 0 || ports.includes(undefined)) problems.push(`${where}: no port, so every port`);
      for (const peer of rule.to ?? []) {
        if (peer.ipBlock) {
          if (/\/0$/.test(String(peer.ipBlock.cidr))) problems.push(`${where}: ipBlock ${peer.ipBlock.cidr} is every address`);
          continue;
        }
        const ns: Record<string, string> = peer.namespaceSelector?.matchLabels ?? {};
        const pods: Record<string, string> = peer.podSelector?.matchLabels ?? {};
        if (peer.namespaceSelector && Object.keys(ns).length === 0) problems.push(`${where}: namespaceSelector {} is every namespace`);
        if (Object.keys(pods).length === 0) problems.push(`${where}: no podSelector labels, so every pod of ${JSON.stringify(ns)}`);
        const kubeDns = ns['kubernetes.io/metadata.name'] === 'kube-system' && pods['k8s-app'] === 'kube-dns';
        if (ports.includes(53) && !kubeDns) problems.push(`${where}: port 53 to a peer other than kube-system's kube-dns`);
        if (kubeDns && ports.some((port) => port !== 53)) problems.push(`${where}: kube-dns is open on ${ports.join(', ')}, not on 53 only`);
      }
    }
  }
  for (const c of containers(a)) {
    if (!c.role) continue;
    const own = policies.filter((p) => selects(p.body.spec?.podSelector?.matchLabels, podLabels(c.deployment)));
    const open = new Set(own.flatMap((p) => (p.body.spec?.egress ?? []).flatMap((r: any) => (r.ports ?? []).map((x: any) => x.port))));
    for (const port of datastorePorts(a)) if (!open.has(port)) problems.push(`${c.deployment.name}: no egress to port ${port} (DNS or a datastore of secret.example.yaml)`);
  }
  return problems;
}

/**
 * Behind the ingress the API believes X-Forwarded-For from listed addresses only: neither nobody's
 * (false) nor anybody's (true). It gets an API_IDEMPOTENCY_SECRET, which the image's
 * NODE_ENV=production requires (the example's placeholder stands for it).
 */
function apiEnvProblems(a: Artifacts): string[] {
  const problems: string[] = [];
  const api = containers(a).find((c) => c.role === 'api');
  const trust = api && k8sConfigSafe(api)?.API_TRUST_PROXY;
  if (!Array.isArray(trust) || trust.length === 0) {
    problems.push(`${K8S_DIR}: API_TRUST_PROXY is ${JSON.stringify(trust)}; it must list the ingress controller's addresses/CIDRs (false: every client shares one address and AUTH_FAIL_MAX; true: a forged X-Forwarded-For is believed)`);
  }
  if (!api?.envNames.includes('API_IDEMPOTENCY_SECRET')) problems.push(`${K8S_DIR}: the API gets no API_IDEMPOTENCY_SECRET; under NODE_ENV=production it refuses to start`);
  return problems;
}

describe('deploy/k8s', () => {
  it('when the manifests are read, then there is something to check in each of them', () => {
    expect(real.k8s.map((o) => o.kind)).toEqual(expect.arrayContaining(['Deployment', 'Service', 'PodDisruptionBudget', 'ConfigMap', 'Secret', 'NetworkPolicy']));
    expect(containers(real).map((c) => c.role).sort()).toEqual(['api', 'worker']);
    expect(containers(real).every((c) => c.envNames.length >= 5)).toBe(true);
  });

  it('when the Kubernetes manifests are resolved, then every variable is in ConfigSchema and ports, probes, images, resources and security settings agree', () => {
    expect(k8sProblems(real)).toEqual([]);
  });

  it('when the ConfigMaps and Secrets are read, then each value parses with its schema and each placeholder is refused', () => {
    expect(k8sValueProblems(real)).toEqual([]);
  });

  it('when the manifests are applied, then ConfigMaps are generated, every manifest is in resources, production mode is valid and NetworkPolicies admit only the served ports', () => {
    expect(k8sHardeningProblems(real)).toEqual([]);
  });

  it('when the NetworkPolicies are read, then egress goes to kube-system\'s kube-dns on 53 and to the datastore pods on their ports only, and each process reaches both', () => {
    expect(egressProblems(real)).toEqual([]);
  });

  it('when the API\'s shipped environment is read, then API_TRUST_PROXY lists the ingress controller\'s addresses and passes loadConfig, and API_IDEMPOTENCY_SECRET comes from a Secret', () => {
    expect(apiEnvProblems(real)).toEqual([]);
  });
});

describe('deploy/k8s: each check fails on a broken copy', () => {
  eachCheckFails([
    ['a k8s ConfigMap sets an unknown variable', () => broken('k8s/config/worker.env', /WORKER_CONCURRENCY=8/, 'WORKER_BATCH_SIZE=200'), k8sProblems, /WORKER_BATCH_SIZE is not in ConfigSchema/],
    ['the API moves to another port than its containerPort', () => broken('k8s/config/api.env', /API_PORT=3000/, 'API_PORT=8080'), k8sProblems, /no containerPort 8080/],
    ['the worker readiness probe has the wrong path', () => broken('k8s/worker.yaml', /path: \/health\/ready/, 'path: /healthz'), k8sProblems, /readinessProbe on :3001\/healthz/],
    ['the worker container port is not WORKER_HTTP_PORT', () => broken('k8s/worker.yaml', /containerPort: 3001/, 'containerPort: 3000'), k8sProblems, /no containerPort 3001/],
    ['the API memory limit exceeds 256Mi', () => broken('k8s/api.yaml', /memory: 256Mi/, 'memory: 512Mi'), k8sProblems, /memory limit 512Mi/],
    ['the worker root filesystem is writable', () => broken('k8s/worker.yaml', /readOnlyRootFilesystem: true/, 'readOnlyRootFilesystem: false'), k8sProblems, /readOnlyRootFilesystem/],
    ['the worker image is the API image', () => broken('k8s/worker.yaml', /image: hemo-patient-ingest-worker:/, 'image: hemo-patient-ingest-api:'), k8sProblems, /is not hemo-patient-ingest-worker/],
    ['a Deployment reads a ConfigMap that does not exist', () => broken('k8s/worker.yaml', /name: hemo-worker-config/, 'name: hemo-worker-settings'), k8sProblems, /ConfigMap hemo-worker-settings is not in/],
    ['the API pods get less time to stop than they need', () => broken('k8s/api.yaml', /terminationGracePeriodSeconds: 30/, 'terminationGracePeriodSeconds: 15'), k8sProblems, /hemo-api\/api: terminationGracePeriodSeconds/],
    ['the API Service targets another port', () => broken('k8s/api.yaml', /targetPort: http/, 'targetPort: 8080'), k8sProblems, /targetPort 8080 does not reach API_PORT/],
    ['the worker Deployment has no PodDisruptionBudget', () => broken('k8s/worker.yaml', /kind: PodDisruptionBudget\nmetadata:\n  name: hemo-worker/, 'kind: ConfigMap\nmetadata:\n  name: hemo-worker'), k8sProblems, /hemo-worker: no PodDisruptionBudget/],
    ['the k8s worker reads another queue than the API', () => broken('k8s/config/worker.env', /WORKER_HTTP_PORT=3001/, 'WORKER_HTTP_PORT=3001\nQUEUE_NAME=patients-v2'), k8sProblems, /api and worker disagree on QUEUE_NAME/],
    ['the k8s worker listens on loopback only', () => broken('k8s/config/worker.env', /WORKER_HTTP_HOST=0\.0\.0\.0/, 'WORKER_HTTP_HOST=localhost'), k8sProblems, /WORKER_HTTP_HOST is localhost/],
    ['a ConfigMap value is malformed', () => broken('k8s/config/shared.env', /LOG_LEVEL=info/, 'LOG_LEVEL=verbose'), k8sValueProblems, /LOG_LEVEL=verbose is rejected/],
    ['the API_KEYS placeholder becomes a valid entry', () => broken('k8s/secret.example.yaml', /"id":"center-12","sha256":"REPLACE-WITH-THE-SHA256-FROM-scripts\/api-key.ts"/, `"id":"REPLACE-ME","sha256":"${'0'.repeat(64)}"`), k8sValueProblems, /placeholder API_KEYS is accepted/],
    ['a plain ConfigMap is applied', () => broken('k8s/namespace.yaml', /$/, '\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hemo-extra\ndata:\n  LOG_LEVEL: info\n'), k8sHardeningProblems, /namespace.yaml hemo-extra: a plain ConfigMap/],
    ['the NetworkPolicy file is left out of resources', () => broken('k8s/kustomization.yaml', /  - networkpolicy.yaml\n/, ''), k8sHardeningProblems, /networkpolicy.yaml is not in resources/],
    ['the worker NetworkPolicy opens the API port', () => broken('k8s/networkpolicy.yaml', /- \{ protocol: TCP, port: 3001 \}/, '- { protocol: TCP, port: 3000 }'), k8sHardeningProblems, /hemo-worker: its NetworkPolicy lets nothing in on WORKER_HTTP_PORT 3001/],
    ['there is no default deny', () => broken('k8s/networkpolicy.yaml', /  podSelector: \{\}\n/, '  podSelector: { matchLabels: { none: none } }\n'), k8sHardeningProblems, /no default-deny NetworkPolicy/],
    ['a DNS egress rule loses its destination', () => broken('k8s/networkpolicy.yaml', /    - to:\n        - namespaceSelector: \{ matchLabels: \{ kubernetes.io\/metadata.name: kube-system \} \}\n          podSelector: \{ matchLabels: \{ k8s-app: kube-dns \} \}\n      ports:/, '    - ports:'), egressProblems, /hemo-api egress\[0\]: no `to`, so any destination/],
    ['the datastore peer selects every namespace', () => broken('k8s/networkpolicy.yaml', /namespaceSelector: \{ matchLabels: \{ kubernetes.io\/metadata.name: hemo-data \} \}/, 'namespaceSelector: {}'), egressProblems, /namespaceSelector \{\} is every namespace/],
    ['the datastore peer drops its pod labels', () => broken('k8s/networkpolicy.yaml', /\n          podSelector: \{ matchLabels: \{ app.kubernetes.io\/name: mongodb \} \}/, ''), egressProblems, /hemo-api egress\[2\]: no podSelector labels/],
    ['an egress rule opens every address', () => broken('k8s/networkpolicy.yaml', /- namespaceSelector: \{ matchLabels: \{ kubernetes.io\/metadata.name: hemo-data \} \}\n          podSelector: \{ matchLabels: \{ app.kubernetes.io\/name: redis \} \}/, '- ipBlock: { cidr: 0.0.0.0/0 }'), egressProblems, /ipBlock 0.0.0.0\/0 is every address/],
    ['DNS goes to any pod of the datastore namespace', () => broken('k8s/networkpolicy.yaml', /        - \{ protocol: TCP, port: 6380 \}\n/, '        - { protocol: TCP, port: 6380 }\n        - { protocol: UDP, port: 53 }\n'), egressProblems, /port 53 to a peer other than kube-system's kube-dns/],
    ['the worker can no longer reach MongoDB', () => broken('k8s/networkpolicy.yaml', /(name: hemo-worker[\s\S]*?)        - \{ protocol: TCP, port: 27017 \}\n/, '$1        - { protocol: TCP, port: 27018 }\n'), egressProblems, /hemo-worker: no egress to port 27017/],
    ['the API trusts no proxy behind the ingress', () => broken('k8s/config/api.env', /^API_TRUST_PROXY=.*$/m, 'API_TRUST_PROXY=false'), apiEnvProblems, /API_TRUST_PROXY is false/],
    ['the API trusts every peer\'s X-Forwarded-For', () => broken('k8s/config/api.env', /^API_TRUST_PROXY=.*$/m, 'API_TRUST_PROXY=true'), apiEnvProblems, /API_TRUST_PROXY is true/],
    ['the API\'s Secret loses API_IDEMPOTENCY_SECRET', () => broken('k8s/secret.example.yaml', /\n  API_IDEMPOTENCY_SECRET: .*/, ''), apiEnvProblems, /the API gets no API_IDEMPOTENCY_SECRET/],
    ['the API_IDEMPOTENCY_SECRET placeholder becomes a valid value', () => broken('k8s/secret.example.yaml', /API_IDEMPOTENCY_SECRET: .*/, 'API_IDEMPOTENCY_SECRET: REPLACE-ME-0123456789-0123456789-0123456789'), k8sValueProblems, /placeholder API_IDEMPOTENCY_SECRET is accepted/],
    ['MONGO_URL loses TLS under the image\'s NODE_ENV=production', () => broken('k8s/secret.example.yaml', /&tls=true/, ''), k8sHardeningProblems, /hemo-api with the image's ENV: .*MONGO_URL must use TLS/],
  ]);
});
