// Delivers the alert outbox to webhooks: signed POSTs, retried with backoff until a receiver
// answers 2xx. Delivery is at least once (a receiver drops idempotency keys it has seen): an entry
// is marked delivered only after its 2xx, so a hub that stops in between sends it again.
//
// Each round claims the head of line of every due webhook (the store leases the webhook to this
// owner, so with several hubs on one store exactly one of them sends a webhook's entries, in order).
// Webhooks are delivered side by side; one webhook's entries strictly one after another, the next
// only once the previous is delivered. A 2xx starts a new round at once, so a backlog drains at the
// receiver's pace rather than one entry per poll.
import type { Logger } from 'pino';
import { Counter } from 'prom-client';
import { LogLimiter } from '../log-limiter.ts';
import type { Metrics } from '../metrics.ts';
import type { AlertStore, OutboxEntry, Webhook } from './alert-store.ts';
import { SIGNATURE_HEADER, signBody } from './webhook-signature.ts';

export interface WebhookSenderOptions {
  store: AlertStore;
  /** this hub's id: the name its webhook leases are held under */
  owner: string;
  log: Logger;
  metrics?: Metrics;
  /** wall clock in ms, as the store's times are (default Date.now) */
  now?: () => number;
  /** how often the outbox is looked at when nothing kicks it (default 1 s) */
  pollMs?: number;
  /** how long a claimed webhook stays this hub's; must exceed timeoutMs (default 30 s) */
  leaseMs?: number;
  /** one attempt, from connecting to the answer's status (default 10 s) */
  timeoutMs?: number;
  /** first retry after base/2 … base; doubles per failure (default 1 s) */
  backoffBaseMs?: number;
  /** longest wait between attempts (default 5 min) */
  backoffMaxMs?: number;
  /** [0, 1) for the backoff's jitter (default Math.random) */
  random?: () => number;
}

export const WEBHOOK_SENDER_DEFAULTS = {
  pollMs: 1000,
  leaseMs: 30_000,
  timeoutMs: 10_000,
  backoffBaseMs: 1000,
  backoffMaxMs: 300_000,
} as const;

export const WEBHOOK_USER_AGENT = 'telemetry-hub';
export const DELIVERY_HEADER = 'X-Hub-Delivery';
/** lastError is kept short: it is shown in the delivery list, not a log */
const MAX_ERROR_LENGTH = 300;

export interface WebhookSender {
  /** starts the loop; the first round runs at once */
  start(): void;
  /** a transition was queued or a webhook changed: look at the outbox now rather than at the next poll */
  kick(): void;
  /** stops claiming and waits for deliveries in flight (each bounded by timeoutMs) */
  close(): Promise<void>;
}

/**
 * Wait before the next attempt after `failures` failed attempts (1 after the first): "full jitter"
 * (each wait drawn uniformly below a cap that doubles per failure, so receivers that failed together
 * are not retried together) with a floor of base/2, so a receiver that is down is never hammered:
 *
 *   delay = max(base / 2, min(max, base · 2^(failures − 1)) · random())
 */
export function backoffDelay(failures: number, baseMs: number, maxMs: number, random: () => number): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.max(0, failures - 1));
  return Math.max(baseMs / 2, cap * random());
}

type Attempt = { ok: true; status: number } | { ok: false; status: number | null; error: string };

