// The containers layer's engine: podman's command line, configured by scripts/containers.sh
// (CONTAINERS_CONF) with the images of scripts/images.sh, whose tags scripts/test.sh exports. A run
// without them fails, saying how to get them: this layer is never skipped.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { ROOT } from './local-servers.ts';

const run = promisify(execFile);

export type Images = { redis: string; ferretdb: string; node: string };

/** The base images' tags, exported by scripts/test.sh (scripts/images.sh builds them). */
export function images(env: NodeJS.ProcessEnv = process.env): Images {
  const { TEST_REDIS_IMAGE: redis, TEST_FERRETDB_IMAGE: ferretdb, NODE_IMAGE: node, CONTAINERS_CONF: conf } = env;
  if (!redis || !ferretdb || !node || !conf) {
    throw new Error('the containers layer needs podman and its images: run it through scripts/test.sh (bash scripts/test.sh --project containers), which installs podman and builds them (scripts/containers.sh, scripts/images.sh)');
  }
  return { redis, ferretdb, node };
}

/** podman's stdout, trimmed; a failure carries podman's stderr. */
export async function podman(args: string[], timeoutMs = 120_000): Promise<string> {
  try {
    const { stdout } = await run('podman', args, { cwd: ROOT, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
    return stdout.trim();
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`podman ${args.slice(0, 3).join(' ')} failed: ${e.stderr?.trim().split('\n').slice(-5).join(' | ') || e.message}`);
  }
}

export const APP_IMAGES = { api: 'localhost/hemo-patient-ingest-api:test', worker: 'localhost/hemo-patient-ingest-worker:test' } as const;

/**
 * The Dockerfile's two targets, built as on a Docker host but from this machine's base image. Layers
 * are cached by podman, so a second build (the compose test's) is quick. `docker` format: the OCI
 * format has no HEALTHCHECK.
 */
export async function buildAppImages(base = images().node): Promise<void> {
  for (const target of ['api', 'worker'] as const) {
    await podman(['build', '--quiet', '--format', 'docker', '--build-arg', `NODE_IMAGE=${base}`, '--target', target, '--tag', APP_IMAGES[target], '.'], 600_000);
  }
}

/** A name for this run's containers, networks and compose project: removable by prefix. */
export const runName = (what: string) => `hemo-${what}-${randomBytes(3).toString('hex')}`;

/** A container's state as podman reports it. */
export async function inspectState(name: string): Promise<{ Running: boolean; ExitCode: number; Status: string }> {
  return JSON.parse(await podman(['inspect', '--format', '{{json .State}}', name])) as { Running: boolean; ExitCode: number; Status: string };
}

/** The host port that a container's port is published on (127.0.0.1 only). */
export async function hostPort(name: string, port: number): Promise<number> {
  const out = await podman(['port', name, `${port}/tcp`]);
  const match = /^127\.0\.0\.1:(\d+)$/m.exec(out);
  if (!match) throw new Error(`${name}:${port} is not published on 127.0.0.1 (podman port: ${out})`);
  return Number(match[1]);
}
