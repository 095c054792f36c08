# tideline daemon image. Built by docker-compose.yml (`build: .`); see docs/docker.md.

# ---- build: install all dependencies, check types and bundle (scripts/build.mjs), drop dev dependencies
FROM node:20-bookworm-slim AS build
WORKDIR /app

# Dependencies first, so this layer stays cached while only sources change.
# --ignore-scripts: `npm ci` would otherwise run the `prepare` script (tsc) before
# the sources are copied; no production dependency has an install script.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund

COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

# ---- runtime: the bundles, production dependencies (kafkajs is loaded from them), connector files
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app

# package.json is needed at run time: it declares "type": "module" for dist/.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY connectors ./connectors

# The node image ships an unprivileged `node` user (uid 1000).
USER node

# Admin HTTP API: /connectors, /metrics, /healthz (TIDELINE_ADMIN_PORT, default 8089). It listens on
# 127.0.0.1 unless TIDELINE_ADMIN_HOST says otherwise, which needs TIDELINE_ADMIN_TOKEN (docker-compose.yml).
EXPOSE 8089

ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["run", "/app/connectors"]
