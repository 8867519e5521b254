// Charts that do not mislead, in real headless Chromium against a real hub and simulated devices:
// the live time axis moves on without readings, an outage breaks the line, a stale value says how
// old it is, an empty chart says why, hover shows value, unit and time; history keeps units on
// separate axes, labels its time zone (and the CSV follows), zooms by dragging and never offers a
// window the hub refuses; the fleet view draws one series per picked device.
import { readFileSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceClient } from '../../device-sim/src/device-client.ts';
import type { Sample } from '../src/protocol/index.ts';
import { startTestHub, type TestHub } from './support/hub-fixture.ts';
import { waitForTestIdText } from './support/browser.ts';
import { hasRealPart } from './support/real-parts.ts';

const CHROMIUM = '/usr/bin/chromium';
/** a zone that is not UTC, so "local" and "UTC" differ */
const ZONE = 'America/New_York';

/** all four TEST_CHANNELS (°C, %, unitless, on/off) at one offset */
function allChannels(i: number, offset: number): Sample[] {
  return [
    { channel: 1, type: 'f32', offset, value: Math.fround(21 + i / 10) },
    { channel: 2, type: 'f64', offset, value: 50 + i },
    { channel: 3, type: 'i32', offset, value: i },
    { channel: 4, type: 'bool', offset, value: i % 2 === 0 },
  ];
}

