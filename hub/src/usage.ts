// `npm start -- --help`: what the hub reads from its environment (the README's Configuration table).

export const USAGE = `Usage: npm start [-- --help]
       node hub/dist/main.js [--help]

The telemetry hub: devices stream readings over WebSocket or serial; the hub stores them, shows
them on a live dashboard, answers history queries and sends commands to devices. HTTP, the
dashboard and both WebSockets share one port.

Configuration is read from environment variables only; a bad value stops the hub at start with a
message naming the variable.

  HUB_PORT                      default 8080
      HTTP/WS port (0 picks a free one)
  HUB_HOST                      default 0.0.0.0
      bind address
  HUB_DATA_DIR                  default ./data
      embedded store (readings.db), device registry (registry.db), command log (commands.db),
      outage spool (spool/), dashboard sessions (sessions.db), alerts (alerts.db), operator token
      (admin-token)
  INFLUX_URL                    unset
      e.g. http://127.0.0.1:8086/telemetry (database in the path; user:password in the URL are
      sent as basic auth). When set, readings go to InfluxDB instead of the embedded store
  INFLUX_RETENTION              default INF
      duration of the telemetry_rp retention policy, e.g. 30d
  HUB_ROLLUP_MINUTE_RETENTION   default 90d
      how long the 1-minute history tier keeps its buckets, e.g. 30d; INF keeps forever
  HUB_ROLLUP_HOUR_RETENTION     default 260w
      how long the 1-hour history tier keeps its buckets, e.g. 52w; INF keeps forever
  HUB_QUERY_TIMEOUT_MS          default 10000
      a history query running longer (waiting for a free reader included) gets 504
  HUB_QUERY_MAX_SCAN            default 20000000
      embedded store: a history query reading more stored points (readings or tier buckets) gets
      422 HUB_ERR_QUERY_TOO_LARGE
  HUB_ADMIN_TOKEN               generated on first start, printed once, kept in the data dir
      operator token for the REST API, /ws/live and the dashboard (at least 16 characters)
  HUB_METRICS_TOKEN             unset
      when set, GET /metrics requires \`Authorization: Bearer <token>\`
  HUB_NATS_URL                  unset
      cluster mode: NATS servers, comma-separated (nats://host:4222,...); needs HUB_POSTGRES_URL
      and INFLUX_URL too
  HUB_POSTGRES_URL              unset
      cluster mode: postgres://user:password@host:5432/database for the shared registry, tokens,
      sessions, commands, presence and alerts
  HUB_ID                        host name-port
      this hub's name among the others in cluster mode
  HUB_TLS_CERT, HUB_TLS_KEY     unset
      PEM certificate and key files; with both set the hub serves https:// and wss:// on its port
  HUB_SERIAL                    unset
      serial ports to bridge, e.g. /dev/ttyUSB0:115200,/dev/ttyACM0 (baud defaults to 115200)
  HUB_SPOOL_MAX_BYTES           default 1073741824 (1 GiB)
      bound of the outage spool
  HUB_STORE_WRITES_IN_FLIGHT    default 2
      store writes running at once (1-64); acknowledgements still go out in order
  HUB_LOG_LEVEL                 default info
      pino level: fatal, error, warn, info, debug, trace
  HUB_MAX_FRAMES_PER_SECOND     default 1000
      per device; above it the hub stops reading the device's socket, and closes it (4026) after
      5 s over budget without a break
  HUB_MAX_READINGS_PER_SECOND   default 20000
      samples per device, the same way
  HUB_MAX_BYTES_PER_SECOND      default 1048576
      frame bytes per device, the same way (at least 16384)
  HUB_MAX_CONNECTIONS_PER_IP    default 2000
      open WebSockets (device and live) from one address; more get HTTP 429
  HUB_MAX_HTTP_CONNECTIONS_PER_IP  default 2000
      open connections from one address that are not WebSockets
  HUB_MAX_DEVICES               default 100000
      provisioned devices and serial devices that registered themselves; more get HUB_ERR_LIMIT
  HUB_MAX_CHANNEL_NAMES_PER_DEVICE  default 256
      distinct channel names one device may declare over its lifetime; a HELLO past it is
      refused (FP_ERR_TOO_MANY_CHANNELS, close 4032)

Logs are JSON lines on stdout; messages for the person starting the hub (a generated operator
token, why it could not start) go to stderr. SIGINT or SIGTERM stops the hub cleanly: it writes
and acknowledges pending readings, closes device sessions with 1001 and exits 0; a stop that takes
longer than 10 s exits 1.

Exit codes: 0 stopped cleanly; 1 unclean stop or unexpected failure; 2 bad configuration or an
unusable port, data dir or store at start, or a bad argument.
`;
