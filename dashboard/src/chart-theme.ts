// uPlot draws on canvas, so the stylesheet cannot style axes and grid itself: their colours are
// read from its variables here; series colours read well on both themes.
import type uPlot from 'uplot';

export const SERIES_COLORS = ['#4493f8', '#3fb950', '#d29922', '#f778ba', '#a371f7', '#39c5cf', '#ff7b72', '#8b949e'];

export function seriesColor(index: number): string {
  return SERIES_COLORS[index % SERIES_COLORS.length];
}

export function withAlpha(hex: string, alpha: number): string {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

// The theme's colours for axes and grid, read from style.css's variables (light or dark, as the
// system prefers) each time a chart draws, so a theme change shows at the next redraw.
function themeColor(variable: string, fallback: string): string {
  if (typeof document === 'undefined') return fallback;
  return getComputedStyle(document.documentElement).getPropertyValue(variable).trim() || fallback;
}
const axisText = () => themeColor('--chart-axis', '#8b949e');
const grid = () => themeColor('--chart-grid', 'rgba(240, 246, 252, 0.08)');

export function axis(extra: uPlot.Axis = {}): uPlot.Axis {
  return {
    stroke: axisText,
    font: '11px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
    grid: { stroke: grid, width: 1 },
    ticks: { stroke: grid, width: 1, size: 4 },
    ...extra,
  };
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/**
 * Time-axis labels in 24 h local time, with only as much detail as the visible span needs
 * (uPlot's default adds a second row of dates, which is noise on a 60 s live chart).
 */
export function timeAxisValues(u: uPlot, ticks: number[]): string[] {
  const span = (u.scales.x.max ?? 0) - (u.scales.x.min ?? 0);
  return ticks.map((t) => {
    const d = new Date(t * 1000);
    const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
    if (span <= 600) return `${hm}:${pad(d.getSeconds())}`;
    if (span <= 86_400) return hm;
    return `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hm}`;
  });
}
