// The dashboard on a phone, in both themes and from the keyboard, in headless Chromium against a
// real hub: at 390×844 no page scrolls sideways and the device list is cards; the light and dark
// themes follow the system preference; Tab and Enter reach the login, the controls and a device.
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceClient } from '../../device-sim/src/device-client.ts';
import { startTestHub, type TestHub } from './support/hub-fixture.ts';
import { hasRealPart } from './support/real-parts.ts';

const CHROMIUM = '/usr/bin/chromium';
// long on purpose: names and ids are what pushes a narrow layout wider than the screen
const DEVICE = 'greenhouse-north-wing-sensor-0001';
const NAME = 'Greenhouse, north wing, bench 4 (climate)';
const OTHER = 'cold-room-2';

describe.runIf(hasRealPart(CHROMIUM))('dashboard on a phone, in both themes, from the keyboard', () => {
  let hub: TestHub;
  let browser: Browser;
  let device: DeviceClient;
  const problems: string[] = [];

  async function open(options: { width: number; height: number; colorScheme?: 'light' | 'dark' }): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ viewport: { width: options.width, height: options.height }, colorScheme: options.colorScheme ?? 'light' });
    const page = await context.newPage();
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
    });
    return { context, page };
  }

  async function login(page: Page): Promise<void> {
    await page.goto(hub.url + '/');
    await page.getByTestId('login-token').fill(hub.adminToken);
    await page.getByTestId('login-submit').click();
    await page.getByTestId(`device-row-${DEVICE}`).waitFor();
  }

  /** how far the page reaches past the viewport's right edge, and the elements that do */
  function sideways(page: Page): Promise<{ scrollWidth: number; clientWidth: number; wider: string[] }> {
    return page.evaluate(() => {
      const root = document.documentElement;
      const wider: string[] = [];
      for (const el of document.querySelectorAll('body *')) {
        const box = el.getBoundingClientRect();
        if (box.width > 0 && box.right > root.clientWidth + 0.5) wider.push(`${el.tagName.toLowerCase()}.${el.className} ${el.getAttribute('data-testid') ?? ''}`.trim());
      }
      return { scrollWidth: root.scrollWidth, clientWidth: root.clientWidth, wider: wider.slice(0, 8) };
    });
  }

  async function expectNoSidewaysScroll(page: Page, where: string): Promise<void> {
    const r = await sideways(page);
    expect(r.scrollWidth, `${where} is ${r.scrollWidth} px wide in ${r.clientWidth}: ${r.wider.join(', ')}`).toBeLessThanOrEqual(r.clientWidth);
  }

  /** Presses Tab until the focused element matches `selector`; returns how many presses it took. */
  async function tabTo(page: Page, selector: string, max = 80): Promise<number> {
    for (let i = 1; i <= max; i++) {
      await page.keyboard.press('Tab');
      if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return i;
    }
    throw new Error(`Tab did not reach ${selector} in ${max} presses`);
  }

  beforeAll(async () => {
    hub = await startTestHub();
    const res = await hub.api('/api/devices', { method: 'POST', body: JSON.stringify({ id: DEVICE, name: NAME }) });
    const { token } = (await res.json()) as { token: string };
    await hub.provision(OTHER);
    device = hub.device(DEVICE, token, { firmware: 'greenhouse-firmware-2.4.1-rc3+build.20240611' });
    await device.connect();
    const now = Date.now();
    for (let i = 0; i < 40; i++) {
      device.sendReadings([
        { channel: 1, type: 'f32', offset: 0, value: 21 + Math.sin(i / 5) },
        { channel: 2, type: 'f64', offset: 0, value: 55 + i / 10 },
        { channel: 3, type: 'i32', offset: 0, value: i },
        { channel: 4, type: 'bool', offset: 0, value: i % 10 > 5 },
      ], now - (40 - i) * 500);
    }
    await device.waitAcked();
    // a command with long arguments and result, for the command list
    const sent = await hub.api(`/api/devices/${DEVICE}/commands`, {
      method: 'POST',
      body: JSON.stringify({ name: 'ping', args: { note: 'a fairly long argument that a phone has to wrap somewhere', n: 1234567890 }, timeoutMs: 5000 }),
    });
    expect(sent.status).toBe(202);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await hub?.stop();
  });

  it('at 390×844 no page scrolls sideways and the device list is cards', async () => {
    const { context, page } = await open({ width: 390, height: 844 });
    await page.goto(hub.url + '/');
    await page.getByTestId('login-form').waitFor();
    await expectNoSidewaysScroll(page, 'the login page');

    await login(page);
    await expectNoSidewaysScroll(page, 'the device list');
    // the top bar stays one line: logo, views, live dot, log out
    expect((await page.locator('.topbar').boundingBox())!.height).toBeLessThanOrEqual(60);
    // cards: each device is a block of its own, not a row of a table wider than the screen
    const card = await page.getByTestId(`device-row-${DEVICE}`).evaluate((row) => {
      const box = row.getBoundingClientRect();
      return { display: getComputedStyle(row).display, width: box.width, height: box.height };
    });
    expect(card.display).not.toBe('table-row');
    expect(card.width).toBeLessThanOrEqual(390);
    // no column headings on a phone: each card says what it shows
    expect(await page.locator('[data-testid="device-list"] :is(thead, [role="columnheader"])').first().isVisible()).toBe(false);
    // the name keeps its room on the card, whatever else is long
    expect((await page.getByTestId(`device-link-${DEVICE}`).boundingBox())!.width).toBeGreaterThan(150);
    for (const id of [`device-link-${DEVICE}`, `status-${DEVICE}`, `loss-${DEVICE}`, `last-seen-${DEVICE}`]) {
      expect(await page.getByTestId(id).isVisible(), id).toBe(true);
    }

    await page.getByTestId(`device-link-${DEVICE}`).click();
    await page.getByTestId('device-page').waitFor();
    await page.locator('[data-testid="live-charts"][data-seeded="true"]').waitFor();
    await page.getByTestId('live-chart-temperature').locator('canvas').first().waitFor();
    await expectNoSidewaysScroll(page, 'the device page');
    const chart = await page.getByTestId('live-chart-temperature').boundingBox();
    expect(chart!.width).toBeGreaterThan(250);

    await page.getByTestId('history-channel').selectOption('count');
    await page.getByTestId('history-load').click();
    await page.locator('[data-testid="history-chart"] canvas').first().waitFor();
    await page.getByTestId('history-row').first().waitFor();
    await expectNoSidewaysScroll(page, 'the device page with history');

    await page.locator('[data-testid="command-row"][data-status="succeeded"]').waitFor();
    await expectNoSidewaysScroll(page, 'the device page with commands');
    const result = await page.locator('[data-testid="command-row"] [data-testid="command-result"]').first().boundingBox();
    expect(result!.x + result!.width).toBeLessThanOrEqual(390);

    // the page comparing devices, where the dashboard has one
    const compare = page.getByTestId('fleet-link');
    if (await compare.count()) {
      await compare.click();
      await page.waitForFunction(() => location.hash.startsWith('#/fleet'));
      await page.locator('main canvas').first().waitFor();
      await expectNoSidewaysScroll(page, 'the device comparison');
    }
    await context.close();
  });

  it('follows the system preference: dark and light themes', async () => {
    const { context, page } = await open({ width: 390, height: 844, colorScheme: 'dark' });
    await login(page);
    const colours = () => page.evaluate(() => {
      const luminance = (css: string) => {
        const [r, g, b] = (css.match(/[\d.]+/g) ?? []).map(Number);
        return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
      };
      const body = getComputedStyle(document.body);
      const panel = getComputedStyle(document.querySelector('.card')!);
      return {
        background: luminance(body.backgroundColor), text: luminance(body.color), panel: luminance(panel.backgroundColor),
        scheme: getComputedStyle(document.documentElement).colorScheme,
        grid: getComputedStyle(document.documentElement).getPropertyValue('--chart-grid').trim(),
      };
    });
    const dark = await colours();
    expect(dark.background).toBeLessThan(0.2);
    expect(dark.text).toBeGreaterThan(0.7);
    expect(dark.scheme).toBe('dark');

    await page.emulateMedia({ colorScheme: 'light' });
    const light = await colours();
    expect(light.background).toBeGreaterThan(0.8);
    expect(light.panel).toBeGreaterThan(0.8);
    expect(light.text).toBeLessThan(0.3);
    expect(light.scheme).toBe('light');
    // the charts' grid colour changes with the theme
    expect(light.grid).not.toBe(dark.grid);

    await page.emulateMedia({ colorScheme: 'dark' });
    expect((await colours()).background).toBeCloseTo(dark.background, 5);
    await context.close();
  });

  it('works from the keyboard: Tab reaches the login, the list and the controls, Enter opens a device', async () => {
    const { context, page } = await open({ width: 1280, height: 800 });
    await page.goto(hub.url + '/');
    await page.getByTestId('login-form').waitFor();
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    await tabTo(page, '[data-testid="login-token"]');
    await page.keyboard.type(hub.adminToken);
    await page.keyboard.press('Enter');
    await page.getByTestId(`device-row-${DEVICE}`).waitFor();

    // from the top of the page: the top bar, any list controls, then the devices
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    const search = page.locator('main input[type="search"], main [data-testid$="search"]');
    if (await search.count()) await tabTo(page, 'main input[type="search"], main [data-testid$="search"]');
    await tabTo(page, `[data-testid="device-link-${DEVICE}"]`);
    const ring = await page.evaluate(() => {
      const style = getComputedStyle(document.activeElement!);
      return { style: style.outlineStyle, width: parseFloat(style.outlineWidth) };
    });
    expect(ring.style, 'a focused link shows a focus ring').not.toBe('none');
    expect(ring.width).toBeGreaterThan(0);
    await page.keyboard.press('Enter');
    await page.getByTestId('device-page').waitFor();
    expect(await page.getByTestId('device-page').getAttribute('data-device-id')).toBe(DEVICE);

    // the history form and the command console, by Tab and Enter alone
    await page.getByTestId('history-load').waitFor();
    await tabTo(page, '[data-testid="history-load"]');
    await page.keyboard.press('Enter');
    await page.locator('[data-testid="history-chart"] canvas').first().waitFor();
    await tabTo(page, '[data-testid="command-name"]');
    await page.keyboard.press('Control+A');
    await page.keyboard.type('ping');
    await tabTo(page, '[data-testid="command-send"]');
    const before = await page.getByTestId('command-row').count();
    await page.keyboard.press('Enter');
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid="command-row"]').length > n, before);

    // and back to the list with the keyboard
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    await tabTo(page, '[data-testid="back"]');
    await page.keyboard.press('Enter');
    await page.getByTestId(`device-row-${DEVICE}`).waitFor();
    await context.close();
    expect(problems).toEqual([]);
  });
});
