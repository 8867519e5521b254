// /api/rules, /api/alerts and /api/webhooks: the operator's side of alerting. Rules change through
// the alert service (so evaluation follows at once); alerts, events and webhooks are read from the
// alert store directly.
import type { Context, Hono } from 'hono';
import type { AlertQuery, AlertState, AlertStore, OutboxEntry, Rule, Webhook } from '../alerts/alert-store.ts';
import type { AlertService } from '../alerts/alert-service.ts';
import { alertView } from '../alerts/alert-view.ts';
import { parseRuleInput } from '../alerts/rule-input.ts';
import { parseWebhookInput } from '../alerts/webhook-signature.ts';
import { HttpError } from './http-error.ts';

export interface AlertRoutesOptions {
  alerts: AlertService;
  store: AlertStore;
  /** a webhook was added: deliver what is due to it now */
  webhooksChanged?(): void;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function ruleView(rule: Rule) {
  return { ...rule, createdAt: iso(rule.createdAt), updatedAt: iso(rule.updatedAt) };
}

/** A webhook as the API shows it: the secret is never shown again after it was set. */
function webhookView(webhook: Webhook) {
  return { id: webhook.id, url: webhook.url, createdAt: iso(webhook.createdAt) };
}

function deliveryView(entry: OutboxEntry) {
  return {
    id: entry.id, eventId: entry.eventId, status: entry.status, attempts: entry.attempts,
    lastError: entry.lastError, lastStatus: entry.lastStatus,
    nextAttemptAt: entry.status === 'pending' ? iso(entry.nextAttemptAt) : null,
    deliveredAt: iso(entry.deliveredAt), createdAt: iso(entry.createdAt),
  };
}

const STATES: readonly (AlertQuery['state'] & string)[] = ['open', 'pending', 'firing', 'resolved', 'cancelled', 'all'];
const MAX_PAGE = 1000;

/** A positive integer id from the path, or 404 (an id that cannot exist names nothing). */
function idParam(c: Context, what: string): number {
  const raw = c.req.param('id') ?? '';
  const id = /^[1-9][0-9]{0,15}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(id)) throw new HttpError('HUB_ERR_NOT_FOUND', `no ${what} ${JSON.stringify(raw)}`);
  return id;
}

function positiveInt(value: string | undefined, name: string, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = /^[0-9]{1,16}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > max) throw new BadField(name, `${name} must be an integer from 1 to ${max}`);
  return n;
}

/** A 400 that names the field, so a form can show the message beside it. */
class BadField extends HttpError {
  constructor(readonly field: string, message: string) {
    super('HUB_ERR_BAD_REQUEST', message);
  }
  override toJSON() {
    return { error: { code: this.code, message: this.message, field: this.field } };
  }
}

async function jsonBody(c: Context): Promise<unknown> {
  const body = await c.req.json().catch(() => undefined);
  if (body === undefined) throw new BadField('body', 'the body must be JSON');
  return body;
}

function parsedRule(body: unknown) {
  const parsed = parseRuleInput(body);
  if (!parsed.ok) throw new BadField(parsed.field, parsed.message);
  return parsed.rule;
}

