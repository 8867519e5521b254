import { describe, expect, it } from 'vitest';
import type { AlertView } from '../../hub/src/http/wire.ts';
import { isNewer, OpenAlerts, summarize } from './alert-feed.ts';

let clock = Date.parse('2026-01-01T00:00:00Z');
function alert(id: number, state: AlertView['state'], extra: Partial<AlertView> = {}): AlertView {
  return {
    id, ruleId: 1, ruleName: 'hot', deviceId: 'd1', channel: 'temperature', severity: 'warning', state, value: 31,
    pendingAt: null, firedAt: null, resolvedAt: null, acknowledgedAt: null, silencedUntil: null,
    updatedAt: new Date(clock).toISOString(), ...extra,
  };
}
const later = (ms = 1000) => { clock += ms; };

describe('OpenAlerts', () => {
  it('keeps pending and firing alerts and drops them when they resolve or are cancelled', () => {
    const open = new OpenAlerts();
    expect(open.apply(alert(1, 'pending'))).toBe(true);
    later();
    open.apply(alert(1, 'firing'));
    open.apply(alert(2, 'pending', { deviceId: 'd2' }));
    expect([...open.open.keys()]).toEqual([1, 2]);
    expect(open.forDevice('d1').map((a) => a.state)).toEqual(['firing']);
    later();
    expect(open.apply(alert(1, 'resolved'))).toBe(true);
    expect(open.apply(alert(2, 'cancelled', { deviceId: 'd2' }))).toBe(true);
    expect(open.open.size).toBe(0);
    expect(open.forDevice('d1')).toEqual([]);
  });

  it('ignores an event older than what it knows, and the close of an alert it never had open', () => {
    const open = new OpenAlerts();
    const firing = alert(1, 'firing');
    later(-5000);
    const stalePending = alert(1, 'pending');
    later(5000);
    open.apply(firing);
    expect(open.apply(stalePending)).toBe(false);
    expect(open.open.get(1)!.state).toBe('firing');
    expect(open.apply(alert(9, 'resolved'))).toBe(false);
  });

  it('takes pending → firing in the same millisecond, never firing → pending', () => {
    expect(isNewer(alert(1, 'firing'), alert(1, 'pending'))).toBe(true);
    expect(isNewer(alert(1, 'pending'), alert(1, 'firing'))).toBe(false);
    expect(isNewer(alert(1, 'resolved'), alert(1, 'firing'))).toBe(true);
  });

  it('does not reopen an alert a live event closed while a load was under way', () => {
    const open = new OpenAlerts();
    open.beginLoad();
    const answered = alert(1, 'firing');
    later();
    open.apply(alert(1, 'resolved'));
    open.apply(alert(2, 'pending'));
    open.endLoad([answered, alert(3, 'firing')]);
    expect([...open.open.keys()].sort()).toEqual([2, 3]);
  });

  it('takes the load over what it had when the load is newer', () => {
    const open = new OpenAlerts();
    open.apply(alert(1, 'pending'));
    open.apply(alert(4, 'firing'));
    later();
    open.beginLoad();
    open.endLoad([alert(1, 'firing')]);
    expect([...open.open.values()].map((a) => [a.id, a.state])).toEqual([[1, 'firing']]);
  });

  it('takes an acknowledgement stamped in the same millisecond, and bumps its version so views sort again', () => {
    const open = new OpenAlerts();
    const v = open.version;
    const firing = alert(1, 'firing');
    open.apply(firing);
    expect(open.version).toBe(v + 1);
    expect(open.apply({ ...firing, acknowledgedAt: firing.updatedAt })).toBe(true);
    expect(open.version).toBe(v + 2);
    expect(open.open.get(1)!.acknowledgedAt).toBe(firing.updatedAt);
  });
});

describe('summarize', () => {
  it('counts firing and pending and takes the highest severity', () => {
    expect(summarize([
      alert(1, 'pending', { severity: 'critical' }),
      alert(2, 'firing', { severity: 'info' }),
      alert(3, 'firing', { severity: 'warning' }),
      alert(4, 'resolved', { severity: 'critical' }),
    ])).toEqual({ count: 3, firing: 2, pending: 1, severity: 'critical' });
    expect(summarize([alert(4, 'resolved')])).toBeNull();
  });
});
