// A rule as the editor holds it (the text of its inputs) and the RuleInput it becomes: the obvious
// checks are made here so the form can say what is wrong at once, at the field; everything else
// (limits, names of actions) is the hub's to check (rule-input.ts), and its 400 names the field too.
import type { RuleInput, Severity } from '../../hub/src/alerts/alert-store.ts';
import type { RuleView } from './api.ts';
import { ruleKind, type RuleKind } from './alert-format.ts';

export interface ActionDraft {
  name: string;
  /** JSON text; empty is {} */
  args: string;
  on: 'firing' | 'resolved';
}

export interface RuleDraft {
  name: string;
  description: string;
  kind: RuleKind;
  /** ids and patterns, separated by commas or new lines; "*" is every device */
  devices: string;
  channel: string;
  above: string;
  below: string;
  clear: string;
  /** durations in seconds, as the form shows them */
  forS: string;
  noDataS: string;
  offlineS: string;
  severity: Severity;
  enabled: boolean;
  actions: ActionDraft[];
}

/** Field keys are RuleInput's names, as the hub's 400 names them; action fields are `actions[i].name`. */
export type DraftErrors = Record<string, string>;

export function emptyDraft(prefill: { device?: string; channel?: string } = {}): RuleDraft {
  return {
    name: '', description: '', kind: 'threshold', devices: prefill.device ?? '', channel: prefill.channel ?? '',
    above: '', below: '', clear: '', forS: '0', noDataS: '300', offlineS: '120', severity: 'warning', enabled: true, actions: [],
  };
}

const num = (n: number | null) => (n === null ? '' : String(n));
const seconds = (ms: number | null) => (ms === null ? '' : String(ms / 1000));

export function draftFromRule(rule: RuleView): RuleDraft {
  const kind = ruleKind(rule);
  const base = emptyDraft();
  return {
    name: rule.name,
    description: rule.description,
    kind,
    devices: rule.devices === '*' ? '*' : rule.devices.join(', '),
    channel: rule.channel ?? '',
    above: num(rule.above),
    below: num(rule.below),
    clear: num(rule.clear),
    forS: seconds(rule.forMs),
    noDataS: rule.noDataMs === null ? base.noDataS : seconds(rule.noDataMs),
    offlineS: rule.offlineMs === null ? base.offlineS : seconds(rule.offlineMs),
    severity: rule.severity,
    enabled: rule.enabled,
    actions: rule.actions.map((a) => ({ name: a.name, args: a.args === undefined ? '' : JSON.stringify(a.args), on: a.on ?? 'firing' })),
  };
}

/** "a, b\nc" → ["a", "b", "c"]; "*" alone → "*" */
export function parseDevices(text: string): string[] | '*' {
  const entries = text.split(/[,\n]/).map((s) => s.trim()).filter(Boolean);
  return entries.length === 1 && entries[0] === '*' ? '*' : entries;
}

/** A number typed into a field: empty is null, anything else must be finite. */
function numberField(text: string, field: string, label: string, errors: DraftErrors): number | null {
  const t = text.trim();
  if (t === '') return null;
  const n = Number(t);
  if (!Number.isFinite(n)) {
    errors[field] = `${label} must be a number`;
    return null;
  }
  return n;
}

function durationField(text: string, field: string, label: string, errors: DraftErrors, min: number): number | null {
  const s = numberField(text, field, label, errors);
  if (field in errors) return null;
  if (s === null) {
    if (min > 0) errors[field] = `${label} is required`;
    return null;
  }
  if (s < min) {
    errors[field] = min > 0 ? `${label} must be at least ${min} s` : `${label} must not be negative`;
    return null;
  }
  return Math.round(s * 1000);
}

/** The RuleInput this draft stands for, or what is wrong with it, per field. */
export function buildRule(draft: RuleDraft): { input: RuleInput; errors?: undefined } | { input?: undefined; errors: DraftErrors } {
  const errors: DraftErrors = {};
  const name = draft.name.trim();
  if (!name) errors.name = 'Give the rule a name';
  const devices = parseDevices(draft.devices);
  if (devices !== '*' && devices.length === 0) errors.devices = 'Name at least one device, a pattern such as pump-*, or * for every device';
  const input: RuleInput = { name, devices, severity: draft.severity, enabled: draft.enabled };
  if (draft.description.trim()) input.description = draft.description.trim();

  if (draft.kind !== 'offline') {
    const channel = draft.channel.trim();
    if (!channel) errors.channel = 'Pick the channel to watch';
    input.channel = channel;
  }
  if (draft.kind === 'threshold') {
    const above = numberField(draft.above, 'above', 'Above', errors);
    const below = numberField(draft.below, 'below', 'Below', errors);
    const clear = numberField(draft.clear, 'clear', 'Clear', errors);
    if (above === null && below === null && !('above' in errors) && !('below' in errors)) errors.above = 'Set above, below or both';
    if (above !== null && below !== null && !(below < above)) errors.below = 'Below must be less than above: the rule fires outside the range';
    if (clear !== null) {
      if (above !== null && below !== null) errors.clear = 'Clear works with above or below, not both';
      else if (above !== null && clear > above) errors.clear = 'Clear must not be higher than above: the alert resolves once the value is back at or below it';
      else if (below !== null && clear < below) errors.clear = 'Clear must not be lower than below: the alert resolves once the value is back at or above it';
    }
    if (above !== null) input.above = above;
    if (below !== null) input.below = below;
    if (clear !== null) input.clear = clear;
    const forMs = durationField(draft.forS, 'forMs', 'For', errors, 0);
    if (forMs !== null) input.forMs = forMs;
  } else if (draft.kind === 'nodata') {
    const noDataMs = durationField(draft.noDataS, 'noDataMs', 'No data for', errors, 1);
    if (noDataMs !== null) input.noDataMs = noDataMs;
  } else {
    const offlineMs = durationField(draft.offlineS, 'offlineMs', 'Offline for', errors, 1);
    if (offlineMs !== null) input.offlineMs = offlineMs;
  }

  input.actions = draft.actions.map((a, i) => {
    if (!a.name.trim()) errors[`actions[${i}].name`] = 'Name the command to send';
    let args: unknown = {};
    if (a.args.trim()) {
      try {
        args = JSON.parse(a.args);
      } catch {
        errors[`actions[${i}].args`] = 'Arguments must be JSON, such as {"valve": "closed"}';
      }
    }
    return { type: 'command' as const, name: a.name.trim(), args, on: a.on };
  });
  return Object.keys(errors).length ? { errors } : { input };
}

/**
 * Where the hub's 400 `field` is shown: the form's own field of that name, the entry's list
 * ("devices[2]" → "devices"), or, when the form has no such field, the form as a whole ("").
 */
export function fieldForError(field: string | undefined, known: ReadonlySet<string>): string {
  if (!field) return '';
  if (known.has(field)) return field;
  const list = /^([A-Za-z]+)\[\d+\]$/.exec(field);
  if (list && known.has(list[1])) return list[1];
  const action = /^(actions)\[\d+\]/.exec(field);
  if (action && known.has('actions')) return 'actions';
  return '';
}
