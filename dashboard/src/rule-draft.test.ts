import { describe, expect, it } from 'vitest';
import type { RuleView } from './api.ts';
import { buildRule, draftFromRule, emptyDraft, fieldForError, parseDevices, type RuleDraft } from './rule-draft.ts';

const draft = (extra: Partial<RuleDraft>): RuleDraft => ({ ...emptyDraft({ device: 'gh-1', channel: 'temperature' }), name: 'Hot', ...extra });

describe('buildRule', () => {
  it('builds a threshold rule with durations in ms and only its own fields', () => {
    expect(buildRule(draft({ above: '30', clear: '28.5', forS: '10', severity: 'critical' }))).toEqual({
      input: { name: 'Hot', devices: ['gh-1'], severity: 'critical', enabled: true, channel: 'temperature', above: 30, clear: 28.5, forMs: 10_000, actions: [] },
    });
  });

  it('builds no-data and offline rules without threshold fields (offline has no channel)', () => {
    expect(buildRule(draft({ kind: 'nodata', above: '30', noDataS: '90' })).input).toEqual({
      name: 'Hot', devices: ['gh-1'], severity: 'warning', enabled: true, channel: 'temperature', noDataMs: 90_000, actions: [],
    });
    expect(buildRule(draft({ kind: 'offline', offlineS: '120', devices: '*' })).input).toEqual({
      name: 'Hot', devices: '*', severity: 'warning', enabled: true, offlineMs: 120_000, actions: [],
    });
  });

  it('says at the field what is obviously wrong', () => {
    expect(buildRule(draft({ above: '10', below: '20' })).errors).toEqual({ below: expect.stringMatching(/less than above/) });
    expect(buildRule(draft({ above: 'hot' })).errors).toEqual({ above: 'Above must be a number' });
    expect(buildRule(draft({})).errors).toEqual({ above: expect.stringMatching(/above, below or both/) });
    expect(buildRule(draft({ above: '30', clear: '31' })).errors).toEqual({ clear: expect.stringMatching(/not be higher/) });
    expect(buildRule(draft({ below: '5', clear: '4' })).errors).toEqual({ clear: expect.stringMatching(/not be lower/) });
    expect(buildRule(draft({ above: '30', below: '5', clear: '20' })).errors).toEqual({ clear: expect.stringMatching(/not both/) });
    expect(buildRule(draft({ above: '30', forS: '-1' })).errors).toEqual({ forMs: expect.stringMatching(/negative/) });
    expect(buildRule(draft({ kind: 'nodata', noDataS: '' })).errors).toEqual({ noDataMs: expect.stringMatching(/required/) });
    expect(buildRule(draft({ name: ' ', devices: ' , ', channel: '', above: '1' })).errors).toEqual({
      name: expect.any(String), devices: expect.any(String), channel: expect.any(String),
    });
  });

  it('turns command actions into RuleActions, with their arguments as JSON', () => {
    const built = buildRule(draft({ above: '30', actions: [{ name: 'fan', args: '{"speed": 100}', on: 'firing' }, { name: 'fan', args: '', on: 'resolved' }] }));
    expect(built.input?.actions).toEqual([
      { type: 'command', name: 'fan', args: { speed: 100 }, on: 'firing' },
      { type: 'command', name: 'fan', args: {}, on: 'resolved' },
    ]);
    expect(buildRule(draft({ above: '30', actions: [{ name: '', args: '{speed', on: 'firing' }] })).errors).toEqual({
      'actions[0].name': expect.any(String), 'actions[0].args': expect.stringMatching(/JSON/),
    });
  });
});

describe('drafts and the hub', () => {
  it('reads a rule back into the form it was made from', () => {
    const rule: RuleView = {
      id: 3, name: 'Hot', description: 'greenhouse', devices: ['gh-1', 'gh-*'], channel: 'temperature', above: 30, below: null, clear: 28,
      forMs: 10_000, noDataMs: null, offlineMs: null, severity: 'critical', actions: [{ type: 'command', name: 'fan', args: { on: true }, on: 'firing' }],
      enabled: false, createdAt: '', updatedAt: '',
    };
    const back = draftFromRule(rule);
    expect(back).toMatchObject({ kind: 'threshold', devices: 'gh-1, gh-*', above: '30', below: '', clear: '28', forS: '10', enabled: false });
    expect(buildRule(back).input).toEqual({
      name: 'Hot', description: 'greenhouse', devices: ['gh-1', 'gh-*'], channel: 'temperature', above: 30, clear: 28, forMs: 10_000,
      severity: 'critical', enabled: false, actions: [{ type: 'command', name: 'fan', args: { on: true }, on: 'firing' }],
    });
  });

  it('splits devices on commas and new lines; * alone is every device', () => {
    expect(parseDevices('a, b\nc,')).toEqual(['a', 'b', 'c']);
    expect(parseDevices(' * ')).toBe('*');
  });

  it('shows the hub\'s 400 field at the form\'s field, its list, or the form', () => {
    const known = new Set(['name', 'devices', 'forMs', 'actions', 'actions[0].name']);
    expect(fieldForError('forMs', known)).toBe('forMs');
    expect(fieldForError('devices[2]', known)).toBe('devices');
    expect(fieldForError('actions[0].name', known)).toBe('actions[0].name');
    expect(fieldForError('actions[1].type', known)).toBe('actions');
    expect(fieldForError('body', known)).toBe('');
    expect(fieldForError(undefined, known)).toBe('');
  });
});
