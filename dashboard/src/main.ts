// Dashboard entry: session check, login, hash routing (#/, #/device/<id> and #/fleet[/<channel>]), and the live
// connection shared by all views.
import { Api } from './api.ts';
import { deviceListView } from './device-list.ts';
import { devicePageView } from './device-page.ts';
import { fleetView } from './fleet-view.ts';
import { DeviceStore } from './device-store.ts';
import { byTestId, setText } from './dom.ts';
import { LiveClient, type LiveState } from './live-client.ts';
import { loginView } from './login-view.ts';
import type { View } from './view.ts';

const main = document.getElementById('main')!;
const banner = byTestId(document, 'reconnecting');
const logoutButton = byTestId<HTMLButtonElement>(document, 'logout');
const connection = byTestId(document, 'connection');

interface Session {
  live: LiveClient;
  store: DeviceStore;
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

function route(): void {
  if (!session) return;
  session.view?.dispose();
  const match = /^#\/device\/(.+)$/.exec(location.hash);
  const fleet = /^#\/fleet(?:\/(.+))?$/.exec(location.hash);
  const view = match
    ? devicePageView(decodeURIComponent(match[1]), api, session.store, session.live)
    : fleet
      ? fleetView(api, session.store, fleet[1] && decodeURIComponent(fleet[1]))
      : deviceListView(session.store, session.live);
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
      session?.view?.reconnected?.();
    },
  });
  session = { live, store: new DeviceStore(api, live), view: null };
  logoutButton.hidden = false;
  live.start();
  route();
}

function endSession(notice?: string): void {
  if (session) {
    session.view?.dispose();
    session.store.dispose();
    session.live.stop();
    session = null;
  }
  logoutButton.hidden = true;
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
