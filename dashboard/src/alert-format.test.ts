import { describe, expect, it } from 'vitest';
import type { AlertView } from '../../hub/src/http/wire.ts';
import { alertSince, describeCondition, describeState, formatDuration, ruleKind } from './alert-format.ts';

const rule = { channel: 'temperature', above: null, below: null, clear: null, forMs: 0, noDataMs: null, offlineMs: null };

describe('formatDuration', () => {
  it('uses the largest unit that keeps the number short', () => {
    expect([45_000, 60_000, 61_000, 90_000, 300_000, 5_400_000, 86_400_000, 172_800_000, 500].map(formatDuration))
      .toEqual(['45 s', '1 min', '61 s', '1.5 min', '5 min', '1.5 h', '1 d', '2 d', '500 ms']);
  });
});

describe('rules in words', () => {
  it('tells the kind by the duration a rule carries', () => {
    expect(ruleKind({ noDataMs: null, offlineMs: 60_000 })).toBe('offline');
    expect(ruleKind({ noDataMs: 60_000, offlineMs: null })).toBe('nodata');
    expect(ruleKind({ noDataMs: null, offlineMs: null })).toBe('threshold');
  });

  it('says each condition', () => {
    expect(describeCondition({ ...rule, above: 30, clear: 28, forMs: 10_000 })).toBe('temperature above 30 (clears below 28) for 10 s');
    expect(describeCondition({ ...rule, below: 5, clear: 6 })).toBe('temperature below 5 (clears above 6)');
    expect(describeCondition({ ...rule, above: 30, below: 10 })).toBe('temperature outside 10…30');
    expect(describeCondition({ ...rule, noDataMs: 300_000 })).toBe('no data on temperature for 5 min');
    expect(describeCondition({ ...rule, channel: null, offlineMs: 120_000 })).toBe('offline for 2 min');
  });
});

describe('alert state', () => {
  const base: AlertView = {
    id: 1, ruleId: 1, ruleName: 'hot', deviceId: 'd', channel: 'temperature', severity: 'critical', state: 'firing', value: 31,
    pendingAt: '2026-01-01T00:00:00.000Z', firedAt: '2026-01-01T00:00:10.000Z', resolvedAt: null, acknowledgedAt: null,
    silencedUntil: null, updatedAt: '2026-01-01T00:00:10.000Z',
  };
  const now = Date.parse('2026-01-01T00:01:00Z');

  it('adds acknowledgement and a running silence, not one that has ended', () => {
    expect(describeState(base, now)).toBe('firing');
    expect(describeState({ ...base, acknowledgedAt: base.firedAt, silencedUntil: '2026-01-01T01:01:00.000Z' }, now)).toBe('firing · acknowledged · silenced 1 h');
    expect(describeState({ ...base, silencedUntil: '2026-01-01T00:00:30.000Z' }, now)).toBe('firing');
  });

  it('counts a firing alert from when it fired and a pending one from when it began', () => {
    expect(alertSince(base)).toBe(Date.parse(base.firedAt!));
    expect(alertSince({ ...base, state: 'pending', firedAt: null })).toBe(Date.parse(base.pendingAt!));
  });
});
