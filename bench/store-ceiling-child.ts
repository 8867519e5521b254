// Store ceilings without the hub: batched inserts through the hub's own SQLite store, and line
// protocol POSTed straight to influxd with the hub's schema (measurement `readings`, tags
// `channel` and `device`, field `value`, ms timestamps), several requests in flight.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { INFLUX_MEASUREMENT } from '../hub/src/store/influx-store.ts';
import { createSqliteStore } from '../hub/src/store/sqlite-store.ts';
import { ReadingBatch } from '../hub/src/store/reading-batch.ts';
import { BENCH_CHANNELS, deviceId } from './bench-devices.ts';
import { announce, serveRpc } from './child-rpc.ts';

const gzipAsync = promisify(gzip);

export interface CeilingParams {
  devices: number;
  /** readings per frame, dealt over the channels as the load generators send them */
  samples: number;
  /** frames of one device in a row */
  burst: number;
  warmSeconds: number;
  seconds: number;
}

export interface CeilingResult {
  perSecond: number;
  measured: number;
  seconds: number;
  /** raw InfluxDB: points read back after the run, as a check that the writes landed */
  verified?: number;
  written?: number;
}

/**
 * Readings shaped like the hub's batches: frames of `samples` readings of one device dealt over
 * its channels on consecutive ms (see ReadingsTemplate), `burst` frames of a device in a row, devices in turn; (device, channel, time) stays
 * unique. A closed-loop device's window arrives as one burst, while a fleet of slow devices
 * interleaves (burst 1): SQLite writes far more pages per batch for the latter.
 * Batches are columns, as ingest hands them to the store; each reuses the same one with later
 * times: the ceiling is the store's, not the cost of making readings.
 */
class ReadingSource {
  private readonly start = Date.now() - 24 * 3_600_000;
  private batch = new ReadingBatch(0);
  private readonly frames: number[];
  private device = 0;
  private readonly rounds: number;
  constructor(private readonly devices: number, private readonly samples: number, private readonly burst: number) {
    this.frames = new Array(devices).fill(0);
    this.rounds = Math.ceil(samples / BENCH_CHANNELS.length);
  }
  next(count: number): ReadingBatch {
    const reuse = this.batch.length === count;
    if (!reuse) this.batch = new ReadingBatch(count);
    let i = 0;
    while (i < count) {
      const id = deviceId('dev-', this.device);
      for (let k = 0; k < this.burst && i < count; k++) {
        const first = this.start + this.frames[this.device]++ * this.rounds;
        for (let s = 0; s < this.samples && i < count; s++) {
          const r = Math.floor(s / BENCH_CHANNELS.length);
          const c = BENCH_CHANNELS[s % BENCH_CHANNELS.length];
          if (reuse) {
            this.batch.deviceId[i] = id;
            this.batch.channel[i] = c.name;
            this.batch.time[i] = first + r;
          } else {
            this.batch.push(id, c.name, first + r, 20 + (r % 10) / 8);
          }
          i++;
        }
      }
      this.device = (this.device + 1) % this.devices;
    }
    return this.batch;
  }
}

async function timed(params: CeilingParams, step: () => Promise<number>): Promise<CeilingResult> {
  const warmEnd = performance.now() + params.warmSeconds * 1000;
  while (performance.now() < warmEnd) await step();
  const start = performance.now();
  const end = start + params.seconds * 1000;
  let measured = 0;
  while (performance.now() < end) measured += await step();
  const seconds = (performance.now() - start) / 1000;
  return { perSecond: measured / seconds, measured, seconds };
}

serveRpc({
  async sqlite(params: CeilingParams & { batchSize: number; dataRoot?: string }): Promise<CeilingResult> {
    const dir = mkdtempSync(join(params.dataRoot ?? tmpdir(), 'bench-sqlite-ceiling-'));
    const store = createSqliteStore({ path: join(dir, 'readings.db') });
    const source = new ReadingSource(params.devices, params.samples, params.burst);
    try {
      return await timed(params, async () => {
        const batch = source.next(params.batchSize);
        await store.write(batch);
        return batch.length;
      });
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },

  async influx(params: CeilingParams & { url: string; batchPoints: number; inFlight: number; gzip?: boolean }): Promise<CeilingResult> {
    const db = 'bench_raw';
    const query = async (q: string) => {
      const res = await fetch(`${params.url}/query`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ q, db }).toString() });
      const body = await res.text();
      if (res.status !== 200) throw new Error(`InfluxDB query ${q}: HTTP ${res.status} ${body}`);
      return body;
    };
    await query(`DROP DATABASE ${db}`);
    await query(`CREATE DATABASE ${db}`);
    const source = new ReadingSource(params.devices, params.samples, params.burst);
    const prefixes = new Map<string, string>();
    const lineBatch = (): { body: string; points: number } => {
      let body = '';
      const readings = source.next(params.batchPoints);
      for (let i = 0; i < readings.length; i++) {
        const key = `${readings.deviceId[i]}/${readings.channel[i]}`;
        let prefix = prefixes.get(key);
        if (!prefix) prefixes.set(key, (prefix = `${INFLUX_MEASUREMENT},channel=${readings.channel[i]},device=${readings.deviceId[i]} value=`));
        body += `${prefix}${readings.value[i]} ${readings.time[i]}\n`;
      }
      return { body, points: readings.length };
    };
    const writeUrl = `${params.url}/write?db=${db}&precision=ms`;
    let total = 0;
    const post = async (): Promise<number> => {
      const { body, points } = lineBatch();
      const res = params.gzip
        ? await fetch(writeUrl, { method: 'POST', body: await gzipAsync(body), headers: { 'content-encoding': 'gzip' } })
        : await fetch(writeUrl, { method: 'POST', body });
      if (res.status !== 204) throw new Error(`InfluxDB write: HTTP ${res.status} ${await res.text()}`);
      total += points;
      return points;
    };
    // `inFlight` writers, each posting its next batch as soon as the last one is answered
    const results = await Promise.all(
      Array.from({ length: params.inFlight }, () => timed(params, post)),
    );
    const body = await query(`SELECT count(value) FROM ${INFLUX_MEASUREMENT}`);
    const verified = (JSON.parse(body) as { results: { series?: { values: [string, number][] }[] }[] }).results[0].series?.[0].values[0][1] ?? 0;
    await query(`DROP DATABASE ${db}`);
    const seconds = Math.max(...results.map((r) => r.seconds));
    const measured = results.reduce((n, r) => n + r.measured, 0);
    return { perSecond: measured / seconds, measured, seconds, verified, written: total };
  },
});
announce({ pid: process.pid });
