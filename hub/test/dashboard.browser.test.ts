// The dashboard in real headless Chromium against a real hub and a simulated device: login, live
// status and charts, history and CSV export, commands, and surviving a hub restart, all under the
// page's CSP and with a clean console.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceClient } from '../../device-sim/src/device-client.ts';
import type { Sample } from '../src/protocol/index.ts';
import { startTestHub, waitFor, type TestHub } from './support/hub-fixture.ts';
import { waitForTestIdText } from './support/browser.ts';
import { hasRealPart } from './support/real-parts.ts';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = fileURLToPath(new URL('../../docs/dashboard.png', import.meta.url));
const DEVICE = 'greenhouse-1';

interface Sent {
  channel: string;
  time: number;
  value: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Four channels (TEST_CHANNELS) for sample index i; `count` is i itself so history is easy to check. */
function samplesAt(i: number, offset: number, sent: Sent[], time: number): Sample[] {
  const temperature = Math.fround(21 + 1.6 * Math.sin(i / 35) + 0.35 * Math.sin(i / 6.3));
  const humidity = 52 + 7 * Math.sin(i / 140 + 1) + 0.8 * Math.cos(i / 11);
  sent.push({ channel: 'count', time, value: i });
  return [
    { channel: 1, type: 'f32', offset, value: temperature },
    { channel: 2, type: 'f64', offset, value: humidity },
    { channel: 3, type: 'i32', offset, value: i },
    { channel: 4, type: 'bool', offset, value: Math.floor(i / 230) % 2 === 1 },
  ];
}

describe.runIf(hasRealPart(CHROMIUM))('dashboard in headless Chromium', () => {
  let hub: TestHub;
  let browser: Browser;
  let page: Page;
  let token: string;
  let device: DeviceClient;
  let index = 0;
  const sentCount: Sent[] = [];
  /** console errors, uncaught exceptions and CSP violations; must stay empty */
  const problems: string[] = [];
  /** while the hub is deliberately down, failed connections are the expected outcome */
  let outage = false;
  /** while the test takes the session cookie away */
  let expected401 = false;

  const byTestId = (id: string) => page.getByTestId(id);
  const waitText = async (id: string, text: string | RegExp, timeout = 5000): Promise<void> => void (await waitForTestIdText(page, id, text, timeout));


  beforeAll(async () => {
    // The hub is restarted on the same port and data dir later, so this one keeps its dir.
    hub = await startTestHub({ keepDataDir: true });
    token = await hub.provision(DEVICE);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    });
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
    page = await context.newPage();
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (message) => {
      if (message.type() !== 'error') return;
      const text = message.text();
      const url = message.location().url ?? '';
      // Browsers log every failed request; these are the ones the test itself provokes.
      if (/status of 401/.test(text) && (url.endsWith('/login') || expected401)) return;
      if (outage && !/Content.Security.Policy|Refused to/i.test(text) && /ERR_CONNECTION_REFUSED|WebSocket connection to .* failed|Failed to load resource|Failed to fetch/i.test(text)) return;
      problems.push(`console error: ${text} (${url})`);
    });
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => {
        const w = window as unknown as { cspViolations?: string[] };
        (w.cspViolations ??= []).push(`${e.violatedDirective} blocked ${e.blockedURI}`);
      });
    });
  });

  afterAll(async () => {
    await browser?.close();
    await hub?.stop();
  });

  it('refuses a wrong token and shows the device list for the right one', async () => {
    await page.goto(hub.url + '/');
    await byTestId('login-form').waitFor();
    await byTestId('login-token').fill('not-the-token');
    await byTestId('login-submit').click();
    await waitText('login-error', /not right/);
    expect(await byTestId('device-list').count()).toBe(0);

    await byTestId('login-token').fill(hub.adminToken);
    await byTestId('login-submit').click();
    await byTestId(`device-row-${DEVICE}`).waitFor();
    await waitText(`status-${DEVICE}`, 'offline');
    expect(await byTestId('login-form').count()).toBe(0);
    expect(await byTestId('logout').isVisible()).toBe(true);
  });

  it('shows a device online within a second of connecting, with its firmware and data loss', async () => {
    // While offline the device keeps only its newest frame, so two never reach the hub (2 sequence
    // gaps), and that frame carries a sample for a channel it never announced (1 rejected).
    device = hub.device(DEVICE, token, { firmware: 'sim-2.4.1', maxUnacked: 1 });
    const t = Date.now() - 120_000;
    device.sendReadings([{ channel: 2, type: 'f64', offset: 0, value: 50 }], t);
    device.sendReadings([{ channel: 2, type: 'f64', offset: 0, value: 51 }], t + 100);
    device.sendReadings([{ channel: 2, type: 'f64', offset: 0, value: 52 }, { channel: 9, type: 'f64', offset: 0, value: 1 }], t + 200);
    await device.connect();
    await waitText(`status-${DEVICE}`, 'online', 1000);
    await waitText(`firmware-${DEVICE}`, 'sim-2.4.1');
    await waitText(`loss-${DEVICE}`, '3', 7000);
    const loss = byTestId(`loss-${DEVICE}`);
    expect([await loss.getAttribute('data-gaps'), await loss.getAttribute('data-rejected')]).toEqual(['2', '1']);
  });

  it('draws live readings per channel on the device page', async () => {
    await byTestId(`device-link-${DEVICE}`).click();
    await byTestId('device-page').waitFor();
    for (const name of ['temperature', 'humidity', 'count', 'door']) await byTestId(`live-chart-${name}`).waitFor();
    await waitText('device-status', 'online');

    const draws = () => page.evaluate(() => Number(document.querySelector('[data-testid="live-chart-temperature"]')?.getAttribute('data-draws') ?? 0));
    await page.locator('[data-testid="live-charts"][data-seeded="true"]').waitFor();
    const drawsBefore = await draws();

    // The last 55 s at 20 Hz in a burst of frames, as a device catching up would send them...
    const from = Date.now() - 55_000;
    const burst = 22;
    for (let frame = 0; frame < burst; frame++) {
      const samples: Sample[] = [];
      for (let k = 0; k < 50; k++, index++) samples.push(...samplesAt(index, index * 50, sentCount, from + index * 50));
      device.sendReadings(samples, from);
    }
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="live-chart-count"]')?.getAttribute('data-points')) >= 1100);
    // batched per animation frame, not drawn per message
    expect((await draws()) - drawsBefore).toBeLessThan(burst / 2);

    // ...then live at 50 Hz.
    for (let k = 0; k < 60; k++, index++) {
      const now = Date.now();
      device.sendReadings(samplesAt(index, 0, sentCount, now), now);
      await sleep(20);
    }
    await waitText('latest-count', String(sentCount.at(-1)!.value));
    await page.waitForFunction((n) => Number(document.querySelector('[data-testid="live-chart-count"]')?.getAttribute('data-points')) === n, sentCount.length);
    await waitText('device-rate', /^\d+(\.\d)?\/s$/, 3000);
    if (!existsSync(SCREENSHOT) || process.env.DASHBOARD_SCREENSHOT === '1') {
      await page.mouse.move(0, 0);
      await page.screenshot({ path: SCREENSHOT });
    }

    // one more reading: the readout and the chart follow it
    const before = Number(await byTestId('live-chart-temperature').getAttribute('data-points'));
    const now = Date.now();
    device.sendReadings([{ channel: 1, type: 'f32', offset: 0, value: 30.5 }], now);
    await waitText('latest-temperature', '30.50');
    await page.waitForFunction((n) => Number(document.querySelector('[data-testid="live-chart-temperature"]')?.getAttribute('data-points')) > n, before);

    // the chart has actually painted its series (the temperature colour, #4493f8)
    const painted = await page.evaluate(() => {
      const canvas = document.querySelector<HTMLCanvasElement>('[data-testid="live-chart-temperature"] canvas')!;
      const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
      let n = 0;
      for (let i = 0; i < data.length; i += 4) {
        if (Math.abs(data[i] - 0x44) < 24 && Math.abs(data[i + 1] - 0x93) < 24 && Math.abs(data[i + 2] - 0xf8) < 24 && data[i + 3] > 200) n++;
      }
      return n;
    });
    expect(painted).toBeGreaterThan(200);
    await device.waitAcked();
  });

  it('loads history and downloads exactly the stored rows as CSV', async () => {
    await byTestId('history-channel').selectOption('count');
    await byTestId('history-preset').selectOption({ label: 'Last 15 min' });
    await byTestId('history-every').selectOption('');
    await byTestId('history-load').click();
    await waitText('history-summary', /points · raw/);
    const summary = (await byTestId('history-summary').textContent())!.replace(/,/g, '');
    expect(summary).toContain(`${sentCount.length} points`);
    const rows = await page.$$eval('[data-testid="history-row"]', (trs) =>
      trs.map((tr) => ({ channel: tr.getAttribute('data-channel')!, time: Number(tr.getAttribute('data-time')), value: Number(tr.getAttribute('data-value')) })));
    expect(rows).toEqual(sentCount.slice(0, rows.length));
    expect(rows.length).toBe(200);
    expect(Number(await byTestId('history-chart').getAttribute('data-points'))).toBe(sentCount.length);
    expect(await page.locator('[data-testid="history-chart"] canvas').count()).toBeGreaterThan(0);

    // the hub writes UTC, and so does the download once the page shows UTC
    await byTestId('history-zone').selectOption('utc');
    const [download] = await Promise.all([page.waitForEvent('download'), byTestId('history-csv').click()]);
    expect(download.suggestedFilename()).toBe(`${DEVICE}-readings.csv`);
    const csv = readFileSync((await download.path())!, 'utf8').trimEnd().split('\n');
    expect(csv[0]).toBe('time,channel,value');
    expect(csv.slice(1)).toEqual(sentCount.map((s) => `${new Date(s.time).toISOString()},count,${s.value}`));

    // aggregated per minute: the counts add up to what was sent
    await byTestId('history-every').selectOption('1m');
    await byTestId('history-agg').selectOption('count');
    await byTestId('history-load').click();
    await waitText('history-summary', /count per 1m/);
    const counts = await page.$$eval('[data-testid="history-row"]', (trs) => trs.map((tr) => Number(tr.getAttribute('data-value'))));
    expect(counts.length).toBeGreaterThanOrEqual(1);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(sentCount.length);
  });

  it('sends a command and follows it to its result', async () => {
    const probe = await hub.api(`/api/devices/${DEVICE}/commands`);
    if (probe.status === 404) {
      await waitText('command-message', 'Commands are not available on this hub.');
      return;
    }
    await byTestId('command-name').fill('ping');
    await byTestId('command-args').fill('{"n": 7}');
    await byTestId('command-timeout').fill('3000');
    await byTestId('command-send').click();
    await page.locator('[data-testid="command-row"][data-status="succeeded"]').waitFor({ timeout: 5000 });
    expect(await page.locator('[data-testid="command-row"] [data-testid="command-result"]').first().textContent()).toContain('"n":7');

    await byTestId('command-args').fill('[1, 2]');
    await byTestId('command-send').click();
    await waitText('command-message', /JSON object/);
  });

  it('shows the device offline within a second of disconnecting', async () => {
    await byTestId('back').click();
    await byTestId(`device-row-${DEVICE}`).waitFor();
    await waitText(`status-${DEVICE}`, 'online');
    await device.close();
    await waitText(`status-${DEVICE}`, 'offline', 1000);
  });

  it('shows "reconnecting" while the hub is down and picks up again on a new hub', async () => {
    // a fresh device page starts its charts with the last minute from the store
    await byTestId(`device-link-${DEVICE}`).click();
    await page.locator('[data-testid="live-charts"][data-seeded="true"]').waitFor();
    await waitText('latest-temperature', '30.50');
    expect(Number(await byTestId('live-chart-count').getAttribute('data-points'))).toBeGreaterThan(100);
    await waitText('connection', 'live');
    const { port, dataDir } = hub;

    // each reconnect attempt first asks for /session; while the hub is down that request fails
    let failedAttempts = 0;
    const countFailedAttempt = (request: { url(): string }) => {
      if (new URL(request.url()).pathname === '/session') failedAttempts++;
    };
    page.on('requestfailed', countFailedAttempt);
    outage = true;
    await hub.stop();
    await byTestId('reconnecting').waitFor({ state: 'visible', timeout: 3000 });
    expect(await byTestId('reconnecting').textContent()).toMatch(/reconnecting/i);
    // a few failed attempts, so recovery comes from the retry loop
    await waitFor(() => failedAttempts >= 3, 'three failed reconnect attempts');
    page.off('requestfailed', countFailedAttempt);

    hub = await startTestHub({ port, dataDir });
    await byTestId('reconnecting').waitFor({ state: 'hidden', timeout: 8000 });
    await waitText('connection', 'live');
    outage = false;

    // the page subscribed again: a reading on the new hub reaches the chart
    device = hub.device(DEVICE, token, { firmware: 'sim-2.4.2' });
    await device.connect();
    await waitText('device-status', 'online', 1000);
    device.sendReadings([{ channel: 1, type: 'f32', offset: 0, value: 42.75 }], Date.now());
    await waitText('latest-temperature', '42.75');

    // and the list was refreshed from the new hub
    await byTestId('back').click();
    await waitText(`status-${DEVICE}`, 'online');
    await waitText(`firmware-${DEVICE}`, 'sim-2.4.2');
  });

  it('returns to the login form when the API answers 401', async () => {
    await page.context().clearCookies();
    expected401 = true;
    // Open the device page (it asks for recent history) by its address rather than by a click: the
    // list's own 5 s refresh may meet the 401 first and put the login form in place of the link.
    await page.evaluate((id) => { location.hash = `#/device/${id}`; }, DEVICE);
    await byTestId('login-form').waitFor();
    await waitText('login-error', /session has ended/);
    expect(await byTestId('logout').isVisible()).toBe(false);
    expected401 = false;
    await byTestId('login-token').fill(hub.adminToken);
    await byTestId('login-submit').click();
    await byTestId('device-page').waitFor();
  });

  it('logs out back to the login form', async () => {
    await byTestId('logout').click();
    await byTestId('login-form').waitFor();
    const res = await page.evaluate(async () => (await fetch('/session')).json());
    expect(res).toEqual({ operator: false });
  });

  it('had no console errors, page errors or CSP violations', async () => {
    const violations = await page.evaluate(() => (window as unknown as { cspViolations?: string[] }).cspViolations ?? []);
    expect(violations).toEqual([]);
    expect(problems).toEqual([]);
    if (existsSync(SCREENSHOT)) expect(readFileSync(SCREENSHOT).length).toBeLessThan(500 * 1024);
  });
});
