// What POST /api/rules and PUT /api/rules/:id accept (RuleInput), checked field by field into the
// rule the store keeps. A rule has exactly one kind: threshold (above and/or below), no-data
// (noDataMs) or offline (offlineMs). Unknown fields are refused rather than ignored: a typo such as
// "abvoe" would otherwise make a rule that never fires. A null optional field counts as absent, so a
// rule read back from the API can be sent again as it is, without its id and dates.
import { SEVERITIES, type Rule, type RuleAction, type Severity } from './alert-store.ts';

export type RuleFields = Omit<Rule, 'id' | 'createdAt' | 'updatedAt'>;
export type RuleInputResult = { ok: true; rule: RuleFields } | { ok: false; field: string; message: string };

export const RULE_LIMITS = {
  name: 200,
  description: 1000,
  devices: 1000,
  deviceEntry: 200,
  channel: 64,
  /** forMs, noDataMs and offlineMs */
  maxDurationMs: 7 * 24 * 3600_000,
  /** noDataMs and offlineMs */
  minWatchMs: 1000,
  actions: 10,
  actionName: 64,
  actionArgsBytes: 1024,
} as const;

const FIELDS = new Set([
  'name', 'description', 'devices', 'channel', 'above', 'below', 'clear', 'forMs', 'noDataMs', 'offlineMs', 'severity', 'actions', 'enabled',
]);
const ACTION_FIELDS = new Set(['type', 'name', 'args', 'on']);
const ACTION_NAME = /^[A-Za-z0-9_.-]+$/;

class Invalid {
  constructor(readonly field: string, readonly message: string) {}
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const given = (value: unknown) => value !== undefined && value !== null;

function text(value: unknown, field: string, min: number, max: number): string {
  if (typeof value !== 'string') throw new Invalid(field, `${field} must be a string`);
  if (value.length < min || value.length > max) {
    throw new Invalid(field, min > 0 ? `${field} must be ${min} to ${max} characters` : `${field} must be at most ${max} characters`);
  }
  if (min > 0 && value.trim() === '') throw new Invalid(field, `${field} must not be blank`);
  return value;
}

function finite(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new Invalid(field, `${field} must be a finite number`);
  return value;
}

function duration(value: unknown, field: string, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > RULE_LIMITS.maxDurationMs) {
    throw new Invalid(field, `${field} must be a whole number of ms from ${min} to ${RULE_LIMITS.maxDurationMs} (7 days)`);
  }
  return value;
}

function devices(value: unknown): string[] | '*' {
  if (value === '*') return '*';
  if (!Array.isArray(value)) throw new Invalid('devices', 'devices must be "*" or a list of device ids and patterns');
  if (value.length === 0 || value.length > RULE_LIMITS.devices) {
    throw new Invalid('devices', `devices must hold 1 to ${RULE_LIMITS.devices} entries`);
  }
  return value.map((entry, i) => text(entry, `devices[${i}]`, 1, RULE_LIMITS.deviceEntry));
}

function action(value: unknown, i: number): RuleAction {
  const at = `actions[${i}]`;
  if (!isObject(value)) throw new Invalid(at, `${at} must be an object`);
  for (const key of Object.keys(value)) {
    if (!ACTION_FIELDS.has(key)) throw new Invalid(`${at}.${key}`, `${at} has no field "${key}"`);
  }
  if (value.type !== 'command') throw new Invalid(`${at}.type`, `${at}.type must be "command"`);
  const name = text(value.name, `${at}.name`, 1, RULE_LIMITS.actionName);
  if (!ACTION_NAME.test(name)) throw new Invalid(`${at}.name`, `${at}.name may hold only letters, digits, "_", "." and "-"`);
  const args = value.args === undefined ? {} : value.args;
  let json: string | undefined;
  try {
    json = JSON.stringify(args);
  } catch {
    json = undefined;
  }
  if (json === undefined) throw new Invalid(`${at}.args`, `${at}.args must be JSON`);
  if (Buffer.byteLength(json) > RULE_LIMITS.actionArgsBytes) {
    throw new Invalid(`${at}.args`, `${at}.args must be at most ${RULE_LIMITS.actionArgsBytes} bytes as JSON`);
  }
  const on = value.on === undefined ? 'firing' : value.on;
  if (on !== 'firing' && on !== 'resolved') throw new Invalid(`${at}.on`, `${at}.on must be "firing" or "resolved"`);
  return { type: 'command', name, args, on };
}

