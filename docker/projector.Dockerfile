# The projector (Kafka events into PostgreSQL, and its read API) on Bun's official image (the tag
# is package.json's Bun version). Build from the repository root (docker/docker-compose.yml does):
#   docker build -f docker/projector.Dockerfile .
# It keeps no state of its own: PostgreSQL holds the projection, Kafka the committed offsets.
FROM oven/bun:1.4.5

WORKDIR /app
# Production dependencies only, at the versions package-lock.json pins (bun migrates the npm
# lockfile; --frozen-lockfile refuses to resolve anything else). None needs an install script;
# Bun applies package.json's patchedDependencies (patches/README.md) itself.
COPY package.json package-lock.json bunfig.toml ./
COPY patches ./patches
RUN bun install --production --frozen-lockfile --ignore-scripts

# The code projector/main.ts loads (the migrations folder included; the read API authenticates
# with auth/ and answers with http/), owned by root and so read-only for the process.
# test/docker/dockerfile.test.ts checks that every file the entry point imports is copied here.
COPY common ./common
COPY schema ./schema
COPY auth ./auth
COPY http ./http
COPY config ./config
COPY events ./events
COPY projector ./projector
COPY docker/healthcheck.ts ./docker/healthcheck.ts

USER bun

ENV PROJECTOR_HOST=0.0.0.0 \
    PROJECTOR_PORT=8070
EXPOSE 8070
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["bun", "docker/healthcheck.ts", "PROJECTOR_PORT", "8070"]
# SIGTERM lets the batch being applied commit, then the consumer leaves its group (exit 0).
STOPSIGNAL SIGTERM
CMD ["bun", "projector/main.ts"]
