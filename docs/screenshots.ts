// Regenerates the dashboard screenshots in docs/: `npx tsx docs/screenshots.ts`.
// Starts a hub on 127.0.0.1 with a temporary data dir and a few simulated devices (a quarter of an
// hour of history each, then live readings and a couple of commands), and photographs it in
// Debian's Chromium (/usr/bin/chromium, driven by playwright-core) at 1440×900 and 390×844, in
// the light and the dark theme. Set SCREENSHOT_DIR to write elsewhere.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { chromium, type Browser, type Page } from 'playwright-core';
import { DeviceClient } from '../device-sim/src/device-client.ts';
import type { ChannelDescriptor, Sample } from '../hub/src/protocol/index.ts';
import { startHub } from '../hub/src/start-hub.ts';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const OUT = process.env.SCREENSHOT_DIR ?? fileURLToPath(new URL('.', import.meta.url));
const ADMIN_TOKEN = 'screenshot-admin-token';
const HISTORY_S = 15 * 60;
const LIVE_HZ = 4;

interface Sim {
  id: string;
  name: string;
  firmware: string;
  channels: ChannelDescriptor[];
  /** value of channel index `c` at time `t` (ms) */
  value(c: number, t: number): number | boolean;
  online: boolean;
}

const wave = (t: number, period: number, phase = 0) => Math.sin((t / 1000 / period) * 2 * Math.PI + phase);

const DEVICES: Sim[] = [
  {
    id: 'greenhouse-1', name: 'Greenhouse north', firmware: 'gh-2.4.1', online: true,
    channels: [
      { id: 1, type: 'f32', name: 'temperature', unit: '°C' },
      { id: 2, type: 'f64', name: 'humidity', unit: '%' },
      { id: 3, type: 'i32', name: 'count', unit: '' },
      { id: 4, type: 'bool', name: 'door', unit: '' },
    ],
    value: (c, t) => [
      24 + 1.8 * wave(t, 600) + 0.3 * wave(t, 47, 1),
      58 + 6 * wave(t, 900, 2) + 0.8 * wave(t, 31),
      Math.floor(t / 1000) % 1000,
      wave(t, 240) > 0.6,
    ][c],
  },
  {
    id: 'cold-room-2', name: 'Cold room', firmware: 'cr-1.9.0', online: true,
    channels: [
      { id: 1, type: 'f32', name: 'temperature', unit: '°C' },
      { id: 2, type: 'bool', name: 'door', unit: '' },
    ],
    value: (c, t) => [3.6 + 0.6 * wave(t, 300) + 0.1 * wave(t, 13), wave(t, 420) > 0.8][c],
  },
  {
    id: 'pump-station-7', name: 'Pump station 7', firmware: 'pump-3.0.2', online: true,
    channels: [
      { id: 1, type: 'f64', name: 'pressure', unit: 'bar' },
      { id: 2, type: 'f64', name: 'flow', unit: 'l/min' },
    ],
    value: (c, t) => [4.2 + 0.4 * wave(t, 120) + 0.05 * wave(t, 7), 118 + 14 * wave(t, 200, 1)][c],
  },
  {
    id: 'office-3f', name: 'Office, third floor', firmware: 'env-1.2.0', online: true,
    channels: [
      { id: 1, type: 'f32', name: 'temperature', unit: '°C' },
      { id: 2, type: 'f64', name: 'co2', unit: 'ppm' },
    ],
    value: (c, t) => [21.5 + 0.7 * wave(t, 800), 640 + 180 * wave(t, 500, 0.5)][c],
  },
  {
    id: 'meter-basement', name: 'Basement meter', firmware: 'meter-0.8.4', online: false,
    channels: [{ id: 1, type: 'f64', name: 'energy', unit: 'kWh' }],
    value: (_c, t) => 1520 + t / 3_600_000,
  },
];

