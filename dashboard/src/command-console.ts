// Sends commands to a device and follows them to their result, from the POST answer and then from
// live `command` events (polling only to catch up after the live connection was lost).
import type { CommandView } from '../../hub/src/http/wire.ts';
import { ApiError, type Api } from './api.ts';
import { h, setText } from './dom.ts';
import { formatTimestamp } from './format.ts';
import { describeError } from './history-view.ts';

const FINAL = new Set(['succeeded', 'failed', 'timed-out']);
// The live event and the POST answer race; a later-arriving older state must not win.
const RANK: Record<string, number> = { queued: 0, sent: 1, acked: 2, succeeded: 3, failed: 3, 'timed-out': 3 };
const KEPT = 20;

/**
 * A command as the console shows it: the hub's view, or until that arrives, what was sent (the POST
 * answer promises only id and status; times are then this browser's, in epoch ms).
 */
type Command = Omit<CommandView, 'createdAt' | 'updatedAt' | 'timeoutMs'> & { createdAt: string | number; updatedAt: string | number; timeoutMs?: number };

export class CommandConsole {
  readonly element: HTMLElement;
  private readonly name: HTMLInputElement;
  private readonly args: HTMLTextAreaElement;
  private readonly timeout: HTMLInputElement;
  private readonly send: HTMLButtonElement;
  private readonly message: HTMLElement;
  private readonly list: HTMLTableSectionElement;
  /** by String(id), oldest first */
  private readonly commands = new Map<string, { command: Command; row: HTMLTableRowElement }>();
  private unavailable = false;

  constructor(private readonly api: Api, private readonly deviceId: string) {
    this.name = h('input', { type: 'text', list: 'command-names', required: true, value: 'ping', 'data-testid': 'command-name', 'aria-label': 'command name', autocomplete: 'off' });
    this.args = h('textarea', { rows: 1, spellcheck: 'false', 'data-testid': 'command-args', 'aria-label': 'arguments (JSON object)' });
    this.args.value = '{}';
    this.timeout = h('input', { type: 'number', min: '100', max: '600000', step: '100', value: '5000', required: true, 'data-testid': 'command-timeout', 'aria-label': 'timeout in ms' });
    this.send = h('button', { type: 'submit', class: 'button primary', 'data-testid': 'command-send' }, 'Send');
    this.message = h('p', { class: 'muted', 'data-testid': 'command-message', hidden: true });
    this.list = h('tbody', { 'data-testid': 'command-list' });

    const form = h('form', { class: 'toolbar', onsubmit: (e: Event) => { e.preventDefault(); void this.submit(); } },
      h('label', { class: 'field' }, h('span', null, 'Command'), this.name,
        h('datalist', { id: 'command-names' }, h('option', { value: 'ping' }), h('option', { value: 'set-rate' }), h('option', { value: 'reboot' }))),
      h('label', { class: 'field grow' }, h('span', null, 'Arguments (JSON)'), this.args),
      h('label', { class: 'field' }, h('span', null, 'Timeout (ms)'), this.timeout),
      h('div', { class: 'toolbar-actions' }, this.send));

    this.element = h('section', { class: 'card commands', 'data-testid': 'commands' },
      h('header', { class: 'section-head' }, h('h2', null, 'Commands')),
      form,
      this.message,
      h('div', { class: 'table-wrap' },
        h('table', { class: 'data-table' },
          h('thead', null, h('tr', null, h('th', null, 'Sent'), h('th', null, 'Command'), h('th', null, 'Arguments'), h('th', null, 'Status'), h('th', null, 'Result'))),
          this.list)));
  }

  /** Shows the device's recent commands, and finds out early whether this hub has commands at all. */
  async load(): Promise<void> {
    try {
      const recent = await this.api.recentCommands(this.deviceId);
      for (const command of recent.slice(0, KEPT).reverse()) this.update(command);
    } catch (err) {
      if (isMissingRoute(err)) this.markUnavailable();
    }
  }

