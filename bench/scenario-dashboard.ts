// Dashboard: a hub with many provisioned devices (10,000 by default, straight into the registry),
// some of them online and streaming (100 by default, one frame a second each, from a load
// generator process), opened in Debian's Chromium through playwright-core. Three figures, each taken in the browser:
// how long from navigation until every device is listed, the longest main-thread task while the
// list is scrolled (PerformanceObserver 'longtask'), and the bytes an idle tab moves in a minute
// (counted by a TCP proxy between the browser and the hub, both directions, as compressed and
// framed on the wire, over a window scaled to a minute; CDP counts the requests and frames).
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { BENCH_ADMIN_TOKEN } from './bench-devices.ts';
import { bytes, errorRow, ms, si, skippedRow, type Row } from './report.ts';
import type { Child } from './children.ts';
import { startCountingProxy, type CountingProxy } from './counting-proxy.ts';
import { startHubChild, startLoadChildren, stopAll, type BenchContext, type RunningHub } from './scenario-support.ts';

export const CHROMIUM = '/usr/bin/chromium';

export const DASHBOARD_BUDGETS = {
  /** navigation → every device listed */
  renderMs: 1000,
  /** a search typed → the matching devices listed */
  filterMs: 1000,
  /** a task longer than this drops frames while scrolling */
  longTaskMs: 50,
  /** an idle tab left open on a wall */
  idleBytesPerMinute: 100 * 1024,
};

export const DASHBOARD_ROW_KEYS = ['dashboard.render', 'dashboard.filter', 'dashboard.scroll', 'dashboard.idle'] as const;

const MEASURES: Record<(typeof DASHBOARD_ROW_KEYS)[number], string> = {
  'dashboard.render': 'navigation → every device listed',
  'dashboard.filter': 'search typed → matching devices listed',
  'dashboard.scroll': 'longest task while scrolling the list',
  'dashboard.idle': 'bytes an idle tab moves per minute',
};

export interface DashboardResult {
  devices: number;
  /** devices connected and streaming while the page is measured */
  online: number;
  /** navigation start → the first frame with every device counted and listed, ms */
  renderMs: number;
  /** device rows in the DOM at that frame (fewer than devices: the list renders a window of them) */
  rowsInDom: number;
  /** navigation-relative times, ms: DOMContentLoaded, and the list request's start, first byte and end */
  phases: { domContentLoaded: number; listStart: number; listFirstByte: number; listEnd: number };
  /** the page's first GET /api/devices answer: its JSON, and the bytes that crossed the network */
  listBytes: number;
  listTransferBytes: number;
  /** the search typed, and how many devices it matched */
  filterQuery: string;
  filterMatches: number;
  /** the search's input event → the list showing only its matches, ms (the list's 80 ms typing pause included) */
  filterMs: number;
  /** scrolling */
  scrollMs: number;
  scrolledPx: number;
  longTasks: number;
  /** 0: no task reached 50 ms */
  longestTaskMs: number;
  /** longest gap between two animation frames while scrolling */
  longestFrameMs: number;
  /** idle */
  idleSeconds: number;
  idleBytes: number;
  idleBytesPerMinute: number;
  idleRequests: number;
  idleWsFrames: number;
  /** WebSocket payloads as the page got them, unpacked */
  idlePayloadBytes: number;
}

export function dashboardSkipReason(): string | null {
  return existsSync(CHROMIUM) ? null : `${CHROMIUM} not installed (Debian package chromium)`;
}

/** The browser of a run in progress, for Ctrl-C. */
let activeBrowser: Browser | null = null;

export async function closeDashboardBrowser(): Promise<void> {
  const browser = activeBrowser;
  activeBrowser = null;
  await browser?.close().catch(() => undefined);
}

interface Probe {
  renderedAt?: number;
  rows?: number;
  longTasks: number[];
  frames: number[];
}

declare global {
  interface Window {
    benchProbe?: Probe;
  }
}

