// The behaviour every AlertStore must show, run against each implementation by its own test file.
// Several hubs may share one store: the races that matter (two hubs opening the same alert, moving
// it, claiming the same webhook) run through two handles on the same data, as two processes hold.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AlertRecord, AlertStore, OutboxEntry, Rule, Transition } from './alert-store.ts';
import { alertView } from './alert-view.ts';

export interface AlertStoreUnderTest {
  store: AlertStore;
  /** another handle on the same data, as a second hub process would hold; closed by cleanup */
  peer(): Promise<AlertStore>;
  cleanup(): Promise<void>;
}

const T0 = 1_700_000_000_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

type RuleFields = Omit<Rule, 'id' | 'createdAt' | 'updatedAt'>;

const ruleFields = (fields: Partial<RuleFields> = {}): RuleFields => ({
  name: 'too hot', description: '', devices: '*', channel: 'temp', above: 30, below: null, clear: null, forMs: 0,
  noDataMs: null, offlineMs: null, severity: 'warning', actions: [], enabled: true, ...fields,
});

const webhookIds = (entries: OutboxEntry[]) => entries.map((e) => e.webhookId).sort((a, b) => a - b);

const at = (to: Transition['to'], time: number, value: number | null = 31): Transition => ({ to, value, at: time });

export function describeAlertStoreContract(name: string, open: () => Promise<AlertStoreUnderTest>): void {
  describe(`AlertStore contract: ${name}`, () => {
    let subject: AlertStoreUnderTest;
    let store: AlertStore;
    let peer: AlertStore;

    // a store of its own per case: the outbox and the open alerts hold only what the case made
    beforeEach(async () => {
      subject = await open();
      store = subject.store;
      peer = await subject.peer();
    });
    afterEach(async () => {
      await subject?.cleanup();
    });

    /** an alert firing on `deviceId`, opened directly as firing */
    const firing = async (rule: Rule, deviceId: string, time = T0) => (await store.openAlert(rule, deviceId, at('firing', time)))!.alert;

    it('rules: create, read from every process, update keeping createdAt, delete', async () => {
      const input = ruleFields({
        name: 'boiler', description: 'the boiler runs hot', devices: ['boiler-*', 'dev-1'], above: 80.5, below: -10, clear: 75, forMs: 60_000,
        severity: 'critical', actions: [{ type: 'command', name: 'fan', args: { speed: 3, modes: ['max'] }, on: 'firing' }], enabled: false,
      });
      const created = await store.createRule(input, T0);
      expect(created).toEqual({ ...input, id: created.id, createdAt: T0, updatedAt: T0 });
      const offline = await peer.createRule(ruleFields({ name: 'gone', channel: null, above: null, offlineMs: 5000, noDataMs: 1000 }), T0 + 1);
      expect(offline.id).toBeGreaterThan(created.id);
      expect(offline).toMatchObject({ devices: '*', channel: null, above: null, offlineMs: 5000, noDataMs: 1000, actions: [], enabled: true });
      expect(await peer.getRule(created.id)).toEqual(created);
      expect(await store.listRules()).toEqual([created, offline]);
      expect(await store.getRule(offline.id + 1000)).toBeUndefined();

      const changed = ruleFields({ name: 'boiler v2', devices: ['dev-2'], above: 90, actions: [], severity: 'info' });
      const updated = await peer.updateRule(created.id, changed, T0 + 5000);
      expect(updated).toEqual({ ...changed, id: created.id, createdAt: T0, updatedAt: T0 + 5000 });
      expect(await store.getRule(created.id)).toEqual(updated);
      expect(await store.updateRule(offline.id + 1000, changed, T0)).toBeUndefined();

      expect(await store.deleteRule(created.id)).toBe(true);
      expect(await peer.getRule(created.id)).toBeUndefined();
      expect(await peer.deleteRule(created.id)).toBe(false);
      expect(await store.listRules()).toEqual([offline]);
      // ids are never reused
      expect((await store.createRule(input, T0)).id).toBeGreaterThan(offline.id);
    });

    it('openAlert opens a pending or firing alert with its event from ok; one open alert per rule and device', async () => {
      const rule = await store.createRule(ruleFields({ channel: 'temp', severity: 'critical' }), T0);
      const opened = await store.openAlert(rule, 'dev-1', at('pending', T0 + 10, 30.5));
      expect(opened!.alert).toEqual({
        id: opened!.alert.id, ruleId: rule.id, ruleName: 'too hot', deviceId: 'dev-1', channel: 'temp', severity: 'critical', state: 'pending', value: 30.5,
        pendingAt: T0 + 10, firedAt: null, resolvedAt: null, acknowledgedAt: null, silencedUntil: null, updatedAt: T0 + 10,
      } satisfies AlertRecord);
      expect(opened!.event).toEqual({
        id: opened!.event.id, alertId: opened!.alert.id, ruleId: rule.id, deviceId: 'dev-1', from: 'ok', to: 'pending', value: 30.5,
        at: T0 + 10, idempotencyKey: opened!.event.idempotencyKey,
      });
      expect(opened!.event.idempotencyKey).toMatch(UUID);
      expect(await peer.getAlert(opened!.alert.id)).toEqual(opened!.alert);
      expect(await peer.events(opened!.alert.id)).toEqual([opened!.event]);

      // the pair is taken, as pending or as firing, in this process and in another
      expect(await store.openAlert(rule, 'dev-1', at('firing', T0 + 20))).toBeUndefined();
      expect(await peer.openAlert(rule, 'dev-1', at('pending', T0 + 20))).toBeUndefined();
      expect(await store.getAlert(opened!.alert.id)).toEqual(opened!.alert);

      // another device, or another rule, is another pair
      const direct = await peer.openAlert(rule, 'dev-2', at('firing', T0 + 30, null));
      expect(direct!.alert).toMatchObject({ state: 'firing', pendingAt: null, firedAt: T0 + 30, value: null });
      expect(direct!.event).toMatchObject({ from: 'ok', to: 'firing', value: null });
      const other = await store.createRule(ruleFields({ name: 'other' }), T0);
      const ofOther = (await store.openAlert(other, 'dev-1', at('pending', T0 + 40)))!.alert;

      // once the alert is over, the pair may open a new one
      await store.advance(opened!.alert.id, 'pending', at('cancelled', T0 + 50));
      const again = await peer.openAlert(rule, 'dev-1', at('firing', T0 + 60));
      expect(again!.alert.id).toBeGreaterThan(opened!.alert.id);
      expect(await store.openAlerts('dev-1')).toEqual([ofOther, again!.alert]);

      await expect(store.openAlert(rule, 'dev-3', at('resolved', T0))).rejects.toBeInstanceOf(TypeError);
    });

    it('openAlert racing from two processes: exactly one alert opens', async () => {
      const rule = await store.createRule(ruleFields(), T0);
      for (let round = 0; round < 5; round++) {
        const deviceId = `race-${round}`;
        const outcomes = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? peer : store).openAlert(rule, deviceId, at(i % 3 ? 'pending' : 'firing', T0 + i))));
        const opened = outcomes.filter((o) => o !== undefined);
        expect(opened).toHaveLength(1);
        expect(await store.listAlerts({ deviceId })).toEqual([opened[0]!.alert]);
        expect(await peer.events(opened[0]!.alert.id)).toEqual([opened[0]!.event]);
      }
    });

    it('openAlert for a rule that is gone opens nothing', async () => {
      const rule = await store.createRule(ruleFields(), T0);
      await peer.deleteRule(rule.id);
      expect(await store.openAlert(rule, 'dev-1', at('firing', T0))).toBeUndefined();
      expect(await store.listAlerts({})).toEqual([]);
    });

    it('an alert keeps the name its rule had when it opened, in its record and its webhook bodies', async () => {
      const rule = await store.createRule(ruleFields({ name: 'old name' }), T0);
      const webhook = await store.createWebhook({ url: 'http://127.0.0.1:9/', secret: 's' }, T0);
      const alert = await firing(rule, 'dev-1');
      expect(alert.ruleName).toBe('old name');
      const renamed = (await peer.updateRule(rule.id, ruleFields({ name: 'new name' }), T0 + 1))!;
      const resolved = (await peer.advance(alert.id, 'firing', at('resolved', T0 + 2)))!;
      expect(resolved.alert.ruleName).toBe('old name');
      expect(JSON.parse((await store.deliveries(webhook.id, 1))[0].body)).toMatchObject({ event: 'resolved', alert: { ruleName: 'old name' } });
      expect((await firing(renamed, 'dev-1')).ruleName).toBe('new name');
      await store.deleteRule(rule.id);
      expect((await peer.listAlerts({ ruleId: rule.id })).map((a) => a.ruleName)).toEqual(['new name', 'old name']);
    });

    it('advance moves an alert only from the expected state, stamping the time of the move', async () => {
      const rule = await store.createRule(ruleFields(), T0);
      const { alert } = (await store.openAlert(rule, 'dev-1', at('pending', T0, 31)))!;
      expect(await store.advance(alert.id, 'firing', at('resolved', T0 + 1))).toBeUndefined();
      const fired = await peer.advance(alert.id, 'pending', at('firing', T0 + 100, 32));
      expect(fired!.alert).toEqual({ ...alert, state: 'firing', value: 32, firedAt: T0 + 100, updatedAt: T0 + 100 });
      expect(fired!.event).toMatchObject({ alertId: alert.id, ruleId: rule.id, deviceId: 'dev-1', from: 'pending', to: 'firing', value: 32, at: T0 + 100 });
      expect(await store.advance(alert.id, 'pending', at('firing', T0 + 200))).toBeUndefined();
      const resolved = await store.advance(alert.id, 'firing', at('resolved', T0 + 300, 20));
      expect(resolved!.alert).toEqual({ ...fired!.alert, state: 'resolved', value: 20, resolvedAt: T0 + 300, updatedAt: T0 + 300 });
      expect(await peer.getAlert(alert.id)).toEqual(resolved!.alert);
      expect(await store.openAlerts()).toEqual([]);

      const cancelled = await store.openAlert(rule, 'dev-1', at('pending', T0 + 400));
      const cancel = await store.advance(cancelled!.alert.id, 'pending', at('cancelled', T0 + 450, 29));
      expect(cancel!.alert).toMatchObject({ state: 'cancelled', pendingAt: T0 + 400, firedAt: null, resolvedAt: T0 + 450, value: 29 });
      expect(await store.advance(alert.id + 1000, 'pending', at('firing', T0))).toBeUndefined();
    });

    it('advance refuses illegal moves, even from the state the alert is in; cancelled and resolved are final', async () => {
      const rule = await store.createRule(ruleFields(), T0);
      const pending = (await store.openAlert(rule, 'dev-p', at('pending', T0)))!.alert;
      const fire = (await store.openAlert(rule, 'dev-f', at('firing', T0)))!.alert;
      const resolved = (await store.openAlert(rule, 'dev-r', at('firing', T0)))!.alert;
      await store.advance(resolved.id, 'firing', at('resolved', T0 + 1));
      const cancelled = (await store.openAlert(rule, 'dev-c', at('pending', T0)))!.alert;
      await store.advance(cancelled.id, 'pending', at('cancelled', T0 + 1));
      const before = await Promise.all([pending, fire, resolved, cancelled].map(async (a) => [await store.getAlert(a.id), await store.events(a.id)]));

      expect(await store.advance(pending.id, 'pending', at('resolved', T0 + 5))).toBeUndefined();
      expect(await store.advance(pending.id, 'pending', at('pending', T0 + 5))).toBeUndefined();
      expect(await store.advance(fire.id, 'firing', at('pending', T0 + 5))).toBeUndefined();
      expect(await store.advance(fire.id, 'firing', at('cancelled', T0 + 5))).toBeUndefined();
      expect(await store.advance(fire.id, 'firing', at('firing', T0 + 5))).toBeUndefined();
      for (const to of ['pending', 'firing', 'resolved', 'cancelled'] as const) {
        expect(await peer.advance(resolved.id, 'resolved', at(to, T0 + 5))).toBeUndefined();
        expect(await peer.advance(cancelled.id, 'cancelled', at(to, T0 + 5))).toBeUndefined();
      }
      const after = await Promise.all([pending, fire, resolved, cancelled].map(async (a) => [await store.getAlert(a.id), await store.events(a.id)]));
      expect(after).toEqual(before);
    });

    it('advance racing from two processes: exactly one wins each move', async () => {
      const rule = await store.createRule(ruleFields(), T0);
      for (let round = 0; round < 10; round++) {
        const { alert } = (await store.openAlert(rule, `dev-${round}`, at('pending', T0)))!;
        // firing in one process against cancelled in another, then five of each
        const moves = await Promise.all(Array.from({ length: 10 }, (_, i) =>
          (i % 2 ? peer : store).advance(alert.id, 'pending', at(i % 2 ? 'cancelled' : 'firing', T0 + 1 + i))));
        const won = moves.filter((m) => m !== undefined);
        expect(won).toHaveLength(1);
        expect(await peer.getAlert(alert.id)).toEqual(won[0]!.alert);
        expect((await store.events(alert.id)).map((e) => e.to)).toEqual(['pending', won[0]!.event.to]);
      }
    });

    it('events: every transition of an alert, oldest first, each with its own idempotency key', async () => {
      const rule = await store.createRule(ruleFields(), T0);
      const opened = (await store.openAlert(rule, 'dev-1', at('pending', T0, 31)))!;
      const other = (await peer.openAlert(rule, 'dev-2', at('firing', T0 + 1)))!;
      const fired = (await peer.advance(opened.alert.id, 'pending', at('firing', T0 + 10, 32)))!;
      const resolved = (await store.advance(opened.alert.id, 'firing', at('resolved', T0 + 20, 25)))!;
      const events = await store.events(opened.alert.id);
      expect(events).toEqual([opened.event, fired.event, resolved.event]);
      expect(events.map((e) => [e.from, e.to, e.value, e.at])).toEqual([['ok', 'pending', 31, T0], ['pending', 'firing', 32, T0 + 10], ['firing', 'resolved', 25, T0 + 20]]);
      expect(events[1].id).toBeGreaterThan(events[0].id);
      expect(events[2].id).toBeGreaterThan(events[1].id);
      const keys = [...events, other.event].map((e) => e.idempotencyKey);
      for (const key of keys) expect(key).toMatch(UUID);
      expect(new Set(keys).size).toBe(4);
      expect(await peer.events(other.alert.id)).toEqual([other.event]);
      expect(await store.events(other.alert.id + 1000)).toEqual([]);
    });

    it('outbox: a firing alert is queued once for each webhook, with the body a receiver gets', async () => {
      const rule = await store.createRule(ruleFields({ name: 'too hot' }), T0);
      const first = await store.createWebhook({ url: 'http://127.0.0.1:9/a', secret: 's1' }, T0);
      const second = await peer.createWebhook({ url: 'http://127.0.0.1:9/b', secret: 's2' }, T0);
      const { alert, event } = (await peer.openAlert(rule, 'dev-1', at('firing', T0 + 5, 33)))!;
      const claimed = await store.claimDue('hub-a', T0 + 5, 30_000);
      expect(claimed.map((e) => e.webhookId).sort((a, b) => a - b)).toEqual([first.id, second.id]);
      for (const entry of claimed) {
        expect(entry).toEqual({
          id: entry.id, webhookId: entry.webhookId, eventId: event.id, body: entry.body, status: 'pending', attempts: 0,
          nextAttemptAt: T0 + 5, lastError: null, lastStatus: null, deliveredAt: null, createdAt: T0 + 5,
        } satisfies OutboxEntry);
        expect(JSON.parse(entry.body)).toEqual({ idempotencyKey: event.idempotencyKey, event: 'firing', alert: alertView(alert, 'too hot') });
        expect((await peer.deliveries(entry.webhookId, 10))).toEqual([entry]);
      }
      // a webhook added later hears of later events only
      const late = await store.createWebhook({ url: 'http://127.0.0.1:9/c', secret: 's3' }, T0 + 6);
      expect(await store.deliveries(late.id, 10)).toEqual([]);
    });

    it('outbox: pending and cancelled are not queued; resolved is, after firing', async () => {
      const rule = await store.createRule(ruleFields({ name: 'r' }), T0);
      const webhook = await store.createWebhook({ url: 'http://127.0.0.1:9/', secret: 's' }, T0);
      const early = (await store.openAlert(rule, 'dev-1', at('pending', T0)))!;
      await peer.advance(early.alert.id, 'pending', at('cancelled', T0 + 1));
      expect(await store.deliveries(webhook.id, 10)).toEqual([]);
      expect(await store.claimDue('hub-a', T0 + 10, 1000)).toEqual([]);

      const later = (await store.openAlert(rule, 'dev-1', at('pending', T0 + 2)))!;
      expect(await store.deliveries(webhook.id, 10)).toEqual([]);
      const fired = (await peer.advance(later.alert.id, 'pending', at('firing', T0 + 3)))!;
      const resolved = (await store.advance(later.alert.id, 'firing', at('resolved', T0 + 4, 20)))!;
      const entries = await peer.deliveries(webhook.id, 10);
      expect(entries.map((e) => e.eventId)).toEqual([resolved.event.id, fired.event.id]);
      expect(JSON.parse(entries[0].body)).toEqual({ idempotencyKey: resolved.event.idempotencyKey, event: 'resolved', alert: alertView(resolved.alert, 'r') });
      expect(JSON.parse(entries[1].body)).toMatchObject({ idempotencyKey: fired.event.idempotencyKey, event: 'firing', alert: { state: 'firing', firedAt: new Date(T0 + 3).toISOString() } });
    });

    it('outbox: the transitions of a silenced alert are recorded but not queued', async () => {
      const rule = await store.createRule(ruleFields(), T0);
      const webhook = await store.createWebhook({ url: 'http://127.0.0.1:9/', secret: 's' }, T0);
      const { alert } = (await store.openAlert(rule, 'dev-1', at('pending', T0)))!;
      expect(await peer.silence(alert.id, T0 + 1000, T0 + 1)).toMatchObject({ silencedUntil: T0 + 1000, updatedAt: T0 + 1 });
      const fired = await store.advance(alert.id, 'pending', at('firing', T0 + 999));
      expect(fired!.alert).toMatchObject({ state: 'firing', silencedUntil: T0 + 1000 });
      expect(await store.deliveries(webhook.id, 10)).toEqual([]);
      // the silence is over when the alert resolves
      const resolved = await store.advance(alert.id, 'firing', at('resolved', T0 + 1000));
      expect((await store.deliveries(webhook.id, 10)).map((e) => e.eventId)).toEqual([resolved!.event.id]);
      expect((await store.events(alert.id)).map((e) => e.to)).toEqual(['pending', 'firing', 'resolved']);

      // a silenced alert that opens firing is not queued either; unsilenced, its resolution is
      const second = (await store.openAlert(rule, 'dev-2', at('firing', T0)))!;
      await store.silence(second.alert.id, T0 + 5000, T0);
      expect(await store.silence(second.alert.id, null, T0 + 10)).toMatchObject({ silencedUntil: null, updatedAt: T0 + 10 });
      const quiet = (await store.openAlert(rule, 'dev-3', at('pending', T0)))!;
      await store.silence(quiet.alert.id, T0 + 5000, T0);
      await store.advance(quiet.alert.id, 'pending', at('firing', T0 + 20));
      const back = await store.advance(second.alert.id, 'firing', at('resolved', T0 + 30));
      expect((await store.deliveries(webhook.id, 10)).map((e) => e.eventId)).toEqual([back!.event.id, second.event.id, resolved!.event.id]);
    });

    it('claimDue: only the oldest pending entry of a webhook, and only once its time has come', async () => {
      const rule = await store.createRule(ruleFields(), T0);
      const webhook = await store.createWebhook({ url: 'http://127.0.0.1:9/', secret: 's' }, T0);
      const events = [];
      for (let i = 0; i < 3; i++) events.push((await store.openAlert(rule, `dev-${i}`, at('firing', T0 + i)))!.event);
      expect(await store.claimDue('hub-a', T0 - 1, 10_000)).toEqual([]);
      const [head] = await store.claimDue('hub-a', T0 + 10, 10_000);
      expect(head).toMatchObject({ webhookId: webhook.id, eventId: events[0].id, attempts: 0 });
      expect(await store.claimDue('hub-a', T0 + 10, 10_000)).toEqual([head]);

      // a failed head holds back the entries after it until it is tried again
      await store.markFailed(head.id, T0 + 11, 'connect ECONNREFUSED', null, T0 + 1000);
      expect(await store.claimDue('hub-a', T0 + 999, 10_000)).toEqual([]);
      const [retry] = await store.claimDue('hub-a', T0 + 1000, 10_000);
      expect(retry).toEqual({ ...head, attempts: 1, lastError: 'connect ECONNREFUSED', lastStatus: null, nextAttemptAt: T0 + 1000 });
      await store.markFailed(head.id, T0 + 1001, 'HTTP 503', 503, T0 + 2000);
      expect(await store.deliveries(webhook.id, 1)).toEqual([expect.objectContaining({ eventId: events[2].id, attempts: 0 })]);
      expect((await store.deliveries(webhook.id, 10)).at(-1)).toMatchObject({ id: head.id, attempts: 2, lastError: 'HTTP 503', lastStatus: 503, nextAttemptAt: T0 + 2000 });

      await store.markDelivered(head.id, T0 + 2001, 204);
      const [next] = await store.claimDue('hub-a', T0 + 2001, 10_000);
      expect(next).toMatchObject({ eventId: events[1].id, status: 'pending' });
      const done = (await peer.deliveries(webhook.id, 10)).find((e) => e.id === head.id);
      expect(done).toMatchObject({ status: 'delivered', deliveredAt: T0 + 2001, lastStatus: 204, attempts: 3, lastError: 'HTTP 503' });
      // a delivered entry stays delivered
      await store.markFailed(head.id, T0 + 2002, 'late', 500, T0 + 9999);
      await store.markDelivered(head.id, T0 + 2003, 200);
      expect((await store.deliveries(webhook.id, 10)).find((e) => e.id === head.id)).toEqual(done);

      await store.markDelivered(next.id, T0 + 2002, 200);
      await store.markDelivered((await store.claimDue('hub-a', T0 + 2002, 10_000))[0].id, T0 + 2003, 200);
      expect(await store.claimDue('hub-a', T0 + 9_999_999, 10_000)).toEqual([]);
      expect((await store.deliveries(webhook.id, 10)).map((e) => [e.eventId, e.status])).toEqual([
        [events[2].id, 'delivered'], [events[1].id, 'delivered'], [events[0].id, 'delivered'],
      ]);
    });

    it('claimDue: at most `limit` entries, due ones first', async () => {
      const rule = await store.createRule(ruleFields(), T0);
      const hooks = [];
      for (let i = 0; i < 3; i++) hooks.push(await store.createWebhook({ url: `http://127.0.0.1:9/${i}`, secret: 's' }, T0));
      await store.openAlert(rule, 'dev-1', at('firing', T0));
      const [firstHead] = await store.deliveries(hooks[0].id, 1);
      await store.markFailed(firstHead.id, T0, 'HTTP 500', 500, T0 + 60_000);
      const claimed = await store.claimDue('hub-a', T0 + 1, 1000, 2);
      expect(claimed.map((e) => e.webhookId).sort((a, b) => a - b)).toEqual([hooks[1].id, hooks[2].id]);
    });

    it('leases: two hubs claiming at once never both receive entries of one webhook', async () => {
      const rule = await store.createRule(ruleFields(), T0);
      const hooks = [];
      for (let i = 0; i < 6; i++) hooks.push((await store.createWebhook({ url: `http://127.0.0.1:9/${i}`, secret: 's' }, T0)).id);
      await store.openAlert(rule, 'dev-1', at('firing', T0));
      const leaseMs = 1000;
      for (let round = 0; round < 10; round++) {
        // each round starts after the last round's leases ran out, so every webhook is up for grabs
        const now = T0 + round * 2 * leaseMs;
        const [a, b] = await Promise.all([store.claimDue('hub-a', now, leaseMs), peer.claimDue('hub-b', now, leaseMs)]);
        const ofA = webhookIds(a);
        const ofB = webhookIds(b);
        expect(ofA.filter((id) => ofB.includes(id))).toEqual([]);
        expect([...ofA, ...ofB].sort((x, y) => x - y)).toEqual(hooks);
        // while the leases hold, each hub keeps its own webhooks and gets none of the other's
        expect(webhookIds(await peer.claimDue('hub-b', now + leaseMs - 1, leaseMs))).toEqual(ofB);
        expect(webhookIds(await store.claimDue('hub-a', now + leaseMs - 1, leaseMs))).toEqual(ofA);
      }
    });

    it('leases: a webhook whose owner stopped renewing is taken over', async () => {
      const rule = await store.createRule(ruleFields(), T0);
      const webhook = await store.createWebhook({ url: 'http://127.0.0.1:9/', secret: 's' }, T0);
      await store.openAlert(rule, 'dev-1', at('firing', T0));
      const [entry] = await store.claimDue('hub-a', T0, 1000);
      expect(entry.webhookId).toBe(webhook.id);
      expect(await peer.claimDue('hub-b', T0 + 999, 1000)).toEqual([]);
      // renewing moves the lease on
      expect(await store.claimDue('hub-a', T0 + 500, 1000)).toEqual([entry]);
      expect(await peer.claimDue('hub-b', T0 + 1499, 1000)).toEqual([]);
      // hub-a is gone: once its lease runs out hub-b takes the webhook, and hub-a cannot take it back
      expect(await peer.claimDue('hub-b', T0 + 1500, 1000)).toEqual([entry]);
      expect(await store.claimDue('hub-a', T0 + 1500, 1000)).toEqual([]);
      expect(await store.claimDue('hub-a', T0 + 2499, 1000)).toEqual([]);
      // a lease is taken while the head waits out a backoff, so the hub that retries keeps the webhook
      await peer.markFailed(entry.id, T0 + 1600, 'HTTP 500', 500, T0 + 5000);
      expect(await peer.claimDue('hub-b', T0 + 2400, 1000)).toEqual([]);
      expect(await store.claimDue('hub-a', T0 + 3000, 1000)).toEqual([]);
      expect(await peer.claimDue('hub-b', T0 + 5000, 1000)).toEqual([{ ...entry, attempts: 1, lastError: 'HTTP 500', lastStatus: 500, nextAttemptAt: T0 + 5000 }]);
    });

    it('deleteRule cancels the open alerts of the rule, with no event and nothing queued; its alerts stay listed', async () => {
      const rule = await store.createRule(ruleFields(), T0);
      const kept = await store.createRule(ruleFields({ name: 'kept' }), T0);
      const webhook = await store.createWebhook({ url: 'http://127.0.0.1:9/', secret: 's' }, T0);
      const pending = (await store.openAlert(rule, 'dev-1', at('pending', T0)))!.alert;
      const fire = await firing(rule, 'dev-2');
      const over = await firing(rule, 'dev-3');
      const resolved = (await store.advance(over.id, 'firing', at('resolved', T0 + 1)))!.alert;
      const other = await firing(kept, 'dev-1');
      const queued = await store.deliveries(webhook.id, 10);

      const before = Date.now();
      expect(await peer.deleteRule(rule.id)).toBe(true);
      const after = Date.now();
      for (const alert of [pending, fire]) {
        const cancelled = (await store.getAlert(alert.id))!;
        expect(cancelled).toEqual({ ...alert, state: 'cancelled', resolvedAt: cancelled.resolvedAt, updatedAt: cancelled.updatedAt });
        expect(cancelled.resolvedAt).toBeGreaterThanOrEqual(before);
        expect(cancelled.resolvedAt).toBeLessThanOrEqual(after);
        expect(cancelled.updatedAt).toBe(cancelled.resolvedAt);
        expect((await store.events(alert.id)).map((e) => e.to)).toEqual([alert.state]);
      }
      expect(await store.getAlert(resolved.id)).toEqual(resolved);
      expect(await store.getAlert(other.id)).toEqual(other);
      expect(await store.deliveries(webhook.id, 10)).toEqual(queued);
      expect((await store.listAlerts({ ruleId: rule.id })).map((a) => a.id)).toEqual([over.id, fire.id, pending.id]);
      expect(await store.openAlerts()).toEqual([other]);
    });

    it('deleteRule racing openAlert from another process: no open alert of the deleted rule is left', async () => {
      for (let round = 0; round < 10; round++) {
        const rule = await store.createRule(ruleFields({ name: `r${round}` }), T0);
        const [deleted, ...opened] = await Promise.all([
          store.deleteRule(rule.id),
          ...Array.from({ length: 5 }, (_, i) => peer.openAlert(rule, `dev-${i}`, at('firing', T0))),
        ]);
        expect(deleted).toBe(true);
        expect((await store.openAlerts()).filter((a) => a.ruleId === rule.id)).toEqual([]);
        // what did open was cancelled with the rule
        const listed = await peer.listAlerts({ ruleId: rule.id });
        expect(listed.map((a) => a.id).sort((a, b) => a - b)).toEqual(opened.flatMap((o) => (o ? [o.alert.id] : [])).sort((a, b) => a - b));
        for (const alert of listed) expect(alert.state).toBe('cancelled');
      }
    });

    it('deleteWebhook racing transitions from another process: every transition is recorded, none queued for it', async () => {
      const rule = await store.createRule(ruleFields(), T0);
      for (let round = 0; round < 5; round++) {
        const gone = await store.createWebhook({ url: 'http://127.0.0.1:9/gone', secret: 's' }, T0);
        const kept = await store.createWebhook({ url: 'http://127.0.0.1:9/kept', secret: 's' }, T0);
        const [deleted, ...opened] = await Promise.all([
          store.deleteWebhook(gone.id),
          ...Array.from({ length: 8 }, (_, i) => peer.openAlert(rule, `dev-${round}-${i}`, at('firing', T0))),
        ]);
        expect(deleted).toBe(true);
        expect(opened.every((o) => o !== undefined)).toBe(true);
        expect(await store.deliveries(gone.id, 100)).toEqual([]);
        expect(await store.deliveries(kept.id, 100)).toHaveLength(8);
        await store.deleteWebhook(kept.id);
      }
    });

    it('deleteWebhook drops its undelivered entries; the other webhooks keep theirs', async () => {
      const rule = await store.createRule(ruleFields(), T0);
      const gone = await store.createWebhook({ url: 'http://127.0.0.1:9/gone', secret: 's' }, T0);
      const kept = await store.createWebhook({ url: 'http://127.0.0.1:9/kept', secret: 's' }, T0);
      await firing(rule, 'dev-1');
      const keptEntries = await store.deliveries(kept.id, 10);
      expect(keptEntries).toHaveLength(1);
      expect(await peer.deleteWebhook(gone.id)).toBe(true);
      expect(await store.getWebhook(gone.id)).toBeUndefined();
      expect(await store.deleteWebhook(gone.id)).toBe(false);
      expect(await store.deliveries(gone.id, 10)).toEqual([]);
      expect(await store.claimDue('hub-a', T0, 1000)).toEqual(keptEntries);
      await firing(rule, 'dev-2');
      expect(await store.deliveries(gone.id, 10)).toEqual([]);
      expect(await store.deliveries(kept.id, 10)).toHaveLength(2);
    });

    it('webhooks: create, read from every process, list in id order', async () => {
      const a = await store.createWebhook({ url: 'https://example.com/hook', secret: 'k1' }, T0);
      expect(a).toEqual({ id: a.id, url: 'https://example.com/hook', secret: 'k1', createdAt: T0 });
      const b = await peer.createWebhook({ url: 'https://example.org/hook', secret: 'k2' }, T0 + 1);
      expect(b.id).toBeGreaterThan(a.id);
      expect(await peer.getWebhook(a.id)).toEqual(a);
      expect(await store.listWebhooks()).toEqual([a, b]);
      expect(await store.getWebhook(b.id + 1000)).toBeUndefined();
      expect(await store.deleteWebhook(b.id + 1000)).toBe(false);
    });

    it('acknowledge keeps the first acknowledgement; silence sets and clears', async () => {
      const rule = await store.createRule(ruleFields(), T0);
      const alert = await firing(rule, 'dev-1');
      const acked = await store.acknowledge(alert.id, T0 + 10);
      expect(acked).toEqual({ ...alert, acknowledgedAt: T0 + 10, updatedAt: T0 + 10 });
      expect(await peer.acknowledge(alert.id, T0 + 20)).toEqual(acked);
      const silenced = await peer.silence(alert.id, T0 + 60_000, T0 + 30);
      expect(silenced).toEqual({ ...acked, silencedUntil: T0 + 60_000, updatedAt: T0 + 30 });
      expect(await store.silence(alert.id, null, T0 + 40)).toEqual({ ...acked, silencedUntil: null, updatedAt: T0 + 40 });
      expect(await store.acknowledge(alert.id + 1000, T0)).toBeUndefined();
      expect(await store.silence(alert.id + 1000, T0, T0)).toBeUndefined();
      // neither is a transition
      expect(await store.events(alert.id)).toHaveLength(1);
    });

    it('listAlerts: newest first, filtered by state, device and rule, paged by beforeId', async () => {
      const r1 = await store.createRule(ruleFields({ name: 'r1' }), T0);
      const r2 = await store.createRule(ruleFields({ name: 'r2' }), T0);
      const p = (await store.openAlert(r1, 'dev-a', at('pending', T0)))!.alert;
      const f = await firing(r1, 'dev-b');
      const res = await firing(r2, 'dev-a');
      await store.advance(res.id, 'firing', at('resolved', T0 + 1));
      const c = (await store.openAlert(r2, 'dev-b', at('pending', T0)))!.alert;
      await store.advance(c.id, 'pending', at('cancelled', T0 + 1));
      const f2 = await firing(r2, 'dev-a');
      const ids = (q: Parameters<AlertStore['listAlerts']>[0]) => peer.listAlerts(q).then((alerts) => alerts.map((a) => a.id));

      expect(await ids({})).toEqual([f2.id, c.id, res.id, f.id, p.id]);
      expect(await ids({ state: 'all' })).toEqual([f2.id, c.id, res.id, f.id, p.id]);
      expect(await ids({ state: 'open' })).toEqual([f2.id, f.id, p.id]);
      expect(await ids({ state: 'firing' })).toEqual([f2.id, f.id]);
      expect(await ids({ state: 'pending' })).toEqual([p.id]);
      expect(await ids({ state: 'resolved' })).toEqual([res.id]);
      expect(await ids({ state: 'cancelled' })).toEqual([c.id]);
      expect(await ids({ deviceId: 'dev-a' })).toEqual([f2.id, res.id, p.id]);
      expect(await ids({ ruleId: r2.id })).toEqual([f2.id, c.id, res.id]);
      expect(await ids({ ruleId: r2.id, deviceId: 'dev-a', state: 'open' })).toEqual([f2.id]);
      expect(await ids({ deviceId: 'dev-none' })).toEqual([]);
      expect(await ids({ limit: 2 })).toEqual([f2.id, c.id]);
      expect(await ids({ limit: 2, beforeId: c.id })).toEqual([res.id, f.id]);
      expect(await ids({ limit: 2, beforeId: f.id })).toEqual([p.id]);
      expect(await ids({ state: 'open', beforeId: f2.id })).toEqual([f.id, p.id]);
      expect(await store.listAlerts({ deviceId: 'dev-b', state: 'firing' })).toEqual([f]);
      expect(await store.openAlerts()).toEqual([p, f, f2]);
      expect(await store.openAlerts('dev-a')).toEqual([p, f2]);
    });

    it('listAlerts: 100 by default', async () => {
      const rule = await store.createRule(ruleFields(), T0);
      const ids = [];
      for (let i = 0; i < 101; i++) ids.push((await firing(rule, `dev-${i}`)).id);
      const listed = await store.listAlerts({ state: 'open' });
      expect(listed.map((a) => a.id)).toEqual(ids.slice(1).reverse());
      expect(await store.listAlerts({ limit: Number.NaN })).toEqual(listed);
      expect(await store.listAlerts({ limit: 0 })).toEqual([]);
      expect(await store.listAlerts({ limit: -5 })).toEqual([]);
      expect((await store.listAlerts({ limit: 1_000_000 })).map((a) => a.id)).toEqual(ids.slice().reverse());
    });

    it('survives a reopen: a firing alert is still open with the same fields, its webhook entry still due', async () => {
      const rule = await store.createRule(ruleFields({ devices: ['dev-1'], actions: [{ type: 'command', name: 'beep' }] }), T0);
      const webhook = await store.createWebhook({ url: 'http://127.0.0.1:9/', secret: 's' }, T0);
      const { alert, event } = (await store.openAlert(rule, 'dev-1', at('firing', T0, 40.25)))!;
      const acked = await store.acknowledge(alert.id, T0 + 1);
      const [entry] = await store.deliveries(webhook.id, 10);
      await store.close();
      await peer.close();

      const reopened = await subject.peer();
      expect(await reopened.getRule(rule.id)).toEqual(rule);
      expect(await reopened.getAlert(alert.id)).toEqual(acked);
      expect(await reopened.openAlerts('dev-1')).toEqual([acked]);
      expect(await reopened.events(alert.id)).toEqual([event]);
      expect(await reopened.listWebhooks()).toEqual([webhook]);
      expect(await reopened.claimDue('hub-a', T0 + 2, 1000)).toEqual([entry]);
      // and the pair is still taken
      expect(await reopened.openAlert(rule, 'dev-1', at('firing', T0 + 3))).toBeUndefined();
    });
  });
}
