// A device speaking firmware-protocol.md over WebSocket, with store-and-forward [FP-5]. The
// simulator runs many of these; tests use it as a well-behaved device.
import WebSocket from 'ws';
import { decodeFrame, ProtocolError, type Frame } from '../../hub/src/protocol/index.ts';
import { DeviceCore, type DeviceOptions } from './device-core.ts';

export { builtInCommand, type CommandAnswer, type DeviceEvents as DeviceClientEvents, type DeviceStats } from './device-core.ts';

export interface DeviceClientOptions extends DeviceOptions {
  /** hub base URL, e.g. http://127.0.0.1:8080 */
  hubUrl: string;
  token: string;
  /** source address of the TCP connection, to spread thousands of sockets over 127.0.0.x */
  localAddress?: string;
}

export class DeviceClient extends DeviceCore {
  private ws: WebSocket | null = null;

  constructor(override readonly options: DeviceClientOptions) {
    super(options);
  }

  protected get linkOpen(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  protected transmit(bytes: Uint8Array): void {
    this.ws!.send(bytes);
  }

  protected restartLink(): void {
    // [FP-5.4] "reconnects with a new session": whoever owns the client reconnects on 'close'
    this.ws?.close(1000);
  }

  /** Opens the socket, sends HELLO and resolves after the resume ACK [FP-4.1.2]. */
  connect(extra: { headers?: Record<string, string>; token?: string } = {}): Promise<void> {
    const url = this.options.hubUrl.replace(/^http/, 'ws') + '/ws/device';
    const ws = new WebSocket(url, {
      headers: { authorization: `Bearer ${extra.token ?? this.options.token}`, ...extra.headers },
      localAddress: this.options.localAddress,
      perMessageDeflate: false,
    });
    ws.binaryType = 'nodebuffer';
    this.ws = ws;
    this.linkLost();
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        this.off('open', opened);
        reject(err);
      };
      const opened = () => {
        settled = true;
        resolve();
      };
      this.once('open', opened);
      ws.on('unexpected-response', function onRefusedUpgrade(_req, res) {
        fail(Object.assign(new Error(`upgrade refused: HTTP ${res.statusCode}`), { status: res.statusCode }));
        // with this listener ws leaves the request open; end it so the socket is not leaked
        ws.terminate();
      });
      ws.on('error', (err) => fail(err));
      ws.on('open', () => ws.send(this.helloBytes()));
      ws.on('message', (data: Buffer) => {
        let frame: Frame;
        try {
          frame = decodeFrame(data);
        } catch (err) {
          if (err instanceof ProtocolError) return;
          throw err;
        }
        if (this.ws === ws) this.handleFrame(frame);
      });
      ws.on('close', (code, reason) => {
        if (this.ws === ws) this.linkLost();
        fail(Object.assign(new Error(`closed ${code} ${reason}`), { code }));
        this.emit('close', code, reason.toString());
      });
    });
  }

  /** Closes the socket; resolves with the close code. */
  close(code = 1000): Promise<number> {
    const ws = this.ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) return Promise.resolve(code);
    return new Promise((resolve) => {
      ws.once('close', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
      // a hub that never finishes the closing handshake must not hold us
      const timer = setTimeout(() => ws.terminate(), 1000);
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(code);
    });
  }

  /** Drops the TCP connection without a close handshake (an unplugged cable). */
  drop(): void {
    this.ws?.terminate();
  }

  /** Stops reading from the socket (a hung device): hub pings go unanswered [FP-6.3]. */
  pause(): void {
    this.ws?.pause();
  }

  resume(): void {
    this.ws?.resume();
  }

  /** [FP-4.5.2] `reboot`: the connection ends and the device comes back with a new, empty session. */
  async reboot(): Promise<void> {
    await this.close(1000);
    this.resetSession();
  }
}
