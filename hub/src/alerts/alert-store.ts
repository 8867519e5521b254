// Alerts kept with the registry (SQLite single-node, PostgreSQL in cluster mode): rules, one alert
// per episode of a (rule, device) pair, every transition as an event, webhooks and the outbox that
// delivers transitions to them. Behind one interface with one contract suite (alert-store-contract.ts).
//
// Several hubs may share one store, so an alert changes only by compare-and-set (`openAlert` fails
// while the pair has an open alert; `advance` fails unless the alert is in the expected state), and
// a transition, its event and its outbox entries are written in one transaction: an event is
// either recorded and queued for every webhook, or not at all.

export const SEVERITIES = ['info', 'warning', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/**
 * ok → pending → firing → resolved; pending → cancelled when the condition ends before `forMs`.
 * pending and firing are open: at most one open alert per (rule, device).
 */
export type AlertState = 'pending' | 'firing' | 'resolved' | 'cancelled';
export const OPEN_STATES: readonly AlertState[] = ['pending', 'firing'];

/** A command sent to the alert's device when the alert fires (or resolves). */
export interface CommandAction {
  type: 'command';
  name: string;
  /** JSON sent as the command's args; default {} */
  args?: unknown;
  /** default 'firing' */
  on?: 'firing' | 'resolved';
}
export type RuleAction = CommandAction;

/** What an operator sends to POST /api/rules and PUT /api/rules/:id (validated by rule-input.ts). */
export interface RuleInput {
  name: string;
  description?: string;
  /** device ids, or patterns with `*` matched against ids and names; "*" is every device */
  devices: string[] | '*';
  /** required except for offline rules */
  channel?: string;
  /** fires while the value is above (and/or below); both: outside the range */
  above?: number;
  below?: number;
  /** hysteresis: a firing one-sided rule resolves only once the value is back past this level */
  clear?: number;
  /** the condition must hold this long before the alert fires (pending meanwhile); default 0 */
  forMs?: number;
  /** fires when the channel has sent nothing for this long */
  noDataMs?: number;
  /** fires when the device has been offline for this long */
  offlineMs?: number;
  severity: Severity;
  actions?: RuleAction[];
  /** default true */
  enabled?: boolean;
}

export interface Rule extends Required<Pick<RuleInput, 'name' | 'devices' | 'severity'>> {
  id: number;
  description: string;
  channel: string | null;
  above: number | null;
  below: number | null;
  clear: number | null;
  forMs: number;
  noDataMs: number | null;
  offlineMs: number | null;
  actions: RuleAction[];
  enabled: boolean;
  createdAt: number;
  updatedAt: number;
}

export interface AlertRecord {
  id: number;
  ruleId: number;
  /** the rule's name when the alert opened: kept, so an alert outlives its rule's deletion */
  ruleName: string;
  deviceId: string;
  /** the rule's channel; null for offline rules */
  channel: string | null;
  severity: Severity;
  state: AlertState;
  /** the value that caused the last transition; null for no-data and offline */
  value: number | null;
  pendingAt: number | null;
  firedAt: number | null;
  /** when it resolved or was cancelled */
  resolvedAt: number | null;
  acknowledgedAt: number | null;
  /** while in the future, transitions are recorded and shown but not sent to webhooks or run as actions */
  silencedUntil: number | null;
  /** last change of any kind */
  updatedAt: number;
}

export interface AlertEvent {
  id: number;
  alertId: number;
  ruleId: number;
  deviceId: string;
  from: AlertState | 'ok';
  to: AlertState;
  value: number | null;
  at: number;
  /** unique per event, in every webhook delivery of it: a receiver drops a key it has seen */
  idempotencyKey: string;
}

/** One transition to record: the new alert state, its value and time. */
export interface Transition {
  to: AlertState;
  value: number | null;
  at: number;
}

export interface Webhook {
  id: number;
  url: string;
  /** HMAC-SHA256 key for X-Hub-Signature-256; never shown again after creation */
  secret: string;
  createdAt: number;
}

export type DeliveryStatus = 'pending' | 'delivered';

/** One event queued for one webhook. */
export interface OutboxEntry {
  id: number;
  webhookId: number;
  eventId: number;
  /** the exact JSON body to POST (signed as is) */
  body: string;
  status: DeliveryStatus;
  attempts: number;
  /** not tried again before this time */
  nextAttemptAt: number;
  lastError: string | null;
  /** HTTP status of the last attempt, if one answered */
  lastStatus: number | null;
  deliveredAt: number | null;
  createdAt: number;
}

export interface AlertQuery {
  /** 'open' = pending or firing; default all */
  state?: AlertState | 'open' | 'all';
  deviceId?: string;
  ruleId?: number;
  /** only alerts with an id below this (paging backwards from the newest) */
  beforeId?: number;
  /** newest first; default 100 */
  limit?: number;
}

export interface AlertStore {
  createRule(rule: Omit<Rule, 'id' | 'createdAt' | 'updatedAt'>, now: number): Promise<Rule>;
  getRule(id: number): Promise<Rule | undefined>;
  listRules(): Promise<Rule[]>;
  /** undefined when there is no such rule */
  updateRule(id: number, rule: Omit<Rule, 'id' | 'createdAt' | 'updatedAt'>, now: number): Promise<Rule | undefined>;
  /** also cancels the rule's open alerts (no event, nothing queued); false when there was no such rule */
  deleteRule(id: number): Promise<boolean>;

  /**
   * Opens an alert for (rule, device) in state `t.to` (pending or firing) with an event from 'ok'.
   * Undefined when the pair already has an open alert (another hub got there first).
   */
  openAlert(rule: Rule, deviceId: string, t: Transition): Promise<{ alert: AlertRecord; event: AlertEvent } | undefined>;
  /** Compare-and-set from state `from`; undefined when the alert is not in that state. */
  advance(alertId: number, from: AlertState, t: Transition): Promise<{ alert: AlertRecord; event: AlertEvent } | undefined>;
  getAlert(id: number): Promise<AlertRecord | undefined>;
  /** open alerts (pending, firing), of one device or all */
  openAlerts(deviceId?: string): Promise<AlertRecord[]>;
  listAlerts(query: AlertQuery): Promise<AlertRecord[]>;
  /** an alert's events, oldest first */
  events(alertId: number): Promise<AlertEvent[]>;
  acknowledge(alertId: number, at: number): Promise<AlertRecord | undefined>;
  silence(alertId: number, until: number | null, at: number): Promise<AlertRecord | undefined>;

  createWebhook(webhook: { url: string; secret: string }, now: number): Promise<Webhook>;
  listWebhooks(): Promise<Webhook[]>;
  getWebhook(id: number): Promise<Webhook | undefined>;
  /** also drops its undelivered entries */
  deleteWebhook(id: number): Promise<boolean>;

  /**
   * The oldest undelivered entry of each webhook whose turn has come (nextAttemptAt ≤ now), for a
   * worker identified by `owner`: a webhook is leased to one owner for `leaseMs`, so in cluster mode
   * exactly one hub delivers it, in order. An owner keeps renewing its own leases by calling again.
   */
  claimDue(owner: string, now: number, leaseMs: number, limit?: number): Promise<OutboxEntry[]>;
  markDelivered(entryId: number, at: number, status: number): Promise<void>;
  markFailed(entryId: number, at: number, error: string, status: number | null, nextAttemptAt: number): Promise<void>;
  /** newest first */
  deliveries(webhookId: number, limit: number): Promise<OutboxEntry[]>;
  close(): Promise<void>;
}
