// The alert store in PostgreSQL, shared by every hub of a cluster. The schema is created by
// migrate() (cluster/migrations.ts, version 5). Transactions run at READ COMMITTED: each
// compare-and-set is one UPDATE (or INSERT … ON CONFLICT), and the row locks noted below keep
// racing hubs from undoing each other.
import { randomUUID } from 'node:crypto';
import type { Sql, TransactionSql } from 'postgres';
import type { AlertEvent, AlertRecord, AlertState, AlertStore, OutboxEntry, Rule, RuleAction, Severity, Transition, Webhook } from './alert-store.ts';
import { isDelivered, webhookBody } from './alert-view.ts';
import { assertOpening, listLimit, MOVES, queryStates } from './sqlite-alert-store.ts';

// bigint columns arrive as strings: postgres.js does not guess whether they fit a number;
// double precision, integer, boolean, uuid and jsonb arrive as their JavaScript values
interface RuleRow {
  id: string;
  name: string;
  description: string;
  devices: string[] | '*';
  channel: string | null;
  above: number | null;
  below: number | null;
  clear: number | null;
  for_ms: string;
  no_data_ms: string | null;
  offline_ms: string | null;
  severity: Severity;
  actions: RuleAction[];
  enabled: boolean;
  created_at: string;
  updated_at: string;
}

interface AlertRow {
  id: string;
  rule_id: string;
  rule_name: string;
  device_id: string;
  channel: string | null;
  severity: Severity;
  state: AlertState;
  value: number | null;
  pending_at: string | null;
  fired_at: string | null;
  resolved_at: string | null;
  acknowledged_at: string | null;
  silenced_until: string | null;
  updated_at: string;
}

interface EventRow {
  id: string;
  alert_id: string;
  rule_id: string;
  device_id: string;
  from_state: AlertState | 'ok';
  to_state: AlertState;
  value: number | null;
  at: string;
  idempotency_key: string;
}

interface WebhookRow {
  id: string;
  url: string;
  secret: string;
  created_at: string;
}

interface OutboxRow {
  id: string;
  webhook_id: string;
  event_id: string;
  body: string;
  status: 'pending' | 'delivered';
  attempts: number;
  next_attempt_at: string;
  last_error: string | null;
  last_status: number | null;
  delivered_at: string | null;
  created_at: string;
}

const num = (v: string | null) => (v === null ? null : Number(v));

const toRule = (r: RuleRow): Rule => ({
  id: Number(r.id), name: r.name, description: r.description, devices: r.devices, channel: r.channel,
  above: r.above, below: r.below, clear: r.clear, forMs: Number(r.for_ms), noDataMs: num(r.no_data_ms), offlineMs: num(r.offline_ms),
  severity: r.severity, actions: r.actions, enabled: r.enabled, createdAt: Number(r.created_at), updatedAt: Number(r.updated_at),
});

const toAlert = (r: AlertRow): AlertRecord => ({
  id: Number(r.id), ruleId: Number(r.rule_id), ruleName: r.rule_name, deviceId: r.device_id, channel: r.channel, severity: r.severity,
  state: r.state, value: r.value, pendingAt: num(r.pending_at), firedAt: num(r.fired_at), resolvedAt: num(r.resolved_at),
  acknowledgedAt: num(r.acknowledged_at), silencedUntil: num(r.silenced_until), updatedAt: Number(r.updated_at),
});

const toEvent = (r: EventRow): AlertEvent => ({
  id: Number(r.id), alertId: Number(r.alert_id), ruleId: Number(r.rule_id), deviceId: r.device_id, from: r.from_state, to: r.to_state,
  value: r.value, at: Number(r.at), idempotencyKey: r.idempotency_key,
});

const toWebhook = (r: WebhookRow): Webhook => ({ id: Number(r.id), url: r.url, secret: r.secret, createdAt: Number(r.created_at) });

const toEntry = (r: OutboxRow): OutboxEntry => ({
  id: Number(r.id), webhookId: Number(r.webhook_id), eventId: Number(r.event_id), body: r.body, status: r.status, attempts: r.attempts,
  nextAttemptAt: Number(r.next_attempt_at), lastError: r.last_error, lastStatus: r.last_status, deliveredAt: num(r.delivered_at),
  createdAt: Number(r.created_at),
});

