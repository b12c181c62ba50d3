// The Dockerfile: node:24-slim, production dependencies only, a non-root USER, and per target the
// entry point, port and health check that the other artefacts expect.
import { describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../../src/shared/config/config.ts';
import { broken, eachCheckFails, ENTRY, isKnownVar, LISTEN, listenProblems, real, ROLES, URL_STANDINS, type Artifacts } from '../../support/deploy-artifacts.ts';

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

describe('Dockerfile', () => {
  it('when the Dockerfile is parsed, then it builds on node:24-slim, runs as a non-root USER, and each target has its entry, port and health check', () => {
    expect(real.dockerfile.map((s) => s.name)).toEqual(expect.arrayContaining(['api', 'worker']));
    expect(dockerfileProblems(real)).toEqual([]);
  });
});

describe('Dockerfile: each check fails on a broken copy', () => {
  eachCheckFails([
    ['the Dockerfile uses node:22', () => broken('dockerfile', /FROM \$\{NODE_IMAGE\} AS runtime/, 'FROM node:22-slim AS runtime'), dockerfileProblems, /base image node:22-slim/],
    ['the base image argument defaults to node:22', () => broken('dockerfile', /^ARG NODE_IMAGE=node:24-slim$/m, 'ARG NODE_IMAGE=node:22-slim'), dockerfileProblems, /base image node:22-slim/],
    ['the Dockerfile drops its USER', () => broken('dockerfile', /^USER 1000:1000$/m, '# no user'), dockerfileProblems, /runs as root/],
    ['the worker target runs the API', () => broken('dockerfile', /CMD \["node", "dist\/worker\/main.js"\]/, 'CMD ["node", "dist/api/server.js"]'), dockerfileProblems, /target worker: CMD/],
    ['the worker HEALTHCHECK reads API_PORT', () => broken('dockerfile', /process\.env\.WORKER_HTTP_PORT/, 'process.env.API_PORT'), dockerfileProblems, /HEALTHCHECK port from API_PORT/],
    ['the Dockerfile sets an unknown variable', () => broken('dockerfile', /ENV API_HOST=0\.0\.0\.0/, 'ENV API_HOSTNAME=0.0.0.0'), dockerfileProblems, /ENV API_HOSTNAME is not in ConfigSchema/],
    ['the worker image listens on loopback only', () => broken('dockerfile', /ENV WORKER_HTTP_HOST=0\.0\.0\.0 /, 'ENV '), dockerfileProblems, /target worker: WORKER_HTTP_HOST is 127\.0\.0\.1/],
  ]);
});
