// Prometheus metrics. One registry per hub instance, so several hubs in one process (tests) stay apart.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Frame types as counted on `hub_frames_in_total` */
type FrameTypeName = 'hello' | 'readings' | 'ack' | 'command' | 'command_result' | 'error' | 'heartbeat';

export function createMetrics() {
  const registry = new Registry();
  // Counted per frame in plain numbers and handed to prom-client when it collects (a scrape): an
  // inc() per frame (label hashing, a value object per label set) was 9 % of the hub's CPU at one
  // sample per frame.
  let readingsIn = 0;
  const framesIn: Record<FrameTypeName, number> = { hello: 0, readings: 0, ack: 0, command: 0, command_result: 0, error: 0, heartbeat: 0 };
  collectDefaultMetrics({ register: registry });
  const metrics = {
    registry,
    /** gauges whose value lives elsewhere are read just before each scrape */
    beforeScrape: [] as (() => void)[],
    devicesConnected: new Gauge({ name: 'hub_devices_connected', help: 'Devices with an open session after HELLO', registers: [registry] }),
    framesIn: new Counter({
      name: 'hub_frames_in_total', help: 'Frames decoded from devices, by type', labelNames: ['type'], registers: [registry],
      collect() {
        for (const type of Object.keys(framesIn) as FrameTypeName[]) {
          if (framesIn[type] > 0) this.inc({ type }, framesIn[type]);
          framesIn[type] = 0;
        }
      },
    }),
    readingsIn: new Counter({
      name: 'hub_readings_in_total', help: 'Samples received in READINGS frames', registers: [registry],
      collect() {
        if (readingsIn > 0) this.inc(readingsIn);
        readingsIn = 0;
      },
    }),
    readingsStored: new Counter({ name: 'hub_readings_stored_total', help: 'Readings made durable (store or spool)', registers: [registry] }),
    rejected: new Counter({ name: 'hub_rejected_total', help: 'Frames, samples, lines and requests refused, by error code', labelNames: ['code'], registers: [registry] }),
    duplicates: new Counter({ name: 'hub_duplicate_frames_total', help: 'READINGS frames dropped as resends already held', registers: [registry] }),
    sequenceGaps: new Counter({ name: 'hub_sequence_gap_frames_total', help: 'READINGS frames a device skipped (lost on the device side)', registers: [registry] }),
    authFailures: new Counter({ name: 'hub_auth_failures_total', help: 'Upgrade or API requests with a missing or wrong token', labelNames: ['endpoint'], registers: [registry] }),
    storeWriteSeconds: new Histogram({
      name: 'hub_store_write_seconds', help: 'Time to make one batch durable',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry],
    }),
    storeWriteFailures: new Counter({ name: 'hub_store_write_failures_total', help: 'Batches that could not be made durable', registers: [registry] }),
    spoolBytes: new Gauge({ name: 'hub_spool_bytes', help: 'Bytes waiting in the outage spool', registers: [registry] }),
    spoolDropped: new Counter({ name: 'hub_spool_dropped_readings_total', help: 'Readings dropped because the outage spool was full', registers: [registry] }),
    liveDropped: new Counter({ name: 'hub_live_dropped_total', help: 'Live updates coalesced away for slow subscribers', registers: [registry] }),
    deviceThrottled: new Counter({ name: 'hub_device_throttled_total', help: 'Times a device over its frames, readings or bytes budget was paused or closed, by budget', labelNames: ['budget'], registers: [registry] }),
    liveClients: new Gauge({ name: 'hub_live_clients', help: 'Open /ws/live connections', registers: [registry] }),
    serialDisconnects: new Counter({ name: 'hub_serial_disconnects_total', help: 'Serial ports closed because they hung up, failed or went away; each is reopened with backoff', registers: [registry] }),
    consoleLinesDropped: new Counter({ name: 'hub_console_lines_dropped_total', help: 'Serial console lines dropped, by reason (rate: over the per-port lines per second)', labelNames: ['reason'], registers: [registry] }),
    consoleLinesTruncated: new Counter({ name: 'hub_console_lines_truncated_total', help: 'Serial console lines cut to the per-port line length', registers: [registry] }),
  };
  return {
    ...metrics,
    countFrame(type: FrameTypeName): void {
      framesIn[type]++;
    },
    countReadingsIn(n: number): void {
      readingsIn += n;
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
