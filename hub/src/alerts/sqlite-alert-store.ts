// The alert store of a single-node hub: its own SQLite file in the data dir (alerts.db), so rules,
// alerts and undelivered webhook entries survive a restart. The same schema as the cluster's
// (cluster/migrations.ts, version 5); both pass alert-store-contract.ts.
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import type {
  AlertEvent, AlertQuery, AlertRecord, AlertState, AlertStore, OutboxEntry, Rule, RuleAction, Severity, Transition, Webhook,
} from './alert-store.ts';
import { isDelivered, webhookBody } from './alert-view.ts';

/** The moves `advance` allows; cancelled and resolved are final. Shared with pg-alert-store.ts. */
export const MOVES: Readonly<Record<AlertState, readonly AlertState[]>> = {
  pending: ['firing', 'cancelled'],
  firing: ['resolved'],
  resolved: [],
  cancelled: [],
};

export const DEFAULT_LIST_LIMIT = 100;
export const MAX_LIST_LIMIT = 1000;

/** `limit` as a whole number from 0 to MAX_LIST_LIMIT; DEFAULT_LIST_LIMIT when absent or not a number. */
export function listLimit(query: AlertQuery): number {
  const limit = query.limit !== undefined && Number.isFinite(query.limit) ? Math.trunc(query.limit) : DEFAULT_LIST_LIMIT;
  return Math.max(0, Math.min(limit, MAX_LIST_LIMIT));
}

/** The states a query's `state` filter stands for; undefined is every state. */
export function queryStates(query: AlertQuery): AlertState[] | undefined {
  if (query.state === undefined || query.state === 'all') return undefined;
  return query.state === 'open' ? ['pending', 'firing'] : [query.state];
}

/** A caller that opens an alert in a final state has a bug: it is thrown, not answered undefined. */
export function assertOpening(t: Transition): void {
  if (t.to !== 'pending' && t.to !== 'firing') throw new TypeError(`an alert opens as pending or firing, not ${t.to}`);
}

interface RuleRow {
  id: number;
  name: string;
  description: string;
  devices: string;
  channel: string | null;
  above: number | null;
  below: number | null;
  clear: number | null;
  for_ms: number;
  no_data_ms: number | null;
  offline_ms: number | null;
  severity: Severity;
  actions: string;
  enabled: number;
  created_at: number;
  updated_at: number;
}

interface AlertRow {
  id: number;
  rule_id: number;
  rule_name: string;
  device_id: string;
  channel: string | null;
  severity: Severity;
  state: AlertState;
  value: number | null;
  pending_at: number | null;
  fired_at: number | null;
  resolved_at: number | null;
  acknowledged_at: number | null;
  silenced_until: number | null;
  updated_at: number;
}

interface EventRow {
  id: number;
  alert_id: number;
  rule_id: number;
  device_id: string;
  from_state: AlertState | 'ok';
  to_state: AlertState;
  value: number | null;
  at: number;
  idempotency_key: string;
}

interface WebhookRow {
  id: number;
  url: string;
  secret: string;
  created_at: number;
}

interface OutboxRow {
  id: number;
  webhook_id: number;
  event_id: number;
  body: string;
  status: 'pending' | 'delivered';
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  last_status: number | null;
  delivered_at: number | null;
  created_at: number;
}

const toRule = (r: RuleRow): Rule => ({
  id: r.id, name: r.name, description: r.description, devices: JSON.parse(r.devices) as string[] | '*', channel: r.channel,
  above: r.above, below: r.below, clear: r.clear, forMs: r.for_ms, noDataMs: r.no_data_ms, offlineMs: r.offline_ms,
  severity: r.severity, actions: JSON.parse(r.actions) as RuleAction[], enabled: r.enabled !== 0,
  createdAt: r.created_at, updatedAt: r.updated_at,
});

const toAlert = (r: AlertRow): AlertRecord => ({
  id: r.id, ruleId: r.rule_id, ruleName: r.rule_name, deviceId: r.device_id, channel: r.channel, severity: r.severity, state: r.state, value: r.value,
  pendingAt: r.pending_at, firedAt: r.fired_at, resolvedAt: r.resolved_at, acknowledgedAt: r.acknowledged_at,
  silencedUntil: r.silenced_until, updatedAt: r.updated_at,
});