export async function runDashboard(ctx: BenchContext): Promise<DashboardResult> {
  const { options } = ctx;
  const devices = options.dashboardDevices;
  const online = Math.min(devices, options.dashboardOnline);
  let hub: RunningHub | null = null;
  let loads: Child[] = [];
  let proxy: CountingProxy | null = null;
  try {
    ctx.log(`dashboard: provisioning ${devices} devices`);
    hub = await startHubChild(ctx, 'dashboard', { mode: 'embedded', devices: [{ prefix: 'dash-', from: 0, count: devices }] }, [], 300_000);
    if (online > 0) {
      ctx.log(`dashboard: ${online} devices online, 1 frame/s each`);
      loads = (await startLoadChildren(ctx, 'dashboard', hub.url, { prefix: 'dash-', from: 0, count: online }, 1, { samples: 4 })).children;
      const connected = await loads[0].call<{ connected: number; firstError?: string }>('connect', { concurrency: 50 });
      if (connected.connected !== online) throw new Error(`${online - connected.connected} devices did not connect: ${connected.firstError}`);
      await loads[0].call('openLoop', { framesPerSecond: online });
    }
    // the browser talks to the hub only through the proxy, so every byte it moves is counted
    proxy = await startCountingProxy(new URL(hub.url));
    const url = proxy.url;
    activeBrowser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    });
    const context = await activeBrowser.newContext({ viewport: { width: 1440, height: 900 } });
    // tsx compiles with keepNames, so functions handed to the page call a __name helper it lacks
    await context.addInitScript({ content: 'globalThis.__name = (f) => f;' });
    const login = await context.request.post(`${url}/login`, { data: { token: BENCH_ADMIN_TOKEN } });
    if (!login.ok()) throw new Error(`POST /login: HTTP ${login.status()}`);

    // A first visit builds the bundle on the hub and warms the caches, as a returning operator's
    // browser would have them; the measured visit is a fresh tab.
    const warm = await context.newPage();
    await warm.goto(`${url}/`);
    await waitListed(warm, devices, 300_000);
    await warm.close();

    const page = await context.newPage();
    await page.addInitScript(probeScript, devices);
    const listAnswer = page.waitForResponse((res) => new URL(res.url()).pathname === '/api/devices', { timeout: 300_000 });
    ctx.log('dashboard: navigating to the device list');
    await page.goto(`${url}/`);
    await waitListed(page, devices, 300_000);
    const answer = await listAnswer;
    const listBytes = (await answer.body()).length;
    const listTransferBytes = (await answer.request().sizes()).responseBodySize;
    const { renderedAt, rows } = await page.evaluate(() => window.benchProbe!);
    // where the time went: the page and script, the list's request, its answer, the drawing after
    const phases = await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
      const list = (performance.getEntriesByType('resource') as PerformanceResourceTiming[]).find((e) => new URL(e.name).pathname === '/api/devices');
      return { domContentLoaded: nav.domContentLoadedEventEnd, listStart: list?.startTime ?? 0, listFirstByte: list?.responseStart ?? 0, listEnd: list?.responseEnd ?? 0 };
    });

    // — filtering: the search an operator types for a device whose id they half remember —
    await page.waitForTimeout(500);
    const filterQuery = `dash-${devices - 1}`.slice(0, -1);
    const filterMatches = Array.from({ length: devices }, (_, i) => `dash-${i}`).filter((id) => id.includes(filterQuery)).length;
    ctx.log(`dashboard: searching for "${filterQuery}"`);
    const filterMs = await page.evaluate(([query, matches]) => new Promise<number>((resolve) => {
      const search = document.querySelector('[data-testid="device-search"]') as HTMLInputElement;
      const started = performance.now();
      search.value = query;
      search.dispatchEvent(new Event('input', { bubbles: true }));
      const shows = new RegExp(`showing ${matches}(\\D|$)`);
      const check = () => {
        const count = document.querySelector('[data-testid="device-count"]')?.textContent ?? '';
        if (shows.test(count) && document.querySelectorAll('[data-testid^="device-row-"]').length === matches) return resolve(performance.now() - started);
        requestAnimationFrame(check);
      };
      requestAnimationFrame(check);
    }), [filterQuery, filterMatches] as const);
    await page.evaluate(() => {
      const search = document.querySelector('[data-testid="device-search"]') as HTMLInputElement;
      search.value = '';
      search.dispatchEvent(new Event('input', { bubbles: true }));
    });
    await waitListed(page, devices, 30_000);

    // — scrolling —
    await page.waitForTimeout(1000);
    ctx.log('dashboard: scrolling the list');
    await page.mouse.move(720, 500);
    await page.evaluate(() => {
      const probe = window.benchProbe!;
      probe.longTasks = [];
      probe.frames = [];
      new PerformanceObserver((list) => { for (const e of list.getEntries()) probe.longTasks.push(e.duration); }).observe({ type: 'longtask' });
      const frame = (t: number) => { probe.frames.push(t); requestAnimationFrame(frame); };
      requestAnimationFrame(frame);
    });
    const scrollStarted = Date.now();
    const scrollTop = () => page.evaluate(() => {
      const list = document.querySelector('[data-testid="device-list"]');
      let el: Element | null = list;
      while (el && !(el.scrollHeight > el.clientHeight + 1 && /auto|scroll/.test(getComputedStyle(el).overflowY))) el = el.parentElement;
      return (el ?? document.scrollingElement!).scrollTop;
    });
    let scrolledPx = 0;
    for (let i = 0; i < 40; i++) {
      const before = await scrollTop();
      await page.mouse.wheel(0, 800);
      await page.waitForTimeout(50);
      scrolledPx += Math.abs((await scrollTop()) - before);
    }
    for (const key of ['End', 'Home', 'PageDown', 'PageDown', 'End', 'Home']) {
      await page.keyboard.press(key);
      await page.waitForTimeout(250);
    }
    await page.waitForTimeout(300);
    const scrollMs = Date.now() - scrollStarted;
    const scrolled = await page.evaluate(() => {
      const { longTasks, frames } = window.benchProbe!;
      let longestFrame = 0;
      for (let i = 1; i < frames.length; i++) longestFrame = Math.max(longestFrame, frames[i] - frames[i - 1]);
      return { longTasks: longTasks.length, longestTask: Math.max(0, ...longTasks), longestFrame };
    });

    // — idle —
    ctx.log(`dashboard: idle tab for ${options.dashboardIdleSeconds} s`);
    await page.waitForTimeout(1000);
    const cdp = await context.newCDPSession(page);
    let idleRequests = 0;
    let idleWsFrames = 0;
    let idlePayloadBytes = 0;
    let counting = true;
    const wsBytes = (frame: { opcode: number; payloadData: string }) =>
      frame.opcode === 1 ? Buffer.byteLength(frame.payloadData) : Math.floor((frame.payloadData.length * 3) / 4);
    cdp.on('Network.requestWillBeSent', () => { if (counting) idleRequests++; });
    cdp.on('Network.webSocketFrameReceived', (e) => { if (counting) { idleWsFrames++; idlePayloadBytes += wsBytes(e.response); } });
    cdp.on('Network.webSocketFrameSent', (e) => { if (counting) { idleWsFrames++; idlePayloadBytes += wsBytes(e.response); } });
    await cdp.send('Network.enable');
    const wireAtStart = proxy.bytes();
    await page.waitForTimeout(options.dashboardIdleSeconds * 1000);
    const idleBytes = proxy.bytes() - wireAtStart;
    counting = false;
    await cdp.detach().catch(() => undefined);

    return {
      devices, online, renderMs: renderedAt!, rowsInDom: rows!, phases, listBytes, filterQuery, filterMatches, filterMs, listTransferBytes,
      scrollMs, scrolledPx, longTasks: scrolled.longTasks, longestTaskMs: scrolled.longestTask, longestFrameMs: scrolled.longestFrame,
      idleSeconds: options.dashboardIdleSeconds, idleBytes, idleBytesPerMinute: (idleBytes * 60) / options.dashboardIdleSeconds, idleRequests, idleWsFrames, idlePayloadBytes,
    };
  } finally {
    await closeDashboardBrowser();
    await proxy?.close();
    await stopAll([...loads, hub]);
  }
}

