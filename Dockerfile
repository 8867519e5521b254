# The telemetry hub in a container.
#   docker build -t telemetry-hub .
#   docker run -d --name hub -p 8080:8080 -v hub-data:/data --stop-timeout 30 telemetry-hub
#   docker logs hub    (the generated operator token is printed there once, on first start)
# Configuration is environment variables (docker run -e ..., see `docker run --rm telemetry-hub
# node hub/dist/main.js --help`); the data dir is the /data volume.

FROM node:20-bookworm-slim AS build
# For native modules (better-sqlite3, serialport) when no prebuilt binary fits.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts
COPY . .
# Install scripts of the dependencies (native modules), then the hub's build (hub/dist).
RUN npm rebuild && node hub/build.mjs

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    HUB_HOST=0.0.0.0 \
    HUB_PORT=8080 \
    HUB_DATA_DIR=/data
WORKDIR /app
COPY --from=build /app /app
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.HUB_PORT + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The hub runs as PID 1 and handles SIGTERM itself: pending readings written and acknowledged,
# device sessions closed with 1001, exit 0 within 10 s.
STOPSIGNAL SIGTERM
CMD ["node", "hub/dist/main.js"]
