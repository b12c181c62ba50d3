import { defineConfig } from 'vitest/config';

// One project per test layer, so each runs alone: `npm run test:unit`, `test:integration`,
// `test:contract`, `test:browser`, `test:faults`, `test:cluster`, `test:containers`. Only the unit project runs without servers.
const withServers = { globalSetup: ['test/global-setup.ts'] };

export default defineConfig({
  test: {
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // 2 cores: integration files each run servers, workers and queues; keep parallelism modest.
    maxWorkers: 2,
    reporters: ['default'],
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      { extends: true, test: { name: 'integration', include: ['test/integration/**/*.test.ts'] } },
      { extends: true, test: { name: 'contract', include: ['test/contract/**/*.test.ts'] } },
      { extends: true, test: { name: 'browser', include: ['test/browser/**/*.test.ts'] } },
      // Fault tests kill and restart real processes and servers: one file at a time (scripts/test.sh).
      { extends: true, test: { name: 'faults', include: ['test/faults/**/*.test.ts'], fileParallelism: false } },
      // Each test starts its own 6-node Redis Cluster and kills a master (issue 11): one file at a time, last.
      { extends: true, test: { name: 'cluster', include: ['test/cluster/**/*.test.ts'], fileParallelism: false } },
      // Issue 23: the Dockerfile and docker-compose.yml built and run with podman (scripts/containers.sh,
      // scripts/images.sh); each file starts its own containers. One file at a time, after the rest.
      { extends: true, test: { name: 'containers', include: ['test/containers/**/*.test.ts'], fileParallelism: false, testTimeout: 180_000, hookTimeout: 900_000 } },
      // Opt-in, never in scripts/test.sh's runs: a 3-member mongo:8 replica set in containers (issue 21;
      // test/support/mongo-replica-set.ts). `npm run test:replica-set`; test/README.md says what it needs.
      { extends: true, test: { name: 'replica-set', include: ['test/replica-set/**/*.test.ts'], fileParallelism: false, testTimeout: 120_000, hookTimeout: 300_000 } },
    ],
  },
});
