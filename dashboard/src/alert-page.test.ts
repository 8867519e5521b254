import { describe, expect, it } from 'vitest';
import type { AlertView } from '../../hub/src/http/wire.ts';
import { byUrgency, matchesQuery } from './alert-page.ts';
import { alertWeight, describeAlerts } from './device-list.ts';
import { worstAlert } from './device-page.ts';

const alert = (id: number, state: AlertView['state'], severity: AlertView['severity'], deviceId = 'd1'): AlertView => ({
  id, ruleId: 1, ruleName: 'r', deviceId, channel: 'c', severity, state, value: 1, pendingAt: null, firedAt: null,
  resolvedAt: null, acknowledgedAt: null, silencedUntil: null, updatedAt: '2026-01-01T00:00:00.000Z',
});

describe('what needs attention first', () => {
  it('orders open alerts firing first, then by severity, newest first', () => {
    const list = [alert(1, 'pending', 'critical'), alert(2, 'firing', 'info'), alert(3, 'firing', 'critical'), alert(4, 'firing', 'critical')];
    expect(list.sort(byUrgency).map((a) => a.id)).toEqual([4, 3, 2, 1]);
  });

  it('weighs a device by its loudest alert: any firing over any pending', () => {
    expect(alertWeight({ count: 1, firing: 1, pending: 0, severity: 'info' })).toBeGreaterThan(alertWeight({ count: 3, firing: 0, pending: 3, severity: 'critical' }));
    expect(alertWeight(null)).toBe(0);
    expect(describeAlerts({ count: 3, firing: 1, pending: 2, severity: 'critical' })).toBe('3 open alerts: 1 firing, 2 pending, highest critical');
  });

  it('tints a chart by its channel\'s worst open alert', () => {
    expect(worstAlert([alert(1, 'pending', 'critical'), alert(2, 'firing', 'info'), alert(3, 'resolved', 'critical')])?.id).toBe(2);
    expect(worstAlert([alert(1, 'pending', 'info'), alert(2, 'pending', 'warning')])?.id).toBe(2);
    expect(worstAlert([alert(3, 'resolved', 'critical')])).toBeNull();
  });

  it('keeps a live alert in the history only when it fits the filter', () => {
    expect(matchesQuery(alert(1, 'firing', 'info'), { state: 'open' })).toBe(true);
    expect(matchesQuery(alert(1, 'resolved', 'info'), { state: 'open' })).toBe(false);
    expect(matchesQuery(alert(1, 'resolved', 'info'), { state: 'all', device: 'd2' })).toBe(false);
    expect(matchesQuery(alert(1, 'resolved', 'info', 'd2'), { state: 'resolved', device: 'd2' })).toBe(true);
  });
});
