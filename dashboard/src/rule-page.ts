// #/rules: the alert rules (each with its condition in words), the editor for a new or an existing
// rule (#/rules/new?device=…&channel=…, #/rules/<id>), and the webhooks alerts are sent to.
import type { Api, RuleView } from './api.ts';
import { describeCondition, describeDevices, KIND_LABELS, ruleKind } from './alert-format.ts';
import { webhooksSection } from './alert-webhooks.ts';
import type { DeviceStore } from './device-store.ts';
import { h, setText } from './dom.ts';
import { describeError, savedZone } from './history-view.ts';
import { ruleEditor } from './rule-editor.ts';
import type { View } from './view.ts';

export type RuleRoute = { edit: 'new'; device?: string; channel?: string } | { edit: number } | { edit: null };

/** "#/rules", "#/rules/new?device=a&channel=b", "#/rules/12" */
export function parseRuleRoute(hash: string): RuleRoute | null {
  const match = /^#\/rules(?:\/([^?]*))?(?:\?(.*))?$/.exec(hash);
  if (!match) return null;
  const [, path, query] = match;
  if (!path) return { edit: null };
  if (path === 'new') {
    const params = new URLSearchParams(query ?? '');
    return { edit: 'new', device: params.get('device') ?? undefined, channel: params.get('channel') ?? undefined };
  }
  const id = Number(path);
  return Number.isInteger(id) && id > 0 ? { edit: id } : { edit: null };
}

export function newRuleHref(device?: string, channel?: string): string {
  const params = new URLSearchParams();
  if (device) params.set('device', device);
  if (channel) params.set('channel', channel);
  const query = params.toString();
  return `#/rules/new${query ? `?${query}` : ''}`;
}

/** what the last save or delete did, shown by the list the page goes back to */
let flash = '';

export function rulePageView(api: Api, store: DeviceStore, route: RuleRoute): View {
  let disposed = false;
  const status = h('span', { class: 'muted', 'data-testid': 'rules-summary' }, 'Loading…');
  const notice = h('p', { class: 'notice', role: 'status', 'data-testid': 'rules-notice', hidden: !flash }, flash);
  flash = '';
  const editorHost = h('div');
  const body = h('tbody');
  const webhooks = webhooksSection(api, savedZone);
  const element = h('div', { class: 'page rules', 'data-testid': 'rules-page' },
    h('p', { class: 'crumbs' }, h('a', { href: '#/alerts', class: 'back', 'data-testid': 'back' }, '← Alerts')),
    h('header', { class: 'page-head' }, h('h1', null, 'Alert rules'), status, h('span', { class: 'spacer' }),
      h('a', { class: 'button primary', href: newRuleHref(), 'data-testid': 'rules-new' }, 'New rule')),
    notice,
    editorHost,
    h('section', { class: 'card flush' },
      h('div', { class: 'table-wrap phone-cards' },
        h('table', { class: 'data-table rule-table', 'data-testid': 'rule-table' },
          h('thead', null, h('tr', null, h('th', null, 'Rule'), h('th', null, 'Kind'), h('th', null, 'Devices'), h('th', null, 'Condition'),
            h('th', null, 'Severity'), h('th', null, 'Enabled'), h('th', null, h('span', { class: 'visually-hidden' }, 'Actions')))),
          body))),
    webhooks.element);

  let rules: RuleView[] = [];

  function say(text: string): void {
    setText(notice, text);
    notice.hidden = !text;
  }

  function channels(): string[] {
    const names = new Set<string>();
    for (const entry of store.entries.values()) for (const c of entry.device.channels) names.add(c.name);
    return [...names].sort();
  }

  function showEditor(rule?: RuleView): void {
    const editor = ruleEditor({
      api, rule, channels: channels(),
      prefill: route.edit === 'new' ? { device: route.device, channel: route.channel } : undefined,
      onSaved: (saved) => {
        flash = `Saved “${saved.name}”.`;
        location.hash = '#/rules';
      },
      onCancel: () => { location.hash = '#/rules'; },
    });
    editorHost.replaceChildren(editor.element);
    queueMicrotask(() => editor.focus());
  }

  function renderRules(): void {
    const rows = rules.map((rule) => {
      const remove = h('button', { type: 'button', class: 'button ghost small danger', 'data-testid': `rule-delete-${rule.id}`, 'aria-label': `delete rule ${rule.name}` }, 'Delete');
      const confirm = h('span', { class: 'confirm', hidden: true },
        h('span', null, 'Delete? Its open alerts end. '),
        h('button', { type: 'button', class: 'button small danger-fill', 'data-testid': `rule-delete-confirm-${rule.id}`, onclick: () => void remove_(rule) }, 'Delete'),
        h('button', { type: 'button', class: 'button ghost small', onclick: () => { confirm.hidden = true; remove.hidden = false; remove.focus(); } }, 'Keep'));
      remove.addEventListener('click', () => {
        remove.hidden = true;
        confirm.hidden = false;
        (confirm.querySelector('button') as HTMLButtonElement).focus();
      });
      const kind = ruleKind(rule);
      return h('tr', { 'data-testid': `rule-row-${rule.id}`, 'data-enabled': String(rule.enabled) },
        h('td', null, h('a', { href: `#/rules/${rule.id}`, class: 'rule-link', 'data-testid': `rule-edit-${rule.id}` }, rule.name),
          rule.description ? h('span', { class: 'muted rule-description' }, rule.description) : null),
        h('td', null, KIND_LABELS[kind]),
        h('td', { class: 'mono' }, describeDevices(rule.devices)),
        h('td', { 'data-testid': `rule-condition-${rule.id}` }, describeCondition(rule),
          rule.actions.length ? h('span', { class: 'muted rule-description' }, `then ${rule.actions.map((a) => `${a.name} on ${a.on ?? 'firing'}`).join(', ')}`) : null),
        h('td', null, h('span', { class: `pill sev-${rule.severity}` }, rule.severity)),
        h('td', null, rule.enabled ? 'yes' : 'no'),
        h('td', { class: 'num rule-row-actions' }, remove, confirm));
    });
    body.replaceChildren(...rows, ...(rows.length ? [] : [h('tr', { class: 'more' }, h('td', { colspan: '7' }, 'No rules yet: alerts start with one.'))]));
    setText(status, `${rules.length} rule${rules.length === 1 ? '' : 's'}`);
  }

  async function remove_(rule: RuleView): Promise<void> {
    try {
      await api.deleteRule(rule.id);
      say(`Deleted “${rule.name}”.`);
      if (route.edit === rule.id) {
        flash = `Deleted “${rule.name}”.`;
        location.hash = '#/rules';
      }
      await load();
    } catch (err) {
      say(describeError(err));
    }
  }

  async function load(): Promise<void> {
    try {
      rules = await api.rules();
      if (disposed) return;
      renderRules();
    } catch (err) {
      if (!disposed) setText(status, describeError(err));
    }
  }

  if (route.edit === 'new') showEditor();
  else if (typeof route.edit === 'number') {
    const id = route.edit;
    api.rule(id).then((rule) => !disposed && showEditor(rule), (err: unknown) => !disposed && say(describeError(err)));
  }
  // the editor's channel suggestions come from the devices
  store.refresh().catch(() => undefined);
  void load();
  void webhooks.load();

  return {
    element,
    title: route.edit === 'new' ? 'New rule' : 'Alert rules',
    dispose() {
      disposed = true;
    },
  };
}
