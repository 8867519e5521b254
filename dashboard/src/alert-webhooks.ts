// Webhooks that hear of alerts firing and resolving: the list with each one's last delivery (the
// hub retries a failed one, so its error is what an operator needs to see), adding one with its
// signing secret (never shown again), and deleting.
import { ApiError, type Api, type DeliveryView, type WebhookView } from './api.ts';
import { formatTime, type Zone } from './chart-math.ts';
import { h, setText } from './dom.ts';
import { describeError } from './history-view.ts';

/** the hub's bounds (webhook-signature.ts), checked here so the form can say so at once */
const SECRET_MIN = 16;
const SECRET_MAX = 256;

export function describeDelivery(d: DeliveryView | undefined, zone: Zone): { text: string; state: 'none' | 'ok' | 'failing' | 'pending' } {
  if (!d) return { text: 'nothing sent yet', state: 'none' };
  const at = (iso: string) => formatTime(Date.parse(iso), zone).slice(0, 19);
  if (d.status === 'delivered') return { text: `delivered${d.lastStatus ? ` (HTTP ${d.lastStatus})` : ''} ${at(d.deliveredAt ?? d.createdAt)}`, state: 'ok' };
  if (d.attempts === 0) return { text: `queued ${at(d.createdAt)}`, state: 'pending' };
  const why = d.lastError ?? (d.lastStatus ? `HTTP ${d.lastStatus}` : 'no answer');
  return { text: `failing after ${d.attempts} attempt${d.attempts === 1 ? '' : 's'}: ${why}`, state: 'failing' };
}

export function webhooksSection(api: Api, zone: () => Zone): { element: HTMLElement; load(): Promise<void> } {
  const body = h('tbody');
  const status = h('span', { class: 'muted', 'data-testid': 'webhooks-summary' }, 'Loading…');
  const url = h('input', { type: 'url', id: 'webhook-url', placeholder: 'https://example.com/hooks/telemetry', autocomplete: 'off', 'data-testid': 'webhook-url', 'aria-describedby': 'webhook-url-error' });
  const secret = h('input', { type: 'password', id: 'webhook-secret', autocomplete: 'new-password', minlength: String(SECRET_MIN), maxlength: String(SECRET_MAX), 'data-testid': 'webhook-secret', 'aria-describedby': 'webhook-secret-hint webhook-secret-error' });
  const urlError = h('p', { class: 'field-error', id: 'webhook-url-error', 'data-testid': 'webhook-error-url', hidden: true });
  const secretError = h('p', { class: 'field-error', id: 'webhook-secret-error', 'data-testid': 'webhook-error-secret', hidden: true });
  const formError = h('p', { class: 'error-text', role: 'alert', 'data-testid': 'webhook-form-error', hidden: true });
  const add = h('button', { type: 'submit', class: 'button primary', 'data-testid': 'webhook-add' }, 'Add webhook');

  const showError = (field: string | undefined, message: string) => {
    const target = field === 'url' ? urlError : field === 'secret' ? secretError : formError;
    setText(target, message);
    target.hidden = false;
    const control = field === 'url' ? url : field === 'secret' ? secret : null;
    control?.setAttribute('aria-invalid', 'true');
    control?.focus();
  };
  const clearErrors = () => {
    for (const el of [urlError, secretError, formError]) el.hidden = true;
    url.removeAttribute('aria-invalid');
    secret.removeAttribute('aria-invalid');
  };

  const form = h('form', { class: 'toolbar webhook-form', 'data-testid': 'webhook-form', novalidate: true },
    h('div', { class: 'field grow' }, h('label', { for: 'webhook-url' }, 'URL'), url, urlError),
    h('div', { class: 'field' }, h('label', { for: 'webhook-secret' }, 'Signing secret'), secret,
      h('span', { class: 'field-hint', id: 'webhook-secret-hint' }, `${SECRET_MIN}–${SECRET_MAX} characters; shown only now`), secretError),
    h('div', { class: 'toolbar-actions' }, add));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors();
    if (!/^https?:\/\/./i.test(url.value.trim())) return showError('url', 'Enter an http:// or https:// URL');
    if (secret.value.length < SECRET_MIN || secret.value.length > SECRET_MAX) return showError('secret', `The secret takes ${SECRET_MIN} to ${SECRET_MAX} characters`);
    add.disabled = true;
    try {
      await api.createWebhook(url.value.trim(), secret.value);
      url.value = '';
      secret.value = '';
      await load();
    } catch (err) {
      showError(err instanceof ApiError && err.status === 400 ? err.field : undefined, describeError(err));
    } finally {
      add.disabled = false;
    }
  });

  const element = h('section', { class: 'card', 'data-testid': 'webhooks' },
    h('header', { class: 'section-head' }, h('h2', null, 'Webhooks'), status),
    h('p', { class: 'muted section-note' }, 'Each alert that fires or resolves is POSTed as JSON to every webhook, signed with its secret in X-Hub-Signature-256, and retried until it is delivered.'),
    h('div', { class: 'table-wrap phone-cards' },
      h('table', { class: 'data-table', 'data-testid': 'webhook-table' },
        h('thead', null, h('tr', null, h('th', null, 'URL'), h('th', null, 'Added'), h('th', null, 'Last delivery'), h('th', null, h('span', { class: 'visually-hidden' }, 'Actions')))),
        body)),
    form, formError);

  async function row(hook: WebhookView): Promise<HTMLElement> {
    let last: DeliveryView | undefined;
    let failed = '';
    try {
      last = (await api.deliveries(hook.id))[0];
    } catch (err) {
      failed = describeError(err);
    }
    const delivery = failed ? { text: failed, state: 'failing' as const } : describeDelivery(last, zone());
    const remove = h('button', { type: 'button', class: 'button ghost small danger', 'data-testid': `webhook-delete-${hook.id}`, 'aria-label': `delete webhook ${hook.url}` }, 'Delete');
    remove.addEventListener('click', async () => {
      remove.disabled = true;
      try {
        await api.deleteWebhook(hook.id);
        await load();
      } catch (err) {
        showError(undefined, describeError(err));
        remove.disabled = false;
      }
    });
    return h('tr', { 'data-testid': `webhook-row-${hook.id}` },
      h('td', { class: 'mono webhook-url' }, hook.url),
      h('td', null, formatTime(Date.parse(hook.createdAt), zone()).slice(0, 19)),
      h('td', { class: `delivery-${delivery.state}`, 'data-testid': `webhook-delivery-${hook.id}` }, delivery.text),
      h('td', { class: 'num' }, remove));
  }

  async function load(): Promise<void> {
    try {
      const hooks = await api.webhooks();
      const rows = await Promise.all(hooks.map(row));
      body.replaceChildren(...rows, ...(rows.length ? [] : [h('tr', { class: 'more' }, h('td', { colspan: '4' }, 'No webhooks.'))]));
      setText(status, `${hooks.length} webhook${hooks.length === 1 ? '' : 's'}`);
    } catch (err) {
      setText(status, describeError(err));
    }
  }

  return { element, load };
}
