import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics, type Metrics } from '../metrics.ts';
import type { AlertStore, OutboxEntry, Rule, Webhook } from './alert-store.ts';
import { createSqliteAlertStore } from './sqlite-alert-store.ts';
import { backoffDelay, createWebhookSender, describeFailure, type WebhookSender, type WebhookSenderOptions } from './webhook-sender.ts';
import { verifySignature } from './webhook-signature.ts';

const log = pino({ level: 'silent' });
const SECRET_A = 'secret-of-webhook-a';
const SECRET_B = 'secret-of-webhook-b';

interface Received {
  path: string;
  body: string;
  headers: IncomingMessage['headers'];
}

/** What a receiver answers one request: a status (and headers), after whatever the test waits for. */
type Reply = number | { status: number; headers: Record<string, string> };
type Answer = (request: Received, index: number) => Reply | Promise<Reply>;

interface Receiver {
  port: number;
  url: (path?: string) => string;
  received: Received[];
  close(): Promise<void>;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A webhook receiver on 127.0.0.1 (port 0 unless told), recording every request it gets. */
async function startReceiver(answer: Answer = () => 200, port = 0): Promise<Receiver> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const request = { path: req.url ?? '', body: Buffer.concat(chunks).toString('utf8'), headers: req.headers };
      received.push(request);
      const reply = await answer(request, received.length - 1);
      const { status, headers } = typeof reply === 'number' ? { status: reply, headers: {} } : reply;
      if (!res.destroyed) res.writeHead(status, { 'content-type': 'text/plain', ...headers }).end('ok');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const bound = (server.address() as AddressInfo).port;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  cleanups.push(close);
  return { port: bound, url: (path = '/hook') => `http://127.0.0.1:${bound}${path}`, received, close };
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'webhook-sender-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Closed after the test (closing it twice is harmless). */
function openStore(path: string): AlertStore {
  const store = createSqliteAlertStore({ path });
  cleanups.push(() => store.close());
  return store;
}

function sender(options: Partial<WebhookSenderOptions> & { store: AlertStore }): WebhookSender {
  const s = createWebhookSender({
    owner: 'hub-1', log, pollMs: 10, leaseMs: 5000, timeoutMs: 2000, backoffBaseMs: 20, backoffMaxMs: 200, ...options,
  });
  cleanups.push(() => s.close());
  return s;
}

type Maybe<T> = T | false | null | undefined;

async function waitFor<T>(probe: () => Maybe<T> | Promise<Maybe<T>>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function thresholdRule(store: AlertStore): Promise<Rule> {
  return store.createRule({
    name: 'boiler too hot', description: '', devices: '*', channel: 'temp', above: 80, below: null, clear: null,
    forMs: 0, noDataMs: null, offlineMs: null, severity: 'critical', actions: [], enabled: true,
  }, 1);
}

/** Fires and resolves an alert per device: two outbox entries per device for every webhook. */
async function fireAndResolve(store: AlertStore, rule: Rule, devices: string[], at = 1000): Promise<void> {
  for (const device of devices) {
    const opened = await store.openAlert(rule, device, { to: 'firing', value: 85, at });
    expect(opened).toBeDefined();
    expect(await store.advance(opened!.alert.id, 'firing', { to: 'resolved', value: 70, at: at + 1 })).toBeDefined();
  }
}

/** A webhook's entries, oldest first. */
async function entries(store: AlertStore, webhook: Webhook): Promise<OutboxEntry[]> {
  return (await store.deliveries(webhook.id, 1000)).reverse();
}

async function allDelivered(store: AlertStore, webhook: Webhook, count: number): Promise<boolean> {
  const list = await entries(store, webhook);
  return list.length === count && list.every((entry) => entry.status === 'delivered');
}

/** Each entry received exactly once, in id order, with its stored body, signed with the secret. */
function expectExactlyOnceInOrder(received: Received[], list: OutboxEntry[], secret: string): void {
  expect(received.map((r) => r.headers['x-hub-delivery'])).toEqual(list.map((entry) => String(entry.id)));
  expect(received.map((r) => r.body)).toEqual(list.map((entry) => entry.body));
  for (const r of received) expect(verifySignature(secret, r.body, r.headers['x-hub-signature-256'] as string)).toBe(true);
}

async function counted(metrics: Metrics, result: 'delivered' | 'failed'): Promise<number> {
  const metric = await metrics.registry.getSingleMetric('hub_webhook_deliveries_total')!.get();
  return metric.values.find((value) => value.labels.result === result)?.value ?? 0;
}

describe('backoffDelay', () => {
  it('doubles its cap per failure up to the maximum, scaled by the jitter, never below half the base', () => {
    const top = () => 0.999_999;
    expect([1, 2, 3, 4, 5, 6].map((n) => Math.round(backoffDelay(n, 100, 1000, top)))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect([1, 2, 3].map((n) => backoffDelay(n, 100, 1000, () => 0.5))).toEqual([50, 100, 200]);
    expect([1, 5, 30].map((n) => backoffDelay(n, 100, 1000, () => 0))).toEqual([50, 50, 50]);
    expect(backoffDelay(5000, 100, 1000, top)).toBeLessThanOrEqual(1000);
  });
});

describe('describeFailure', () => {
  it('names timeouts and the cause fetch hides behind "fetch failed"', () => {
    expect(describeFailure(new DOMException('The operation was aborted due to timeout', 'TimeoutError'), 250)).toBe('timed out after 250 ms');
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4242'), { code: 'ECONNREFUSED' });
    expect(describeFailure(new TypeError('fetch failed', { cause: refused }), 250)).toBe('connect ECONNREFUSED 127.0.0.1:4242');
    expect(describeFailure(new TypeError('fetch failed', { cause: new AggregateError([refused], '') }), 250)).toBe('connect ECONNREFUSED 127.0.0.1:4242');
    expect(describeFailure(new Error('x'.repeat(1000)), 250).length).toBeLessThanOrEqual(300);
  });
});

describe('createWebhookSender', () => {
  it('refuses a lease no longer than the timeout', () => {
    expect(() => createWebhookSender({ store: {} as AlertStore, owner: 'hub', log, leaseMs: 1000, timeoutMs: 1000 })).toThrow(/leaseMs/);
    expect(() => createWebhookSender({ store: {} as AlertStore, owner: 'hub', log, pollMs: 0 })).toThrow(/pollMs/);
  });

  it('delivers every transition once, in order per webhook, as stored and signed', async () => {
    const store = openStore(join(tempDir(), 'alerts.db'));
    const a = await startReceiver();
    const b = await startReceiver();
    const hookA = await store.createWebhook({ url: a.url('/a'), secret: SECRET_A }, 1);
    const hookB = await store.createWebhook({ url: b.url('/b'), secret: SECRET_B }, 1);
    const rule = await thresholdRule(store);
    await fireAndResolve(store, rule, ['boiler-1', 'boiler-2']);
    const metrics = createMetrics();
    // no polls during the test: the backlog drains because each 2xx goes on to the next entry
    const s = sender({ store, metrics, pollMs: 60_000 });
    s.start();
    await waitFor(() => allDelivered(store, hookA, 4), 'the backlog to be delivered');
    // transitions after start go at once when kicked
    await fireAndResolve(store, rule, ['boiler-3'], 2000);
    s.kick();
    await waitFor(async () => (await allDelivered(store, hookA, 6)) && allDelivered(store, hookB, 6), 'everything to be delivered');
    await s.close();

    const listA = await entries(store, hookA);
    const listB = await entries(store, hookB);
    expectExactlyOnceInOrder(a.received, listA, SECRET_A);
    expectExactlyOnceInOrder(b.received, listB, SECRET_B);
    expect(listA.map((entry) => JSON.parse(entry.body).event)).toEqual(['firing', 'resolved', 'firing', 'resolved', 'firing', 'resolved']);
    expect(listA.map((entry) => JSON.parse(entry.body).alert.deviceId)).toEqual(['boiler-1', 'boiler-1', 'boiler-2', 'boiler-2', 'boiler-3', 'boiler-3']);
    expect(new Set(listA.map((entry) => JSON.parse(entry.body).idempotencyKey)).size).toBe(6);
    for (const r of [...a.received, ...b.received]) {
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.headers['user-agent']).toBe('telemetry-hub');
    }
    expect(a.received.every((r) => r.path === '/a') && b.received.every((r) => r.path === '/b')).toBe(true);
    for (const entry of [...listA, ...listB]) expect(entry).toMatchObject({ status: 'delivered', attempts: 1, lastStatus: 200, lastError: null });
    expect(await counted(metrics, 'delivered')).toBe(12);
    expect(await counted(metrics, 'failed')).toBe(0);
  });

  it('keeps trying a receiver that is down and delivers once it is back on the same port', async () => {
    const store = openStore(join(tempDir(), 'alerts.db'));
    const first = await startReceiver();
    const port = first.port;
    await first.close();
    const hook = await store.createWebhook({ url: `http://127.0.0.1:${port}/hook`, secret: SECRET_A }, 1);
    await fireAndResolve(store, await thresholdRule(store), ['boiler-1']);
    const metrics = createMetrics();
    sender({ store, metrics }).start();

    const refused = await waitFor(async () => {
      const [head] = await entries(store, hook);
      return head.attempts >= 3 && head;
    }, 'three refused attempts');
    expect(refused.status).toBe('pending');
    expect(refused.lastError).toBe(`connect ECONNREFUSED 127.0.0.1:${port}`);
    expect(refused.lastStatus).toBeNull();
    // the head of line holds the rest back
    expect((await entries(store, hook))[1].attempts).toBe(0);

    const back = await startReceiver(() => 200, port);
    await waitFor(() => allDelivered(store, hook, 2), 'delivery once the receiver is back');
    const list = await entries(store, hook);
    expectExactlyOnceInOrder(back.received, list, SECRET_A);
    expect(list[0].attempts).toBeGreaterThanOrEqual(4);
    expect(list[0].lastError).toBe(`connect ECONNREFUSED 127.0.0.1:${port}`);
    expect(list[0].lastStatus).toBe(200);
    expect(await counted(metrics, 'failed')).toBe(list[0].attempts - 1);
    expect(await counted(metrics, 'delivered')).toBe(2);
  });

  it('retries a receiver answering 500 with growing backoff and delivers exactly once', async () => {
    const store = openStore(join(tempDir(), 'alerts.db'));
    const failures = 4;
    const receiver = await startReceiver((_request, index) => (index < failures ? 500 : 200));
    const hook = await store.createWebhook({ url: receiver.url(), secret: SECRET_A }, 1);
    const rule = await thresholdRule(store);
    const opened = await store.openAlert(rule, 'boiler-1', { to: 'firing', value: 85, at: 1000 });
    expect(opened).toBeDefined();
    let clock = 1_000_000;
    const s = sender({ store, now: () => clock, random: () => 0.75, backoffBaseMs: 100, backoffMaxMs: 1000 });
    s.start();

    const waits: number[] = [];
    for (let attempt = 1; attempt <= failures; attempt++) {
      const [head] = await waitFor(async () => {
        const list = await entries(store, hook);
        return list[0].attempts === attempt && list;
      }, `attempt ${attempt}`);
      expect(head).toMatchObject({ status: 'pending', lastError: 'HTTP 500', lastStatus: 500 });
      waits.push(head.nextAttemptAt - clock);
      if (attempt === 1) {
        // not due yet: polls and kicks leave it alone
        s.kick();
        await new Promise((resolve) => setTimeout(resolve, 50));
        expect(receiver.received).toHaveLength(1);
      }
      clock = head.nextAttemptAt;
      s.kick();
    }
    await waitFor(() => allDelivered(store, hook, 1), 'delivery after the retries');
    // max(base/2, min(max, base·2^(n−1))·0.75) for n = 1…4
    expect(waits).toEqual([75, 150, 300, 600]);
    const [entry] = await entries(store, hook);
    expect(entry).toMatchObject({ status: 'delivered', attempts: failures + 1, lastStatus: 200, lastError: 'HTTP 500', deliveredAt: clock });
    expect(receiver.received).toHaveLength(failures + 1);
    expect(new Set(receiver.received.map((r) => r.body))).toEqual(new Set([entry.body]));
    expect(new Set(receiver.received.map((r) => r.headers['x-hub-delivery']))).toEqual(new Set([String(entry.id)]));
  });

  it('counts a redirect as a failure and does not follow it', async () => {
    const store = openStore(join(tempDir(), 'alerts.db'));
    const target = await startReceiver();
    const redirecting = await startReceiver(() => ({ status: 302, headers: { location: target.url() } }));
    const hook = await store.createWebhook({ url: redirecting.url(), secret: SECRET_A }, 1);
    await fireAndResolve(store, await thresholdRule(store), ['boiler-1']);
    sender({ store }).start();
    const [head] = await waitFor(async () => {
      const list = await entries(store, hook);
      return list[0].attempts >= 2 && list;
    }, 'two attempts');
    expect(head).toMatchObject({ status: 'pending', lastError: 'HTTP 302', lastStatus: 302 });
    expect(target.received).toHaveLength(0);
    expect(redirecting.received.length).toBeGreaterThanOrEqual(2);
  });

  it('fails a receiver that answers after the timeout with "timed out" and retries it', async () => {
    const store = openStore(join(tempDir(), 'alerts.db'));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const receiver = await startReceiver(async (_request, index) => {
      if (index === 0) await released;
      return 200;
    });
    cleanups.push(release);
    const hook = await store.createWebhook({ url: receiver.url(), secret: SECRET_A }, 1);
    await fireAndResolve(store, await thresholdRule(store), ['boiler-1']);
    sender({ store, timeoutMs: 250 }).start();
    await waitFor(() => allDelivered(store, hook, 2), 'delivery after the timeout');
    release();
    const list = await entries(store, hook);
    expect(list[0]).toMatchObject({ attempts: 2, lastError: 'timed out after 250 ms', lastStatus: 200 });
    expect(list[1]).toMatchObject({ attempts: 1, lastError: null });
    // the first request timed out, the same entry went again, then the second
    expect(receiver.received.map((r) => r.headers['x-hub-delivery'])).toEqual([String(list[0].id), String(list[0].id), String(list[1].id)]);
  });

  it('delivers webhook B while webhook A waits on a slow receiver', async () => {
    const store = openStore(join(tempDir(), 'alerts.db'));
    let bDone!: () => void;
    const bDelivered = new Promise<void>((resolve) => (bDone = resolve));
    cleanups.push(bDone);
    // A answers nothing until B has had every entry: were B queued behind A, neither would move
    // until A's 10 s timeout, and the wait below fails first
    const a = await startReceiver(async () => {
      await bDelivered;
      return 200;
    });
    const b = await startReceiver();
    const hookA = await store.createWebhook({ url: a.url(), secret: SECRET_A }, 1);
    const hookB = await store.createWebhook({ url: b.url(), secret: SECRET_B }, 1);
    await fireAndResolve(store, await thresholdRule(store), ['boiler-1', 'boiler-2']);
    sender({ store, timeoutMs: 10_000, leaseMs: 30_000 }).start();

    await waitFor(() => allDelivered(store, hookB, 4), 'B delivered', 5000);
    expect(a.received).toHaveLength(1);
    expect((await entries(store, hookA)).map((entry) => entry.status)).toEqual(['pending', 'pending', 'pending', 'pending']);
    bDone();
    await waitFor(() => allDelivered(store, hookA, 4), 'A delivered');
    expectExactlyOnceInOrder(a.received, await entries(store, hookA), SECRET_A);
    expectExactlyOnceInOrder(b.received, await entries(store, hookB), SECRET_B);
  });

  it('picks up a backlog where it stopped after a restart: none twice, none lost, in order', async () => {
    const path = join(tempDir(), 'alerts.db');
    let store = openStore(path);
    let first: WebhookSender | undefined;
    let closing: Promise<void> | undefined;
    const receiver = await startReceiver(async (request, index) => {
      // the hub stops while its third delivery is in flight; that one still completes
      if (index === 2) closing = first!.close();
      return 200;
    });
    const hookA = await store.createWebhook({ url: receiver.url('/a'), secret: SECRET_A }, 1);
    const hookB = await store.createWebhook({ url: receiver.url('/b'), secret: SECRET_B }, 1);
    await fireAndResolve(store, await thresholdRule(store), ['boiler-1', 'boiler-2', 'boiler-3', 'boiler-4']);
    first = sender({ store });
    first.start();
    await waitFor(() => closing !== undefined, 'the third delivery');
    await closing;
    const before = receiver.received.length;
    const deliveredBefore = [...await entries(store, hookA), ...await entries(store, hookB)].filter((e) => e.status === 'delivered');
    expect(deliveredBefore).toHaveLength(before);
    expect(before).toBeLessThan(16);
    await store.close();

    store = openStore(path);
    sender({ store }).start();
    await waitFor(async () => (await allDelivered(store, hookA, 8)) && allDelivered(store, hookB, 8), 'the rest after the restart');
    const byPath = (path: string) => receiver.received.filter((r) => r.path === path);
    expectExactlyOnceInOrder(byPath('/a'), await entries(store, hookA), SECRET_A);
    expectExactlyOnceInOrder(byPath('/b'), await entries(store, hookB), SECRET_B);
  });

  it('does not send an entry twice when a claim answers after the delivery it overlapped ended', async () => {
    const store = openStore(join(tempDir(), 'alerts.db'));
    // answers slower than the poll, so polls' claims overlap deliveries
    const receiver = await startReceiver(async () => {
      await new Promise((resolve) => setTimeout(resolve, 15));
      return 200;
    });
    const hook = await store.createWebhook({ url: receiver.url(), secret: SECRET_A }, 1);
    await fireAndResolve(store, await thresholdRule(store), ['boiler-1', 'boiler-2', 'boiler-3']);
    // as over a network (PostgreSQL): the claim reads the outbox, and its answer arrives later
    const laggingClaims: AlertStore = {
      ...store,
      async claimDue(owner, now, leaseMs, limit) {
        const due = await store.claimDue(owner, now, leaseMs, limit);
        await new Promise((resolve) => setTimeout(resolve, 30));
        return due;
      },
    };
    sender({ store: laggingClaims, pollMs: 5 }).start();
    await waitFor(() => allDelivered(store, hook, 6), 'everything delivered');
    expectExactlyOnceInOrder(receiver.received, await entries(store, hook), SECRET_A);
  });

  it('goes on after the store fails, logging the failure once rather than every round', async () => {
    const store = openStore(join(tempDir(), 'alerts.db'));
    const receiver = await startReceiver();
    const hook = await store.createWebhook({ url: receiver.url(), secret: SECRET_A }, 1);
    await fireAndResolve(store, await thresholdRule(store), ['boiler-1']);
    let claimFailures = 5;
    let markFailures = 1;
    const flaky: AlertStore = {
      ...store,
      async claimDue(...args) {
        if (claimFailures > 0) {
          claimFailures--;
          throw new Error('database is locked');
        }
        return store.claimDue(...args);
      },
      async markDelivered(...args) {
        if (markFailures > 0) {
          markFailures--;
          throw new Error('database is locked');
        }
        return store.markDelivered(...args);
      },
    };
    const lines: { msg: string }[] = [];
    const sink = { write: (line: string) => void lines.push(JSON.parse(line)) };
    sender({ store: flaky, log: pino({ level: 'info' }, sink) }).start();
    await waitFor(() => allDelivered(store, hook, 2), 'delivery once the store is back');
    expect(claimFailures).toBe(0);
    // the entry whose 2xx could not be recorded went again: at least once, never lost
    const list = await entries(store, hook);
    expect(receiver.received.map((r) => r.headers['x-hub-delivery'])).toEqual([String(list[0].id), String(list[0].id), String(list[1].id)]);
    expect(lines.filter((line) => line.msg.startsWith('webhook outbox could not be read'))).toHaveLength(1);
    expect(lines.filter((line) => line.msg.startsWith('webhook outbox could not be updated'))).toHaveLength(1);
  });

  it('two hubs on one store deliver every entry exactly once between them, also when one stops', async () => {
    const path = join(tempDir(), 'alerts.db');
    const storeA = openStore(path);
    const storeB = openStore(path);
    const receiver = await startReceiver(async () => {
      await new Promise((resolve) => setTimeout(resolve, 2));
      return 200;
    });
    const hooks: Webhook[] = [];
    for (let i = 0; i < 4; i++) hooks.push(await storeA.createWebhook({ url: receiver.url(`/hook/${i}`), secret: `secret-of-hook-${i}-0123` }, 1));
    await fireAndResolve(storeA, await thresholdRule(storeA), Array.from({ length: 8 }, (_, i) => `boiler-${i}`));
    const options = { leaseMs: 600, timeoutMs: 500 };
    const metricsA = createMetrics();
    const metricsB = createMetrics();
    const hubA = sender({ store: storeA, owner: 'hub-a', metrics: metricsA, ...options });
    const hubB = sender({ store: storeB, owner: 'hub-b', metrics: metricsB, ...options });
    hubA.start();
    hubB.start();
    // hub A stops partway; hub B takes its webhooks over once their leases run out
    await waitFor(() => receiver.received.length >= 10, 'some deliveries');
    await hubA.close();
    for (const hook of hooks) await waitFor(() => allDelivered(storeB, hook, 16), `webhook ${hook.id} delivered`);
    for (const [i, hook] of hooks.entries()) {
      expectExactlyOnceInOrder(receiver.received.filter((r) => r.path === `/hook/${i}`), await entries(storeB, hook), `secret-of-hook-${i}-0123`);
    }
    expect(receiver.received).toHaveLength(64);
    // both took part: hub B only once hub A had stopped and its leases had run out
    const [byA, byB] = [await counted(metricsA, 'delivered'), await counted(metricsB, 'delivered')];
    expect(byA).toBeGreaterThanOrEqual(10);
    expect(byB).toBeGreaterThan(0);
    expect(byA + byB).toBe(64);
  });
});
