// The device list at fleet scale and provisioning, in real headless Chromium against real hubs:
// search, filters, sorting with problem devices first, virtual rows over 10,000 devices, readings/s
// from the hub's counters, live counter pushes instead of registry polls, compressed and cached
// assets, and adding (token shown once), renaming and deleting devices through the page.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceClient } from '../../device-sim/src/device-client.ts';
import type { LiveCounters } from '../src/http/wire.ts';
import { createSqliteRegistry } from '../src/registry/sqlite-registry.ts';
import { startTestHub, waitFor, type TestHub } from './support/hub-fixture.ts';
import { waitForTestIdText } from './support/browser.ts';
import { hasRealPart } from './support/real-parts.ts';

const CHROMIUM = '/usr/bin/chromium';
const FLEET = 10_000;

describe.runIf(hasRealPart(CHROMIUM))('device list at fleet scale, and provisioning, in headless Chromium', () => {
  let hub: TestHub;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  /** console errors, uncaught exceptions and CSP violations; must stay empty */
  const problems: string[] = [];
  /** GET /api/devices (the whole registry) as the page asked for it */
  const listRequests: number[] = [];
  const counters: LiveCounters[] = [];
  const responses = new Map<string, Record<string, string>>();
  const streams: ReturnType<typeof setInterval>[] = [];
  /** the id the hub picked for a device added without one */
  let picked = '';

  function watch(p: Page): void {
    p.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    p.on('console', (message) => {
      // the test provokes this one: adding an id that exists
      if (message.type() === 'error' && !/status of 409/.test(message.text())) problems.push(`console error: ${message.text()} (${message.location().url})`);
    });
  }

  async function login(p: Page, h: TestHub): Promise<void> {
    await p.goto(h.url + '/');
    await p.getByTestId('login-token').fill(h.adminToken);
    await p.getByTestId('login-submit').click();
  }

  /** The ids of the rows in the DOM, top to bottom. */
  const rowIds = (p: Page) => p.$$eval('[data-testid="device-rows"] > [data-device-id]', (rows) =>
    rows.map((r) => ({ id: r.getAttribute('data-device-id')!, index: Number(r.getAttribute('data-index')) }))
      .sort((a, b) => a.index - b.index).map((r) => r.id));

  const waitText = async (p: Page, id: string, text: RegExp, timeout = 8000): Promise<void> => void (await waitForTestIdText(p, id, text, timeout));


  /** A device that reaches the hub with 2 sequence gaps and 1 rejected reading (3 lost). */
  async function lossyDevice(h: TestHub, id: string, token: string): Promise<DeviceClient> {
    const device = h.device(id, token, { firmware: `fw-${id}`, maxUnacked: 1 });
    const t = Date.now() - 60_000;
    device.sendReadings([{ channel: 2, type: 'f64', offset: 0, value: 1 }], t);
    device.sendReadings([{ channel: 2, type: 'f64', offset: 0, value: 2 }], t + 100);
    device.sendReadings([{ channel: 2, type: 'f64', offset: 0, value: 3 }, { channel: 9, type: 'f64', offset: 0, value: 1 }], t + 200);
    await device.connect();
    await device.waitAcked();
    return device;
  }

  beforeAll(async () => {
    hub = await startTestHub();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, permissions: ['clipboard-read', 'clipboard-write'] });
    page = await context.newPage();
    page.setDefaultTimeout(8000);
    watch(page);
    page.on('request', (request) => {
      const url = new URL(request.url());
      if (request.method() === 'GET' && url.pathname === '/api/devices') listRequests.push(Date.now());
    });
    page.on('response', async (response) => {
      const url = new URL(response.url());
      responses.set(url.pathname, await response.allHeaders().catch(() => ({})));
    });
    page.on('websocket', (ws) => ws.on('framereceived', ({ payload }) => {
      if (typeof payload === 'string' && payload.startsWith('{"type":"counters"')) counters.push(JSON.parse(payload) as LiveCounters);
    }));
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => {
        const w = window as unknown as { cspViolations?: string[] };
        (w.cspViolations ??= []).push(`${e.violatedDirective} blocked ${e.blockedURI}`);
      });
    });
  });

  afterAll(async () => {
    for (const timer of streams) clearInterval(timer);
    await browser?.close();
    await hub?.stop();
  });

  it('with no devices, points to "Add a device" and to npm run demo', async () => {
    await login(page, hub);
    await page.getByTestId('device-empty').waitFor();
    expect(await page.getByTestId('device-empty').textContent()).toContain('npm run demo');
    expect(await page.getByTestId('empty-add-device').isVisible()).toBe(true);
    expect(await page.getByTestId('device-list').isVisible()).toBe(false);
  });

  it('serves the page, bundle, styles and API answers compressed, and the hashed assets immutable', async () => {
    const doc = responses.get('/')!;
    expect(doc['content-encoding']).toBe('br');
    expect(doc['cache-control']).toBe('no-cache');
    expect(doc['content-security-policy']).toContain("script-src 'self'");
    const assets = [...responses.keys()].filter((path) => /^\/assets\/(app|style|uplot)\.[A-Za-z0-9]{16}\.(js|css)$/.test(path));
    expect(assets.length).toBe(3);
    for (const path of assets) {
      expect(responses.get(path)!['content-encoding'], path).toBe('br');
      expect(responses.get(path)!['cache-control'], path).toBe('public, max-age=31536000, immutable');
      expect(responses.get(path)!['x-content-type-options'], path).toBe('nosniff');
    }
    // a large JSON answer is compressed, brotli for a browser (the empty list above is too small to tell)
    for (let i = 0; i < 20; i++) await hub.provision(`bulk-${i}`);
    const list = await page.evaluate(async () => {
      const res = await fetch('/api/devices');
      return { encoding: res.headers.get('content-encoding'), count: (await res.json()).length };
    });
    expect(list).toEqual({ encoding: 'br', count: 20 });
    for (let i = 0; i < 20; i++) expect((await hub.api(`/api/devices/bulk-${i}`, { method: 'DELETE' })).status).toBe(204);
  });

  it('adds a device: its token once, a copy button, and connection snippets with the URL and token', async () => {
    await page.getByTestId('empty-add-device').click();
    await page.getByTestId('add-device-dialog').waitFor();
    await page.getByTestId('new-device-id').fill('pump-0001');
    await page.getByTestId('new-device-name').fill('Pump house');
    await page.getByTestId('add-device-submit').click();
    await page.getByTestId('provisioned').waitFor();
    const token = await page.getByTestId('new-device-token').inputValue();
    expect(token).toMatch(/^[0-9a-f]{32}$/);

    await page.getByTestId('copy-token').click();
    await waitText(page, 'token-copied', /^Copied$/);
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(token);

    const wsUrl = `${hub.url.replace(/^http/, 'ws')}/ws/device`;
    const connect = await page.getByTestId('snippet-connect-text').inputValue();
    expect(connect).toContain(wsUrl);
    expect(connect).toContain(`Authorization: Bearer ${token}`);
    const sim = await page.getByTestId('snippet-sim-text').inputValue();
    expect(sim).toBe(`npm run sim -- --hub ${hub.url} --id pump-0001 --device-token ${token}`);
    const sketch = await page.getByTestId('snippet-firmware-text').inputValue();
    expect(sketch).toContain(wsUrl);
    expect(sketch).toContain(`#define DEVICE_TOKEN  "${token}"`);
    expect(sketch).toContain('#define DEVICE_ID     "pump-0001"');
    expect(sketch).toContain(`#define HUB_PORT      ${hub.port}`);
    expect(sketch).toContain('#include <telemetry_session.h>');
    await page.getByTestId('snippet-firmware-copy').click();
    await waitText(page, 'snippet-firmware-copied', /^Copied$/);
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(sketch);

    // the token works, and once the dialog is closed the page no longer has it
    await page.getByTestId('provision-done').click();
    await page.getByTestId('add-device-dialog').waitFor({ state: 'detached' });
    expect(await page.content()).not.toContain(token);
    await page.getByTestId('device-row-pump-0001').waitFor();
    const device = hub.device('pump-0001', token, { firmware: 'pump-fw-1' });
    await device.connect();
    await waitText(page, 'status-pump-0001', /^online$/, 3000);
    await waitText(page, 'firmware-pump-0001', /^pump-fw-1$/);
    await device.close();

    // without an id the hub picks one, and the simulator runs that id too
    await page.getByTestId('add-device').click();
    await page.getByTestId('new-device-name').fill('Unnamed sensor');
    await page.getByTestId('add-device-submit').click();
    await page.getByTestId('provisioned').waitFor();
    picked = (await page.getByTestId('provisioned').getAttribute('data-device-id'))!;
    expect(picked).toMatch(/^dev-[0-9a-f]{8}$/);
    const pickedToken = await page.getByTestId('new-device-token').inputValue();
    expect(await page.getByTestId('snippet-sim-text').inputValue()).toBe(`npm run sim -- --hub ${hub.url} --id ${picked} --device-token ${pickedToken}`);
    await page.getByTestId('provision-done').click();
    await page.getByTestId(`device-row-${picked}`).waitFor();

    // a taken id is refused in the form
    await page.getByTestId('add-device').click();
    await page.getByTestId('new-device-id').fill('pump-0001');
    await page.getByTestId('add-device-submit').click();
    await waitText(page, 'add-device-error', /exists already/);
    await page.keyboard.press('Escape');
    await page.getByTestId('add-device-dialog').waitFor({ state: 'detached' });
  });

  it('renames a device (PATCH /api/devices/:id) and deletes one after a confirmation', async () => {
    await page.getByTestId('rename-pump-0001').click({ timeout: 5000 });
    await page.getByTestId('rename-input').fill('Pump house north');
    await page.getByTestId('rename-submit').click();
    await page.getByTestId('rename-dialog').waitFor({ state: 'detached' });
    await waitText(page, 'device-link-pump-0001', /^Pump house north$/);
    expect(((await (await hub.api('/api/devices/pump-0001')).json()) as { name: string }).name).toBe('Pump house north');
    // the route checks the name as POST does
    const patch = (id: string, body: unknown) => hub.api(`/api/devices/${id}`, { method: 'PATCH', body: JSON.stringify(body) });
    expect((await patch('pump-0001', { name: 'x'.repeat(201) })).status).toBe(400);
    expect((await patch('pump-0001', { name: 5 })).status).toBe(400);
    expect((await patch('pump-0001', {})).status).toBe(400);
    expect((await patch('nobody', { name: 'x' })).status).toBe(404);
    expect((await fetch(`${hub.url}/api/devices/pump-0001`, { method: 'PATCH', body: '{"name":"y"}' })).status).toBe(401);

    await page.getByTestId('delete-pump-0001').click();
    await page.getByTestId('delete-dialog').waitFor();
    await page.getByTestId('delete-cancel').click();
    await page.getByTestId('delete-dialog').waitFor({ state: 'detached' });
    expect((await hub.api('/api/devices/pump-0001')).status).toBe(200);
    await page.getByTestId('delete-pump-0001').click();
    await page.getByTestId('delete-confirm').click();
    await page.getByTestId('device-row-pump-0001').waitFor({ state: 'detached' });
    expect((await hub.api('/api/devices/pump-0001')).status).toBe(404);
    await page.getByTestId(`delete-${picked}`).click();
    await page.getByTestId('delete-confirm').click();
    await page.getByTestId('device-empty').waitFor();
    expect((await hub.api(`/api/devices/${picked}`)).status).toBe(404);
  });

  it('puts problem devices first, and searches, filters and sorts', async () => {
    const tokens = new Map<string, string>();
    for (const id of ['alpha', 'bravo', 'charlie', 'delta', 'echo']) tokens.set(id, await hub.provision(id));
    await hub.api('/api/devices/echo', { method: 'PATCH', body: JSON.stringify({ name: 'Echo (spare)' }) });
    // alpha streams; bravo is online with data loss; charlie went offline with data loss; delta went offline; echo never connected
    const alpha = hub.device('alpha', tokens.get('alpha')!, { firmware: 'sensor-2.0' });
    await alpha.connect();
    streams.push(setInterval(() => alpha.sendReadings([{ channel: 1, type: 'f32', offset: 0, value: 21 }, { channel: 2, type: 'f64', offset: 0, value: 50 }], Date.now()), 100));
    await lossyDevice(hub, 'bravo', tokens.get('bravo')!);
    const charlie = await lossyDevice(hub, 'charlie', tokens.get('charlie')!);
    await charlie.close();
    const delta = hub.device('delta', tokens.get('delta')!, { firmware: 'sensor-1.9' });
    await delta.connect();
    await delta.close();

    // echo was provisioned by another client and never connected: the hub reads its registry every 10 s
    await page.getByTestId('device-row-echo').waitFor({ timeout: 15_000 });
    await waitText(page, 'device-link-echo', /^Echo \(spare\)$/);
    await waitText(page, 'device-count', /^5 devices · 2 online · 2 with data loss$/);
    await page.waitForFunction(() => document.querySelector('[data-testid="loss-charlie"]')?.getAttribute('data-total') === '3');
    expect(await rowIds(page)).toEqual(['charlie', 'bravo', 'delta', 'echo', 'alpha']);

    // readings/s for a streaming device, counted by the hub: 20 readings/s
    await page.waitForFunction(() => /^(1[5-9]|2[0-5])(\.\d)?\/s$/.test(document.querySelector('[data-testid="rate-alpha"]')?.textContent ?? ''), null, { timeout: 8000 });
    expect(await page.getByTestId('rate-delta').textContent()).toBe('—');

    await page.getByTestId('device-search').fill('sensor-1');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="device-rows"] > [data-device-id]').length === 1);
    expect(await rowIds(page)).toEqual(['delta']);
    await page.getByTestId('device-search').fill('SPARE');
    await page.waitForFunction(() => document.querySelector('[data-testid="device-rows"] > [data-device-id]')?.getAttribute('data-device-id') === 'echo');
    expect(await rowIds(page)).toEqual(['echo']);
    await page.getByTestId('device-search').fill('');
    await page.getByTestId('device-filter').selectOption('online');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="device-rows"] > [data-device-id]').length === 2);
    expect(await rowIds(page)).toEqual(['bravo', 'alpha']);
    await page.getByTestId('device-filter-loss').check();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="device-rows"] > [data-device-id]').length === 1);
    expect(await rowIds(page)).toEqual(['bravo']);
    await page.getByTestId('device-filter').selectOption('offline');
    await page.waitForFunction(() => document.querySelector('[data-testid="device-rows"] > [data-device-id]')?.getAttribute('data-device-id') === 'charlie');
    await page.getByTestId('device-filter-loss').uncheck();
    await page.getByTestId('device-filter').selectOption('never');
    // the list held one row (charlie) before too: wait for the row this filter shows
    await page.waitForFunction(() => document.querySelector('[data-testid="device-rows"] > [data-device-id]')?.getAttribute('data-device-id') === 'echo');
    expect(await rowIds(page)).toEqual(['echo']);
    await page.getByTestId('device-filter').selectOption('all');

    await page.getByTestId('sort-name').click();
    await page.waitForFunction(() => document.querySelector('[data-testid="device-rows"] > [data-index="0"]')?.getAttribute('data-device-id') === 'alpha');
    expect(await rowIds(page)).toEqual(['alpha', 'bravo', 'charlie', 'delta', 'echo']);
    await page.getByTestId('sort-name').click();
    await page.waitForFunction(() => document.querySelector('[data-testid="device-rows"] > [data-index="0"]')?.getAttribute('data-device-id') === 'echo');
    expect(await rowIds(page)).toEqual(['echo', 'delta', 'charlie', 'bravo', 'alpha']);
    await page.getByTestId('sort-rate').click();
    await page.waitForFunction(() => document.querySelector('[data-testid="device-rows"] > [data-index="0"]')?.getAttribute('data-device-id') === 'alpha');
    await page.getByTestId('sort-loss').click();
    await page.waitForFunction(() => ['bravo', 'charlie'].includes(document.querySelector('[data-testid="device-rows"] > [data-index="0"]')?.getAttribute('data-device-id') ?? ''));
    await page.getByTestId('sort-status').click();
    await page.waitForFunction(() => document.querySelector('[data-testid="device-rows"] > [data-index="4"]')?.getAttribute('data-online') === 'true');
    await page.getByTestId('device-sort').selectOption('problems');
    await page.waitForFunction(() => document.querySelector('[data-testid="device-rows"] > [data-index="0"]')?.getAttribute('data-device-id') === 'charlie');
  });

  it('keeps counters current from live pushes, without downloading the registry again', async () => {
    const before = listRequests.length;
    const pushesBefore = counters.length;
    const readings = async () => Number((await (await hub.api('/api/devices/alpha')).json() as { counters: { readings: number } }).counters.readings);
    const first = await readings();
    await waitFor(() => counters.length >= pushesBefore + 2, 'two counters pushes', 8000);
    const latest = counters.at(-1)!;
    expect(latest.devices.alpha?.[3]).toBeGreaterThan(first);
    expect(latest.devices.alpha?.[7]).toBeGreaterThan(10);
    // only what changed: the devices that are offline and quiet are not in it
    expect(Object.keys(latest.devices)).not.toContain('delta');
    expect(Object.keys(latest.devices)).not.toContain('echo');
    expect(listRequests.length).toBe(before);
    expect(listRequests.length).toBeLessThanOrEqual(2);
  });

  it('renders 10,000 devices with a bounded number of DOM rows, scrolls and filters them, and an idle tab moves little', async () => {
    // provisioned straight into the registry of a second in-process hub: a second is enough
    const dir = mkdtempSync(join(tmpdir(), 'hub-fleet-'));
    const registry = createSqliteRegistry({ path: join(dir, 'fleet-registry.db') });
    for (let i = 1; i <= FLEET; i++) {
      const id = `dev-${String(i).padStart(5, '0')}`;
      await registry.create({ id, name: `Sensor ${i}`, tokenHash: `hash-${id}`, transport: 'ws' });
    }
    const tokens = new Map<string, string>();
    for (const id of ['zz-online-1', 'zz-online-2', 'zz-lossy']) {
      const token = `token-${id}-0123456789abcdef`;
      const { hashToken } = await import('../src/auth/tokens.ts');
      await registry.create({ id, name: id, tokenHash: hashToken(token), transport: 'ws' });
      tokens.set(id, token);
    }
    const big = await startTestHub({ registry, dataDir: dir });
    try {
      const reporting: DeviceClient[] = [];
      for (const id of ['zz-online-1', 'zz-online-2']) {
        const device = big.device(id, tokens.get(id)!);
        await device.connect();
        reporting.push(device);
      }
      reporting.push(await lossyDevice(big, 'zz-lossy', tokens.get('zz-lossy')!));

      // a context of its own: cookies ignore ports, and this hub's session must not replace the other's
      const tabContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const tab = await tabContext.newPage();
      tab.setDefaultTimeout(8000);
      watch(tab);
      let bytes = 0;
      let frames = 0;
      const cdp = await tabContext.newCDPSession(tab);
      await cdp.send('Network.enable');
      cdp.on('Network.dataReceived', (e) => { bytes += e.encodedDataLength; });
      cdp.on('Network.webSocketFrameReceived', (e) => {
        bytes += e.response.payloadData.length;
        frames++;
      });

      const started = Date.now();
      await login(tab, big);
      await waitText(tab, 'device-count', /^10,003 devices · 3 online · 1 with data loss$/, 20_000);
      await tab.getByTestId('device-row-zz-lossy').waitFor();
      const renderMs = Date.now() - started;
      const loadBytes = bytes;
      console.log(`10,003 devices: list shown ${renderMs} ms after signing in; ${Math.round(loadBytes / 1024)} KiB received for the page, bundle and list`);

      const domRows = () => tab.$$eval('[data-testid="device-rows"] > [data-device-id]', (rows) => rows.length);
      expect(await domRows()).toBeLessThan(60);
      expect(await rowIds(tab).then((ids) => ids[0])).toBe('zz-lossy');

      // scrolling to the end shows the last device; the DOM still holds only a window of rows
      await tab.getByTestId('device-list').evaluate((el) => { el.scrollTop = el.scrollHeight; });
      await tab.waitForFunction(() => !!document.querySelector('[data-testid="device-rows"] > [data-index="10002"]'));
      expect(await domRows()).toBeLessThan(60);
      await tab.getByTestId('device-list').evaluate((el) => { el.scrollTop = el.scrollHeight / 2; });
      await tab.waitForFunction(() => !!document.querySelector('[data-testid="device-rows"] > [data-index="5000"]'));
      expect(await domRows()).toBeLessThan(60);

      await tab.getByTestId('device-search').fill('dev-04242');
      await tab.getByTestId('device-row-dev-04242').waitFor();
      await waitText(tab, 'device-count', /showing 1$/);
      await tab.getByTestId('device-search').fill('');
      await tab.getByTestId('device-filter').selectOption('online');
      await waitText(tab, 'device-count', /showing 3$/);
      const online = await rowIds(tab);
      expect([online[0], ...online.slice(1).sort()]).toEqual(['zz-lossy', 'zz-online-1', 'zz-online-2']);
      await tab.getByTestId('device-filter').selectOption('all');
      await waitText(tab, 'device-count', /online · 1 with data loss$/);

      // an idle tab: nobody touches it while the three connected devices report once a second
      const reports = setInterval(() => {
        for (const device of reporting) device.sendReadings([{ channel: 1, type: 'f32', offset: 0, value: 20 }], Date.now());
      }, 1000);
      streams.push(reports);
      await new Promise((r) => setTimeout(r, 1000));
      const idleFrom = bytes;
      const framesFrom = frames;
      const idleMs = 10_000;
      await new Promise((r) => setTimeout(r, idleMs));
      const perMinute = ((bytes - idleFrom) * 60_000) / idleMs;
      console.log(`idle tab on a 10,003-device hub: ${(perMinute / 1024).toFixed(1)} KiB/min (${frames - framesFrom} live messages in ${idleMs / 1000} s; ${framesFrom} before)`);
      expect(perMinute).toBeLessThan(100 * 1024);
      clearInterval(reports);
      await tabContext.close();
    } finally {
      await big.stop();
    }
  }, 60_000);

  it('had no console errors, page errors or CSP violations', async () => {
    const violations = await page.evaluate(() => (window as unknown as { cspViolations?: string[] }).cspViolations ?? []);
    expect(violations).toEqual([]);
    expect(problems).toEqual([]);
  });
});
