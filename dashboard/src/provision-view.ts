// Adding, renaming and deleting devices from the dashboard, in modal dialogs. A new device's token
// is shown once, in the dialog that created it, with what a device needs to connect: the
// WebSocket URL and token, a simulator command that runs this very device, and a sketch
// for the C device library (device-sim/firmware) with the URL and token filled in. Closing the
// dialog lets go of the token: the hub keeps only its hash.
import type { DeviceView, ProvisionedDeviceView } from '../../hub/src/http/wire.ts';
import { ApiError, type Api } from './api.ts';
import type { DeviceEntry, DeviceStore } from './device-store.ts';
import { h, setText } from './dom.ts';
import { simCommand } from './sim-command.ts';

/** The hub's id rule (protocol DEVICE_ID_PATTERN), checked here too so the form can say so at once. */
const ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
const MAX_NAME = 200;

function errorText(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 409) return 'A device with this id exists already.';
    return err.message;
  }
  return 'The hub is not reachable.';
}

/** A modal dialog, removed from the page when closed (with whatever it showed). */
function modal(testId: string, title: string, ...content: Node[]): HTMLDialogElement {
  const dialog = h('dialog', { class: 'modal', 'data-testid': testId, 'aria-label': title }, h('h2', null, title), ...content);
  dialog.addEventListener('close', () => dialog.remove());
  document.body.appendChild(dialog);
  dialog.showModal();
  return dialog;
}

async function copy(text: string, source: HTMLTextAreaElement | HTMLInputElement): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // no clipboard permission (or not a secure context): the old way, from a selection
    source.focus();
    source.select();
    try {
      return document.execCommand('copy');
    } catch {
      return false;
    }
  }
}

/** A read-only block of text with a copy button beside its title. */
function copyBlock(testId: string, title: string, text: string, note?: string): HTMLElement {
  const area = h('textarea', { class: 'snippet mono', readonly: true, spellcheck: 'false', rows: String(Math.min(18, text.split('\n').length)), 'data-testid': `${testId}-text` });
  area.value = text;
  const status = h('span', { class: 'muted copy-status', 'data-testid': `${testId}-copied`, role: 'status' });
  const button = h('button', { type: 'button', class: 'button small', 'data-testid': `${testId}-copy` }, 'Copy');
  button.addEventListener('click', async () => {
    const ok = await copy(text, area);
    setText(status, ok ? 'Copied' : 'Select the text and copy it by hand');
  });
  return h('div', { class: 'snippet-block', 'data-testid': testId },
    h('div', { class: 'snippet-head' }, h('span', { class: 'snippet-title' }, title), h('span', { class: 'spacer' }), status, button),
    note ? h('p', { class: 'muted snippet-note' }, note) : null,
    area);
}

/** The hub as the browser reaches it; a device on another network may need another address. */
function hubAddress(): { http: string; ws: string; host: string; port: number; tls: boolean } {
  const tls = location.protocol === 'https:';
  return {
    http: location.origin,
    ws: `${tls ? 'wss' : 'ws'}://${location.host}/ws/device`,
    host: location.hostname,
    port: Number(location.port) || (tls ? 443 : 80),
    tls,
  };
}

