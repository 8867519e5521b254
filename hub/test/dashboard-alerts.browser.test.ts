// Alerts in the dashboard, in real headless Chromium against a real hub and a real device client:
// a rule made in the rule editor (after one the form refuses and one the hub refuses, each message
// at its field), the value driven over the threshold, the device list's badge and the header's
// count appearing live, the alert firing on the alerts page and on the device page (with the rule's
// levels on the chart), acknowledged, and resolved in history once the value is back under.
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceClient } from '../../device-sim/src/device-client.ts';
import { startTestHub, type TestHub } from './support/hub-fixture.ts';
import { waitForTestIdText } from './support/browser.ts';
import { hasRealPart } from './support/real-parts.ts';

const CHROMIUM = '/usr/bin/chromium';
const DEVICE = 'greenhouse-7';
const OTHER = 'cold-room-1';
const RULE = 'Greenhouse too hot';

describe.runIf(hasRealPart(CHROMIUM))('alerts in the dashboard, in headless Chromium', () => {
  let hub: TestHub;
  let browser: Browser;
  let page: Page;
  let device: DeviceClient;
  let alertId = 0;
  /** console errors, uncaught exceptions; must stay empty (a refused rule is a 400 the page expects) */
  const problems: string[] = [];

  const byTestId = (id: string) => page.getByTestId(id);
  const waitText = async (id: string, text: string | RegExp, timeout = 5000): Promise<void> => void (await waitForTestIdText(page, id, text, timeout));


  /** One temperature reading, stamped now, acknowledged by the hub. */
  async function temperature(value: number): Promise<void> {
    device.sendReadings([{ channel: 1, type: 'f32', offset: 0, value }], Date.now());
    await device.waitAcked();
  }

  beforeAll(async () => {
    hub = await startTestHub();
    const token = await hub.provision(DEVICE);
    await hub.provision(OTHER);
    device = hub.device(DEVICE, token);
    await device.connect();
    await temperature(21);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (message) => {
      if (message.type() !== 'error') return;
      const text = message.text();
      // the rule the hub refuses on purpose
      if (/status of 400/.test(text) && /\/api\/rules/.test(message.location().url ?? '')) return;
      problems.push(`console error: ${text}`);
    });
    await page.goto(hub.url + '/');
    await byTestId('login-token').fill(hub.adminToken);
    await byTestId('login-submit').click();
    await byTestId(`device-row-${DEVICE}`).waitFor();
  });

  afterAll(async () => {
    await browser?.close();
    await hub?.stop();
  });

  it('opens the rule editor from a chart, filled in with the device and the channel', async () => {
    await byTestId(`device-link-${DEVICE}`).click();
    await byTestId('device-page').waitFor();
    await waitText('device-rules', /No rule watches this device/);
    await byTestId('new-rule-temperature').click();
    await byTestId('rule-editor').waitFor();
    expect(await byTestId('rule-devices').inputValue()).toBe(DEVICE);
    expect(await byTestId('rule-channel').inputValue()).toBe('temperature');
    // the name field has the focus, so a keyboard user starts typing at once
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('rule-name');
  });

  it('shows only the fields of the chosen kind', async () => {
    await byTestId('rule-kind').selectOption('offline');
    expect(await byTestId('rule-above').isVisible()).toBe(false);
    expect(await byTestId('rule-channel').isVisible()).toBe(false);
    expect(await byTestId('rule-offline').isVisible()).toBe(true);
    await byTestId('rule-kind').selectOption('nodata');
    expect(await byTestId('rule-nodata').isVisible()).toBe(true);
    expect(await byTestId('rule-channel').isVisible()).toBe(true);
    expect(await byTestId('rule-above').isVisible()).toBe(false);
    await byTestId('rule-kind').selectOption('threshold');
    expect(await byTestId('rule-above').isVisible()).toBe(true);
    expect(await byTestId('rule-nodata').isVisible()).toBe(false);
  });

  it('refuses a rule the form can tell is wrong, at the field, without asking the hub', async () => {
    await byTestId('rule-name').fill(RULE);
    await byTestId('rule-above').fill('30');
    await byTestId('rule-below').fill('40');
    await byTestId('rule-save').click();
    await waitText('rule-error-below', /less than above/);
    expect(await byTestId('rule-below').getAttribute('aria-invalid')).toBe('true');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('rule-below');
    const rules = (await (await hub.api('/api/rules')).json()) as { rules: unknown[] };
    expect(rules.rules).toEqual([]);
  });

  it('shows the hub\'s refusal next to the field it names', async () => {
    await byTestId('rule-below').fill('');
    // more than the hub's 7 days: the form leaves that limit to the hub
    await byTestId('rule-for').fill('900000');
    await byTestId('rule-save').click();
    await waitText('rule-error-forMs', /forMs must be/);
    expect(await byTestId('rule-error-below').isVisible()).toBe(false);
    expect(await byTestId('rule-for').getAttribute('aria-invalid')).toBe('true');
  });

  it('creates the rule, lists it, and draws its levels on the device\'s chart', async () => {
    await byTestId('rule-for').fill('0');
    await byTestId('rule-clear').fill('28');
    await byTestId('rule-severity').selectOption('critical');
    await byTestId('rule-save').click();
    await waitText('rules-notice', `Saved “${RULE}”.`);
    const row = page.locator('[data-testid^="rule-row-"]');
    await row.first().waitFor();
    expect(await row.count()).toBe(1);
    const id = (await row.getAttribute('data-testid'))!.replace('rule-row-', '');
    await waitText(`rule-condition-${id}`, 'temperature above 30 (clears below 28)');

    await page.goto(`${hub.url}/#/device/${DEVICE}`);
    await waitText('device-rules', new RegExp(`Watched by ${RULE}`));
    await page.locator('[data-testid="live-chart-temperature"][data-lines="clear:28 above:30"]').waitFor();
    expect(await byTestId('live-chart-temperature').getAttribute('aria-label')).toMatch(/alert levels .*above 30/);
    expect(await byTestId('live-chart-humidity').getAttribute('data-lines')).toBe('');
  });

  it('shows the badge on the device list and the count in the header as soon as the value crosses the threshold', async () => {
    await byTestId('nav-devices').click();
    await byTestId(`device-row-${DEVICE}`).waitFor();
    expect(await byTestId(`alerts-${DEVICE}`).isVisible()).toBe(false);
    expect(await byTestId('alert-count').isVisible()).toBe(false);

    await temperature(35);
    const badge = page.locator(`[data-testid="alerts-${DEVICE}"][data-state="firing"]`);
    await badge.waitFor({ timeout: 5000 });
    expect(await badge.textContent()).toBe('1');
    expect(await badge.getAttribute('data-severity')).toBe('critical');
    expect(await badge.getAttribute('aria-label')).toBe('1 open alert: 1 firing, highest critical');
    await waitText('alert-count', '1');
    expect(await byTestId(`alerts-${OTHER}`).isVisible()).toBe(false);

    // the filter beside the others keeps only devices with open alerts
    await byTestId('device-filter-alerts').check();
    await page.waitForFunction((other) => !document.querySelector(`[data-testid="device-row-${other}"]`), OTHER);
    expect(await byTestId(`device-row-${DEVICE}`).isVisible()).toBe(true);
    await byTestId('device-filter-alerts').uncheck();
    await byTestId(`device-row-${OTHER}`).waitFor();
  });

  it('lists it as firing on the alerts page, and acknowledges it', async () => {
    await byTestId('nav-alerts').click();
    await byTestId('alerts-page').waitFor();
    const open = page.locator('[data-testid^="open-alert-row-"]');
    await open.first().waitFor();
    expect(await open.count()).toBe(1);
    alertId = Number(await open.getAttribute('data-alert-id'));
    expect(await open.getAttribute('data-state')).toBe('firing');
    await waitText(`open-alert-rule-${alertId}`, RULE);
    await waitText(`open-alert-device-${alertId}`, DEVICE);
    await waitText(`open-alert-value-${alertId}`, '35');
    const history = byTestId(`alert-row-${alertId}`);
    await page.locator(`[data-testid="alert-row-${alertId}"][data-state="firing"]`).waitFor();
    expect(await history.getAttribute('data-device-id')).toBe(DEVICE);

    await byTestId(`open-alert-ack-${alertId}`).click();
    await waitText(`open-alert-state-${alertId}`, 'firing · acknowledged');
    expect(await byTestId(`open-alert-ack-${alertId}`).isDisabled()).toBe(true);
    const stored = (await (await hub.api(`/api/alerts/${alertId}`)).json()) as { alert: { acknowledgedAt: string | null } };
    expect(stored.alert.acknowledgedAt).not.toBeNull();
    // the history row hears of it too
    await waitText(`alert-state-${alertId}`, 'firing · acknowledged');
    // the focus stays in the row, on its next action
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe(`open-alert-silence-${alertId}`);
  });

  it('silences it for a while, and ends the silence', async () => {
    await byTestId(`open-alert-silence-${alertId}`).selectOption(String(15 * 60_000));
    await waitText(`open-alert-state-${alertId}`, 'firing · acknowledged · silenced 15 min');
    const stored = (await (await hub.api(`/api/alerts/${alertId}`)).json()) as { alert: { silencedUntil: string | null } };
    expect(Date.parse(stored.alert.silencedUntil!)).toBeGreaterThan(Date.now() + 10 * 60_000);
    await byTestId(`open-alert-silence-${alertId}`).selectOption('0');
    await waitText(`open-alert-state-${alertId}`, 'firing · acknowledged');
  });

  it('shows it on the device page, with the chart tinted', async () => {
    await byTestId(`open-alert-device-${alertId}`).click();
    await byTestId('device-page').waitFor();
    await page.locator(`[data-testid="device-alert-row-${alertId}"][data-state="firing"]`).waitFor();
    await page.locator('[data-testid="channel-temperature"][data-alert="firing"][data-severity="critical"]').waitFor();
    await waitText('chart-alert-temperature', `firing · ${RULE}`);
    expect(await byTestId('channel-humidity').getAttribute('data-alert')).toBeNull();
  });

  it('resolves it once the value is back under the clear level, in history with its transitions', async () => {
    await temperature(25);
    await page.locator('[data-testid="channel-temperature"]:not([data-alert])').waitFor();
    await waitText('device-alerts-summary', 'none open');

    await byTestId('nav-alerts').click();
    await page.locator(`[data-testid="alert-row-${alertId}"][data-state="resolved"]`).waitFor();
    await waitText(`alert-resolved-${alertId}`, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    await byTestId('open-alert-empty').waitFor();
    expect(await byTestId('alert-count').isVisible()).toBe(false);

    await byTestId('alerts-state').selectOption('resolved');
    await page.locator(`[data-testid="alert-row-${alertId}"]`).waitFor();
    await byTestId(`alert-expand-${alertId}`).click();
    await page.locator(`[data-testid="alert-events-${alertId}"] [data-testid="alert-event"]`).nth(1).waitFor();
    const transitions = await page.locator(`[data-testid="alert-events-${alertId}"] [data-testid="alert-event"]`).evaluateAll((items) => items.map((li) => li.getAttribute('data-to')));
    expect(transitions).toEqual(['firing', 'resolved']);
    expect(await byTestId(`alert-expand-${alertId}`).getAttribute('aria-expanded')).toBe('true');

    await byTestId('nav-devices').click();
    await byTestId(`device-row-${DEVICE}`).waitFor();
    expect(await byTestId(`alerts-${DEVICE}`).isVisible()).toBe(false);
  });

  it('edits and deletes the rule', async () => {
    await byTestId('nav-alerts').click();
    await byTestId('alerts-rules').click();
    const row = page.locator('[data-testid^="rule-row-"]');
    await row.first().waitFor();
    const id = (await row.getAttribute('data-testid'))!.replace('rule-row-', '');
    await byTestId(`rule-edit-${id}`).click();
    await page.locator(`[data-testid="rule-editor"][data-rule-id="${id}"]`).waitFor();
    expect(await byTestId('rule-above').inputValue()).toBe('30');
    await byTestId('rule-above').fill('32');
    await byTestId('rule-save').click();
    await waitText(`rule-condition-${id}`, 'temperature above 32 (clears below 28)');

    await byTestId(`rule-delete-${id}`).click();
    await byTestId(`rule-delete-confirm-${id}`).click();
    await page.waitForFunction((testId) => !document.querySelector(`[data-testid="${testId}"]`), `rule-row-${id}`);
    expect(((await (await hub.api('/api/rules')).json()) as { rules: unknown[] }).rules).toEqual([]);
  });

  it('adds a webhook (after refusing a short secret at its field) and deletes it', async () => {
    await byTestId('webhook-url').fill('http://127.0.0.1:9/hooks/alerts');
    await byTestId('webhook-secret').fill('short');
    await byTestId('webhook-add').click();
    await waitText('webhook-error-secret', /16 to 256 characters/);
    await byTestId('webhook-secret').fill('a-secret-of-twenty-chars');
    await byTestId('webhook-add').click();
    const row = page.locator('[data-testid^="webhook-row-"]');
    await row.first().waitFor();
    const id = (await row.getAttribute('data-testid'))!.replace('webhook-row-', '');
    await waitText(`webhook-delivery-${id}`, 'nothing sent yet');
    await byTestId(`webhook-delete-${id}`).click();
    await page.waitForFunction((testId) => !document.querySelector(`[data-testid="${testId}"]`), `webhook-row-${id}`);
    expect(problems).toEqual([]);
  });
});