export function mountAlertRoutes(app: Hono, options: AlertRoutesOptions): void {
  const { alerts, store } = options;
  const ruleNames = async () => new Map((await store.listRules()).map((r) => [r.id, r.name]));
  // alerts keep the name their rule had when they opened (the rule may be gone since)
  const view = async (alert: Parameters<typeof alertView>[0]) => alertView(alert, (await store.getRule(alert.ruleId))?.name ?? alert.ruleName);

  app.get('/api/rules', async (c) => c.json({ rules: (await alerts.listRules()).map(ruleView) }));

  app.post('/api/rules', async (c) => {
    const rule = await alerts.createRule(parsedRule(await jsonBody(c)));
    return c.json(ruleView(rule), 201);
  });

  app.get('/api/rules/:id', async (c) => {
    const rule = await alerts.getRule(idParam(c, 'rule'));
    if (!rule) throw new HttpError('HUB_ERR_NOT_FOUND', `no rule ${c.req.param('id')}`);
    return c.json(ruleView(rule));
  });

  app.put('/api/rules/:id', async (c) => {
    const id = idParam(c, 'rule');
    const rule = await alerts.updateRule(id, parsedRule(await jsonBody(c)));
    if (!rule) throw new HttpError('HUB_ERR_NOT_FOUND', `no rule ${id}`);
    return c.json(ruleView(rule));
  });

  app.delete('/api/rules/:id', async (c) => {
    const id = idParam(c, 'rule');
    if (!(await alerts.deleteRule(id))) throw new HttpError('HUB_ERR_NOT_FOUND', `no rule ${id}`);
    return c.body(null, 204);
  });

  app.get('/api/alerts', async (c) => {
    const state = c.req.query('state') ?? 'all';
    if (!STATES.includes(state as AlertState)) throw new BadField('state', `state must be one of ${STATES.join(', ')}`);
    const limit = positiveInt(c.req.query('limit'), 'limit', MAX_PAGE) ?? 100;
    const query: AlertQuery = {
      state: state as AlertQuery['state'],
      deviceId: c.req.query('device') || undefined,
      ruleId: positiveInt(c.req.query('rule'), 'rule', Number.MAX_SAFE_INTEGER),
      beforeId: positiveInt(c.req.query('before'), 'before', Number.MAX_SAFE_INTEGER),
      // one more than asked tells whether there is a next page
      limit: limit + 1,
    };
    const found = await store.listAlerts(query);
    const page = found.slice(0, limit);
    const names = await ruleNames();
    return c.json({
      alerts: page.map((a) => alertView(a, names.get(a.ruleId) ?? a.ruleName)),
      next: found.length > limit ? page[page.length - 1].id : null,
    });
  });

  app.get('/api/alerts/:id', async (c) => {
    const id = idParam(c, 'alert');
    const alert = await store.getAlert(id);
    if (!alert) throw new HttpError('HUB_ERR_NOT_FOUND', `no alert ${id}`);
    const events = (await store.events(id)).map((e) => ({ id: e.id, from: e.from, to: e.to, value: e.value, at: iso(e.at) }));
    return c.json({ alert: await view(alert), events });
  });

  app.post('/api/alerts/:id/ack', async (c) => {
    const id = idParam(c, 'alert');
    const alert = await alerts.acknowledge(id);
    if (!alert) throw new HttpError('HUB_ERR_NOT_FOUND', `no alert ${id}`);
    return c.json(await view(alert));
  });

  app.post('/api/alerts/:id/silence', async (c) => {
    const id = idParam(c, 'alert');
    const body = await jsonBody(c);
    const forMs = (body as { forMs?: unknown } | null)?.forMs;
    if (typeof forMs !== 'number' || !Number.isInteger(forMs) || forMs < 0 || forMs > 30 * 86_400_000) {
      throw new BadField('forMs', 'forMs must be an integer number of milliseconds from 0 (end the silence) to 30 days');
    }
    const alert = await alerts.silence(id, forMs);
    if (!alert) throw new HttpError('HUB_ERR_NOT_FOUND', `no alert ${id}`);
    return c.json(await view(alert));
  });

  app.get('/api/webhooks', async (c) => c.json({ webhooks: (await store.listWebhooks()).map(webhookView) }));

  app.post('/api/webhooks', async (c) => {
    const parsed = parseWebhookInput(await jsonBody(c));
    if (!parsed.ok) throw new BadField(parsed.field, parsed.message);
    const webhook = await store.createWebhook({ url: parsed.url, secret: parsed.secret }, Date.now());
    options.webhooksChanged?.();
    return c.json(webhookView(webhook), 201);
  });

  app.delete('/api/webhooks/:id', async (c) => {
    const id = idParam(c, 'webhook');
    if (!(await store.deleteWebhook(id))) throw new HttpError('HUB_ERR_NOT_FOUND', `no webhook ${id}`);
    return c.body(null, 204);
  });

  app.get('/api/webhooks/:id/deliveries', async (c) => {
    const id = idParam(c, 'webhook');
    if (!(await store.getWebhook(id))) throw new HttpError('HUB_ERR_NOT_FOUND', `no webhook ${id}`);
    const limit = positiveInt(c.req.query('limit'), 'limit', MAX_PAGE) ?? 50;
    return c.json({ deliveries: (await store.deliveries(id, limit)).map(deliveryView) });
  });
}
