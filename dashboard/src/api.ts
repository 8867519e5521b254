// The hub's REST API as the dashboard uses it. The session is the HttpOnly cookie set by
// POST /login, so nothing here ever holds the operator token after the login form. The answers'
// shapes are the hub's own declaration (wire.ts); a type-only import adds nothing to the bundle.
import type { Rule, RuleInput } from '../../hub/src/alerts/alert-store.ts';
import type { AlertStateView, AlertView, CommandView, DeviceRenameRequest, DeviceView, HistoryResponse, ProvisionedDeviceView } from '../../hub/src/http/wire.ts';

/** A rule as the REST API answers it: the store's rule with its dates as ISO strings. */
export type RuleView = Omit<Rule, 'createdAt' | 'updatedAt'> & { createdAt: string; updatedAt: string };

export interface AlertQueryParams {
  state?: AlertStateView | 'open' | 'all';
  device?: string;
  rule?: number;
  before?: number;
  limit?: number;
}

export interface AlertEventView {
  from: AlertStateView | 'ok';
  to: AlertStateView;
  value: number | null;
  at: string;
}

export interface WebhookView {
  id: number;
  url: string;
  createdAt: string;
}

export interface DeliveryView {
  id: number;
  eventId: number;
  status: 'pending' | 'delivered';
  attempts: number;
  lastError: string | null;
  lastStatus: number | null;
  deliveredAt: string | null;
  createdAt: string;
}

export interface HistoryQuery {
  from: number;
  to: number;
  channel?: string;
  every?: string;
  agg?: string;
}

export class ApiError extends Error {
  /** for a 400 on a form: the request field that is wrong, as the hub names it */
  constructor(readonly status: number, readonly code: string, message: string, readonly field?: string) {
    super(message);
  }
}

/** The hub did not answer at all (stopped, restarting, network down). */
export class HubUnreachable extends Error {}

export type SessionState = 'operator' | 'anonymous' | 'unreachable';

export class Api {
  /** Called on any 401 from an authenticated route: the cookie is gone or the token changed. */
  constructor(private readonly onUnauthorized: () => void) {}

