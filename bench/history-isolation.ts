// `npx tsx bench/history-isolation.ts [points] [queries] [seconds]`: a device's ACK latency on the
// embedded store while heavy history aggregates run. Not part of `npm run bench`: it runs the hub,
// the device and the HTTP clients in this one process (the clients' JSON parsing shares the event
// loop with the hub, so the figures are an upper bound on what the hub adds).
//
// Seeds `points` readings (one a second, default 3,000,000) for device `heavy` straight into
// readings.db, streams a device with absolute times at 100 frames/s, measures its ACK latency idle
// for 3 s, then while `queries` clients (default 4) repeat `every=1m&agg=mean` over the whole range.
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSqliteStore } from '../hub/src/store/sqlite-store.ts';
import { startTestHub } from '../hub/test/support/hub-fixture.ts';

const POINTS = Number(process.argv[2] ?? 3_000_000);
const QUERIES = Number(process.argv[3] ?? 4);
const SECONDS = Number(process.argv[4] ?? 20);
const T0 = Date.UTC(2025, 0, 1);

// The seed is kept between runs (in the temp dir), so only the first run pays for it.
const seed = join(tmpdir(), `hub-history-bench-${POINTS}`);
if (!existsSync(join(seed, 'readings.db'))) {
  const store = createSqliteStore({ path: join(seed, 'readings.db') });
  for (let start = 0; start < POINTS; start += 50_000) {
    const batch = [];
    for (let i = start; i < Math.min(POINTS, start + 50_000); i++) batch.push({ deviceId: 'heavy', channel: 'temperature', time: T0 + i * 1000, value: Math.sin(i / 1000) * 20 });
    await store.write(batch);
  }
  await store.close();
}
const dataDir = mkdtempSync(join(tmpdir(), 'hub-history-bench-run-'));
cpSync(seed, dataDir, { recursive: true });
const hub = await startTestHub({ dataDir });
await hub.provision('heavy');
const device = hub.device('streamer', await hub.provision('streamer'));
await device.connect();

const sentAt = new Map<number, number>();
const acks: { sent: number; ms: number }[] = [];
device.on('ack', (seq: number) => {
  const now = performance.now();
  for (const [s, t] of sentAt) {
    if (s > seq) break;
    acks.push({ sent: t, ms: now - t });
    sentAt.delete(s);
  }
});
let streaming = true;
const stream = (async () => {
  for (let i = 0; streaming; i++) {
    sentAt.set(device.sendReadings([{ channel: 1, type: 'f32', offset: 0, value: i }], Date.now()), performance.now());
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
})();

const idleFrom = performance.now();
await new Promise((resolve) => setTimeout(resolve, 3000));
const queryFrom = performance.now();
const path = `/api/devices/heavy/readings?from=${T0}&to=${T0 + POINTS * 1000}&every=1m&agg=mean`;
const queryMs: number[] = [];
const outcomes = new Map<string, number>();
const end = Date.now() + SECONDS * 1000;
await Promise.all(
  Array.from({ length: QUERIES }, async () => {
    while (Date.now() < end) {
      const started = performance.now();
      const res = await hub.api(path);
      const body = (await res.json()) as { points?: unknown[]; error?: { code: string } };
      queryMs.push(performance.now() - started);
      const outcome = res.status === 200 ? `200 (${body.points!.length} windows)` : `${res.status} ${body.error?.code}`;
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
  }),
);
const queryTo = performance.now();
streaming = false;
await stream;
await device.waitAcked(undefined, 120_000);

function summary(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]?.toFixed(1) ?? 'n/a';
  return `n=${sorted.length} p50 ${at(0.5)} · p99 ${at(0.99)} · max ${sorted.at(-1)?.toFixed(1) ?? 'n/a'} ms`;
}
const latency = (from: number, to: number) => acks.filter((a) => a.sent >= from && a.sent < to).map((a) => a.ms);
console.log(`${POINTS} readings, ${QUERIES} concurrent 1-minute-mean queries for ${SECONDS} s`);
console.log(`ACK latency, idle:          ${summary(latency(idleFrom, queryFrom))}`);
console.log(`ACK latency, during queries: ${summary(latency(queryFrom, queryTo))}`);
console.log(`query time:                  ${summary(queryMs)}`);
console.log(`query answers:               ${[...outcomes].map(([k, n]) => `${n} × ${k}`).join(', ')}`);
await hub.stop();
rmSync(dataDir, { recursive: true, force: true });