export function createWebhookSender(options: WebhookSenderOptions): WebhookSender {
  const { store, owner, log } = options;
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const pollMs = options.pollMs ?? WEBHOOK_SENDER_DEFAULTS.pollMs;
  const leaseMs = options.leaseMs ?? WEBHOOK_SENDER_DEFAULTS.leaseMs;
  const timeoutMs = options.timeoutMs ?? WEBHOOK_SENDER_DEFAULTS.timeoutMs;
  const backoffBaseMs = options.backoffBaseMs ?? WEBHOOK_SENDER_DEFAULTS.backoffBaseMs;
  const backoffMaxMs = options.backoffMaxMs ?? WEBHOOK_SENDER_DEFAULTS.backoffMaxMs;
  for (const [name, value] of Object.entries({ pollMs, leaseMs, timeoutMs, backoffBaseMs, backoffMaxMs })) {
    if (!Number.isFinite(value) || value <= 0) throw new Error(`webhook sender: ${name} must be a positive number of ms, not ${value}`);
  }
  // Every round renews this owner's leases, but a round can fail (store down) while a delivery is
  // in flight; a lease longer than the longest attempt keeps a second hub from sending the same
  // entry meanwhile, whatever the store does.
  if (leaseMs <= timeoutMs) throw new Error(`webhook sender: leaseMs (${leaseMs}) must exceed timeoutMs (${timeoutMs})`);
  if (backoffMaxMs < backoffBaseMs) throw new Error(`webhook sender: backoffMaxMs (${backoffMaxMs}) is below backoffBaseMs (${backoffBaseMs})`);

  // a receiver that is down fails every attempt, and a store that is down fails every round
  const limited = new LogLimiter(log, { perInterval: 1, intervalMs: 60_000 });
  const delivered = counter(options.metrics, 'delivered');
  const failed = counter(options.metrics, 'failed');

  let started = false;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let round: Promise<void> | null = null;
  let again = false;
  /** webhooks with a delivery in flight */
  const sending = new Set<number>();
  const inFlight = new Set<Promise<void>>();
  /**
   * Webhooks whose delivery ended while the current round's claim was being read: the claim may
   * still show the entry just delivered as their head, so they wait for the next round (a delivery
   * that succeeded has already asked for one).
   */
  const endedDuringRound = new Set<number>();

  function schedule(): void {
    if (closed) return;
    clearTimeout(timer);
    timer = setTimeout(runRounds, pollMs);
    timer.unref();
  }

  function runRounds(): void {
    if (!started || closed) return;
    if (round) {
      again = true;
      return;
    }
    clearTimeout(timer);
    round = (async () => {
      do {
        again = false;
        await claimRound();
      } while (again && !closed);
    })().finally(() => {
      round = null;
      schedule();
    });
  }

  async function claimRound(): Promise<void> {
    endedDuringRound.clear();
    let due: OutboxEntry[];
    try {
      due = await store.claimDue(owner, now(), leaseMs);
    } catch (err) {
      limited.error('webhook-outbox', { err }, 'webhook outbox could not be read; trying again');
      return;
    }
    for (const entry of due) {
      if (closed) return;
      if (sending.has(entry.webhookId) || endedDuringRound.has(entry.webhookId)) continue;
      sending.add(entry.webhookId);
      const delivery = deliver(entry).then((succeeded) => {
        sending.delete(entry.webhookId);
        endedDuringRound.add(entry.webhookId);
        inFlight.delete(delivery);
        // the webhook's next entry goes at once
        if (succeeded) runRounds();
      });
      inFlight.add(delivery);
    }
  }

  /** True once the entry is marked delivered. Never rejects: what goes wrong is recorded on the entry or logged. */
  async function deliver(entry: OutboxEntry): Promise<boolean> {
    try {
      const webhook = await store.getWebhook(entry.webhookId);
      if (!webhook) return false; // deleted since the claim, and its entries with it
      const attempt = await post(webhook, entry);
      const at = now();
      if (attempt.ok) {
        await store.markDelivered(entry.id, at, attempt.status);
        delivered?.inc();
        log.debug({ webhookId: webhook.id, entryId: entry.id, status: attempt.status, attempts: entry.attempts + 1 }, 'webhook delivered');
        return true;
      }
      const failures = entry.attempts + 1;
      const nextAttemptAt = Math.round(at + backoffDelay(failures, backoffBaseMs, backoffMaxMs, random));
      await store.markFailed(entry.id, at, attempt.error, attempt.status, nextAttemptAt);
      failed?.inc();
      limited.warn(
        `webhook ${webhook.id}`,
        { webhookId: webhook.id, entryId: entry.id, error: attempt.error, attempts: failures, nextAttemptAt: new Date(nextAttemptAt).toISOString() },
        'webhook delivery failed; will retry',
      );
    } catch (err) {
      // the entry stays as it was and is claimed again
      limited.error('webhook-outbox', { err, webhookId: entry.webhookId, entryId: entry.id }, 'webhook outbox could not be updated; trying again');
    }
    return false;
  }

  async function post(webhook: Webhook, entry: OutboxEntry): Promise<Attempt> {
    try {
      const response = await fetch(webhook.url, {
        method: 'POST',
        body: entry.body,
        headers: {
          'Content-Type': 'application/json',
          'User-Agent': WEBHOOK_USER_AGENT,
          [SIGNATURE_HEADER]: signBody(webhook.secret, entry.body),
          [DELIVERY_HEADER]: String(entry.id),
        },
        // a redirect would send the signed body somewhere the operator did not register
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
      // only the status matters; the answer's body is not waited for
      await response.body?.cancel().catch(() => {});
      if (response.status >= 200 && response.status < 300) return { ok: true, status: response.status };
      return { ok: false, status: response.status, error: `HTTP ${response.status}` };
    } catch (err) {
      return { ok: false, status: null, error: describeFailure(err, timeoutMs) };
    }
  }

  return {
    start() {
      if (started || closed) return;
      started = true;
      runRounds();
    },
    kick() {
      runRounds();
    },
    async close() {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      await round;
      await Promise.all(inFlight);
      limited.close();
    },
  };
}

function counter(metrics: Metrics | undefined, result: 'delivered' | 'failed') {
  if (!metrics) return undefined;
  const name = 'hub_webhook_deliveries_total';
  // a second sender on one registry (tests) shares the counter instead of failing to register it
  const existing = metrics.registry.getSingleMetric(name) as Counter<'result'> | undefined;
  const all = existing ?? new Counter({
    name, help: 'Webhook delivery attempts, by result (delivered: a 2xx answer; failed: anything else, retried later)',
    labelNames: ['result'], registers: [metrics.registry],
  });
  return all.labels(result);
}

/** What lastError says: "HTTP 500" is set apart; here are refused connections, DNS and timeouts. */
export function describeFailure(err: unknown, timeoutMs: number): string {
  const text = (() => {
    if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return `timed out after ${timeoutMs} ms`;
    // fetch reports "fetch failed" and puts the reason (e.g. "connect ECONNREFUSED 127.0.0.1:8080") in its cause
    const cause = err instanceof Error ? err.cause : undefined;
    if (cause instanceof AggregateError && cause.errors[0] instanceof Error) return cause.errors[0].message;
    if (cause instanceof Error) {
      if (cause.name === 'TimeoutError') return `timed out after ${timeoutMs} ms`;
      return cause.message || (cause as NodeJS.ErrnoException).code || String(cause);
    }
    return err instanceof Error ? err.message : String(err);
  })();
  return text.length > MAX_ERROR_LENGTH ? text.slice(0, MAX_ERROR_LENGTH - 1) + '…' : text;
}