const toEvent = (r: EventRow): AlertEvent => ({
  id: r.id, alertId: r.alert_id, ruleId: r.rule_id, deviceId: r.device_id, from: r.from_state, to: r.to_state, value: r.value,
  at: r.at, idempotencyKey: r.idempotency_key,
});

const toWebhook = (r: WebhookRow): Webhook => ({ id: r.id, url: r.url, secret: r.secret, createdAt: r.created_at });

const toEntry = (r: OutboxRow): OutboxEntry => ({
  id: r.id, webhookId: r.webhook_id, eventId: r.event_id, body: r.body, status: r.status, attempts: r.attempts,
  nextAttemptAt: r.next_attempt_at, lastError: r.last_error, lastStatus: r.last_status, deliveredAt: r.delivered_at,
  createdAt: r.created_at,
});

type RuleFields = Omit<Rule, 'id' | 'createdAt' | 'updatedAt'>;

const ruleParams = (rule: RuleFields) => ({
  name: rule.name, description: rule.description, devices: JSON.stringify(rule.devices), channel: rule.channel,
  above: rule.above, below: rule.below, clear: rule.clear, forMs: rule.forMs, noDataMs: rule.noDataMs,
  offlineMs: rule.offlineMs, severity: rule.severity, actions: JSON.stringify(rule.actions), enabled: rule.enabled ? 1 : 0,
});

