// Threshold levels on a chart: a dashed line per level with its label, drawn on uPlot's canvas
// after the series. A level far outside the readings is not allowed to squash them into a flat
// line: it stays out of the value range and is shown as a label at the edge it lies beyond.
import type uPlot from 'uplot';
import type { ThresholdLine } from './rule-lines.ts';

/**
 * The value range to show: the readings', widened to take in the levels that lie within one span
 * of the readings (so the distance to a threshold is visible), or the levels alone without readings.
 */
export function rangeWithLevels(min: number | null, max: number | null, levels: readonly number[]): [number, number] | null {
  if (min === null || max === null || !Number.isFinite(min) || !Number.isFinite(max)) {
    if (levels.length === 0) return null;
    return [Math.min(...levels), Math.max(...levels)];
  }
  const span = max - min || Math.max(Math.abs(max) * 0.1, 1);
  let lo = min;
  let hi = max;
  for (const level of levels) {
    if (level < lo && level >= min - span) lo = level;
    if (level > hi && level <= max + span) hi = level;
  }
  return [lo, hi];
}

function cssColor(variable: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(variable).trim() || fallback;
}

const SEVERITY_VARS: Record<ThresholdLine['severity'], [string, string]> = {
  critical: ['--bad', '#f85149'],
  warning: ['--warn', '#d29922'],
  info: ['--accent', '#4493f8'],
};

/** A draw hook for uPlot that draws `lines()` over the plot area. */
export function drawLines(lines: () => readonly ThresholdLine[]): (u: uPlot) => void {
  return (u) => {
    const list = lines();
    if (list.length === 0) return;
    const ctx = u.ctx;
    const ratio = window.devicePixelRatio || 1;
    const { left, top, width, height } = u.bbox;
    const axis = cssColor('--chart-axis', '#8b949e');
    ctx.save();
    ctx.font = `${11 * ratio}px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif`;
    ctx.textAlign = 'right';
    ctx.lineWidth = ratio;
    let aboveEdge = 0;
    let belowEdge = 0;
    for (const line of list) {
      const [variable, fallback] = SEVERITY_VARS[line.severity];
      const color = line.kind === 'clear' ? axis : cssColor(variable, fallback);
      const y = u.valToPos(line.value, 'y', true);
      ctx.fillStyle = color;
      ctx.strokeStyle = color;
      if (!Number.isFinite(y)) continue;
      if (y < top || y > top + height) {
        // beyond the readings' range: a label at the edge, with the direction it lies in
        const up = y < top;
        const row = up ? aboveEdge++ : belowEdge++;
        ctx.textBaseline = up ? 'top' : 'bottom';
        const ty = up ? top + 2 * ratio + row * 13 * ratio : top + height - 2 * ratio - row * 13 * ratio;
        ctx.fillText(`${up ? '▲' : '▼'} ${line.label}`, left + width - 4 * ratio, ty);
        continue;
      }
      ctx.setLineDash(line.kind === 'clear' ? [2 * ratio, 3 * ratio] : [6 * ratio, 4 * ratio]);
      ctx.beginPath();
      ctx.moveTo(left, Math.round(y) + 0.5);
      ctx.lineTo(left + width, Math.round(y) + 0.5);
      ctx.stroke();
      // the label sits above its line, or below it when the line is at the very top
      const nearTop = y - top < 14 * ratio;
      ctx.textBaseline = nearTop ? 'top' : 'bottom';
      ctx.fillText(line.label, left + width - 4 * ratio, nearTop ? y + 3 * ratio : y - 3 * ratio);
    }
    ctx.restore();
  };
}

/** The levels in words, for the chart's text alternative. */
export function describeLines(lines: readonly ThresholdLine[]): string {
  return lines.map((l) => l.label).join(', ');
}
