// The live summary line and the final report, from fleet snapshots.
import { errorName } from '../../hub/src/protocol/index.ts';
import type { DeviceCore } from './device-core.ts';

/** Totals over the fleet at one moment, for the live summary and the final report. */
export interface FleetSnapshot {
  at: number;
  devices: number;
  online: number;
  /** most devices online at once so far */
  peakOnline: number;
  /** queued, connecting, or waiting to reconnect */
  offline: number;
  frames: number;
  readings: number;
  sent: number;
  resent: number;
  acked: number;
  pending: number;
  dropped: number;
  tampered: number;
  hubErrors: Record<number, number>;
  connects: number;
  connectFailures: number;
  /** WebSocket close codes seen while online */
  closes: Record<number, number>;
  /** HTTP 401 on upgrade: expected (bad-token fault) or not */
  refused: number;
  refusedExpected: number;
  commands: Record<string, number>;
  faults: { drops: number; stalls: number; bursts: number };
}

export function emptySnapshot(devices: number): FleetSnapshot {
  return {
    at: Date.now(), devices, online: 0, peakOnline: 0, offline: 0,
    frames: 0, readings: 0, sent: 0, resent: 0, acked: 0, pending: 0, dropped: 0, tampered: 0,
    hubErrors: {}, connects: 0, connectFailures: 0, closes: {}, refused: 0, refusedExpected: 0, commands: {},
    faults: { drops: 0, stalls: 0, bursts: 0 },
  };
}

/** Adds one device's counters; `active` is false for a device that was shut down on purpose. */
export function addDevice(s: FleetSnapshot, device: DeviceCore, active = true): void {
  if (device.connected) s.online++;
  else if (active) s.offline++;
  const st = device.stats;
  s.frames += st.frames;
  s.readings += st.readings;
  s.sent += st.sent;
  s.resent += st.resent;
  s.acked += st.acked;
  s.dropped += st.dropped;
  s.tampered += st.tampered;
  s.pending += device.pending;
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}

function perSecond(n: number): string {
  if (n >= 10_000) return `${(n / 1000).toFixed(1)}k/s`;
  return `${n >= 100 ? Math.round(n) : n.toFixed(1)}/s`;
}

function tally(entries: Record<string | number, number>, name: (key: string) => string = (k) => k): string {
  const parts = Object.entries(entries).sort((a, b) => b[1] - a[1]).map(([key, n]) => `${name(key)}×${count(n)}`);
  return parts.length ? parts.join(' ') : 'none';
}

const codeName = (code: string) => errorName(Number(code)) ?? `code ${code}`;
// serial devices report their port closing as code 0: there are no close codes on a serial line
const closeName = (code: string) => (code === '0' ? 'port closed' : code);

/** One line every --summary-interval: state now, rates since the previous line. */
export function summaryLine(previous: FleetSnapshot, current: FleetSnapshot, startedAt: number): string {
  const seconds = Math.max(0.001, (current.at - previous.at) / 1000);
  const rate = (key: 'frames' | 'readings' | 'acked') => perSecond((current[key] - previous[key]) / seconds);
  const elapsed = `${Math.round((current.at - startedAt) / 1000)}s`.padStart(5);
  const parts = [
    `[${elapsed}] online ${count(current.online)}/${count(current.devices)}${current.offline ? ` (${count(current.offline)} connecting)` : ''}`,
    `frames ${count(current.frames)} (${rate('frames')})`,
    `readings ${count(current.readings)} (${rate('readings')})`,
    `acked ${count(current.acked)} (${rate('acked')})`,
    `resent ${count(current.resent)}`,
    `pending ${count(current.pending)}`,
  ];
  const hubErrors = Object.values(current.hubErrors).reduce((a, b) => a + b, 0);
  if (hubErrors) parts.push(`hub errors ${count(hubErrors)}`);
  if (Object.keys(current.closes).length) parts.push(`closes ${tally(current.closes, closeName)}`);
  if (current.refused) parts.push(`tokens refused ${count(current.refused)}`);
  return parts.join(' | ');
}

export function finalReport(s: FleetSnapshot, startedAt: number): string {
  const seconds = Math.max(0.001, (s.at - startedAt) / 1000);
  const lines = [
    `final report after ${seconds.toFixed(1)} s`,
    `  devices        ${count(s.devices)} (peak online ${count(s.peakOnline)})`,
    `  frames         ${count(s.frames)} made (${perSecond(s.frames / seconds)}), ${count(s.sent)} sent, ${count(s.resent)} resent, ${count(s.acked)} acknowledged`,
    `  readings       ${count(s.readings)} made (${perSecond(s.readings / seconds)})`,
    `  unacknowledged ${count(s.pending)} kept at exit, ${count(s.dropped)} dropped (buffer full or reboot)`,
    `  connections    ${count(s.connects)} opened, ${count(s.connectFailures)} attempts failed; closed while online: ${tally(s.closes, closeName)}`,
    `  hub errors     ${tally(s.hubErrors, codeName)}`,
    `  tokens refused ${count(s.refused)}${s.refusedExpected ? ` (plus ${count(s.refusedExpected)} by the bad-token fault, as intended)` : ''}`,
    `  commands       ${tally(s.commands)}`,
    `  faults         drops ${count(s.faults.drops)}, stalls ${count(s.faults.stalls)}, bursts ${count(s.faults.bursts)}, frames damaged ${count(s.tampered)}`,
  ];
  return lines.join('\n');
}

/**
 * The CLI's exit code: 1 when the hub refused a token that should work, or when no device ever
 * got online (not counting the one the bad-token fault keeps out); else 0.
 */
export function exitCodeOf(s: FleetSnapshot, badTokenFault: boolean): number {
  if (s.refused > 0) return 1;
  if (s.peakOnline === 0 && s.devices > (badTokenFault ? 1 : 0)) return 1;
  return 0;
}
