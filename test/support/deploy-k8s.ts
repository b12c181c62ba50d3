// Kubernetes side of the deployment tests: the containers of deploy/k8s with the environment each
// one gets from its ConfigMaps (kustomize-generated included) and Secrets.
import { loadConfig, type Config } from '../../src/shared/config/config.ts';
import { ENTRY, K8S_DIR, ROLES, type Artifacts, type K8sObject, type Role } from './deploy-artifacts.ts';

export type Container = { deployment: K8sObject; spec: any; podSpec: any; annotations: Record<string, string>; role: Role | undefined; env: Record<string, string>; envNames: string[] };

export function containers(a: Artifacts, problems: string[] = []): Container[] {
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
export const isPlaceholder = (value: string) => /REPLACE/.test(value);

export function k8sConfig(c: Container): Config {
  return loadConfig(Object.fromEntries(Object.entries(c.env).filter(([, v]) => !isPlaceholder(v))));
}

export const bytes = (quantity: unknown) => {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(String(quantity ?? ''));
  if (!m) return Number.NaN;
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 }[m[2] as 'Ki'] ?? 1;
  return Number(m[1]) * unit;
};

export function k8sConfigSafe(c: Container): Config | undefined {
  try {
    return k8sConfig(c);
  } catch {
    return undefined;
  }
}

/** Pod labels of a Deployment, and whether a label selector picks them. */
export const podLabels = (deployment: K8sObject): Record<string, string> => deployment.body.spec?.template?.metadata?.labels ?? {};
export const selects = (selector: Record<string, string> | undefined, labels: Record<string, string>) =>
  selector !== undefined && Object.entries(selector).every(([k, v]) => labels[k] === v);