/**
 * Runs in the page before its own scripts: on every animation frame until then, checks whether
 * the device count says `devices` and a device row is in the document, and records that frame.
 */
function probeScript(devices: number): void {
  const probe: Probe = { longTasks: [], frames: [] };
  window.benchProbe = probe;
  const check = () => {
    const count = document.querySelector('[data-testid="device-count"]')?.textContent?.replace(/[\s,.'\u00a0\u202f]/g, '') ?? '';
    const rows = document.querySelectorAll('[data-testid^="device-row-"]').length;
    if (rows > 0 && new RegExp(`(^|\\D)${devices}(\\D|$)`).test(count)) {
      probe.renderedAt = performance.now();
      probe.rows = rows;
      performance.mark('device-list-rendered');
      return;
    }
    requestAnimationFrame(check);
  };
  requestAnimationFrame(check);
}

async function waitListed(page: Page, devices: number, timeout: number): Promise<void> {
  await page.waitForFunction((n) => {
    const count = document.querySelector('[data-testid="device-count"]')?.textContent?.replace(/[\s,.'\u00a0\u202f]/g, '') ?? '';
    return document.querySelectorAll('[data-testid^="device-row-"]').length > 0 && new RegExp(`(^|\\D)${n}(\\D|$)`).test(count);
  }, devices, { timeout, polling: 100 });
}

/** The scenario's rows: figures, or skipped without Chromium, or the error on each row. */
export async function dashboardRows(ctx: BenchContext): Promise<Row[]> {
  const scenario = `dashboard in Chromium, ${ctx.options.dashboardDevices.toLocaleString('en-US')} devices (${Math.min(ctx.options.dashboardOnline, ctx.options.dashboardDevices).toLocaleString('en-US')} online)`;
  const skip = dashboardSkipReason();
  if (skip) {
    ctx.log(`dashboard: skipped: ${skip}`);
    return DASHBOARD_ROW_KEYS.map((key) => skippedRow(key, scenario, MEASURES[key], skip));
  }
  let r: DashboardResult;
  try {
    r = await runDashboard(ctx);
  } catch (err) {
    return DASHBOARD_ROW_KEYS.map((key) => errorRow(key, scenario, MEASURES[key], err));
  }
  const b = DASHBOARD_BUDGETS;
  return [
    {
      key: 'dashboard.render', scenario, measure: MEASURES['dashboard.render'],
      values: { renderMs: r.renderMs, rowsInDom: r.rowsInDom, listBytes: r.listBytes },
      result: ms(r.renderMs),
      target: `≤ ${ms(b.renderMs)}`, met: r.renderMs <= b.renderMs,
      note: `page ready ${ms(r.phases.domContentLoaded)}, GET /api/devices sent ${ms(r.phases.listStart)}, first byte ${ms(r.phases.listFirstByte)}, last ${ms(r.phases.listEnd)}, listed ${ms(r.renderMs)}; ${r.rowsInDom.toLocaleString('en-US')} device rows in the document; GET /api/devices answered ${bytes(r.listBytes)} of JSON (${bytes(r.listTransferBytes)} on the wire); bundle and caches warm (second visit)`,
    },
    {
      key: 'dashboard.filter', scenario, measure: MEASURES['dashboard.filter'],
      values: { filterMs: r.filterMs, matches: r.filterMatches },
      result: ms(r.filterMs),
      target: `≤ ${ms(b.filterMs)}`, met: r.filterMs <= b.filterMs,
      note: `"${r.filterQuery}" typed at once into the search: ${r.filterMatches.toLocaleString('en-US')} of ${r.devices.toLocaleString('en-US')} devices match; the list waits 80 ms for more typing before it filters`,
    },
    {
      key: 'dashboard.scroll', scenario, measure: MEASURES['dashboard.scroll'],
      // a run without a long task has no longest one: the frame gap stands for it
      values: { longestFrameMs: r.longestFrameMs, scrollMs: r.scrollMs, ...(r.longTasks ? { longestTaskMs: r.longestTaskMs, longTasks: r.longTasks } : {}) },
      result: r.longTasks ? `${ms(r.longestTaskMs)} (${r.longTasks} long tasks)` : `no task ≥ ${b.longTaskMs} ms`,
      target: `≤ ${b.longTaskMs} ms`, met: r.longestTaskMs <= b.longTaskMs,
      note: `mouse wheel and Page/Home/End keys for ${(r.scrollMs / 1000).toFixed(1)} s, ${r.scrolledPx.toLocaleString('en-US')} px wheeled; longest gap between frames ${ms(r.longestFrameMs)}`,
    },
    {
      key: 'dashboard.idle', scenario, measure: MEASURES['dashboard.idle'],
      values: { bytesPerMinute: r.idleBytesPerMinute, idleSeconds: r.idleSeconds },
      result: `${bytes(r.idleBytesPerMinute)}/min`,
      target: `≤ ${bytes(b.idleBytesPerMinute)}/min`, met: r.idleBytesPerMinute <= b.idleBytesPerMinute,
      note: `${bytes(r.idleBytes)} on the wire over ${r.idleSeconds} s (both ways, as sent: compressed, with headers and framing), ${r.idleRequests} requests, ${r.idleWsFrames} WebSocket frames carrying ${bytes(r.idlePayloadBytes)} unpacked; ${r.online.toLocaleString('en-US')} devices online at 1 frame/s`,
    },
  ];
}