/** `sql` is shared with the other cluster parts: close() leaves it open for its owner to end. */
export function createPgAlertStore(sql: Sql): AlertStore {
  const json = (value: unknown) => sql.json(value as Parameters<Sql['json']>[0]);

  /** The event of a transition and its outbox entries, in the transaction that made the change. */
  const record = async (tx: TransactionSql, alert: AlertRecord, from: AlertState | 'ok', t: Transition) => {
    const [row] = await tx<EventRow[]>`
      INSERT INTO alert_events (alert_id, rule_id, device_id, from_state, to_state, value, at, idempotency_key)
      VALUES (${alert.id}, ${alert.ruleId}, ${alert.deviceId}, ${from}, ${t.to}, ${t.value}, ${t.at}, ${randomUUID()})
      RETURNING *`;
    const event = toEvent(row);
    if (isDelivered(event, alert)) {
      // One entry per webhook, due at once: a webhook's entries go out in id order. FOR KEY SHARE
      // waits for a webhook being deleted and then skips it, where the foreign key check alone
      // would fail the whole transition.
      await tx`
        INSERT INTO webhook_outbox (webhook_id, event_id, body, status, attempts, next_attempt_at, created_at)
        SELECT id, ${event.id}, ${webhookBody(event, alert, alert.ruleName)}, 'pending', 0, ${t.at}, ${t.at}
        FROM webhooks ORDER BY id FOR KEY SHARE`;
    }
    return { alert, event };
  };

  return {
    async createRule(rule, now) {
      const [row] = await sql<RuleRow[]>`
        INSERT INTO alert_rules (name, description, devices, channel, above, below, clear, for_ms, no_data_ms, offline_ms, severity, actions, enabled, created_at, updated_at)
        VALUES (${rule.name}, ${rule.description}, ${json(rule.devices)}, ${rule.channel}, ${rule.above}, ${rule.below}, ${rule.clear},
          ${rule.forMs}, ${rule.noDataMs}, ${rule.offlineMs}, ${rule.severity}, ${json(rule.actions)}, ${rule.enabled}, ${now}, ${now})
        RETURNING *`;
      return toRule(row);
    },
    async getRule(id) {
      const [row] = await sql<RuleRow[]>`SELECT * FROM alert_rules WHERE id = ${id}`;
      return row && toRule(row);
    },
    async listRules() {
      return (await sql<RuleRow[]>`SELECT * FROM alert_rules ORDER BY id`).map(toRule);
    },
    async updateRule(id, rule, now) {
      const [row] = await sql<RuleRow[]>`
        UPDATE alert_rules SET name = ${rule.name}, description = ${rule.description}, devices = ${json(rule.devices)},
          channel = ${rule.channel}, above = ${rule.above}, below = ${rule.below}, clear = ${rule.clear}, for_ms = ${rule.forMs},
          no_data_ms = ${rule.noDataMs}, offline_ms = ${rule.offlineMs}, severity = ${rule.severity}, actions = ${json(rule.actions)},
          enabled = ${rule.enabled}, updated_at = ${now}
        WHERE id = ${id}
        RETURNING *`;
      return row && toRule(row);
    },
    async deleteRule(id) {
      // The interface gives no time here: the cancelled alerts are stamped with the clock of the
      // hub that deleted the rule (resolvedAt and updatedAt). The DELETE comes first: an openAlert
      // holding the rule's row (FOR KEY SHARE) commits before it, and the UPDATE after it then sees
      // and cancels the new alert; one that comes later finds no rule.
      const now = Date.now();
      return sql.begin(async (tx) => {
        if ((await tx`DELETE FROM alert_rules WHERE id = ${id}`).count === 0) return false;
        await tx`
          UPDATE alerts SET state = 'cancelled', resolved_at = ${now}, updated_at = ${now}
          WHERE rule_id = ${id} AND state IN ('pending', 'firing')`;
        return true;
      });
    },

    async openAlert(rule, deviceId, t) {
      assertOpening(t);
      return sql.begin(async (tx) => {
        const [live] = await tx<{ name: string }[]>`SELECT name FROM alert_rules WHERE id = ${rule.id} FOR KEY SHARE`;
        if (!live) return undefined;
        // DO NOTHING on the unique partial index alerts_one_open: a second insert for the pair waits
        // for the first to commit and then inserts nothing, where a plain INSERT would fail.
        const [row] = await tx<AlertRow[]>`
          INSERT INTO alerts (rule_id, rule_name, device_id, channel, severity, state, value, pending_at, fired_at, updated_at)
          VALUES (${rule.id}, ${live.name}, ${deviceId}, ${rule.channel}, ${rule.severity}, ${t.to}, ${t.value},
            ${t.to === 'pending' ? t.at : null}, ${t.to === 'firing' ? t.at : null}, ${t.at})
          ON CONFLICT (rule_id, device_id) WHERE state IN ('pending', 'firing') DO NOTHING
          RETURNING *`;
        return row && record(tx, toAlert(row), 'ok', t);
      });
    },
    async advance(alertId, from, t) {
      if (!MOVES[from].includes(t.to)) return undefined;
      return sql.begin(async (tx) => {
        // A second UPDATE of the row waits for the first to commit and then checks its WHERE again
        // on the new row, so of two racing moves the second finds the state moved on.
        const [row] = await tx<AlertRow[]>`
          UPDATE alerts SET state = ${t.to}, value = ${t.value}, updated_at = ${t.at},
            fired_at = COALESCE(${t.to === 'firing' ? t.at : null}::bigint, fired_at),
            resolved_at = COALESCE(${t.to === 'resolved' || t.to === 'cancelled' ? t.at : null}::bigint, resolved_at)
          WHERE id = ${alertId} AND state = ${from}
          RETURNING *`;
        return row && record(tx, toAlert(row), from, t);
      });
    },
    async getAlert(id) {
      const [row] = await sql<AlertRow[]>`SELECT * FROM alerts WHERE id = ${id}`;
      return row && toAlert(row);
    },
    async openAlerts(deviceId) {
      const rows = deviceId === undefined
        ? await sql<AlertRow[]>`SELECT * FROM alerts WHERE state IN ('pending', 'firing') ORDER BY id`
        : await sql<AlertRow[]>`SELECT * FROM alerts WHERE state IN ('pending', 'firing') AND device_id = ${deviceId} ORDER BY id`;
      return rows.map(toAlert);
    },
    async listAlerts(query) {
      const states = queryStates(query);
      const rows = await sql<AlertRow[]>`
        SELECT * FROM alerts WHERE true
          ${states ? sql`AND state = ANY(${states}::text[])` : sql``}
          ${query.deviceId !== undefined ? sql`AND device_id = ${query.deviceId}` : sql``}
          ${query.ruleId !== undefined ? sql`AND rule_id = ${query.ruleId}` : sql``}
          ${query.beforeId !== undefined ? sql`AND id < ${query.beforeId}` : sql``}
        ORDER BY id DESC LIMIT ${listLimit(query)}`;
      return rows.map(toAlert);
    },
    async events(alertId) {
      return (await sql<EventRow[]>`SELECT * FROM alert_events WHERE alert_id = ${alertId} ORDER BY id`).map(toEvent);
    },
    async acknowledge(alertId, at) {
      // the first acknowledgement counts; acknowledging again changes nothing
      const [row] = await sql<AlertRow[]>`
        UPDATE alerts SET updated_at = CASE WHEN acknowledged_at IS NULL THEN ${at}::bigint ELSE updated_at END,
          acknowledged_at = COALESCE(acknowledged_at, ${at}::bigint)
        WHERE id = ${alertId}
        RETURNING *`;
      return row && toAlert(row);
    },
    async silence(alertId, until, at) {
      const [row] = await sql<AlertRow[]>`UPDATE alerts SET silenced_until = ${until}, updated_at = ${at} WHERE id = ${alertId} RETURNING *`;
      return row && toAlert(row);
    },

    async createWebhook(webhook, now) {
      const [row] = await sql<WebhookRow[]>`
        INSERT INTO webhooks (url, secret, created_at) VALUES (${webhook.url}, ${webhook.secret}, ${now})
        RETURNING id, url, secret, created_at`;
      return toWebhook(row);
    },
    async listWebhooks() {
      return (await sql<WebhookRow[]>`SELECT id, url, secret, created_at FROM webhooks ORDER BY id`).map(toWebhook);
    },
    async getWebhook(id) {
      const [row] = await sql<WebhookRow[]>`SELECT id, url, secret, created_at FROM webhooks WHERE id = ${id}`;
      return row && toWebhook(row);
    },
    async deleteWebhook(id) {
      // its entries go with it (ON DELETE CASCADE)
      return (await sql`DELETE FROM webhooks WHERE id = ${id}`).count > 0;
    },

    async claimDue(owner, now, leaseMs, limit = 100) {
      return sql.begin(async (tx) => {
        // Webhooks free for `owner` (never leased, lease run out, or its own) with their oldest
        // pending entry, due heads first. SKIP LOCKED passes over webhooks another hub is claiming
        // right now; one it claimed and committed since this statement began fails the lease check
        // again on the locked row, so two hubs never both come away with one webhook.
        const heads = await tx<OutboxRow[]>`
          SELECT o.* FROM webhooks w
          CROSS JOIN LATERAL (
            SELECT * FROM webhook_outbox WHERE webhook_id = w.id AND status = 'pending' ORDER BY id LIMIT 1
          ) o
          WHERE w.lease_until <= ${now} OR w.lease_owner = ${owner}
          ORDER BY o.next_attempt_at > ${now}, w.id
          LIMIT ${limit}
          FOR NO KEY UPDATE OF w SKIP LOCKED`;
        if (heads.length === 0) return [];
        await tx`
          UPDATE webhooks SET lease_owner = ${owner}, lease_until = ${now + leaseMs}
          WHERE id = ANY(${heads.map((h) => h.webhook_id)}::bigint[])`;
        return heads.filter((h) => Number(h.next_attempt_at) <= now).map(toEntry);
      });
    },
    async markDelivered(entryId, at, status) {
      await sql`
        UPDATE webhook_outbox SET status = 'delivered', delivered_at = ${at}, last_status = ${status}, attempts = attempts + 1
        WHERE id = ${entryId} AND status = 'pending'`;
    },
    async markFailed(entryId, _at, error, status, nextAttemptAt) {
      await sql`
        UPDATE webhook_outbox SET last_error = ${error}, last_status = ${status}, next_attempt_at = ${nextAttemptAt}, attempts = attempts + 1
        WHERE id = ${entryId} AND status = 'pending'`;
    },
    async deliveries(webhookId, limit) {
      return (await sql<OutboxRow[]>`SELECT * FROM webhook_outbox WHERE webhook_id = ${webhookId} ORDER BY id DESC LIMIT ${limit}`).map(toEntry);
    },
    async close() {
      // the pool belongs to whoever connected it
    },
  };
}
