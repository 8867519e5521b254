// Per-IP limits in front of the WebSocket endpoints: open connections, and a backoff for
// addresses that keep presenting wrong tokens. Refusals are answered before any token check, so a
// burst of bad attempts costs the hub a map lookup each.

export interface ConnectionGuardOptions {
  /** most open WebSocket connections from one address */
  maxConnectionsPerIp: number;
  /** failures within `failureWindowMs` that start a backoff */
  maxAuthFailures: number;
  failureWindowMs: number;
  /** first backoff; doubles while failures continue, up to maxBackoffMs */
  backoffMs: number;
  maxBackoffMs: number;
  now?: () => number;
}

interface Address {
  connections: number;
  failures: number;
  windowStart: number;
  blockedUntil: number;
  backoff: number;
}

export type Refusal = 'HUB_ERR_TOO_MANY_CONNECTIONS' | 'HUB_ERR_TOO_MANY_ATTEMPTS';

export class ConnectionGuard {
  private readonly addresses = new Map<string, Address>();
  private readonly now: () => number;

  constructor(private readonly options: ConnectionGuardOptions) {
    this.now = options.now ?? Date.now;
  }

  private entry(ip: string): Address {
    let a = this.addresses.get(ip);
    if (!a) {
      a = { connections: 0, failures: 0, windowStart: this.now(), blockedUntil: 0, backoff: 0 };
      this.addresses.set(ip, a);
    }
    return a;
  }

  /** Why a new connection from `ip` is refused, or null. */
  check(ip: string): Refusal | null {
    const a = this.addresses.get(ip);
    if (!a) return null;
    if (a.blockedUntil > this.now()) return 'HUB_ERR_TOO_MANY_ATTEMPTS';
    if (a.connections >= this.options.maxConnectionsPerIp) return 'HUB_ERR_TOO_MANY_CONNECTIONS';
    return null;
  }

  authFailed(ip: string): void {
    const a = this.entry(ip);
    const now = this.now();
    if (now - a.windowStart > this.options.failureWindowMs) {
      a.windowStart = now;
      a.failures = 0;
      if (a.blockedUntil < now) a.backoff = 0;
    }
    if (++a.failures >= this.options.maxAuthFailures) {
      a.backoff = Math.min(a.backoff ? a.backoff * 2 : this.options.backoffMs, this.options.maxBackoffMs);
      a.blockedUntil = now + a.backoff;
      a.failures = 0;
      a.windowStart = now;
    }
  }

  /** Counts an open connection; returns the function that uncounts it. */
  opened(ip: string): () => void {
    const a = this.entry(ip);
    a.connections++;
    let closed = false;
    return () => {
      if (closed) return;
      closed = true;
      a.connections--;
      this.forgetIfIdle(ip, a);
    };
  }

  private forgetIfIdle(ip: string, a: Address): void {
    if (a.connections === 0 && a.failures === 0 && a.blockedUntil <= this.now()) this.addresses.delete(ip);
  }

  /** Drops addresses with nothing left to remember, so the map cannot grow without bound. */
  prune(): void {
    const now = this.now();
    for (const [ip, a] of this.addresses) {
      if (now - a.windowStart > this.options.failureWindowMs && a.failures > 0 && a.blockedUntil <= now) a.failures = 0;
      this.forgetIfIdle(ip, a);
    }
  }

  get trackedAddresses(): number {
    return this.addresses.size;
  }
}