  private async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    try {
      return await fetch(path, { credentials: 'same-origin', ...init });
    } catch {
      throw new HubUnreachable('the hub is not reachable');
    }
  }

  private async request(path: string, init: RequestInit = {}): Promise<Response> {
    const res = await this.fetch(path, init);
    if (res.ok) return res;
    const body = (await res.json().catch(() => null)) as { error?: { code?: string; message?: string; field?: string } } | null;
    const error = new ApiError(res.status, body?.error?.code ?? `HTTP_${res.status}`, body?.error?.message ?? res.statusText, body?.error?.field);
    if (res.status === 401) this.onUnauthorized();
    throw error;
  }

  private async json<T>(path: string, init?: RequestInit): Promise<T> {
    return (await (await this.request(path, init)).json()) as T;
  }

  /** Whether the cookie is good, answered without a 401 (which browsers log as a console error). */
  async session(): Promise<SessionState> {
    let res: Response;
    try {
      res = await this.fetch('/session', { cache: 'no-store' });
    } catch {
      return 'unreachable';
    }
    if (res.ok) return ((await res.json()) as { operator: boolean }).operator ? 'operator' : 'anonymous';
    // A hub mounted without /session: fall back to probing the API.
    try {
      await this.request('/api/devices');
      return 'operator';
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return 'anonymous';
      return 'unreachable';
    }
  }

  /** Resolves false for a wrong token; the form shows that itself rather than "session expired". */
  async login(token: string): Promise<boolean> {
    const res = await this.fetch('/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
    if (res.status === 401) return false;
    if (!res.ok) throw new ApiError(res.status, `HTTP_${res.status}`, 'login failed');
    return true;
  }

  async logout(): Promise<void> {
    await this.fetch('/logout', { method: 'POST' }).catch(() => undefined);
  }

  devices(): Promise<DeviceView[]> {
    return this.json('/api/devices');
  }

  device(id: string): Promise<DeviceView> {
    return this.json(`/api/devices/${encodeURIComponent(id)}`);
  }

  /** Without an id the hub picks one. The answer carries the device's token, which is never shown again. */
  createDevice(body: { id?: string; name?: string }): Promise<ProvisionedDeviceView> {
    return this.json('/api/devices', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  }

  renameDevice(id: string, name: string): Promise<DeviceView> {
    return this.json(`/api/devices/${encodeURIComponent(id)}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name } satisfies DeviceRenameRequest),
    });
  }

  async deleteDevice(id: string): Promise<void> {
    await this.request(`/api/devices/${encodeURIComponent(id)}`, { method: 'DELETE' });
  }

  history(id: string, query: HistoryQuery): Promise<HistoryResponse> {
    return this.json(historyPath(id, query, 'json'));
  }

  /** The CSV export as a blob and the file name the hub suggests. */
  async historyCsv(id: string, query: HistoryQuery): Promise<{ blob: Blob; filename: string }> {
    const res = await this.request(historyPath(id, query, 'csv'));
    const disposition = res.headers.get('content-disposition') ?? '';
    const filename = /filename="([^"]+)"/.exec(disposition)?.[1] ?? `${id}-readings.csv`;
    return { blob: await res.blob(), filename };
  }

  /** The 202 answer promises only id and status (the hub sends the whole view today). */
  sendCommand(id: string, body: { name: string; args: Record<string, unknown>; timeoutMs: number }): Promise<Pick<CommandView, 'id' | 'status'> & Partial<CommandView>> {
    return this.json(`/api/devices/${encodeURIComponent(id)}/commands`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  }

  /** Newest first. */
  recentCommands(id: string): Promise<CommandView[]> {
    return this.json(`/api/devices/${encodeURIComponent(id)}/commands`);
  }

  command(id: string, commandId: string | number): Promise<CommandView> {
    return this.json(`/api/devices/${encodeURIComponent(id)}/commands/${encodeURIComponent(String(commandId))}`);
  }

  private send<T>(method: string, path: string, body?: unknown): Promise<T> {
    if (body === undefined) return this.json(path, { method });
    return this.json(path, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  }

  async rules(): Promise<RuleView[]> {
    return (await this.json<{ rules: RuleView[] }>('/api/rules')).rules;
  }

  rule(id: number): Promise<RuleView> {
    return this.json(`/api/rules/${id}`);
  }

  /** A 400 names the wrong field in ApiError.field. */
  saveRule(input: RuleInput, id?: number): Promise<RuleView> {
    return id === undefined ? this.send('POST', '/api/rules', input) : this.send('PUT', `/api/rules/${id}`, input);
  }

  async deleteRule(id: number): Promise<void> {
    await this.request(`/api/rules/${id}`, { method: 'DELETE' });
  }

  /** Newest first; `next` is the `before` of the following page, null after the last. */
  alerts(query: AlertQueryParams): Promise<{ alerts: AlertView[]; next: number | null }> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== '') params.set(key, String(value));
    return this.json(`/api/alerts?${params}`);
  }

  alert(id: number): Promise<{ alert: AlertView; events: AlertEventView[] }> {
    return this.json(`/api/alerts/${id}`);
  }

  ackAlert(id: number): Promise<AlertView> {
    return this.send('POST', `/api/alerts/${id}/ack`);
  }

  /** forMs 0 ends a silence. */
  silenceAlert(id: number, forMs: number): Promise<AlertView> {
    return this.send('POST', `/api/alerts/${id}/silence`, { forMs });
  }

  async webhooks(): Promise<WebhookView[]> {
    return (await this.json<{ webhooks: WebhookView[] }>('/api/webhooks')).webhooks;
  }

  createWebhook(url: string, secret: string): Promise<WebhookView> {
    return this.send('POST', '/api/webhooks', { url, secret });
  }

  async deleteWebhook(id: number): Promise<void> {
    await this.request(`/api/webhooks/${id}`, { method: 'DELETE' });
  }

  /** Newest first. */
  async deliveries(id: number): Promise<DeliveryView[]> {
    return (await this.json<{ deliveries: DeliveryView[] }>(`/api/webhooks/${id}/deliveries`)).deliveries;
  }
}

export function historyPath(id: string, query: HistoryQuery, format: 'json' | 'csv'): string {
  const params = new URLSearchParams({ from: String(Math.floor(query.from)), to: String(Math.ceil(query.to)) });
  if (query.channel) params.set('channel', query.channel);
  if (query.every) {
    params.set('every', query.every);
    params.set('agg', query.agg ?? 'mean');
  }
  if (format === 'csv') params.set('format', 'csv');
  return `/api/devices/${encodeURIComponent(id)}/readings?${params}`;
}
