// Per-address limits in front of every authenticated endpoint: open WebSocket connections, and a
// backoff for addresses that keep presenting wrong tokens. Only failures are throttled: a good
// token is checked first and always gets in, so a device behind the same NAT as a misbehaving one
// (or the operator) is never locked out. Tokens are long enough (128 random bits for devices, at
// least 16 characters for the operator) that the backoff is there to keep noise cheap, not to stop
// guessing.

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
/** What a failed authentication answers: a plain 401, or 429 while the address is backing off. */
export type AuthRefusal = 'HUB_ERR_UNAUTHORIZED' | 'HUB_ERR_TOO_MANY_ATTEMPTS';

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

  /** Whether another WebSocket from `ip` would exceed the per-address limit. */
  tooManyConnections(ip: string): boolean {
    const a = this.addresses.get(ip);
    return a !== undefined && a.connections >= this.options.maxConnectionsPerIp;
  }

  /** Whether `ip` is backing off after repeated wrong tokens. */
  backingOff(ip: string): boolean {
    const a = this.addresses.get(ip);
    return a !== undefined && a.blockedUntil > this.now();
  }

  /**
   * Records a wrong or missing token from `ip` and says how to answer it. Failures while the
   * address is already backing off are answered 429 and not counted again, so the backoff ends on
   * time however fast the failures come.
   */
  authFailed(ip: string): AuthRefusal {
    const a = this.entry(ip);
    const now = this.now();
    if (a.blockedUntil > now) return 'HUB_ERR_TOO_MANY_ATTEMPTS';
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
    return 'HUB_ERR_UNAUTHORIZED';
  }

  /** Counts an open connection; returns the function that uncounts it. */
  opened(ip: string): () => void {
    this.connectionOpened(ip);
    let closed = false;
    return () => {
      if (closed) return;
      closed = true;
      this.connectionClosed(ip);
    };
  }

  /**
   * Counts an open connection from `ip`; connectionClosed(ip) uncounts it, once per call. For
   * device connections: a pair of calls instead of opened()'s closure, as everything an idle
   * connection holds is paid for ten thousand times over.
   */
  connectionOpened(ip: string): void {
    this.entry(ip).connections++;
  }

  connectionClosed(ip: string): void {
    const a = this.addresses.get(ip);
    if (!a || a.connections === 0) return;
    a.connections--;
    this.forgetIfIdle(ip, a);
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