describe.runIf(hasRealPart(CHROMIUM))('dashboard charts in headless Chromium', () => {
  let hub: TestHub;
  let browser: Browser;
  let page: Page;
  const devices: DeviceClient[] = [];
  const problems: string[] = [];
  /** history requests the hub refused: the page must never make one */
  const refused: string[] = [];

  const byTestId = (id: string) => page.getByTestId(id);
  const attr = async (id: string, name: string) => (await byTestId(id).getAttribute(name)) ?? '';
  const waitText = (id: string, re: RegExp, timeout = 10_000): Promise<string> => waitForTestIdText(page, id, re, timeout);

  async function connect(id: string, skewMs = 0): Promise<DeviceClient> {
    const device = hub.device(id, await hub.provision(id), skewMs ? { clockSkewMs: skewMs } : {});
    await device.connect();
    devices.push(device);
    return device;
  }
  async function open(hash: string): Promise<void> {
    await page.evaluate((h) => { location.hash = h; }, hash);
  }
  async function download(): Promise<string[]> {
    const [file] = await Promise.all([page.waitForEvent('download'), byTestId('history-csv').click()]);
    return readFileSync((await file.path())!, 'utf8').trimEnd().split('\n');
  }

  beforeAll(async () => {
    hub = await startTestHub();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true, timezoneId: ZONE });
    page = await context.newPage();
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
    });
    page.on('response', (res) => {
      if (res.url().includes('/readings') && res.status() === 400) refused.push(res.url());
    });
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => {
        const w = window as unknown as { cspViolations?: string[] };
        (w.cspViolations ??= []).push(`${e.violatedDirective} blocked ${e.blockedURI}`);
      });
    });
    await page.goto(hub.url + '/');
    await byTestId('login-token').fill(hub.adminToken);
    await byTestId('login-submit').click();
    await byTestId('logout').waitFor();
  });

  afterAll(async () => {
    await browser?.close();
    await hub?.stop();
  });

  describe('live', () => {
    let start = 0;

    it('breaks the line at a 20 s outage and marks the latest value stale with its age', async () => {
      const device = await connect('rack-a');
      await open('#/device/rack-a');
      await page.locator('[data-testid="live-charts"][data-seeded="true"]').waitFor();
      // 1 Hz for 10 s, nothing for 20 s, 1 Hz for 10 s, the last one 12 s ago
      // halfway into a 10 s window, so history's automatic 10 s windows split each run in two
      start = Math.floor((Date.now() - 50_000) / 10_000) * 10_000 + 5000;
      const samples: Sample[] = [];
      for (let i = 0; i < 10; i++) samples.push(...allChannels(i, i * 1000));
      for (let i = 10; i < 20; i++) samples.push(...allChannels(i, (i + 19) * 1000));
      device.sendReadings(samples, start);
      await device.waitAcked();

      await page.waitForFunction(() => document.querySelector('[data-testid="live-chart-temperature"]')?.getAttribute('data-points') === '20');
      expect(await attr('live-chart-temperature', 'data-gaps')).toBe('1');
      expect(await attr('live-chart-humidity', 'data-gaps')).toBe('1');
      // the latest value with its age, marked stale (the device sends every second)
      await waitText('latest-temperature', /^22\.90$/);
      const age = await waitText('age-temperature', /^· \d+ s ago, stale$/);
      expect(Number(/(\d+) s/.exec(age)![1])).toBeGreaterThanOrEqual(5);
      expect(await byTestId('channel-temperature').getAttribute('data-stale')).toBe('');
      // the text alternative says the same
      const label = await attr('live-chart-temperature', 'aria-label');
      expect(label).toMatch(/^temperature: latest 22\.90 °C, \d+ s ago, stale; last 60 s: 20 readings from 21 to 22\.90 °C, with 1 gap$/);
      expect(await attr('live-chart-temperature', 'role')).toBe('img');
    });

    it('keeps the time axis moving to now while no readings arrive', async () => {
      const before = Number(await attr('live-chart-temperature', 'data-x-max'));
      expect(Math.abs(before - Date.now())).toBeLessThan(3000);
      await page.waitForFunction((b) => Number(document.querySelector('[data-testid="live-chart-temperature"]')?.getAttribute('data-x-max')) >= b + 1000, before);
      expect(await attr('live-chart-temperature', 'data-points')).toBe('20');
    });

    it('shows value, unit and time on hover, and units on the axis', async () => {
      const over = page.locator('[data-testid="live-chart-temperature"] .u-over');
      const box = (await over.boundingBox())!;
      // the middle of the second run of readings, in the minute shown now
      const at = (start + 33_500 - (Date.now() - 60_000)) / 60_000;
      await page.mouse.move(box.x + box.width * at, box.y + box.height / 2);
      const tip = await waitText('tip-temperature', /^\d+\.\d\d °C · \d\d:\d\d:\d\d\.\d{3}$/);
      const time = Number(await attr('tip-temperature', 'data-time'));
      expect(time).toBeGreaterThanOrEqual(start + 29_000);
      expect(time).toBeLessThanOrEqual(start + 38_000);
      // the time is the reading's, in the browser's zone
      const local = new Intl.DateTimeFormat('en-GB', { timeZone: ZONE, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }).format(time);
      expect(tip).toContain(local);
      await page.mouse.move(0, 0);
      await byTestId('tip-temperature').waitFor({ state: 'hidden' });
    });

    it('says why a chart is empty: the hub rejects all of the device’s readings', async () => {
      const device = await connect('clock-ahead');
      // a clock 10 minutes ahead: every reading is refused with FP_ERR_BAD_TIME
      for (let i = 0; i < 5; i++) device.sendReadings(allChannels(i, i * 100), Date.now() + 600_000);
      await device.waitAcked();
      await open('#/');
      await byTestId('device-row-clock-ahead').waitFor();
      await open('#/device/clock-ahead');
      const text = await waitText('empty-temperature', /rejected/);
      expect(text).toBe('no readings in 60 s · 20 rejected by the hub: device clock off?');
      expect(await byTestId('latest-temperature').textContent()).toBe('—');
      expect(await attr('live-chart-temperature', 'aria-label')).toContain('20 rejected');
    });
  });

  describe('history', () => {
    it('opens on the last hour with an automatic window, one chart per unit', async () => {
      await open('#/device/rack-a');
      await waitText('history-summary', /^\d+ points · mean per \d+s \(auto\)$/);
      const groups = await page.$$eval('[data-testid="history-group"]', (els) =>
        els.map((el) => ({ unit: el.getAttribute('data-unit'), channels: el.getAttribute('data-channels') })));
      // ordered by channel name as the hub answers: count, door, humidity, temperature
      expect(groups).toEqual([
        { unit: '', channels: 'count' },
        { unit: '', channels: 'door' },
        { unit: '%', channels: 'humidity' },
        { unit: '°C', channels: 'temperature' },
      ]);
      expect(await page.locator('[data-testid="history-group"] canvas').count()).toBeGreaterThanOrEqual(4);
      expect(Number(await page.locator('[data-testid="history-group"][data-unit="°C"]').getAttribute('data-gaps'))).toBe(1);
      // a text alternative with range and latest value
      expect(await byTestId('history-text').textContent()).toMatch(/temperature: 4 points from 21\.\d+ to 22\.\d+ °C, latest 22\.\d+ °C at /);
    });

    it('labels its time zone, switches to UTC, and the CSV matches what is shown', async () => {
      expect(await byTestId('history-zone-label').textContent()).toMatch(/^Times in local time \(America\/New_York, UTC-0[45]:00\)$/);
      const row = async () => page.$eval('[data-testid="history-row"]', (tr) => ({ time: Number(tr.getAttribute('data-time')), text: tr.querySelector('td')!.textContent! }));
      const local = await row();

      let csv = await download();
      expect(csv[0]).toBe('time,channel,value');
      // the same points as the charts and the table
      const shown = Number(/^(\d+) points/.exec((await byTestId('history-summary').textContent())!)![1]);
      expect(csv.length - 1).toBe(shown);
      const first = csv[1].split(',')[0];
      expect(first).toMatch(/[+-]0[45]:00$/);
      expect(Date.parse(first)).toBe(local.time);
      expect(first.replace('T', ' ').slice(0, 23)).toBe(local.text);

      await byTestId('history-zone').selectOption('utc');
      expect(await byTestId('history-zone-label').textContent()).toBe('Times in UTC');
      const utc = await row();
      expect(utc.time).toBe(local.time);
      expect(utc.text).toBe(new Date(utc.time).toISOString().replace('T', ' ').slice(0, 23));
      expect(utc.text).not.toBe(local.text);
      expect(await byTestId('history-csv').textContent()).toBe('Download CSV (UTC)');
      csv = await download();
      expect(csv[1].split(',')[0]).toBe(new Date(utc.time).toISOString());
      await byTestId('history-zone').selectOption('local');
    });

    it('zooms into a dragged stretch and loads it with a fitting window', async () => {
      const before = { from: Number(await attr('history', 'data-from')), to: Number(await attr('history', 'data-to')) };
      const over = page.locator('[data-testid="history-group"][data-unit="°C"] .u-over');
      await over.scrollIntoViewIfNeeded();
      const box = (await over.boundingBox())!;
      const y = box.y + box.height / 2;
      await page.mouse.move(box.x + box.width * 0.5, y);
      await page.mouse.down();
      await page.mouse.move(box.x + box.width * 0.75, y, { steps: 5 });
      await page.mouse.move(box.x + box.width * 0.9, y, { steps: 5 });
      await page.mouse.up();
      await page.waitForFunction((f) => Number(document.querySelector('[data-testid="history"]')?.getAttribute('data-from')) > f, before.from);
      await page.waitForFunction(() => !document.querySelector('[data-testid="history"]')?.hasAttribute('data-loading'));
      const after = { from: Number(await attr('history', 'data-from')), to: Number(await attr('history', 'data-to')) };
      const span = after.to - after.from;
      expect(span).toBeGreaterThan(0.3 * (before.to - before.from));
      expect(span).toBeLessThan(0.5 * (before.to - before.from));
      expect(await byTestId('history-preset').inputValue()).toBe('custom');
      // a 20-minute stretch gets a shorter window than the hour had
      expect(await waitText('history-summary', /mean per \d+s \(auto\)$/)).not.toMatch(/per 10s/);
      expect(await attr('history', 'data-every')).toBe('5s');
    });

    it('never offers a window the hub refuses for the range', async () => {
      await byTestId('history-preset').selectOption({ label: 'Last 15 min' });
      await byTestId('history-every').selectOption('1s');
      await byTestId('history-preset').selectOption({ label: 'Last 365 days' });
      const options = await page.$$eval('[data-testid="history-every"] option', (os) =>
        Object.fromEntries((os as HTMLOptionElement[]).map((o) => [o.value, !o.disabled])));
      expect(options).toMatchObject({ auto: true, '': true, '1s': false, '10s': false, '1m': false, '5m': false, '15m': true, '1h': true, '1d': true });
      // the window picked for the short range did not survive the long one
      expect(await byTestId('history-every').inputValue()).toBe('auto');
      expect(await byTestId('history-window-note').textContent()).toMatch(/per 1s would be 31,536,000 windows per channel/);
      await byTestId('history-load').click();
      await waitText('history-summary', /points · mean per 1d \(auto\)$/);
      // a custom year typed by hand is held to the same rule
      await byTestId('history-every').selectOption('1h');
      await byTestId('history-from').fill('2025-01-01T00:00:00');
      await byTestId('history-to').fill('2026-01-01T00:00:00');
      expect(await page.$eval('[data-testid="history-every"] option[value="1s"]', (o) => (o as HTMLOptionElement).disabled)).toBe(true);
      expect(await byTestId('history-every').inputValue()).toBe('1h');
      expect(refused).toEqual([]);
    });
  });

  describe('fleet view', () => {
    it('draws one channel of the picked devices, one series and legend entry per device', async () => {
      for (const [id, base] of [['rack-b', 18], ['rack-c', 25]] as const) {
        const device = await connect(id);
        const samples: Sample[] = [];
        for (let i = 0; i < 30; i++) samples.push({ channel: 1, type: 'f32', offset: i * 1000, value: Math.fround(base + i / 10) });
        device.sendReadings(samples, Date.now() - 40_000);
        await device.waitAcked();
      }
      // from a device page, as an operator would get there
      await open('#/device/rack-a');
      expect(await attr('fleet-link', 'href')).toBe('#/fleet');
      await byTestId('compare-temperature').click();
      await byTestId('fleet-page').waitFor();
      expect(await byTestId('fleet-channel').inputValue()).toBe('temperature');
      await byTestId('fleet-filter').fill('rack-');
      await byTestId('fleet-pick-rack-c').waitFor();
      expect(await page.locator('input[data-testid^="fleet-pick-"]').count()).toBe(3);
      await page.waitForFunction(() => document.querySelector('[data-testid="fleet-chart"]')?.getAttribute('data-series') === '3');
      const legend = await page.$$eval('[data-testid="fleet-chart"] .u-legend .u-series th', (ths) => ths.map((th) => th.textContent));
      expect(legend).toEqual(['time', 'rack-a', 'rack-b', 'rack-c']);
      expect(await waitText('fleet-summary', /^3 devices · \d+ points · mean per \d+s \(auto\)$/)).toBeTruthy();
      expect(await byTestId('fleet-text').textContent()).toMatch(/rack-b: \d+ points from 18(\.\d+)? to 20\.\d+ °C/);

      await byTestId('fleet-pick-rack-b').uncheck();
      await page.waitForFunction(() => document.querySelector('[data-testid="fleet-chart"]')?.getAttribute('data-series') === '2');
      expect(await page.$$eval('[data-testid="fleet-chart"] .u-legend .u-series th', (ths) => ths.map((th) => th.textContent))).toEqual(['time', 'rack-a', 'rack-c']);
    });
  });

  it('had no console errors, page errors or CSP violations', async () => {
    const violations = await page.evaluate(() => (window as unknown as { cspViolations?: string[] }).cspViolations ?? []);
    expect(violations).toEqual([]);
    expect(problems).toEqual([]);
  });
});
