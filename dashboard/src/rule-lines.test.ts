import { describe, expect, it } from 'vitest';
import type { RuleView } from './api.ts';
import { linesByChannel, rulesFor, thresholdLines } from './rule-lines.ts';

function rule(id: number, extra: Partial<RuleView>): RuleView {
  return {
    id, name: `r${id}`, description: '', devices: '*', channel: 'temperature', above: null, below: null, clear: null, forMs: 0,
    noDataMs: null, offlineMs: null, severity: 'warning', actions: [], enabled: true, createdAt: '', updatedAt: '', ...extra,
  };
}

describe('rule lines', () => {
  it('takes the rules whose devices match by id, or by a pattern over the id or the name, and are enabled', () => {
    const rules = [
      rule(1, { devices: ['gh-1'] }),
      rule(2, { devices: ['gh-*'] }),
      rule(3, { devices: ['*north*'] }),
      rule(4, { devices: '*', enabled: false }),
      rule(5, { devices: ['gh'] }),
    ];
    expect(rulesFor(rules, 'gh-1', 'Greenhouse north').map((r) => r.id)).toEqual([1, 2, 3]);
    expect(rulesFor(rules, 'pump-7', null).map((r) => r.id)).toEqual([]);
  });

  it('draws above, below and clear of the threshold rules on their channel, lowest first', () => {
    const rules = [
      rule(1, { above: 30, clear: 28, severity: 'critical', name: 'Hot' }),
      rule(2, { below: 5 }),
      rule(3, { noDataMs: 60_000 }),
      rule(4, { channel: 'humidity', above: 90 }),
    ];
    expect(thresholdLines(rules, 'temperature').map((l) => [l.kind, l.value, l.severity])).toEqual([
      ['below', 5, 'warning'], ['clear', 28, 'critical'], ['above', 30, 'critical'],
    ]);
    expect(thresholdLines(rules, 'temperature')[2].label).toBe('Hot: above 30');
    expect([...linesByChannel(rules, 'd', null).keys()].sort()).toEqual(['humidity', 'temperature']);
  });
});
