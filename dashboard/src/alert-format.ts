// How rules and alerts read on the page: durations, a rule's condition in words, an alert's state
// with its acknowledgement and silence.
import type { AlertView } from '../../hub/src/http/wire.ts';
import type { RuleView } from './api.ts';
import { formatValue } from './format.ts';

export type RuleKind = 'threshold' | 'nodata' | 'offline';

export const KIND_LABELS: Record<RuleKind, string> = { threshold: 'Threshold', nodata: 'No data', offline: 'Offline' };

/** offline and no-data rules are told apart by which duration they carry; anything else watches values */
export function ruleKind(rule: Pick<RuleView, 'offlineMs' | 'noDataMs'>): RuleKind {
  if (rule.offlineMs !== null && rule.offlineMs !== undefined) return 'offline';
  if (rule.noDataMs !== null && rule.noDataMs !== undefined) return 'nodata';
  return 'threshold';
}

/** 45 s, 1.5 min, 5 min, 2 d: the largest unit that keeps the number short. */
export function formatDuration(ms: number): string {
  const units: [number, string][] = [[86_400_000, 'd'], [3_600_000, 'h'], [60_000, 'min'], [1000, 's']];
  for (const [size, unit] of units) {
    if (ms >= size && (ms % size === 0 || ms / size >= 1.5 || unit === 's')) {
      const n = ms / size;
      return `${Number.isInteger(n) ? n : Number(n.toFixed(1))} ${unit}`;
    }
  }
  return `${ms} ms`;
}

export function describeDevices(devices: RuleView['devices']): string {
  if (devices === '*' || (devices.length === 1 && devices[0] === '*')) return 'every device';
  return devices.join(', ');
}

/** "temperature above 30 (clears below 28) for 10 s", "no data on humidity for 5 min", "offline for 2 min" */
export function describeCondition(rule: Pick<RuleView, 'channel' | 'above' | 'below' | 'clear' | 'forMs' | 'noDataMs' | 'offlineMs'>): string {
  const kind = ruleKind(rule);
  if (kind === 'offline') return `offline for ${formatDuration(rule.offlineMs!)}`;
  if (kind === 'nodata') return `no data on ${rule.channel ?? '?'} for ${formatDuration(rule.noDataMs!)}`;
  const parts: string[] = [];
  if (rule.above !== null && rule.below !== null) parts.push(`outside ${formatValue(rule.below)}…${formatValue(rule.above)}`);
  else if (rule.above !== null) parts.push(`above ${formatValue(rule.above)}`);
  else if (rule.below !== null) parts.push(`below ${formatValue(rule.below)}`);
  let text = `${rule.channel ?? '?'} ${parts.join(' ')}`;
  if (rule.clear !== null) text += ` (clears ${rule.above !== null && rule.below === null ? 'below' : rule.below !== null && rule.above === null ? 'above' : 'at'} ${formatValue(rule.clear)})`;
  if (rule.forMs > 0) text += ` for ${formatDuration(rule.forMs)}`;
  return text;
}

/** Whether the alert is silenced at `now`. */
export function isSilenced(alert: Pick<AlertView, 'silencedUntil'>, now: number): boolean {
  return alert.silencedUntil !== null && Date.parse(alert.silencedUntil) > now;
}

/** The state with what an operator did about it: "firing · acknowledged · silenced 1 h". */
export function describeState(alert: AlertView, now: number): string {
  const parts: string[] = [alert.state];
  if (alert.acknowledgedAt) parts.push('acknowledged');
  if (isSilenced(alert, now)) parts.push(`silenced ${formatDuration(Math.max(1000, Math.ceil((Date.parse(alert.silencedUntil!) - now) / 60_000) * 60_000))}`);
  return parts.join(' · ');
}

/** When the alert's current episode began: pending, else fired. */
export function alertSince(alert: AlertView): number | null {
  const iso = alert.state === 'firing' ? alert.firedAt ?? alert.pendingAt : alert.pendingAt ?? alert.firedAt;
  return iso ? Date.parse(iso) : null;
}

export function formatAlertValue(value: number | null): string {
  return value === null ? '—' : formatValue(value);
}
