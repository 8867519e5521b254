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
}

function metric(text: string, name: string, labels = ''): number {
  const prefix = `${name}${labels} `;
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  return line ? Number(line.slice(prefix.length)) : 0;
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

/** One history query; its time in ms (request to parsed body) and its point count. */
export async function timedQuery(hubUrl: string, path: string): Promise<{ ms: number; points: number }> {
  const started = performance.now();
  const answer = await api<HistoryAnswer>(hubUrl, path);
  return { ms: performance.now() - started, points: answer.points.length };
}