function samples(sim: Sim, t: number, offset: number): Sample[] {
  return sim.channels.map((ch, c) => {
    const v = sim.value(c, t);
    if (ch.type === 'bool') return { channel: ch.id, type: 'bool', offset, value: Boolean(v) } as Sample;
    const n = Number(v);
    return { channel: ch.id, type: ch.type, offset, value: ch.type === 'i32' ? Math.round(n) : n } as Sample;
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'hub-screenshots-'));
  const hub = await startHub({ port: 0, host: '127.0.0.1', dataDir, adminToken: ADMIN_TOKEN, flushIntervalMs: 5, log: pino({ level: 'silent' }) });
  const api = (path: string, body?: unknown) =>
    fetch(hub.url + path, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const clients: DeviceClient[] = [];
  let browser: Browser | null = null;
  let live: ReturnType<typeof setInterval> | null = null;
  try {
    for (const sim of DEVICES) {
      const res = await api('/api/devices', { id: sim.id, name: sim.name });
      if (res.status !== 201) throw new Error(`provision ${sim.id}: HTTP ${res.status}`);
      const { token } = (await res.json()) as { token: string };
      const client = new DeviceClient({ hubUrl: hub.url, deviceId: sim.id, token, firmware: sim.firmware, channels: sim.channels });
      clients.push(client);
      await client.connect();
      // a quarter of an hour of history at 1 Hz, a minute per frame
      const now = Date.now();
      const start = now - HISTORY_S * 1000;
      for (let base = start; base < now; base += 60_000) {
        const frame: Sample[] = [];
        for (let s = 0; s < 60 && base + s * 1000 < now; s++) frame.push(...samples(sim, base + s * 1000, s * 1000));
        client.sendReadings(frame, base);
      }
      // the last minute at the live rate, so the live charts open full
      for (let t = now - 60_000; t < now; t += 1000) {
        const frame: Sample[] = [];
        for (let k = 0; k < LIVE_HZ; k++) frame.push(...samples(sim, t + (k * 1000) / LIVE_HZ, (k * 1000) / LIVE_HZ));
        client.sendReadings(frame, t);
      }
      await client.waitAcked();
      if (!sim.online) await client.close();
    }
    live = setInterval(() => {
      const t = Date.now();
      DEVICES.forEach((sim, i) => sim.online && clients[i].sendReadings(samples(sim, t, 0), t));
    }, 1000 / LIVE_HZ);
    for (const [name, args] of [['ping', {}], ['set-rate', { hz: 4 }], ['ping', { n: 2 }]] as const) {
      await api(`/api/devices/greenhouse-1/commands`, { name, args, timeoutMs: 5000 });
    }
    // the hub counts readings/s over about 10 s
    await sleep(11_000);

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--hide-scrollbars'],
    });
    const shots: [file: string, width: number, height: number, scheme: 'light' | 'dark', page: 'list' | 'device'][] = [
      ['dashboard-desktop.png', 1440, 900, 'light', 'device'],
      ['dashboard-dark.png', 1440, 900, 'dark', 'list'],
      ['dashboard-phone.png', 390, 844, 'light', 'list'],
      ['dashboard-phone-dark.png', 390, 844, 'dark', 'device'],
    ];
    const only = process.argv.slice(2);
    for (const [file, width, height, colorScheme, what] of shots) {
      if (only.length && !only.includes(file)) continue;
      const context = await browser.newContext({ viewport: { width, height }, colorScheme, deviceScaleFactor: 1 });
      const page = await context.newPage();
      await login(page, hub.url);
      if (what === 'device') await openDevice(page, 'greenhouse-1');
      else await page.getByTestId('device-row-greenhouse-1').waitFor();
      await sleep(1200); // rates and "last seen" settle, charts scroll
      await page.mouse.move(0, 0);
      const path = join(OUT, file);
      await page.screenshot({ path });
      process.stdout.write(`${path}: ${width}×${height} ${colorScheme}, ${(statSync(path).size / 1024).toFixed(0)} KB\n`);
      await context.close();
    }
  } finally {
    if (live) clearInterval(live);
    await browser?.close();
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await hub.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function login(page: Page, url: string): Promise<void> {
  await page.goto(url + '/');
  await page.getByTestId('login-token').fill(ADMIN_TOKEN);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('device-list').waitFor();
}

async function openDevice(page: Page, id: string): Promise<void> {
  await page.getByTestId(`device-link-${id}`).click();
  await page.getByTestId('device-page').waitFor();
  await page.locator('[data-testid="live-charts"][data-seeded="true"]').waitFor();
  // a loaded history: the last 15 minutes of one channel, per 10 s
  await page.getByTestId('history-channel').selectOption('temperature');
  await page.getByTestId('history-every').selectOption('10s');
  await page.getByTestId('history-load').click();
  await page.locator('[data-testid="history-chart"] canvas').first().waitFor();
  // the shot shows the top of the page: the device, its live charts, then history
  await page.evaluate(() => {
    (document.activeElement as HTMLElement | null)?.blur();
    window.scrollTo(0, 0);
  });
}

main().catch((err) => {
  process.stderr.write(`screenshots: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
