import { describe, expect, it } from 'vitest';
import { parseRuleInput, RULE_LIMITS } from './rule-input.ts';

const threshold = { name: 'hot', devices: '*', channel: 'temp', above: 30, severity: 'warning' };
const noData = { name: 'quiet', devices: ['d1'], channel: 'temp', noDataMs: 60_000, severity: 'info' };
const offline = { name: 'gone', devices: ['gh-*'], offlineMs: 300_000, severity: 'critical' };

function ok(body: unknown) {
  const result = parseRuleInput(body);
  if (!result.ok) throw new Error(`refused: ${result.field}: ${result.message}`);
  return result.rule;
}

function refused(body: unknown): string {
  const result = parseRuleInput(body);
  if (result.ok) throw new Error('accepted');
  expect(result.message).toEqual(expect.any(String));
  return result.field;
}

describe('parseRuleInput: accepted rules', () => {
  it('fills the defaults of a threshold rule', () => {
    expect(ok(threshold)).toEqual({
      name: 'hot', description: '', devices: '*', channel: 'temp', above: 30, below: null, clear: null, forMs: 0,
      noDataMs: null, offlineMs: null, severity: 'warning', actions: [], enabled: true,
    });
  });

  it('keeps every field given', () => {
    const rule = ok({
      ...threshold, description: 'too warm', devices: ['d1', 'gh-*'], clear: 28, forMs: 60_000, enabled: false,
      actions: [{ type: 'command', name: 'fan.on', args: { speed: 3 } }, { type: 'command', name: 'fan_off', on: 'resolved' }],
    });
    expect(rule).toMatchObject({ description: 'too warm', devices: ['d1', 'gh-*'], clear: 28, forMs: 60_000, enabled: false });
    expect(rule.actions).toEqual([
      { type: 'command', name: 'fan.on', args: { speed: 3 }, on: 'firing' },
      { type: 'command', name: 'fan_off', args: {}, on: 'resolved' },
    ]);
  });

  it('takes below alone, and both as a range', () => {
    expect(ok({ ...threshold, above: undefined, below: -5 })).toMatchObject({ above: null, below: -5 });
    expect(ok({ ...threshold, above: 30, below: 10 })).toMatchObject({ above: 30, below: 10 });
  });

  it('takes no-data and offline rules; an offline rule drops its channel', () => {
    expect(ok(noData)).toMatchObject({ channel: 'temp', noDataMs: 60_000, offlineMs: null, above: null, below: null, forMs: 0 });
    expect(ok({ ...offline, channel: 'temp' })).toMatchObject({ channel: null, offlineMs: 300_000 });
    expect(ok({ ...offline, channel: 42 })).toMatchObject({ channel: null });
  });

  it('treats null optional fields as absent, so a rule read back can be sent again', () => {
    const rule = ok({
      name: 'r', description: null, devices: '*', channel: 'temp', above: null, below: 3, clear: null, forMs: 0,
      noDataMs: null, offlineMs: null, severity: 'info', actions: null, enabled: null,
    });
    expect(rule).toMatchObject({ description: '', above: null, below: 3, actions: [], enabled: true });
    expect(ok({ ...offline, forMs: 0 })).toMatchObject({ forMs: 0 });
  });

  it('accepts the limits themselves', () => {
    const rule = ok({
      ...threshold, name: 'n'.repeat(200), description: 'd'.repeat(1000), channel: 'c'.repeat(64), forMs: RULE_LIMITS.maxDurationMs,
      devices: Array.from({ length: 1000 }, (_, i) => `${i}`.padEnd(200, 'x')),
      actions: Array.from({ length: 10 }, () => ({ type: 'command', name: 'a'.repeat(64), args: 'x'.repeat(1022) })),
    });
    expect(rule.devices).toHaveLength(1000);
    expect(ok({ ...noData, noDataMs: 1000 }).noDataMs).toBe(1000);
    expect(ok({ ...offline, offlineMs: RULE_LIMITS.maxDurationMs }).offlineMs).toBe(RULE_LIMITS.maxDurationMs);
  });

  it('accepts clear on the resolving side of a one-sided rule, and at the threshold itself', () => {
    expect(ok({ ...threshold, clear: 30 }).clear).toBe(30);
    expect(ok({ ...threshold, above: undefined, below: 5, clear: 7 }).clear).toBe(7);
    expect(ok({ ...threshold, above: undefined, below: 5, clear: 5 }).clear).toBe(5);
  });

  it('accepts any JSON as action args', () => {
    for (const args of [null, 0, 'x', [1, 2], { a: { b: [true] } }]) {
      expect(ok({ ...threshold, actions: [{ type: 'command', name: 'x', args }] }).actions[0].args).toEqual(args);
    }
  });
});