/** An Arduino sketch (ESP32, arduinoWebSockets) on the TelemetryHub session module, filled in for this device. */
export function firmwareSketch(id: string, token: string): string {
  const hub = hubAddress();
  return `// ${id}: an ESP32 sketch on the TelemetryHub library (device-sim/firmware) with the
// arduinoWebSockets library (links2004) as its WebSocket client. Hub: ${hub.ws}
#include <WiFi.h>
#include <WebSocketsClient.h>
#include <string.h>
#include <telemetry_session.h>

#define WIFI_SSID     "your-network"
#define WIFI_PASSWORD "your-password"
#define HUB_HOST      "${hub.host}"   // the hub's address as the device reaches it
#define HUB_PORT      ${hub.port}
#define HUB_PATH      "/ws/device"
#define DEVICE_ID     "${id}"
#define DEVICE_TOKEN  "${token}"   // keep it secret: it is this device's identity

static const tf_channel CHANNELS[] = {
    {1, TF_VT_F32, {"temperature", 11}, {"\\xC2\\xB0" "C", 3}},
};
#define FRAME_CAP TF_READINGS_SIZE(1, TF_SAMPLE_SIZE(TF_VT_F32))
static uint8_t ring[TFS_RING_SIZE(64, FRAME_CAP)];  // frames kept until the hub ACKs them
static uint8_t tx[128];
static tfs_result results[3];
static tfs_session session;
static WebSocketsClient ws;
static uint32_t last_reading_ms;

// one binary WebSocket message per frame
static bool send_frame(void *, const uint8_t *frame, size_t len) { return ws.sendBIN(frame, len); }
static uint32_t clock_ms(void *) { return millis(); }
static uint32_t random32(void *) { return esp_random(); }
static void on_command(void *, tfs_session *s, uint32_t id, tf_str name, tf_str args) {
  if (name.len == 4 && memcmp(name.ptr, "ping", 4) == 0) tfs_command_result(s, id, TF_STATUS_SUCCEEDED, args);
  else tfs_command_result(s, id, TF_STATUS_UNKNOWN, tf_cstr(""));
}

static void on_ws(WStype_t type, uint8_t *payload, size_t length) {
  if (type == WStype_CONNECTED) tfs_link_up(&session);          // sends HELLO, resends kept frames
  else if (type == WStype_DISCONNECTED) tfs_link_down(&session);
  else if (type == WStype_BIN) tfs_receive(&session, payload, length);
}

void setup() {
  WiFi.begin(WIFI_SSID, WIFI_PASSWORD);
  while (WiFi.status() != WL_CONNECTED) delay(200);
  tfs_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.device_id = tf_cstr(DEVICE_ID);
  cfg.firmware = tf_cstr("${id} 1.0.0");
  cfg.channels = CHANNELS;
  cfg.channel_count = 1;
  cfg.session = esp_random();  // a new session at every boot
  cfg.ring = ring;
  cfg.ring_size = sizeof ring;
  cfg.frame_cap = FRAME_CAP;
  cfg.tx = tx;
  cfg.tx_cap = sizeof tx;
  cfg.results = results;
  cfg.result_count = 3;
  cfg.send = send_frame;
  cfg.now_ms = clock_ms;
  cfg.random32 = random32;
  cfg.on_command = on_command;
  tfs_init(&session, &cfg);
  ws.setExtraHeaders("Authorization: Bearer " DEVICE_TOKEN);
  ws.${hub.tls ? 'beginSSL' : 'begin'}(HUB_HOST, HUB_PORT, HUB_PATH);
  ws.onEvent(on_ws);
  ws.setReconnectInterval(2000);
}

void loop() {
  ws.loop();
  tfs_poll(&session);
  uint64_t hub_now;
  if (tfs_hub_time(&session, &hub_now) && millis() - last_reading_ms >= 1000) {
    last_reading_ms = millis();
    tf_readings_builder b;
    if (tfs_begin(&session, &b, true, hub_now) == 0 && tf_readings_add_f32(&b, 1, 0, temperatureRead()) == 0)
      tfs_commit(&session, &b, NULL);
  }
}
`;
}

function connectionText(id: string, token: string): string {
  const hub = hubAddress();
  return [
    `device id:  ${id}`,
    `token:      ${token}`,
    `WebSocket:  ${hub.ws}`,
    `header:     Authorization: Bearer ${token}`,
    `            (or ${hub.ws}?token=${token} where a client cannot set headers)`,
  ].join('\n');
}

/** What the dialog shows once the device exists: its token (once) and how to connect it. */
function provisioned(device: ProvisionedDeviceView, done: () => void): HTMLElement {
  const hub = hubAddress();
  const sim = simCommand(device.id, device.token, hub.http);
  const token = h('input', { class: 'token mono', readonly: true, value: device.token, 'aria-label': 'device token', 'data-testid': 'new-device-token' });
  const copied = h('span', { class: 'muted copy-status', 'data-testid': 'token-copied', role: 'status' });
  const copyButton = h('button', { type: 'button', class: 'button', 'data-testid': 'copy-token' }, 'Copy token');
  copyButton.addEventListener('click', async () => setText(copied, (await copy(device.token, token)) ? 'Copied' : 'Select the token and copy it by hand'));
  return h('div', { class: 'provisioned', 'data-testid': 'provisioned', 'data-device-id': device.id },
    h('p', null, 'Added ', h('strong', null, device.name), device.name === device.id ? null : h('span', { class: 'mono muted' }, ` (${device.id})`), '.'),
    h('p', { class: 'notice' }, 'This token is shown only now: the hub keeps just its hash. Copy it before you close this dialog; a lost token means deleting the device and adding it again.'),
    h('div', { class: 'token-row' }, token, copyButton, copied),
    copyBlock('snippet-connect', 'Connect', connectionText(device.id, device.token),
      'Any WebSocket client can be this device: it sends one binary message per frame as firmware-protocol.md describes (HELLO with this id first, then READINGS) and the hub answers with ACKs. The address is the hub as this browser reaches it.'),
    copyBlock('snippet-sim', 'Simulator', sim,
      'Runs this device with simulated sensors from a checkout of the hub. The token is on the command line, where other users of that machine can see it.'),
    copyBlock('snippet-firmware', 'Arduino / C (ESP32)', firmwareSketch(device.id, device.token),
      'Install the TelemetryHub library from device-sim/firmware (see its README) and arduinoWebSockets; set your Wi-Fi and, if devices reach the hub under another address, HUB_HOST.'),
    h('div', { class: 'modal-actions' }, h('button', { type: 'button', class: 'button primary', 'data-testid': 'provision-done', onclick: done }, 'Done')));
}

