// A lean protocol-speaking device for load generation: HELLO, re-stamped READINGS frames,
// cumulative ACKs and an immediate `succeeded` to every COMMAND, with nothing else (no
// store-and-forward buffer of frame copies), so one process can drive thousands of connections or
// tens of thousands of frames per second.
import { randomInt } from 'node:crypto';
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { decodeFrame, encodeFrame, type ChannelDescriptor } from '../hub/src/protocol/index.ts';

export interface BenchDeviceOptions {
  hubUrl: string;
  id: string;
  token: string;
  channels: readonly ChannelDescriptor[];
  localAddress?: string;
}

/**
 * An all-zero mask is a valid mask (RFC 6455 §5.3) that lets `ws` skip masking every payload on
 * the sending side: on 2 cores the generator must not be what limits the hub. The hub still
 * unmasks every frame as it would for any device.
 */
export function zeroMask(mask: Uint8Array): void {
  mask.fill(0);
}

/**
 * The TCP socket under a WebSocket, to cork a burst of frames into one write: one syscall per
 * frame would make the generator, not the hub, the limit. `ws` has no public handle for it.
 */
export function socketOf(ws: WebSocket): Socket {
  return (ws as unknown as { _socket: Socket })._socket;
}

export class BenchDevice {
  ws: WebSocket | null = null;
  /** last seq sent, last seq acknowledged */
  sent = 0;
  acked = 0;
  errors = 0;
  commandsAnswered = 0;
  closedUnexpectedly = false;
  onAck: ((device: BenchDevice, seq: number) => void) | null = null;
  private closing = false;

  constructor(readonly options: BenchDeviceOptions) {}

  get unacked(): number {
    return this.sent - this.acked;
  }

  /** Resolves after the resume ACK [FP-4.1.2]. */
  connect(): Promise<void> {
    const { hubUrl, id, token, channels, localAddress } = this.options;
    const ws = openDeviceSocket(hubUrl, token, localAddress);
    this.ws = ws;
    return new Promise((resolve, reject) => {
      let open = false;
      ws.on('open', () => ws.send(encodeFrame({ type: 'hello', session: randomInt(0x1_0000_0000), deviceId: id, firmware: 'bench', channels: [...channels] })));
      ws.on('message', (data: Buffer) => {
        const frame = decodeFrame(data);
        if (frame.type === 'ack') {
          if (!open) {
            open = true;
            this.acked = this.sent = frame.ackedSeq;
            return resolve();
          }
          if (frame.ackedSeq > this.acked) {
            this.acked = frame.ackedSeq;
            this.onAck?.(this, frame.ackedSeq);
          }
        } else if (frame.type === 'command') {
          // answered at once: the cluster scenario times the hub's side of a command's round trip
          this.commandsAnswered++;
          ws.send(encodeFrame({ type: 'command_result', id: frame.id, status: 'succeeded', payload: '{}' }));
        } else if (frame.type === 'error') {
          this.errors++;
        }
      });
      ws.on('error', (err) => {
        if (!open) reject(new Error(`${id}: ${err.message}`));
      });
      ws.on('unexpected-response', (_req, res) => {
        reject(new Error(`${id}: upgrade refused with HTTP ${res.statusCode}`));
        ws.terminate();
      });
      ws.on('close', (code) => {
        if (!open) reject(new Error(`${id}: closed ${code} before the resume ACK`));
        else if (!this.closing) this.closedUnexpectedly = true;
      });
    });
  }

  send(frame: Uint8Array): void {
    this.ws!.send(frame);
  }

  cork(): void {
    socketOf(this.ws!).cork();
  }

  uncork(): void {
    socketOf(this.ws!).uncork();
  }

  close(): Promise<void> {
    this.closing = true;
    return closeWebSocket(this.ws);
  }
}

/** A device connection as the load generators make them: no compression, a zero mask (cheap for the generator). */
export function openDeviceSocket(hubUrl: string, token: string, localAddress?: string): WebSocket {
  const ws = new WebSocket(`${hubUrl.replace(/^http/, 'ws')}/ws/device`, {
    headers: { authorization: `Bearer ${token}` },
    localAddress,
    perMessageDeflate: false,
    generateMask: zeroMask,
  });
  ws.binaryType = 'nodebuffer';
  return ws;
}

/** Closes cleanly, or drops the connection if the other side does not answer within 2 s. */
export function closeWebSocket(ws: WebSocket | null): Promise<void> {
  if (!ws || ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => ws.terminate(), 2000);
    ws.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    ws.close(1000);
  });
}

/** Runs `task` over `items` with at most `concurrency` in flight. */
export async function withConcurrency<T>(items: readonly T[], concurrency: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await task(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}
