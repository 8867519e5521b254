// What the bench asks of a running hub over HTTP: counters from /metrics, readings counted back
// through the history API, and timed history queries.
import { BENCH_ADMIN_TOKEN } from './bench-devices.ts';

export interface HubCounters {
  at: number;
  stored: number;
  readingsIn: number;
  frames: number;
  connected: number;
  /** store writes (batches) made durable */
  batches: number;
  storeSeconds: number;
  /** READINGS frames dropped as resends of frames already held [FP-5.2] */
  duplicateFrames: number;
  /** frames devices skipped, by the hub's count [FP-5.2] */
  sequenceGaps: number;
  storeWriteFailures: number;
  /** times a device over its budget was paused or closed, all budgets */
  throttled: number;
  /** live updates coalesced away for clients that fell behind */
  liveDropped: number;
  liveClients: number;
}

function metric(text: string, name: string, labels = ''): number {
  const prefix = `${name}${labels} `;
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  return line ? Number(line.slice(prefix.length)) : 0;
}

/** A counter summed over all its label sets. */
function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

export async function hubCounters(hubUrl: string): Promise<HubCounters> {
  const res = await fetch(`${hubUrl}/metrics`);
  if (res.status !== 200) throw new Error(`GET /metrics: HTTP ${res.status}`);
  const text = await res.text();
  return {
    at: performance.now(),
    stored: metric(text, 'hub_readings_stored_total'),
    readingsIn: metric(text, 'hub_readings_in_total'),
    frames: metric(text, 'hub_frames_in_total', '{type="readings"}'),
    connected: metric(text, 'hub_devices_connected'),
    batches: metric(text, 'hub_store_write_seconds_count'),
    storeSeconds: metric(text, 'hub_store_write_seconds_sum'),
    duplicateFrames: metric(text, 'hub_duplicate_frames_total'),
    sequenceGaps: metric(text, 'hub_sequence_gap_frames_total'),
    storeWriteFailures: metric(text, 'hub_store_write_failures_total'),
    throttled: metricSum(text, 'hub_device_throttled_total'),
    liveDropped: metric(text, 'hub_live_dropped_total'),
    liveClients: metric(text, 'hub_live_clients'),
  };
}

export async function api<T>(hubUrl: string, path: string): Promise<T> {
  const res = await fetch(hubUrl + path, { headers: { authorization: `Bearer ${BENCH_ADMIN_TOKEN}` } });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`GET ${path}: HTTP ${res.status} ${body.slice(0, 300)}`);
  return JSON.parse(body) as T;
}

interface HistoryAnswer {
  points: { channel: string; time: number; value: number }[];
}

/** Readings the store holds for these devices in [from, to), counted by the store itself. */
export async function countBack(hubUrl: string, ids: readonly string[], from: number, to: number): Promise<number> {
  let total = 0;
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++];
      const answer = await api<HistoryAnswer>(hubUrl, `/api/devices/${encodeURIComponent(id)}/readings?from=${from}&to=${to}&every=1d&agg=count`);
      for (const p of answer.points) total += p.value;
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return total;
}

/** Readings of one device's channel in [from, to), counted by the store in one window. */
export async function countOne(hubUrl: string, id: string, channel: string, from: number, to: number): Promise<number> {
  const every = `${to - from}ms`;
  const answer = await api<HistoryAnswer>(hubUrl, `/api/devices/${encodeURIComponent(id)}/readings?from=${from}&to=${to}&channel=${encodeURIComponent(channel)}&every=${every}&agg=count`);
  // windows are aligned to the epoch, so the range can straddle two of them
  return answer.points.reduce((sum, p) => sum + p.value, 0);
}

/** Every raw reading of one device's channel in [from, to), oldest first, page by page. */
export async function rawPoints(hubUrl: string, id: string, channel: string, from: number, to: number, pageSize = 100_000): Promise<{ time: number; value: number }[]> {
  const out: { time: number; value: number }[] = [];
  let start = from;
  for (;;) {
    const answer = await api<HistoryAnswer & { truncated: boolean }>(hubUrl, `/api/devices/${encodeURIComponent(id)}/readings?from=${start}&to=${to}&channel=${encodeURIComponent(channel)}&limit=${pageSize}`);
    for (const p of answer.points) out.push({ time: p.time, value: p.value });
    if (!answer.truncated || answer.points.length === 0) return out;
    start = answer.points[answer.points.length - 1].time + 1;
    if (start >= to) return out;
  }
}

/** One history query; its time in ms (request to parsed body) and its point count. */
export async function timedQuery(hubUrl: string, path: string): Promise<{ ms: number; points: number }> {
  const started = performance.now();
  const answer = await api<HistoryAnswer>(hubUrl, path);
  return { ms: performance.now() - started, points: answer.points.length };
}
