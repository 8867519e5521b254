// Dashboard entry: session check, login, hash routing (#/, #/device/<id>, #/fleet[/<channel>], #/alerts and
// #/rules[/new|/<id>]), and what all views share: the live connection, the devices and the open alerts.
import { AlertFeed, SEVERITY_RANK, type Severity } from './alert-feed.ts';
import { alertPageView } from './alert-page.ts';
import { Api } from './api.ts';
import { deviceListView } from './device-list.ts';
import { devicePageView } from './device-page.ts';
import { fleetView } from './fleet-view.ts';
import { DeviceStore } from './device-store.ts';
import { byTestId, setText } from './dom.ts';
import { LiveClient, type LiveState } from './live-client.ts';
import { loginView } from './login-view.ts';
import { parseRuleRoute, rulePageView } from './rule-page.ts';
import type { View } from './view.ts';

const main = document.getElementById('main')!;
const banner = byTestId(document, 'reconnecting');
const logoutButton = byTestId<HTMLButtonElement>(document, 'logout');
const connection = byTestId(document, 'connection');
const navAlerts = byTestId<HTMLAnchorElement>(document, 'nav-alerts');
const alertCount = byTestId(document, 'alert-count');

interface Session {
  live: LiveClient;
  store: DeviceStore;
  alerts: AlertFeed;
  view: View | null;
}

let session: Session | null = null;
const api = new Api(() => endSession('Your session has ended; sign in again.'));

function showState(state: LiveState): void {
  banner.hidden = state !== 'reconnecting';
  connection.hidden = state === 'stopped';
  connection.setAttribute('data-state', state);
  setText(connection, state === 'open' ? 'live' : state === 'reconnecting' ? 'offline' : 'connecting');
}

/** The header's count of open alerts, in the colour of the most severe firing one (or pending, outlined). */
function showAlertCount(feed: AlertFeed): void {
  let firing: Severity | null = null;
  let pending: Severity | null = null;
  for (const a of feed.open.values()) {
    if (a.state === 'firing') firing = !firing || SEVERITY_RANK[a.severity] > SEVERITY_RANK[firing] ? a.severity : firing;
    else pending = !pending || SEVERITY_RANK[a.severity] > SEVERITY_RANK[pending] ? a.severity : pending;
  }
  const count = feed.open.size;
  setText(alertCount, String(count));
  alertCount.hidden = count === 0;
  alertCount.setAttribute('data-severity', firing ?? pending ?? '');
  alertCount.setAttribute('data-state', firing ? 'firing' : 'pending');
  navAlerts.setAttribute('aria-label', count ? `Alerts: ${count} open` : 'Alerts: none open');
}

function route(): void {
  if (!session) return;
  session.view?.dispose();
  const { store, live, alerts } = session;
  const match = /^#\/device\/(.+)$/.exec(location.hash);
  const fleet = /^#\/fleet(?:\/(.+))?$/.exec(location.hash);
  const rules = parseRuleRoute(location.hash);
  const view = match
    ? devicePageView(decodeURIComponent(match[1]), api, store, live, alerts)
    : fleet
      ? fleetView(api, store, live, fleet[1] && decodeURIComponent(fleet[1]))
      : rules
        ? rulePageView(api, store, rules)
        : /^#\/alerts\/?$/.test(location.hash)
          ? alertPageView(api, store, alerts, live)
          : deviceListView(store, live, alerts);
  session.view = view;
  main.replaceChildren(view.element);
  document.title = `${view.title} · Telemetry Hub`;
  window.scrollTo(0, 0);
}

function startSession(): void {
  if (session) return;
  const live = new LiveClient({
    // counters=1: the hub pushes every device's status and counter changes, so nothing is polled
    url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws/live?counters=1`,
    session: () => api.session(),
    onUnauthorized: () => endSession('Your session has ended; sign in again.'),
    onState: showState,
    onReconnected: () => {
      session?.store.reload().catch(() => undefined);
      session?.alerts.reload().catch(() => undefined);
      session?.view?.reconnected?.();
    },
  });
  const alerts = new AlertFeed(api, live);
  alerts.on(() => showAlertCount(alerts));
  session = { live, store: new DeviceStore(api, live), alerts, view: null };
  logoutButton.hidden = false;
  navAlerts.hidden = false;
  live.start();
  alerts.reload().catch(() => undefined);
  route();
}

function endSession(notice?: string): void {
  if (session) {
    session.view?.dispose();
    session.store.dispose();
    session.alerts.dispose();
    session.live.stop();
    session = null;
  }
  logoutButton.hidden = true;
  navAlerts.hidden = true;
  showState('stopped');
  document.title = 'Sign in · Telemetry Hub';
  main.replaceChildren(loginView(api, startSession, notice));
}

logoutButton.addEventListener('click', async () => {
  await api.logout();
  endSession();
});
window.addEventListener('hashchange', route);

async function boot(attempt = 0): Promise<void> {
  const state = await api.session();
  if (state === 'operator') return startSession();
  if (state === 'anonymous') return endSession();
  // The hub is restarting or unreachable: keep trying rather than show a dead page.
  banner.hidden = false;
  setTimeout(() => void boot(attempt + 1), Math.min(3000, 250 * 2 ** attempt));
}

void boot();
