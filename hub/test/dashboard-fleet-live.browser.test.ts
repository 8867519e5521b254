// Compare devices, live, in real headless Chromium against a real hub and devices streaming over
// real WebSockets: three picked devices' lines grow as readings arrive, one legend entry each; a
// device that stops keeps its line where it ended and is marked stale with its age while the others
// go on; the page subscribes only the picked devices' channel, follows new picks, and unsubscribes
// when it goes back to history or is left.
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceClient } from '../../device-sim/src/device-client.ts';
import type { LiveSubscribe } from '../src/http/wire.ts';
import { waitForTestIdText } from './support/browser.ts';
import { startTestHub, waitFor, type TestHub } from './support/hub-fixture.ts';
import { hasRealPart } from './support/real-parts.ts';

const CHROMIUM = '/usr/bin/chromium';
const IDS = ['rack-1', 'rack-2', 'rack-3'];
/** each device sends a temperature reading this often */
const EVERY_MS = 250;

describe.runIf(hasRealPart(CHROMIUM))('compare devices live, in headless Chromium', () => {
  let hub: TestHub;
  let browser: Browser;
  let page: Page;
  const streams = new Map<string, ReturnType<typeof setInterval>>();
  const devices = new Map<string, DeviceClient>();
  /** console errors, uncaught exceptions; must stay empty */
  const problems: string[] = [];
  /** the subscriptions the page sent, oldest first */
  const subscriptions: LiveSubscribe[] = [];
  /** readings messages the page received, per device */
  const received = new Map<string, number>();

  const points = async (id: string) => Number(await page.getByTestId(`fleet-entry-${id}`).getAttribute('data-points'));
  const lastTime = async (id: string) => Number(await page.getByTestId(`fleet-entry-${id}`).getAttribute('data-last'));
  const lastSubscription = () => subscriptions.at(-1);

  function stream(id: string): void {
    const device = devices.get(id)!;
    let i = 0;
    streams.set(id, setInterval(() => {
      device.sendReadings([{ channel: 1, type: 'f32', offset: 0, value: Math.fround(20 + IDS.indexOf(id) + (i++ % 10) / 10) }], Date.now());
    }, EVERY_MS));
  }

  beforeAll(async () => {
    hub = await startTestHub();
    for (const id of [...IDS, 'spare-1']) {
      const device = hub.device(id, await hub.provision(id));
      await device.connect();
      devices.set(id, device);
      stream(id);
    }
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    });
    page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
    });
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => {
        const w = window as unknown as { cspViolations?: string[] };
        (w.cspViolations ??= []).push(`${e.violatedDirective} blocked ${e.blockedURI}`);
      });
    });
    page.on('websocket', (ws) => {
      if (!ws.url().includes('/ws/live')) return;
      ws.on('framesent', ({ payload }) => {
        if (typeof payload === 'string' && payload.includes('"subscribe"')) subscriptions.push(JSON.parse(payload) as LiveSubscribe);
      });
      ws.on('framereceived', ({ payload }) => {
        if (typeof payload !== 'string' || !payload.startsWith('{"type":"readings"')) return;
        const { deviceId } = JSON.parse(payload) as { deviceId: string };
        received.set(deviceId, (received.get(deviceId) ?? 0) + 1);
      });
    });
    await page.goto(hub.url + '/');
    await page.getByTestId('login-token').fill(hub.adminToken);
    await page.getByTestId('login-submit').click();
    await page.getByTestId('logout').waitFor();
  });

  afterAll(async () => {
    for (const timer of streams.values()) clearInterval(timer);
    await browser?.close();
    await hub?.stop();
  });

  it('is one click from history: three picked devices, a line and a legend entry each, growing as readings arrive', async () => {
    await page.evaluate(() => { location.hash = '#/fleet/temperature'; });
    await page.getByTestId('fleet-page').waitFor();
    await page.getByTestId('fleet-filter').fill('rack-');
    await page.getByTestId('fleet-pick-rack-3').waitFor();
    // history stays the default
    expect(await page.getByTestId('fleet-preset').inputValue()).toBe('3600000');
    expect(await page.getByTestId('fleet-live').getAttribute('aria-pressed')).toBe('false');
    await page.waitForFunction(() => document.querySelector('[data-testid="fleet-chart"]')?.getAttribute('data-series') === '3');

    await page.getByTestId('fleet-live').click();
    expect(await page.getByTestId('fleet-preset').inputValue()).toBe('live');
    expect(await page.getByTestId('fleet-live').getAttribute('aria-pressed')).toBe('true');
    await page.locator('[data-testid="fleet-live-chart"][data-series="3"]').waitFor();
    expect(await page.locator('[data-testid^="fleet-entry-"]').count()).toBe(3);
    expect(await page.getByTestId('fleet-legend').textContent()).toMatch(/rack-1.*rack-2.*rack-3/);
    // only the picked devices, only the channel shown
    await waitFor(() => lastSubscription()?.devices.length === 3, 'the live subscription');
    expect(lastSubscription()).toEqual({ type: 'subscribe', devices: IDS, channels: ['temperature'] });

    const before = await Promise.all(IDS.map(points));
    await page.waitForFunction(([ids, counts]) => ids.every((id, i) => Number(document.querySelector(`[data-testid="fleet-entry-${id}"]`)?.getAttribute('data-points')) >= counts[i] + 8), [IDS, before] as const);
    for (const [i, id] of IDS.entries()) expect(await points(id), id).toBeGreaterThanOrEqual(before[i] + 8);
    // the time axis ends at now
    const xMax = Number(await page.getByTestId('fleet-live-chart').getAttribute('data-x-max'));
    expect(Math.abs(xMax - Date.now())).toBeLessThan(3000);
    expect(await page.getByTestId('fleet-live-chart').getAttribute('data-gaps')).toBe('0');
    await waitForTestIdText(page, 'fleet-text', /^temperature, live: rack-1: latest 20(\.\d+)? °C, just now; \d+ readings in 60 s from .*; rack-2: .*; rack-3: .*\.$/, 5000);
    await waitForTestIdText(page, 'fleet-summary', '3 devices · live, last 60 s', 5000);
  });

  it('keeps a stopped device’s line where it ended, marks it stale with its age, and the others go on', async () => {
    clearInterval(streams.get('rack-2'));
    await waitFor(async () => (await lastTime('rack-2')) > 0, 'rack-2 has a latest reading');
    // the device sends 4 times a second: stale after 5 s (five intervals, at least 5 s)
    await page.locator('[data-testid="fleet-entry-rack-2"][data-stale]').waitFor({ timeout: 12_000 });
    const stopped = { points: await points('rack-2'), last: await lastTime('rack-2') };
    expect(Date.now() - stopped.last).toBeGreaterThan(5000);
    expect(await page.getByTestId('fleet-entry-rack-2').textContent()).toMatch(/· \d+ s ago, stale$/);
    const others = await Promise.all(['rack-1', 'rack-3'].map(points));
    await page.waitForFunction((counts) => ['rack-1', 'rack-3'].every((id, i) => Number(document.querySelector(`[data-testid="fleet-entry-${id}"]`)?.getAttribute('data-points')) >= counts[i] + 4), others);
    expect(await points('rack-2')).toBe(stopped.points);
    expect(await lastTime('rack-2')).toBe(stopped.last);
    for (const id of ['rack-1', 'rack-3']) expect(await page.getByTestId(`fleet-entry-${id}`).getAttribute('data-stale'), id).toBeNull();
    // the text alternative and the summary say so
    await waitForTestIdText(page, 'fleet-text', /rack-2: latest 21(\.\d+)? °C, \d+ s ago, stale; \d+ readings in 60 s/, 3000);
    expect(await page.getByTestId('fleet-text').textContent()).toMatch(/rack-1: latest 20(\.\d+)? °C, just now;/);
    await waitForTestIdText(page, 'fleet-summary', '3 devices · live, last 60 s · 1 stale', 3000);
    // it comes back: the line goes on, no longer stale
    stream('rack-2');
    await page.locator('[data-testid="fleet-entry-rack-2"]:not([data-stale])').waitFor({ timeout: 5000 });
    expect(await points('rack-2')).toBeGreaterThan(stopped.points);
  });

  it('follows the picks, goes back to history in one click, and unsubscribes when left', async () => {
    await page.getByTestId('fleet-pick-rack-3').uncheck();
    await page.locator('[data-testid="fleet-live-chart"][data-series="2"]').waitFor();
    await waitFor(() => lastSubscription()?.devices.length === 2, 'the narrower subscription');
    expect(lastSubscription()).toEqual({ type: 'subscribe', devices: ['rack-1', 'rack-2'], channels: ['temperature'] });
    expect(await page.locator('[data-testid^="fleet-entry-"]').count()).toBe(2);

    // back to the range shown before
    await page.getByTestId('fleet-live').click();
    expect(await page.getByTestId('fleet-preset').inputValue()).toBe('3600000');
    await waitFor(() => lastSubscription()?.devices.length === 0, 'the live subscription ended');
    await page.waitForFunction(() => document.querySelector('[data-testid="fleet-chart"]')?.getAttribute('data-series') === '2');
    await waitForTestIdText(page, 'fleet-summary', /^2 devices · \d+ points · mean per \d+s \(auto\)$/, 5000);
    expect(await page.getByTestId('fleet-live-chart').count()).toBe(0);

    // the select reaches live too; leaving the page ends the subscription
    await page.getByTestId('fleet-preset').selectOption('live');
    await waitFor(() => lastSubscription()?.devices.length === 2, 'live again');
    await page.locator('[data-testid="fleet-live-chart"][data-series="2"]').waitFor();
    const count = subscriptions.length;
    await page.evaluate(() => { location.hash = '#/'; });
    await page.getByTestId('device-list').waitFor();
    await waitFor(() => subscriptions.length > count && lastSubscription()?.devices.length === 0, 'unsubscribed on leaving');
    // what was on its way when the page unsubscribed may still arrive; after that, nothing
    const settled = await waitFor(async () => {
      const seen = received.get('rack-1') ?? 0;
      await new Promise((r) => setTimeout(r, 4 * EVERY_MS));
      return (received.get('rack-1') ?? 0) === seen ? { seen } : null;
    }, 'no more readings of rack-1 after leaving');
    await new Promise((r) => setTimeout(r, 4 * EVERY_MS));
    expect(received.get('rack-1') ?? 0).toBe(settled!.seen);
  });

  it('had no console errors, page errors or CSP violations', async () => {
    expect(await page.evaluate(() => (window as unknown as { cspViolations?: string[] }).cspViolations ?? [])).toEqual([]);
    expect(problems).toEqual([]);
  });
});
