// The form for one alert rule: every RuleInput field, with the kind (threshold, no data, offline)
// deciding which are shown. The obvious mistakes are caught here before anything is sent; a 400
// from the hub names its field, and the message is shown beside that field either way.
import type { Severity } from '../../hub/src/alerts/alert-store.ts';
import { ApiError, type Api, type RuleView } from './api.ts';
import { KIND_LABELS, type RuleKind } from './alert-format.ts';
import { h, setText } from './dom.ts';
import { describeError } from './history-view.ts';
import { buildRule, draftFromRule, emptyDraft, fieldForError, type ActionDraft, type DraftErrors, type RuleDraft } from './rule-draft.ts';

const SEVERITIES: Severity[] = ['info', 'warning', 'critical'];
let editors = 0;

interface FieldParts {
  wrap: HTMLElement;
  /** null for a message about a group (the actions as a whole) */
  control: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement | null;
  error: HTMLElement;
}

export interface RuleEditorOptions {
  api: Api;
  /** the rule to edit, or undefined for a new one */
  rule?: RuleView;
  prefill?: { device?: string; channel?: string };
  /** channel names this hub's devices declared, offered as suggestions */
  channels: string[];
  onSaved(rule: RuleView): void;
  onCancel(): void;
}

export function ruleEditor(options: RuleEditorOptions): { element: HTMLElement; focus(): void } {
  const n = ++editors;
  const draft: RuleDraft = options.rule ? draftFromRule(options.rule) : emptyDraft(options.prefill);
  const fields = new Map<string, FieldParts>();

  const field = <C extends HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement>(key: string, label: string, control: C, hint?: string, extra = ''): FieldParts & { control: C } => {
    const id = `rule-${n}-${key.replace(/\W/g, '-')}`;
    control.id = id;
    const error = h('p', { class: 'field-error', id: `${id}-error`, 'data-testid': `rule-error-${key}`, hidden: true });
    const hintEl = hint ? h('span', { class: 'field-hint', id: `${id}-hint` }, hint) : null;
    control.setAttribute('aria-describedby', [hintEl ? `${id}-hint` : '', `${id}-error`].filter(Boolean).join(' '));
    const wrap = h('div', { class: `field ${extra}` }, h('label', { for: id }, label), control, hintEl, error);
    const parts = { wrap, control, error };
    fields.set(key, parts);
    return parts;
  };
  const text = (testId: string, value: string, attrs: Record<string, string> = {}) =>
    h('input', { type: 'text', value, autocomplete: 'off', spellcheck: 'false', 'data-testid': testId, ...attrs });
  const decimal = (testId: string, value: string) => text(testId, value, { inputmode: 'decimal' });

  const name = field('name', 'Name', text('rule-name', draft.name, { maxlength: '200', placeholder: 'e.g. Greenhouse too hot' }), undefined, 'grow');
  const description = field('description', 'Description (optional)', h('textarea', { rows: '2', 'data-testid': 'rule-description', maxlength: '1000' }), undefined, 'wide');
  description.control.value = draft.description;
  const kind = field('kind', 'Kind', h('select', { 'data-testid': 'rule-kind' },
    ...(Object.keys(KIND_LABELS) as RuleKind[]).map((k) => h('option', { value: k, selected: k === draft.kind }, KIND_LABELS[k]))));
  const devices = field('devices', 'Devices', text('rule-devices', draft.devices, { placeholder: 'greenhouse-1, pump-*' }),
    'ids or patterns with * (matched against ids and names), comma separated; * alone is every device', 'grow');
  const channelList = h('datalist', { id: `rule-${n}-channels` }, ...options.channels.map((c) => h('option', { value: c })));
  const channel = field('channel', 'Channel', text('rule-channel', draft.channel, { list: `rule-${n}-channels`, maxlength: '64' }));
  const above = field('above', 'Above', decimal('rule-above', draft.above), 'fires while the value is above');
  const below = field('below', 'Below', decimal('rule-below', draft.below), 'fires while the value is below');
  const clear = field('clear', 'Clear (optional)', decimal('rule-clear', draft.clear), 'resolves only once back past this level');
  const forMs = field('forMs', 'For (seconds)', decimal('rule-for', draft.forS), 'pending this long before it fires');
  const noDataMs = field('noDataMs', 'No data for (seconds)', decimal('rule-nodata', draft.noDataS));
  const offlineMs = field('offlineMs', 'Offline for (seconds)', decimal('rule-offline', draft.offlineS));
  const severity = field('severity', 'Severity', h('select', { 'data-testid': 'rule-severity' },
    ...SEVERITIES.map((s) => h('option', { value: s, selected: s === draft.severity }, s))));
  const enabled = h('input', { type: 'checkbox', checked: draft.enabled, 'data-testid': 'rule-enabled', id: `rule-${n}-enabled` });
  const actionsError = h('p', { class: 'field-error', 'data-testid': 'rule-error-actions', tabindex: '-1', hidden: true });
  fields.set('actions', { wrap: actionsError, control: null, error: actionsError });
  const actionList = h('div', { class: 'rule-actions', 'data-testid': 'rule-actions' });
  const formError = h('p', { class: 'error-text', role: 'alert', 'data-testid': 'rule-form-error', hidden: true });
  const save = h('button', { type: 'submit', class: 'button primary', 'data-testid': 'rule-save' }, options.rule ? 'Save rule' : 'Create rule');
  const cancel = h('button', { type: 'button', class: 'button ghost', 'data-testid': 'rule-cancel', onclick: () => options.onCancel() }, 'Cancel');

  const renderActions = () => {
    // keys follow the rows' positions, as the hub's `actions[i].name` does
    for (const key of [...fields.keys()]) if (key.startsWith('actions[')) fields.delete(key);
    const rows = draft.actions.map((a, i) => {
      const cmd = field(`actions[${i}].name`, 'Command', text(`rule-action-name-${i}`, a.name, { placeholder: 'e.g. fan', maxlength: '64' }));
      const args = field(`actions[${i}].args`, 'Arguments (JSON)', text(`rule-action-args-${i}`, a.args, { placeholder: '{"speed": 100}' }), undefined, 'grow');
      const on = field(`actions[${i}].on`, 'When', h('select', { 'data-testid': `rule-action-on-${i}` },
        h('option', { value: 'firing', selected: a.on === 'firing' }, 'it fires'), h('option', { value: 'resolved', selected: a.on === 'resolved' }, 'it resolves')));
      cmd.control.addEventListener('input', () => { a.name = cmd.control.value; });
      args.control.addEventListener('input', () => { a.args = args.control.value; });
      on.control.addEventListener('change', () => { a.on = on.control.value as ActionDraft['on']; });
      const remove = h('button', { type: 'button', class: 'button ghost small danger', 'data-testid': `rule-action-remove-${i}`, 'aria-label': `remove action ${i + 1}` }, 'Remove');
      remove.addEventListener('click', () => {
        draft.actions.splice(i, 1);
        renderActions();
        addAction.focus();
      });
      return h('div', { class: 'rule-action', 'data-testid': `rule-action-${i}` }, cmd.wrap, args.wrap, on.wrap, h('div', { class: 'rule-action-remove' }, remove));
    });
    actionList.replaceChildren(...rows,
      ...(rows.length ? [] : [h('p', { class: 'muted' }, 'No commands: the alert is shown here and sent to webhooks.')]));
  };
  const addAction = h('button', { type: 'button', class: 'button small', 'data-testid': 'rule-action-add' }, 'Add a command');
  addAction.addEventListener('click', () => {
    draft.actions.push({ name: '', args: '', on: 'firing' });
    renderActions();
    fields.get(`actions[${draft.actions.length - 1}].name`)?.control?.focus();
  });
  renderActions();

  const threshold = h('div', { class: 'rule-row', 'data-kind-fields': 'threshold' }, above.wrap, below.wrap, clear.wrap, forMs.wrap);
  const form = h('form', { class: 'rule-form', 'data-testid': 'rule-form', novalidate: true, 'aria-label': options.rule ? `edit rule ${options.rule.name}` : 'new rule' },
    h('div', { class: 'rule-row' }, name.wrap, kind.wrap, severity.wrap),
    h('div', { class: 'rule-row' }, devices.wrap, channel.wrap, channelList),
    threshold,
    h('div', { class: 'rule-row' }, noDataMs.wrap, offlineMs.wrap),
    h('div', { class: 'rule-row' }, description.wrap),
    h('fieldset', { class: 'rule-fieldset' }, h('legend', null, 'Commands to the device'),
      h('p', { class: 'muted field-hint' }, 'Sent to the alert\'s device when it fires or resolves (not while the alert is silenced).'),
      actionList, actionsError, addAction),
    h('label', { class: 'list-check', for: `rule-${n}-enabled` }, enabled, h('span', null, 'Enabled')),
    formError,
    h('div', { class: 'toolbar-actions' }, save, cancel));

  const showKind = () => {
    const k = kind.control.value as RuleKind;
    form.setAttribute('data-kind', k);
    threshold.hidden = k !== 'threshold';
    channel.wrap.hidden = k === 'offline';
    noDataMs.wrap.hidden = k !== 'nodata';
    offlineMs.wrap.hidden = k !== 'offline';
  };
  kind.control.addEventListener('change', showKind);
  showKind();

  const read = (): RuleDraft => ({
    ...draft,
    name: name.control.value,
    description: description.control.value,
    kind: kind.control.value as RuleKind,
    devices: devices.control.value,
    channel: channel.control.value,
    above: above.control.value,
    below: below.control.value,
    clear: clear.control.value,
    forS: forMs.control.value,
    noDataS: noDataMs.control.value,
    offlineS: offlineMs.control.value,
    severity: severity.control.value as Severity,
    enabled: enabled.checked,
    actions: draft.actions,
  });

  const clearErrors = () => {
    for (const parts of fields.values()) {
      parts.error.hidden = true;
      setText(parts.error, '');
      parts.control?.removeAttribute('aria-invalid');
    }
    formError.hidden = true;
  };

  /** Shows each message at its field and moves the focus to the first one. */
  const showErrors = (errors: DraftErrors) => {
    let first: HTMLElement | null = null;
    for (const [key, message] of Object.entries(errors)) {
      const parts = key ? fields.get(key) : undefined;
      if (!parts) {
        setText(formError, message);
        formError.hidden = false;
        continue;
      }
      setText(parts.error, message);
      parts.error.hidden = false;
      if (parts.control) {
        parts.control.setAttribute('aria-invalid', 'true');
        first ??= parts.control;
      }
      else first ??= parts.error;
    }
    (first ?? formError).focus();
    form.setAttribute('data-errors', Object.keys(errors).join(' '));
  };

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors();
    const built = buildRule(read());
    if (built.errors) return showErrors(built.errors);
    save.disabled = true;
    try {
      const rule = await options.api.saveRule(built.input, options.rule?.id);
      options.onSaved(rule);
    } catch (err) {
      if (err instanceof ApiError && err.status === 400) {
        const key = fieldForError(err.field, new Set(fields.keys()));
        showErrors({ [key]: err.message });
      } else {
        showErrors({ '': describeError(err) });
      }
    } finally {
      save.disabled = false;
    }
  });
  formError.tabIndex = -1;

  return {
    element: h('section', { class: 'card rule-editor', 'data-testid': 'rule-editor', 'data-rule-id': options.rule ? String(options.rule.id) : 'new' },
      h('header', { class: 'section-head' }, h('h2', null, options.rule ? `Edit “${options.rule.name}”` : 'New rule')),
      form),
    focus: () => name.control.focus(),
  };
}
