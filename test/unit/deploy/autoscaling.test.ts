// Autoscaling: KEDA scales the worker on its queue's wait list and reaches Redis over TLS with the
// CA it needs; the API has an HPA; no autoscaled Deployment sets `replicas` (apply -k would reset it).
import { describe, expect, it } from 'vitest';
import { broken, eachCheckFails, K8S_DIR, real, type Artifacts, type K8sObject } from '../../support/deploy-artifacts.ts';
import { containers, k8sConfigSafe } from '../../support/deploy-k8s.ts';
import { queueSettings } from '../../../src/shared/queue.ts';

/**
 * rediss:// needs KEDA's TLS from the TriggerAuthentication (`tls` and `ca` from a Secret key the
 * example Secret has), not `enableTLS` on the trigger (KEDA refuses both); redis:// needs neither.
 */
function redisTlsProblems(a: Artifacts, so: K8sObject, triggers: any[], rediss: boolean): string[] {
  const problems: string[] = [];
  for (const t of triggers) {
    const where = `${so.file} ${so.name}`;
    const auth = a.k8s.find((o) => o.kind === 'TriggerAuthentication' && o.name === t.authenticationRef?.name);
    const refs: { parameter: string; name: string; key: string }[] = auth?.body.spec?.secretTargetRef ?? [];
    const param = (p: string) => refs.find((r) => r.parameter === p);
    if (t.metadata?.enableTLS !== undefined && param('tls')) problems.push(`${where}: enableTLS on the trigger and tls in the TriggerAuthentication (KEDA refuses both)`);
    if (!rediss) continue;
    for (const p of ['tls', 'ca']) {
      const ref = param(p);
      if (!ref) {
        problems.push(`${where}: REDIS_URL is rediss:// but TriggerAuthentication ${t.authenticationRef?.name} has no \`${p}\` (KEDA would fail x509: unknown authority)`);
        continue;
      }
      const secret = a.k8s.find((o) => o.kind === 'Secret' && o.name === ref.name)?.body;
      const value = secret?.stringData?.[ref.key] ?? secret?.data?.[ref.key];
      if (value === undefined) problems.push(`${where}: ${p} comes from ${ref.name}/${ref.key}, which secret.example.yaml does not show`);
      else if (p === 'tls' && value !== 'enable') problems.push(`${where}: ${ref.name}/${ref.key} is ${value}, KEDA expects "enable"`);
    }
  }
  return problems;
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
    // One trigger per partition's wait list (QUEUE_PARTITIONS), summed when there are several.
    const expected = queueSettings(config).names.map((name) => `${config.QUEUE_PREFIX}:${name}:wait`);
    for (const t of redis) if (!expected.includes(t.metadata?.listName)) problems.push(`${so.file} ${so.name}: listName ${t.metadata?.listName}, expected ${expected.join(' or ')}`);
    for (const list of expected) if (!redis.some((t) => t.metadata?.listName === list)) problems.push(`${so.file} ${so.name}: no trigger on ${list}`);
    if (redis.length > 1 && !/\+/.test(so.body.spec?.advanced?.scalingModifiers?.formula ?? '')) problems.push(`${so.file} ${so.name}: ${redis.length} partition triggers but no scalingModifiers formula summing them`);
    problems.push(...redisTlsProblems(a, so, redis, config.REDIS_URL.startsWith('rediss:')));
  }
  return problems;
}

/** Whatever an autoscaler targets must not set replicas; the API has an HPA. */
function replicaProblems(a: Artifacts): string[] {
  const problems: string[] = [];
  const targets = [
    ...a.k8s.filter((o) => o.kind === 'ScaledObject').map((o) => o.body.spec?.scaleTargetRef?.name),
    ...a.k8s.filter((o) => o.kind === 'HorizontalPodAutoscaler').map((o) => o.body.spec?.scaleTargetRef?.name),
  ];
  for (const d of a.k8s.filter((o) => o.kind === 'Deployment')) {
    if (targets.includes(d.name) && d.body.spec?.replicas !== undefined) problems.push(`${d.file} ${d.name}: sets replicas (${d.body.spec.replicas}) although an autoscaler owns the count; apply -k would reset it`);
  }
  const api = containers(a).find((c) => c.role === 'api');
  const hpa = a.k8s.find((o) => o.kind === 'HorizontalPodAutoscaler' && o.body.spec?.scaleTargetRef?.name === api?.deployment.name);
  if (!hpa) problems.push(`${K8S_DIR}: no HorizontalPodAutoscaler for the API`);
  else if (!(hpa.body.spec?.minReplicas >= 2)) problems.push(`${hpa.file} ${hpa.name}: minReplicas below 2 (the PodDisruptionBudget keeps 1 available)`);
  return problems;
}

describe('autoscaling', () => {
  it('when the KEDA ScaledObject is read, then it scales the worker on <QUEUE_PREFIX>:<QUEUE_NAME>:wait and reaches rediss:// with tls and ca from its TriggerAuthentication', () => {
    expect(real.k8s.map((o) => o.kind)).toEqual(expect.arrayContaining(['ScaledObject', 'TriggerAuthentication', 'HorizontalPodAutoscaler']));
    expect(autoscalerProblems(real)).toEqual([]);
  });

  it('when Deployments are autoscaled, then none sets replicas and the API has an HPA of at least 2', () => {
    expect(replicaProblems(real)).toEqual([]);
  });
});

describe('autoscaling: each check fails on a broken copy', () => {
  eachCheckFails([
    ['the queue prefix changes but not the KEDA list', () => broken('k8s/config/shared.env', /QUEUE_PREFIX=bull/, 'QUEUE_PREFIX={bull}'), autoscalerProblems, /listName bull:patients:wait, expected \{bull\}:patients:wait/],
    ['KEDA scales another Deployment', () => broken('k8s/worker-autoscaling.yaml', /scaleTargetRef:\n    name: hemo-worker/, 'scaleTargetRef:\n    name: hemo-api'), autoscalerProblems, /scales hemo-api/],
    ['the worker Deployment sets replicas under KEDA', () => broken('k8s/worker.yaml', /spec:\n  revisionHistoryLimit: 5/, 'spec:\n  replicas: 3\n  revisionHistoryLimit: 5'), replicaProblems, /hemo-worker: sets replicas \(3\)/],
    ['the API Deployment sets replicas under its HPA', () => broken('k8s/api.yaml', /spec:\n  revisionHistoryLimit: 5/, 'spec:\n  replicas: 2\n  revisionHistoryLimit: 5'), replicaProblems, /hemo-api: sets replicas \(2\)/],
    ['the TriggerAuthentication passes no CA', () => broken('k8s/worker-autoscaling.yaml', /    - \{ parameter: ca, name: hemo-keda-redis, key: ca \}\n/, ''), autoscalerProblems, /has no `ca` \(KEDA would fail x509/],
    ['the CA key is missing from the example Secret', () => broken('k8s/secret.example.yaml', /  ca: \|\n(    .*\n)+/, ''), autoscalerProblems, /ca comes from hemo-keda-redis\/ca, which secret.example.yaml does not show/],
    ['the trigger sets enableTLS as well', () => broken('k8s/worker-autoscaling.yaml', /databaseIndex: "0"/, 'databaseIndex: "0"\n        enableTLS: "true"'), autoscalerProblems, /enableTLS on the trigger and tls in the TriggerAuthentication/],
  ]);
});
