# turnvault: `node bin/turnvault.mjs start` (tsx loads the TypeScript sources, no build step).
# Configure with KAFKA_BROKERS, DATABASE_URL and REDIS_URL (unset: embedded defaults).
FROM node:20-slim

ENV NODE_ENV=production \
    TURNVAULT_HTTP_PORT=9464
WORKDIR /app

COPY package.json package-lock.json ./
# tsx is a runtime dependency; dev dependencies (tests, linters) are not installed.
RUN npm ci --omit=dev && npm cache clean --force

COPY bin ./bin
COPY src ./src
COPY streams ./streams
COPY schemas ./schemas
# The inspector page (/ui): static files served beside the admin API.
COPY ui ./ui
COPY migrations ./migrations
COPY tsconfig.json ./

USER node
EXPOSE 9464
# SIGTERM stops consuming, lets in-flight batches finish, then flushes and closes (see startService).
STOPSIGNAL SIGTERM
CMD ["node", "bin/turnvault.mjs", "start"]