export function createSqliteAlertStore(options: { path: string }): AlertStore {
  const db = new Database(options.path);
  db.pragma('journal_mode = WAL');
  // AUTOINCREMENT: ids only grow, even after the newest row is deleted. alerts.rule_id has no
  // foreign key: an alert outlives its rule, and keeps the name the rule had when it opened.
  db.exec(`
    CREATE TABLE IF NOT EXISTS alert_rules (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      name TEXT NOT NULL,
      description TEXT NOT NULL,
      devices TEXT NOT NULL,
      channel TEXT,
      above REAL,
      below REAL,
      clear REAL,
      for_ms INTEGER NOT NULL,
      no_data_ms INTEGER,
      offline_ms INTEGER,
      severity TEXT NOT NULL,
      actions TEXT NOT NULL,
      enabled INTEGER NOT NULL,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS alerts (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      rule_id INTEGER NOT NULL,
      rule_name TEXT NOT NULL,
      device_id TEXT NOT NULL,
      channel TEXT,
      severity TEXT NOT NULL,
      state TEXT NOT NULL,
      value REAL,
      pending_at INTEGER,
      fired_at INTEGER,
      resolved_at INTEGER,
      acknowledged_at INTEGER,
      silenced_until INTEGER,
      updated_at INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX IF NOT EXISTS alerts_one_open ON alerts (rule_id, device_id) WHERE state IN ('pending', 'firing');
    CREATE INDEX IF NOT EXISTS alerts_device ON alerts (device_id, id);
    CREATE INDEX IF NOT EXISTS alerts_rule ON alerts (rule_id, id);
    CREATE INDEX IF NOT EXISTS alerts_state ON alerts (state, id);
    CREATE TABLE IF NOT EXISTS alert_events (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      alert_id INTEGER NOT NULL REFERENCES alerts (id),
      rule_id INTEGER NOT NULL,
      device_id TEXT NOT NULL,
      from_state TEXT NOT NULL,
      to_state TEXT NOT NULL,
      value REAL,
      at INTEGER NOT NULL,
      idempotency_key TEXT NOT NULL UNIQUE
    );
    CREATE INDEX IF NOT EXISTS alert_events_alert ON alert_events (alert_id, id);
    CREATE TABLE IF NOT EXISTS webhooks (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      url TEXT NOT NULL,
      secret TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      lease_owner TEXT,
      lease_until INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE IF NOT EXISTS webhook_outbox (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      webhook_id INTEGER NOT NULL,
      event_id INTEGER NOT NULL,
      body TEXT NOT NULL,
      status TEXT NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0,
      next_attempt_at INTEGER NOT NULL,
      last_error TEXT,
      last_status INTEGER,
      delivered_at INTEGER,
      created_at INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS webhook_outbox_pending ON webhook_outbox (webhook_id, id) WHERE status = 'pending';
    CREATE INDEX IF NOT EXISTS webhook_outbox_webhook ON webhook_outbox (webhook_id, id);`);

  const insertRule = db.prepare<ReturnType<typeof ruleParams> & { now: number }, RuleRow>(`
    INSERT INTO alert_rules (name, description, devices, channel, above, below, clear, for_ms, no_data_ms, offline_ms, severity, actions, enabled, created_at, updated_at)
    VALUES (@name, @description, @devices, @channel, @above, @below, @clear, @forMs, @noDataMs, @offlineMs, @severity, @actions, @enabled, @now, @now)
    RETURNING *`);
  const ruleById = db.prepare<[number], RuleRow>(`SELECT * FROM alert_rules WHERE id = ?`);
  const allRules = db.prepare<[], RuleRow>(`SELECT * FROM alert_rules ORDER BY id`);
  const setRule = db.prepare<ReturnType<typeof ruleParams> & { id: number; now: number }, RuleRow>(`
    UPDATE alert_rules SET name = @name, description = @description, devices = @devices, channel = @channel, above = @above,
      below = @below, clear = @clear, for_ms = @forMs, no_data_ms = @noDataMs, offline_ms = @offlineMs, severity = @severity,
      actions = @actions, enabled = @enabled, updated_at = @now
    WHERE id = @id
    RETURNING *`);
  const removeRule = db.prepare(`DELETE FROM alert_rules WHERE id = ?`);
  const cancelOpen = db.prepare(`
    UPDATE alerts SET state = 'cancelled', resolved_at = @now, updated_at = @now
    WHERE rule_id = @ruleId AND state IN ('pending', 'firing')`);

  // DO NOTHING on the unique partial index alerts_one_open: a pair that already has an open alert
  // gets no second one, and the insert returns no row instead of failing. Read from alert_rules, so
  // a rule deleted meanwhile opens nothing, and the name kept is the rule's at this moment.
  const insertAlert = db.prepare<{ ruleId: number; deviceId: string; channel: string | null; severity: Severity; state: AlertState; value: number | null; pendingAt: number | null; firedAt: number | null; at: number }, AlertRow>(`
    INSERT INTO alerts (rule_id, rule_name, device_id, channel, severity, state, value, pending_at, fired_at, updated_at)
    SELECT id, name, @deviceId, @channel, @severity, @state, @value, @pendingAt, @firedAt, @at FROM alert_rules WHERE id = @ruleId
    ON CONFLICT DO NOTHING
    RETURNING *`);
  // The state check and the write are one statement (compare-and-set); the move itself was
  // checked against MOVES before.
  const moveAlert = db.prepare<{ id: number; from: AlertState; to: AlertState; value: number | null; at: number }, AlertRow>(`
    UPDATE alerts SET state = @to, value = @value, updated_at = @at,
      fired_at = CASE WHEN @to = 'firing' THEN @at ELSE fired_at END,
      resolved_at = CASE WHEN @to IN ('resolved', 'cancelled') THEN @at ELSE resolved_at END
    WHERE id = @id AND state = @from
    RETURNING *`);
  const alertById = db.prepare<[number], AlertRow>(`SELECT * FROM alerts WHERE id = ?`);
  const openAll = db.prepare<[], AlertRow>(`SELECT * FROM alerts WHERE state IN ('pending', 'firing') ORDER BY id`);
  const openFor = db.prepare<[string], AlertRow>(`SELECT * FROM alerts WHERE state IN ('pending', 'firing') AND device_id = ? ORDER BY id`);
  // the first acknowledgement counts; acknowledging again changes nothing
  const ack = db.prepare<{ id: number; at: number }, AlertRow>(`
    UPDATE alerts SET updated_at = CASE WHEN acknowledged_at IS NULL THEN @at ELSE updated_at END,
      acknowledged_at = COALESCE(acknowledged_at, @at)
    WHERE id = @id
    RETURNING *`);
  const silence = db.prepare<{ id: number; until: number | null; at: number }, AlertRow>(`
    UPDATE alerts SET silenced_until = @until, updated_at = @at WHERE id = @id RETURNING *`);

  const insertEvent = db.prepare<{ alertId: number; ruleId: number; deviceId: string; from: string; to: string; value: number | null; at: number; key: string }, EventRow>(`
    INSERT INTO alert_events (alert_id, rule_id, device_id, from_state, to_state, value, at, idempotency_key)
    VALUES (@alertId, @ruleId, @deviceId, @from, @to, @value, @at, @key)
    RETURNING *`);
  const eventsOf = db.prepare<[number], EventRow>(`SELECT * FROM alert_events WHERE alert_id = ? ORDER BY id`);
  // one entry per webhook that exists now, due at once: a webhook's entries go out in id order
  const enqueue = db.prepare<{ eventId: number; body: string; at: number }>(`
    INSERT INTO webhook_outbox (webhook_id, event_id, body, status, attempts, next_attempt_at, created_at)
    SELECT id, @eventId, @body, 'pending', 0, @at, @at FROM webhooks ORDER BY id`);

  const insertWebhook = db.prepare<[string, string, number], WebhookRow>(`INSERT INTO webhooks (url, secret, created_at) VALUES (?, ?, ?) RETURNING *`);
  const allWebhooks = db.prepare<[], WebhookRow>(`SELECT * FROM webhooks ORDER BY id`);
  const webhookById = db.prepare<[number], WebhookRow>(`SELECT * FROM webhooks WHERE id = ?`);
  const removeWebhook = db.prepare(`DELETE FROM webhooks WHERE id = ?`);
  const removeEntries = db.prepare(`DELETE FROM webhook_outbox WHERE webhook_id = ?`);

  // Webhooks free for `owner` (never leased, lease run out, or its own) with their oldest pending
  // entry: due heads first, so webhooks waiting out a backoff do not crowd due ones past `limit`.
  const claimable = db.prepare<{ owner: string; now: number; limit: number }, OutboxRow>(`
    SELECT o.* FROM webhooks w
    JOIN webhook_outbox o ON o.id = (SELECT min(id) FROM webhook_outbox WHERE webhook_id = w.id AND status = 'pending')
    WHERE w.lease_until <= @now OR w.lease_owner = @owner
    ORDER BY o.next_attempt_at > @now, w.id
    LIMIT @limit`);
  const lease = db.prepare<{ id: number; owner: string; until: number }>(`UPDATE webhooks SET lease_owner = @owner, lease_until = @until WHERE id = @id`);
  const delivered = db.prepare<{ id: number; at: number; status: number }>(`
    UPDATE webhook_outbox SET status = 'delivered', delivered_at = @at, last_status = @status, attempts = attempts + 1
    WHERE id = @id AND status = 'pending'`);
  const failed = db.prepare<{ id: number; error: string; status: number | null; next: number }>(`
    UPDATE webhook_outbox SET last_error = @error, last_status = @status, next_attempt_at = @next, attempts = attempts + 1
    WHERE id = @id AND status = 'pending'`);
  const recentEntries = db.prepare<[number, number], OutboxRow>(`SELECT * FROM webhook_outbox WHERE webhook_id = ? ORDER BY id DESC LIMIT ?`);

  const listStatements = new Map<string, Database.Statement<Record<string, unknown>, AlertRow>>();
  /** one prepared statement per combination of filters, so each reads the index that fits it */
  const listStatement = (query: AlertQuery, states: AlertState[] | undefined) => {
    const where = [
      states && `state IN (SELECT value FROM json_each(@states))`,
      query.deviceId !== undefined && `device_id = @deviceId`,
      query.ruleId !== undefined && `rule_id = @ruleId`,
      query.beforeId !== undefined && `id < @beforeId`,
    ].filter(Boolean);
    const text = `SELECT * FROM alerts ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT @limit`;
    let statement = listStatements.get(text);
    if (!statement) listStatements.set(text, (statement = db.prepare<Record<string, unknown>, AlertRow>(text)));
    return statement;
  };

  /** The event of a transition and its outbox entries; inside the transaction that made the change. */
  const record = (alert: AlertRecord, from: AlertState | 'ok', t: Transition) => {
    const event = toEvent(insertEvent.get({
      alertId: alert.id, ruleId: alert.ruleId, deviceId: alert.deviceId, from, to: t.to, value: t.value, at: t.at, key: randomUUID(),
    })!);
    if (isDelivered(event, alert)) enqueue.run({ eventId: event.id, body: webhookBody(event, alert, alert.ruleName), at: t.at });
    return { alert, event };
  };

  // IMMEDIATE: each takes the write lock before it reads, so another connection to this file
  // cannot change what it read before it writes.
  const open = db.transaction((rule: Rule, deviceId: string, t: Transition) => {
    const row = insertAlert.get({
      ruleId: rule.id, deviceId, channel: rule.channel, severity: rule.severity, state: t.to, value: t.value,
      pendingAt: t.to === 'pending' ? t.at : null, firedAt: t.to === 'firing' ? t.at : null, at: t.at,
    });
    return row && record(toAlert(row), 'ok', t);
  });
  const advance = db.transaction((alertId: number, from: AlertState, t: Transition) => {
    const row = moveAlert.get({ id: alertId, from, to: t.to, value: t.value, at: t.at });
    return row && record(toAlert(row), from, t);
  });
  const remove = db.transaction((id: number, now: number) => {
    if (removeRule.run(id).changes === 0) return false;
    cancelOpen.run({ ruleId: id, now });
    return true;
  });
  const dropWebhook = db.transaction((id: number) => {
    removeEntries.run(id);
    return removeWebhook.run(id).changes > 0;
  });
  const claim = db.transaction((owner: string, now: number, leaseMs: number, limit: number) => {
    const heads = claimable.all({ owner, now, limit });
    for (const head of heads) lease.run({ id: head.webhook_id, owner, until: now + leaseMs });
    return heads.filter((head) => head.next_attempt_at <= now).map(toEntry);
  });

  return {
    async createRule(rule, now) {
      return toRule(insertRule.get({ ...ruleParams(rule), now })!);
    },
    async getRule(id) {
      const row = ruleById.get(id);
      return row && toRule(row);
    },
    async listRules() {
      return allRules.all().map(toRule);
    },
    async updateRule(id, rule, now) {
      const row = setRule.get({ ...ruleParams(rule), id, now });
      return row && toRule(row);
    },
    async deleteRule(id) {
      // The interface gives no time here: the cancelled alerts are stamped with the clock of the
      // hub that deleted the rule (resolvedAt and updatedAt).
      return remove.immediate(id, Date.now());
    },

    async openAlert(rule, deviceId, t) {
      assertOpening(t);
      return open.immediate(rule, deviceId, t);
    },
    async advance(alertId, from, t) {
      if (!MOVES[from].includes(t.to)) return undefined;
      return advance.immediate(alertId, from, t);
    },
    async getAlert(id) {
      const row = alertById.get(id);
      return row && toAlert(row);
    },
    async openAlerts(deviceId) {
      return (deviceId === undefined ? openAll.all() : openFor.all(deviceId)).map(toAlert);
    },
    async listAlerts(query) {
      const states = queryStates(query);
      return listStatement(query, states).all({
        states: states && JSON.stringify(states), deviceId: query.deviceId, ruleId: query.ruleId, beforeId: query.beforeId,
        limit: listLimit(query),
      }).map(toAlert);
    },
    async events(alertId) {
      return eventsOf.all(alertId).map(toEvent);
    },
    async acknowledge(alertId, at) {
      const row = ack.get({ id: alertId, at });
      return row && toAlert(row);
    },
    async silence(alertId, until, at) {
      const row = silence.get({ id: alertId, until, at });
      return row && toAlert(row);
    },

    async createWebhook(webhook, now) {
      return toWebhook(insertWebhook.get(webhook.url, webhook.secret, now)!);
    },
    async listWebhooks() {
      return allWebhooks.all().map(toWebhook);
    },
    async getWebhook(id) {
      const row = webhookById.get(id);
      return row && toWebhook(row);
    },
    async deleteWebhook(id) {
      return dropWebhook.immediate(id);
    },

    async claimDue(owner, now, leaseMs, limit = 100) {
      return claim.immediate(owner, now, leaseMs, limit);
    },
    async markDelivered(entryId, at, status) {
      delivered.run({ id: entryId, at, status });
    },
    async markFailed(entryId, _at, error, status, nextAttemptAt) {
      failed.run({ id: entryId, error, status, next: nextAttemptAt });
    },
    async deliveries(webhookId, limit) {
      return recentEntries.all(webhookId, limit).map(toEntry);
    },
    async close() {
      db.close();
    },
  };
}
