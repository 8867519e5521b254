// The JSON of the REST API and of /ws/live as it goes over the wire: one declaration for the hub,
// which sends it, and the dashboard, which reads it. Types only, imported with `import type` on
// both sides, so the dashboard bundle gains no hub code. Dates in REST answers are ISO 8601
// strings; times of readings and live events are epoch milliseconds.

// ── REST ──────────────────────────────────────────────────────────────────────────────────────

/** A channel a device declared in its HELLO [FP-4.1]. */
export interface ChannelView {
  id: number;
  /** [FP-4.2.1] */
  type: 'f32' | 'f64' | 'i32' | 'bool';
  name: string;
  unit: string;
}

/** Counted since this hub started. */
export interface DeviceCountersView {
  frames: number;
  readings: number;
  rejected: number;
  duplicates: number;
  sequenceGaps: number;
}

/** A device as GET /api/devices and GET /api/devices/:id answer it. */
export interface DeviceView {
  id: string;
  name: string;
  transport: 'ws' | 'serial';
  createdAt: string;
  online: boolean;
  /** null for a device never heard */
  lastSeen: string | null;
  /** from its last HELLO; null before the first */
  firmware: string | null;
  channels: ChannelView[];
  counters: DeviceCountersView;
}

/** A raw point, or for an aggregate one window stamped with its start. */
export interface HistoryPoint {
  channel: string;
  time: number;
  value: number;
}

/** GET /api/devices/:id/readings?format=json */
export interface HistoryResponse {
  deviceId: string;
  from: string;
  to: string;
  /** window length in ms, null for raw points */
  every: number | null;
  agg: 'mean' | 'min' | 'max' | 'last' | 'count' | null;
  /** the answer reached `limit`: there may be more points */
  truncated: boolean;
  /** ordered by channel, then time */
  points: HistoryPoint[];
}

export type CommandStatus = 'queued' | 'sent' | 'acked' | 'succeeded' | 'failed' | 'timed-out';

/** A command as the commands API answers it and /ws/live `command` events carry it. */
export interface CommandView {
  id: number;
  deviceId: string;
  name: string;
  /** the JSON sent, parsed (text when it is not JSON) */
  args: unknown;
  timeoutMs: number;
  status: CommandStatus;
  /** the device's result payload parsed (text when it is not JSON), the hub's reason for a timeout, or null */
  result: unknown;
  createdAt: string;
  updatedAt: string;
}

export type AlertStateView = 'pending' | 'firing' | 'resolved' | 'cancelled';

/**
 * An alert as GET /api/alerts answers it, /ws/live `alert` events carry it and webhooks receive it:
 * one episode of one rule on one device.
 */
export interface AlertView {
  id: number;
  ruleId: number;
  ruleName: string;
  deviceId: string;
  /** null for offline rules */
  channel: string | null;
  severity: 'info' | 'warning' | 'critical';
  state: AlertStateView;
  /** the value behind the last transition; null for no-data and offline alerts */
  value: number | null;
  pendingAt: string | null;
  firedAt: string | null;
  /** when it resolved (or, pending, was cancelled) */
  resolvedAt: string | null;
  acknowledgedAt: string | null;
  silencedUntil: string | null;
  updatedAt: string;
}

/** The body of a webhook delivery, signed in X-Hub-Signature-256. */
export interface WebhookDelivery {
  /** the same for every attempt at one transition: a receiver drops a key it has seen */
  idempotencyKey: string;
  event: 'firing' | 'resolved';
  alert: AlertView;
}

// ── /ws/live ──────────────────────────────────────────────────────────────────────────────────

/** Client → hub: replaces the subscription. Readings are filtered; every other event reaches every client. */
export interface LiveSubscribe {
  type: 'subscribe';
  devices: string[] | '*';
  /** only these channels' readings; absent: all */
  channels?: string[];
}

export interface LiveReading {
  channel: string;
  time: number;
  value: number;
}

/** What happens on devices, as the live bus carries it and the hub sends it on. */
export type LiveEvent =
  | { type: 'readings'; deviceId: string; readings: LiveReading[] }
  | { type: 'status'; deviceId: string; online: boolean; at: number }
  | { type: 'command'; deviceId: string; command: CommandView }
  | { type: 'console'; deviceId: string; at: number; text: string }
  | { type: 'alert'; deviceId: string; alert: AlertView };

/** Hub → client: the echo of a subscription. */
export interface LiveSubscribed {
  type: 'subscribed';
  devices: string[] | '*';
  channels: string[] | null;
}

/** Hub → client: updates coalesced away for this client since it connected, in all and per device. */
export interface LiveDropped {
  type: 'dropped';
  total: number;
  devices: Record<string, number>;
}

/** Every message the hub sends a /ws/live client. */
export type LiveMessage = LiveEvent | LiveSubscribed | LiveDropped | LiveCounters;

// ── fleet views ───────────────────────────────────────────────────────────────────────────────

/** POST /api/devices answers the new device and its token, which is shown this once. */
export interface ProvisionedDeviceView extends DeviceView {
  token: string;
}

/** PATCH /api/devices/:id takes a new display name (at most 200 characters) and answers the DeviceView. */
export interface DeviceRenameRequest {
  name: string;
}

/**
 * One device in a `counters` message, positional to keep a 10,000-device fleet small:
 * online (1/0), last seen (epoch ms or null), the DeviceCountersView numbers in their declared
 * order, and the readings per second the hub counted over about the last 10 s.
 */
export type LiveCountersRow = [
  online: 0 | 1,
  lastSeen: number | null,
  frames: number,
  readings: number,
  rejected: number,
  duplicates: number,
  sequenceGaps: number,
  readingsPerSecond: number,
];

/**
 * Hub → client, only on connections opened with `/ws/live?counters=1`, at most once per interval
 * (2 s) and only when something changed: the devices whose status, last seen, counters or rate
 * changed since the previous message. `null`: the device was deleted (or the hub no longer has a
 * status for it). A connection's first message also carries every device online or recently changed.
 */
export interface LiveCounters {
  type: 'counters';
  /** when the hub took these numbers, epoch ms */
  at: number;
  devices: Record<string, LiveCountersRow | null>;
  /** devices added or renamed in the registry (seen within about 10 s): GET /api/devices/:id has them */
  changed?: string[];
}