describe('parseRuleInput: refusals name their field', () => {
  it('refuses a body that is not an object', () => {
    for (const body of [null, undefined, 'rule', 3, [threshold]]) expect(refused(body)).toBe('body');
  });

  it('refuses unknown fields, such as a typo of above', () => {
    expect(refused({ ...threshold, abvoe: 40 })).toBe('abvoe');
    expect(refused({ ...threshold, id: 3 })).toBe('id');
  });

  it('checks the name', () => {
    expect(refused({ ...threshold, name: undefined })).toBe('name');
    expect(refused({ ...threshold, name: '' })).toBe('name');
    expect(refused({ ...threshold, name: '   ' })).toBe('name');
    expect(refused({ ...threshold, name: 'n'.repeat(201) })).toBe('name');
    expect(refused({ ...threshold, name: 5 })).toBe('name');
  });

  it('checks the description', () => {
    expect(refused({ ...threshold, description: 'd'.repeat(1001) })).toBe('description');
    expect(refused({ ...threshold, description: 1 })).toBe('description');
  });

  it('checks devices and names the bad entry', () => {
    expect(refused({ ...threshold, devices: undefined })).toBe('devices');
    expect(refused({ ...threshold, devices: [] })).toBe('devices');
    expect(refused({ ...threshold, devices: 'd1' })).toBe('devices');
    expect(refused({ ...threshold, devices: Array.from({ length: 1001 }, (_, i) => `d${i}`) })).toBe('devices');
    expect(refused({ ...threshold, devices: ['d1', ''] })).toBe('devices[1]');
    expect(refused({ ...threshold, devices: ['d1', 7] })).toBe('devices[1]');
    expect(refused({ ...threshold, devices: ['x'.repeat(201)] })).toBe('devices[0]');
  });

  it('needs exactly one kind', () => {
    expect(refused({ name: 'r', devices: '*', channel: 'temp', severity: 'info' })).toBe('above');
    expect(refused({ ...threshold, noDataMs: 60_000 })).toBe('noDataMs');
    expect(refused({ ...threshold, offlineMs: 60_000 })).toBe('offlineMs');
    expect(refused({ ...noData, offlineMs: 60_000 })).toBe('offlineMs');
    expect(refused({ ...noData, below: 1 })).toBe('noDataMs');
  });

  it('needs finite numbers for above and below', () => {
    expect(refused({ ...threshold, above: '30' })).toBe('above');
    expect(refused({ ...threshold, above: Infinity })).toBe('above');
    expect(refused({ ...threshold, above: NaN })).toBe('above');
    expect(refused({ ...threshold, above: undefined, below: -Infinity })).toBe('below');
  });

  it('needs below < above when both are given', () => {
    expect(refused({ ...threshold, above: 10, below: 10 })).toBe('below');
    expect(refused({ ...threshold, above: 10, below: 20 })).toBe('below');
  });

  it('takes clear only with a one-sided threshold, on its resolving side', () => {
    expect(refused({ ...threshold, clear: 31 })).toBe('clear');
    expect(refused({ ...threshold, above: undefined, below: 5, clear: 4 })).toBe('clear');
    expect(refused({ ...threshold, below: 10, clear: 20 })).toBe('clear');
    expect(refused({ ...noData, clear: 1 })).toBe('clear');
    expect(refused({ ...offline, clear: 1 })).toBe('clear');
    expect(refused({ ...threshold, clear: '1' })).toBe('clear');
    expect(refused({ ...threshold, clear: Infinity })).toBe('clear');
  });

  it('checks the durations', () => {
    for (const forMs of [-1, 1.5, '10', RULE_LIMITS.maxDurationMs + 1]) expect(refused({ ...threshold, forMs })).toBe('forMs');
    for (const noDataMs of [0, 999, 1000.5, RULE_LIMITS.maxDurationMs + 1, '60000']) expect(refused({ ...noData, noDataMs })).toBe('noDataMs');
    for (const offlineMs of [0, 999, RULE_LIMITS.maxDurationMs + 1]) expect(refused({ ...offline, offlineMs })).toBe('offlineMs');
  });

  it('takes forMs only for threshold rules', () => {
    expect(refused({ ...noData, forMs: 1000 })).toBe('forMs');
    expect(refused({ ...offline, forMs: 1000 })).toBe('forMs');
  });

  it('needs a channel for threshold and no-data rules', () => {
    expect(refused({ ...threshold, channel: undefined })).toBe('channel');
    expect(refused({ ...noData, channel: '' })).toBe('channel');
    expect(refused({ ...threshold, channel: 'c'.repeat(65) })).toBe('channel');
    expect(refused({ ...threshold, channel: 3 })).toBe('channel');
  });

  it('needs a known severity', () => {
    expect(refused({ ...threshold, severity: undefined })).toBe('severity');
    expect(refused({ ...threshold, severity: 'fatal' })).toBe('severity');
  });

  it('checks actions and names the bad one', () => {
    const a = { type: 'command', name: 'reboot' };
    expect(refused({ ...threshold, actions: a })).toBe('actions');
    expect(refused({ ...threshold, actions: Array.from({ length: 11 }, () => a) })).toBe('actions');
    expect(refused({ ...threshold, actions: [a, 'reboot'] })).toBe('actions[1]');
    expect(refused({ ...threshold, actions: [{ ...a, type: 'webhook' }] })).toBe('actions[0].type');
    expect(refused({ ...threshold, actions: [{ name: 'x' }] })).toBe('actions[0].type');
    expect(refused({ ...threshold, actions: [{ ...a, name: '' }] })).toBe('actions[0].name');
    expect(refused({ ...threshold, actions: [{ ...a, name: 'a'.repeat(65) }] })).toBe('actions[0].name');
    expect(refused({ ...threshold, actions: [{ ...a, name: 'fan on' }] })).toBe('actions[0].name');
    expect(refused({ ...threshold, actions: [{ ...a, name: 'fan/on' }] })).toBe('actions[0].name');
    expect(refused({ ...threshold, actions: [{ ...a, on: 'pending' }] })).toBe('actions[0].on');
    expect(refused({ ...threshold, actions: [{ ...a, args: 'x'.repeat(1023) }] })).toBe('actions[0].args');
    expect(refused({ ...threshold, actions: [{ ...a, args: 'é'.repeat(600) }] })).toBe('actions[0].args');
    expect(refused({ ...threshold, actions: [{ ...a, args: 1n }] })).toBe('actions[0].args');
    expect(refused({ ...threshold, actions: [{ ...a, delay: 5 }] })).toBe('actions[0].delay');
  });

  it('needs enabled to be a boolean', () => {
    expect(refused({ ...threshold, enabled: 'yes' })).toBe('enabled');
    expect(refused({ ...threshold, enabled: 1 })).toBe('enabled');
  });
});