function parse(body: unknown): RuleFields {
  if (!isObject(body)) throw new Invalid('body', 'a rule must be a JSON object');
  for (const key of Object.keys(body)) {
    if (!FIELDS.has(key)) throw new Invalid(key, `a rule has no field "${key}"`);
  }
  const name = text(body.name, 'name', 1, RULE_LIMITS.name);
  const description = given(body.description) ? text(body.description, 'description', 0, RULE_LIMITS.description) : '';
  const scope = devices(body.devices);

  const threshold = given(body.above) || given(body.below);
  const kinds = [threshold && (given(body.above) ? 'above' : 'below'), given(body.noDataMs) && 'noDataMs', given(body.offlineMs) && 'offlineMs']
    .filter((k): k is string => typeof k === 'string');
  if (kinds.length === 0) throw new Invalid('above', 'a rule needs one of above/below (threshold), noDataMs (no data) or offlineMs (offline)');
  if (kinds.length > 1) throw new Invalid(kinds[1], `${kinds[1]} cannot be combined with ${kinds[0]}: a rule has one kind`);

  const above = given(body.above) ? finite(body.above, 'above') : null;
  const below = given(body.below) ? finite(body.below, 'below') : null;
  if (above !== null && below !== null && !(below < above)) {
    throw new Invalid('below', 'with both above and below, below must be less than above (the rule fires outside the range)');
  }
  let clear: number | null = null;
  if (given(body.clear)) {
    if (!threshold) throw new Invalid('clear', 'clear applies only to threshold rules');
    if (above !== null && below !== null) throw new Invalid('clear', 'clear applies only to a rule with above or below, not both');
    clear = finite(body.clear, 'clear');
    if (above !== null && clear > above) throw new Invalid('clear', 'clear must not be above "above": the alert resolves once the value is at or below clear');
    if (below !== null && clear < below) throw new Invalid('clear', 'clear must not be below "below": the alert resolves once the value is at or above clear');
  }
  let forMs = 0;
  if (given(body.forMs)) {
    forMs = duration(body.forMs, 'forMs', 0);
    if (!threshold && forMs !== 0) throw new Invalid('forMs', 'forMs applies only to threshold rules');
  }
  const noDataMs = given(body.noDataMs) ? duration(body.noDataMs, 'noDataMs', RULE_LIMITS.minWatchMs) : null;
  const offlineMs = given(body.offlineMs) ? duration(body.offlineMs, 'offlineMs', RULE_LIMITS.minWatchMs) : null;

  // an offline rule watches the device, not a channel: a channel sent with it is dropped
  let channel: string | null = null;
  if (offlineMs === null) {
    if (!given(body.channel)) throw new Invalid('channel', 'channel is required for threshold and no-data rules');
    channel = text(body.channel, 'channel', 1, RULE_LIMITS.channel);
  }

  if (!(SEVERITIES as readonly unknown[]).includes(body.severity)) {
    throw new Invalid('severity', `severity must be one of ${SEVERITIES.join(', ')}`);
  }
  const severity = body.severity as Severity;

  let actions: RuleAction[] = [];
  if (given(body.actions)) {
    if (!Array.isArray(body.actions)) throw new Invalid('actions', 'actions must be a list');
    if (body.actions.length > RULE_LIMITS.actions) throw new Invalid('actions', `a rule has at most ${RULE_LIMITS.actions} actions`);
    actions = body.actions.map(action);
  }
  let enabled = true;
  if (given(body.enabled)) {
    if (typeof body.enabled !== 'boolean') throw new Invalid('enabled', 'enabled must be true or false');
    enabled = body.enabled;
  }
  return { name, description, devices: scope, channel, above, below, clear, forMs, noDataMs, offlineMs, severity, actions, enabled };
}

export function parseRuleInput(body: unknown): RuleInputResult {
  try {
    return { ok: true, rule: parse(body) };
  } catch (err) {
    if (err instanceof Invalid) return { ok: false, field: err.field, message: err.message };
    throw err;
  }
}
