// A /ws/live subscriber measuring device → dashboard latency: READINGS carry their send time as
// base time (the newest sample sits at offset 0), so the newest reading time in each live message
// is when its frame left the device. Soak devices mark frames made while offline (odd values,
// see SOAK_CHANNELS): those left the device only after the outage, so they are timed apart.
import WebSocket from 'ws';
import { announce, serveRpc } from './child-rpc.ts';
import { distribution, preciseNow } from './stats.ts';

let ws: WebSocket | null = null;
let recording = false;
let latencies: number[] = [];
let heldLatencies: number[] = [];
let heldMarker = false;
let messages = 0;
let readings = 0;
let dropped = 0;

serveRpc({
  async connect(params: { hubUrl: string; token: string; heldMarker?: boolean }) {
    heldMarker = params.heldMarker ?? false;
    const socket = new WebSocket(`${params.hubUrl.replace(/^http/, 'ws')}/ws/live`, { headers: { authorization: `Bearer ${params.token}` }, perMessageDeflate: false });
    ws = socket;
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.once('open', () => socket.send(JSON.stringify({ type: 'subscribe', devices: '*' })));
      socket.on('message', (data: Buffer) => {
        const arrived = preciseNow();
        const message = JSON.parse(data.toString()) as { type: string; readings?: { time: number; value: number }[]; total?: number };
        if (message.type === 'subscribed') return resolve();
        if (message.type === 'dropped') dropped = message.total ?? dropped;
        if (message.type !== 'readings' || !message.readings) return;
        messages++;
        readings += message.readings.length;
        if (!recording) return;
        let newest = -Infinity;
        let newestHeld = -Infinity;
        for (const r of message.readings) {
          if (heldMarker && r.value % 2 === 1) {
            if (r.time > newestHeld) newestHeld = r.time;
          } else if (r.time > newest) newest = r.time;
        }
        if (newest > -Infinity) latencies.push(arrived - newest);
        else heldLatencies.push(arrived - newestHeld);
      });
    });
    return true;
  },
  record(params: { on: boolean }) {
    recording = params.on;
    if (params.on) {
      latencies = [];
      heldLatencies = [];
    }
    return { messages, readings };
  },
  result() {
    return { latency: distribution(latencies), messages, readings, dropped };
  },
  /** The latencies since the last call, then starts over: one interval of a long run. */
  take() {
    const latency = distribution(latencies);
    const held = distribution(heldLatencies);
    latencies = [];
    heldLatencies = [];
    return { latency, held, messages, readings, dropped, open: ws?.readyState === WebSocket.OPEN };
  },
  close() {
    ws?.terminate();
    return true;
  },
});
announce({ pid: process.pid });
