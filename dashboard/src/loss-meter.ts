// A per-device count of readings that will never show up in history or on a chart.
import { h, setText } from './dom.ts';

export interface Loss {
  gaps: number;
  rejected: number;
  liveDropped: number;
  total: number;
}

export function lossMeter(testId: string): HTMLElement {
  return h('span', { class: 'loss ok', 'data-testid': testId, 'data-total': '0' }, '0');
}

export function updateLossMeter(el: HTMLElement, loss: Loss, browserDropped: number): void {
  setText(el, loss.total === 0 ? '0' : loss.total.toLocaleString());
  el.className = `loss ${loss.total === 0 ? 'ok' : 'warn'}`;
  el.setAttribute('data-total', String(loss.total));
  el.setAttribute('data-gaps', String(loss.gaps));
  el.setAttribute('data-rejected', String(loss.rejected));
  el.title =
    `sequence gaps (frames that never arrived): ${loss.gaps}\n` +
    `rejected readings (bad value, time or channel): ${loss.rejected}\n` +
    `live updates dropped for this browser: ${browserDropped}` +
    (loss.liveDropped ? ` (${loss.liveDropped} of them this device's)` : ' (the hub does not say for which device)');
}