export function openAddDevice(api: Api, store: DeviceStore): void {
  const id = h('input', { name: 'id', placeholder: 'picked by the hub', spellcheck: 'false', autocomplete: 'off', maxlength: '64', 'data-testid': 'new-device-id' });
  const name = h('input', { name: 'name', placeholder: 'e.g. Greenhouse 3', autocomplete: 'off', maxlength: String(MAX_NAME), 'data-testid': 'new-device-name' });
  const error = h('p', { class: 'error-text', role: 'alert', 'data-testid': 'add-device-error', hidden: true });
  const submit = h('button', { type: 'submit', class: 'button primary', 'data-testid': 'add-device-submit' }, 'Add device');
  const cancel = h('button', { type: 'button', class: 'button ghost' }, 'Cancel');
  const form = h('form', { class: 'modal-form', method: 'dialog' },
    h('label', { class: 'field' }, h('span', null, 'Device id (optional: 1–64 of A–Z a–z 0–9 . _ - :)'), id),
    h('label', { class: 'field' }, h('span', null, 'Name (optional)'), name),
    error,
    h('div', { class: 'modal-actions' }, cancel, submit));
  const dialog = modal('add-device-dialog', 'Add a device', form);
  cancel.addEventListener('click', () => dialog.close());
  queueMicrotask(() => id.focus());
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body: { id?: string; name?: string } = {};
    if (id.value.trim()) body.id = id.value.trim();
    if (name.value.trim()) body.name = name.value.trim();
    if (body.id !== undefined && !ID_PATTERN.test(body.id)) {
      setText(error, 'The id takes 1–64 of A–Z a–z 0–9 . _ - :');
      error.hidden = false;
      return;
    }
    submit.disabled = true;
    error.hidden = true;
    try {
      const device = await api.createDevice(body);
      const { token: _token, ...view } = device;
      store.upsert(view as DeviceView);
      form.replaceWith(provisioned(device, () => dialog.close()));
    } catch (err) {
      setText(error, errorText(err));
      error.hidden = false;
      submit.disabled = false;
    }
  });
}

export function openRenameDevice(api: Api, store: DeviceStore, entry: DeviceEntry): void {
  const id = entry.device.id;
  const name = h('input', { name: 'name', value: entry.device.name, autocomplete: 'off', maxlength: String(MAX_NAME), 'data-testid': 'rename-input' });
  const error = h('p', { class: 'error-text', role: 'alert', 'data-testid': 'rename-error', hidden: true });
  const submit = h('button', { type: 'submit', class: 'button primary', 'data-testid': 'rename-submit' }, 'Rename');
  const cancel = h('button', { type: 'button', class: 'button ghost' }, 'Cancel');
  const form = h('form', { class: 'modal-form', method: 'dialog' },
    h('p', { class: 'muted' }, 'Device ', h('span', { class: 'mono' }, id), '. The name is only for people: the device keeps its id and token.'),
    h('label', { class: 'field' }, h('span', null, 'Name'), name),
    error,
    h('div', { class: 'modal-actions' }, cancel, submit));
  const dialog = modal('rename-dialog', 'Rename device', form);
  cancel.addEventListener('click', () => dialog.close());
  queueMicrotask(() => name.select());
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    try {
      store.upsert(await api.renameDevice(id, name.value.trim() || id));
      dialog.close();
    } catch (err) {
      setText(error, errorText(err));
      error.hidden = false;
      submit.disabled = false;
    }
  });
}

export function openDeleteDevice(api: Api, store: DeviceStore, entry: DeviceEntry): void {
  const id = entry.device.id;
  const error = h('p', { class: 'error-text', role: 'alert', 'data-testid': 'delete-error', hidden: true });
  const confirm = h('button', { type: 'button', class: 'button danger-fill', 'data-testid': 'delete-confirm' }, 'Delete device');
  const cancel = h('button', { type: 'button', class: 'button ghost', 'data-testid': 'delete-cancel' }, 'Cancel');
  const dialog = modal('delete-dialog', 'Delete device',
    h('p', null, 'Delete ', h('strong', null, entry.device.name), entry.device.name === id ? null : h('span', { class: 'mono muted' }, ` (${id})`), '?'),
    h('p', { class: 'muted' }, 'Its token stops working at once and a connected device is disconnected; its open commands fail. Stored readings stay in history. This cannot be undone.'),
    error,
    h('div', { class: 'modal-actions' }, cancel, confirm));
  cancel.addEventListener('click', () => dialog.close());
  queueMicrotask(() => cancel.focus());
  confirm.addEventListener('click', async () => {
    confirm.disabled = true;
    try {
      await api.deleteDevice(id);
      store.remove(id);
      dialog.close();
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        store.remove(id);
        return dialog.close();
      }
      setText(error, errorText(err));
      error.hidden = false;
      confirm.disabled = false;
    }
  });
}
