// Percentiles and small numeric helpers shared by the children and the report.

export interface Distribution {
  count: number;
  mean: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

/** Nearest-rank percentiles; `values` is sorted in place. */
export function distribution(values: number[]): Distribution {
  if (values.length === 0) return { count: 0, mean: NaN, p50: NaN, p99: NaN, p999: NaN, max: NaN };
  values.sort((a, b) => a - b);
  const at = (q: number) => values[Math.min(values.length - 1, Math.max(0, Math.ceil(q * values.length) - 1))];
  let sum = 0;
  for (const v of values) sum += v;
  return { count: values.length, mean: sum / values.length, p50: at(0.5), p99: at(0.99), p999: at(0.999), max: values[values.length - 1] };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Wall-clock ms with sub-ms resolution, comparable across processes on one machine. */
export function preciseNow(): number {
  return performance.timeOrigin + performance.now();
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
