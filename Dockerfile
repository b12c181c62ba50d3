# syntax=docker/dockerfile:1
# One image for both processes; compose/k8s pick the entry point. Node 24 runs the TypeScript
# sources directly (type stripping), so there is no build step to drift from what the tests ran.
FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY src ./src
USER node
EXPOSE 3000
CMD ["node", "src/api/server.ts"]
