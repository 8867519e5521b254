// /ws/live with automatic reconnect. The hub restarting is normal operation for a dashboard left
// open on a wall, so a lost connection is retried forever with capped backoff, and the current
// subscription is sent again on every new connection.
import type { LiveDropped, LiveMessage, LiveSubscribe } from '../../hub/src/http/wire.ts';
import type { SessionState } from './api.ts';

export type LiveState = 'connecting' | 'open' | 'reconnecting' | 'stopped';

export interface LiveClientOptions {
  url: string;
  /** asked before each reconnect attempt, so an expired cookie leads to the login form, not endless retries */
  session(): Promise<SessionState>;
  onUnauthorized(): void;
  onState(state: LiveState): void;
  /** after a connection that replaced a lost one: views refresh what they may have missed */
  onReconnected(): void;
  maxBackoffMs?: number;
}

export class LiveClient {
  private ws: WebSocket | null = null;
  private devices: string[] | '*' = [];
  private channels: string[] | undefined;
  private readonly listeners = new Set<(message: LiveMessage) => void>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private attempt = 0;
  private wasLost = false;
  private stopped = true;
  /** dropped totals of connections that ended; the hub counts per connection */
  private droppedBefore = 0;
  private droppedNow = 0;
  /** per device, as the hub counts them per connection */
  private readonly droppedByDeviceBefore = new Map<string, number>();
  private droppedByDeviceNow = new Map<string, number>();
  state: LiveState = 'stopped';

  constructor(private readonly options: LiveClientOptions) {}

  /** Live updates the hub had to coalesce for this browser since the page loaded. */
  get dropped(): number {
    return this.droppedBefore + this.droppedNow;
  }

  droppedFor(deviceId: string): number {
    return (this.droppedByDeviceBefore.get(deviceId) ?? 0) + (this.droppedByDeviceNow.get(deviceId) ?? 0);
  }

  on(listener: (message: LiveMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.open();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000);
    this.setState('stopped');
  }

  /** Replaces the subscription, as the hub does; `channels` limits the readings to those channels. */
  subscribe(devices: string[] | '*', channels?: string[]): void {
    this.devices = devices;
    this.channels = channels;
    this.sendSubscription();
  }

  private sendSubscription(): void {
    const message: LiveSubscribe = { type: 'subscribe', devices: this.devices, ...(this.channels && { channels: this.channels }) };
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  private setState(state: LiveState): void {
    if (this.state === state) return;
    this.state = state;
    this.options.onState(state);
  }

  private open(): void {
    if (this.stopped) return;
    if (!this.wasLost) this.setState('connecting');
    const ws = new WebSocket(this.options.url);
    this.ws = ws;
    ws.onopen = () => {
      if (ws !== this.ws) return;
      this.attempt = 0;
      this.droppedBefore += this.droppedNow;
      this.droppedNow = 0;
      for (const [id, count] of this.droppedByDeviceNow) this.droppedByDeviceBefore.set(id, (this.droppedByDeviceBefore.get(id) ?? 0) + count);
      this.droppedByDeviceNow = new Map();
      this.sendSubscription();
      this.setState('open');
      if (this.wasLost) {
        this.wasLost = false;
        this.options.onReconnected();
      }
    };
    ws.onmessage = (event) => {
      if (ws !== this.ws || typeof event.data !== 'string') return;
      let message: LiveMessage;
      try {
        message = JSON.parse(event.data) as LiveMessage;
      } catch {
        return;
      }
      if (message.type === 'dropped') this.countDropped(message);
      for (const listener of this.listeners) listener(message);
    };
    ws.onclose = () => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.lost();
    };
  }

  private countDropped(message: LiveDropped): void {
    if (message.devices) this.droppedByDeviceNow = new Map(Object.entries(message.devices));
    this.droppedNow = message.total;
  }

  private lost(): void {
    if (this.stopped) return;
    this.wasLost = true;
    this.setState('reconnecting');
    const max = this.options.maxBackoffMs ?? 3000;
    const delay = Math.min(max, 250 * 2 ** this.attempt++) * (0.75 + Math.random() * 0.25);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.retry();
    }, delay);
  }

  private async retry(): Promise<void> {
    // A browser hides why a WebSocket upgrade failed, so ask over HTTP first.
    const session = await this.options.session();
    if (this.stopped) return;
    if (session === 'anonymous') return this.options.onUnauthorized();
    if (session === 'unreachable') return this.lost();
    this.open();
  }
}
