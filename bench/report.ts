// Report rows, the printed table and results/latest.json. Targets are printed beside the figures
// and recorded, never asserted: a slow machine must still get its numbers.
import type { Distribution } from './stats.ts';

export interface Row {
  /** stable id, e.g. `ingest.embedded` */
  key: string;
  scenario: string;
  measure: string;
  /** the figures of the row, by name; what the smoke test checks */
  values: Record<string, number>;
  /** the figures as printed */
  result: string;
  /** the ceiling or reference the row is compared with, as printed */
  reference?: string;
  ratio?: number;
  /** how the ratio prints: `81 % of …` (default) or `1.4× …` */
  ratioStyle?: 'percent' | 'times';
  target?: string;
  met?: boolean;
  note?: string;
  /** why there are no figures (influxd not installed, …) */
  skipped?: string;
  /** the scenario failed; the message */
  error?: string;
}

export interface Report {
  startedAt: string;
  finishedAt: string;
  machine: Record<string, string | number>;
  options: Record<string, unknown>;
  rows: Row[];
}

export function si(value: number, unit = ''): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  const [scaled, suffix] = abs >= 1e6 ? [value / 1e6, 'M'] : abs >= 1e4 ? [value / 1e3, 'k'] : [value, ''];
  const digits = Math.abs(scaled) >= 100 ? 0 : Math.abs(scaled) >= 10 ? 1 : 2;
  return `${scaled.toFixed(digits)}${suffix}${unit}`;
}

export function ms(value: number): string {
  return `${value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)} ms`;
}

export function bytes(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 1024 * 1024) return `${(value / 1024 / 1024).toFixed(1)} MiB`;
  if (abs >= 1024) return `${(value / 1024).toFixed(1)} KiB`;
  return `${value.toFixed(0)} B`;
}

export function percent(ratio: number): string {
  return `${(ratio * 100).toFixed(0)} %`;
}

export function latencyText(d: Distribution): string {
  return `p50 ${d.p50.toFixed(2)} · p99 ${d.p99.toFixed(2)} · p99.9 ${d.p999.toFixed(2)} · max ${d.max.toFixed(1)} ms`;
}

export function latencyValues(d: Distribution): Record<string, number> {
  return { p50: d.p50, p99: d.p99, p999: d.p999, max: d.max, samples: d.count };
}

export function skippedRow(key: string, scenario: string, measure: string, reason: string, target?: string): Row {
  return { key, scenario, measure, values: {}, result: `skipped: ${reason}`, target, skipped: reason };
}

export function errorRow(key: string, scenario: string, measure: string, err: unknown, target?: string): Row {
  const message = err instanceof Error ? err.message : String(err);
  return { key, scenario, measure, values: {}, result: `error: ${message.split('\n')[0]}`, target, error: message };
}

function ratioText(r: Row): string {
  if (r.ratio === undefined) return '';
  return r.ratioStyle === 'times' ? `${r.ratio.toFixed(2)}× ` : `${percent(r.ratio)} of `;
}

const COLUMNS: { title: string; cell(row: Row): string }[] = [
  { title: 'scenario', cell: (r) => r.scenario },
  { title: 'measure', cell: (r) => r.measure },
  { title: 'result', cell: (r) => r.result },
  { title: 'vs ceiling / reference', cell: (r) => (r.reference ? `${ratioText(r)}${r.reference}` : '') },
  { title: 'target', cell: (r) => r.target ?? '' },
  { title: 'met', cell: (r) => (r.met === undefined ? '' : r.met ? 'yes' : 'NO') },
  { title: 'notes', cell: (r) => r.note ?? '' },
];

export function formatTable(rows: readonly Row[]): string {
  const cells = rows.map((row) => COLUMNS.map((c) => c.cell(row)));
  const widths = COLUMNS.map((c, i) => Math.max(c.title.length, ...cells.map((r) => r[i].length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i])).join(' │ ').trimEnd();
  const out = [line(COLUMNS.map((c) => c.title)), widths.map((w) => '─'.repeat(w)).join('─┼─')];
  let previous = '';
  for (let i = 0; i < rows.length; i++) {
    const values = [...cells[i]];
    if (rows[i].scenario === previous) values[0] = '';
    previous = rows[i].scenario;
    out.push(line(values));
  }
  return out.join('\n');
}

export function formatMachine(machine: Report['machine']): string {
  return Object.entries(machine).map(([k, v]) => `${k}: ${v}`).join(' · ');
}
