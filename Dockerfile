# turnvault: `node bin/turnvault.mjs start`, running the built bundle (dist/turnvault.mjs).
# Configure with KAFKA_BROKERS, DATABASE_URL and REDIS_URL (unset: embedded defaults).

# Build: every dependency, then the bundle (`npm run build`).
FROM node:24-slim AS build
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY scripts/build.mjs ./scripts/build.mjs
COPY src ./src
COPY streams ./streams
COPY schemas ./schemas
RUN npm run build

# Run: production dependencies and the built output only (no sources, no TypeScript loader).
FROM node:24-slim
ENV NODE_ENV=production \
    TURNVAULT_HTTP_PORT=9464
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY bin ./bin
COPY --from=build /build/dist ./dist
COPY migrations ./migrations
# The prompt templates of the ingest extraction (nunjucks).
COPY prompts ./prompts
# The inspector page (/ui): static files served beside the admin API.
COPY ui ./ui

USER node
EXPOSE 9464
# SIGTERM stops consuming, lets in-flight batches finish, then flushes and closes (see startService).
STOPSIGNAL SIGTERM
CMD ["node", "bin/turnvault.mjs", "start"]
