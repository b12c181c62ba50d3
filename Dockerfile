# syntax=docker/dockerfile:1
# One build, two targets that share every layer but the last: `api` and `worker`. Each has its own
# entry point and HEALTHCHECK (the API and the worker answer /health/live on different ports).
# Production runs compiled JavaScript (`npm run build`, src/ -> dist/): no type-stripping module in
# memory, and what runs is exactly what `tsc` checked. Tests and development run the .ts sources.
# Heap limits (NODE_OPTIONS below) were chosen by measurement (bench/README.md, "Memory"); they are
# the one place these flags live: scripts/start.sh and the benchmark read them from here.
#
#   docker build --target api    -t hemo-patient-ingest-api:0.1.0 .
#   docker build --target worker -t hemo-patient-ingest-worker:0.1.0 .
#
# deploy/k8s and docker-compose.yml use exactly these targets; test/unit/deploy/*.test.ts
# checks that they agree with each other and with src/shared/config/config.ts.

# The base image: the official one on a Docker host; a machine that reaches no image registry passes
# its own (scripts/images.sh builds localhost/hemo-node from Debian packages: `--build-arg NODE_IMAGE=…`).
ARG NODE_IMAGE=node:24-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only. No install script is needed (package.json denies the four that exist).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Code and dependencies stay owned by root: the process can read them, never change them.
COPY --from=deps /app/node_modules ./node_modules
# package.json is needed at run time: its "type": "module" makes the compiled files ES modules.
COPY package.json ./
COPY --from=build /app/dist ./dist
# The unprivileged user of the node image, by number (uid/gid 1000 = `node`): a runtime can then
# verify runAsNonRoot without resolving a name; the Kubernetes manifests set runAsUser: 1000 too.
USER 1000:1000
# Exec-form CMD: node is PID 1 and gets SIGTERM itself, which starts the graceful shutdown
# (SHUTDOWN_TIMEOUT_MS, then a hard exit 5 s later). Give the container more than that to stop.
STOPSIGNAL SIGTERM

FROM runtime AS worker
# Health and metrics on every interface of the container (the default, 127.0.0.1, is for a host install).
ENV WORKER_HTTP_HOST=0.0.0.0 WORKER_HTTP_PORT=3001
ENV NODE_OPTIONS="--max-old-space-size=128 --max-semi-space-size=4"
EXPOSE 3001
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.WORKER_HTTP_PORT || '3001') + '/health/live', { signal: AbortSignal.timeout(3000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/worker/main.js"]

# Last stage = what a plain `docker build .` produces.
FROM runtime AS api
# Listen on every interface of the container (the default, 127.0.0.1, is for a host install).
ENV API_HOST=0.0.0.0 API_PORT=3000
ENV NODE_OPTIONS="--max-old-space-size=128 --max-semi-space-size=4"
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.API_PORT || '3000') + '/health/live', { signal: AbortSignal.timeout(3000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/api/server.js"]