  private markUnavailable(): void {
    this.unavailable = true;
    this.send.disabled = true;
    this.element.classList.add('unavailable');
    this.element.setAttribute('data-unavailable', 'true');
    this.say('Commands are not available on this hub.', 'notice');
  }

  private say(text: string, kind: 'muted' | 'error' | 'notice' = 'muted'): void {
    setText(this.message, text);
    this.message.hidden = !text;
    this.message.className = kind === 'error' ? 'error-text' : kind === 'notice' ? 'notice' : 'muted';
  }

  private async submit(): Promise<void> {
    if (this.unavailable) return;
    let args: unknown;
    try {
      args = JSON.parse(this.args.value.trim() || '{}');
    } catch {
      return this.say('Arguments must be JSON, e.g. {"hz": 10}.', 'error');
    }
    if (typeof args !== 'object' || args === null || Array.isArray(args)) return this.say('Arguments must be a JSON object.', 'error');
    const timeoutMs = Number(this.timeout.value);
    if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) return this.say('Timeout must be a whole number of milliseconds.', 'error');
    const name = this.name.value.trim();
    if (!name) return this.say('Enter a command name.', 'error');

    this.send.disabled = true;
    try {
      const accepted = await this.api.sendCommand(this.deviceId, { name, args: args as Record<string, unknown>, timeoutMs });
      this.say('');
      // The 202 may carry only {id, status}; the rest is what was sent until the hub says more.
      const now = Date.now();
      this.update({ deviceId: this.deviceId, name, args, result: null, createdAt: now, updatedAt: now, ...accepted });
    } catch (err) {
      if (isMissingRoute(err)) return this.markUnavailable();
      this.say(describeError(err), 'error');
    } finally {
      if (!this.unavailable) this.send.disabled = false;
    }
  }

  /** A live `command` event or an answer from the API. */
  update(command: Command): void {
    if (command.deviceId !== this.deviceId || (typeof command.id !== 'string' && typeof command.id !== 'number')) return;
    const key = String(command.id);
    const known = this.commands.get(key);
    if (known && (RANK[command.status] ?? 0) < (RANK[known.command.status] ?? 0)) return;
    const merged = { ...known?.command, ...command } as Command;
    const row = renderRow(merged);
    if (known) known.row.replaceWith(row);
    else this.list.prepend(row);
    this.commands.set(key, { command: merged, row });
    while (this.commands.size > KEPT) {
      const oldest = this.commands.keys().next().value!;
      this.commands.get(oldest)!.row.remove();
      this.commands.delete(oldest);
    }
  }

  /** After the live connection was lost, events may have been missed: ask for unfinished ones. */
  async refresh(): Promise<void> {
    const open = [...this.commands.values()].filter((c) => !FINAL.has(c.command.status));
    for (const { command } of open) {
      try {
        this.update(await this.api.command(this.deviceId, command.id));
      } catch {
        // the next reconnect tries again
      }
    }
  }
}

/** A hub without the commands API answers 404 "no route …" (a missing device says "no device …"). */
function isMissingRoute(err: unknown): boolean {
  return err instanceof ApiError && err.status === 404 && err.message.startsWith('no route');
}

function time(value: string | number): string {
  const ms = typeof value === 'number' ? value : Date.parse(value);
  return Number.isFinite(ms) ? formatTimestamp(ms).slice(11, 19) : '';
}

function show(value: unknown): string {
  if (value === null || value === undefined || value === '') return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function renderRow(command: Command): HTMLTableRowElement {
  return h('tr', { 'data-testid': 'command-row', 'data-command-id': String(command.id), 'data-status': command.status },
    h('td', null, time(command.createdAt)),
    h('td', { class: 'mono' }, command.name),
    h('td', { class: 'mono' }, show(command.args)),
    h('td', null, h('span', { class: `pill status-${command.status}`, 'data-testid': 'command-status' }, command.status)),
    h('td', { class: 'mono result', 'data-testid': 'command-result' }, show(command.result)));
}
