// Command lifecycle: queued → sent → (acked) → succeeded | failed | timed-out. Queued commands
// wait for their device; sent ones are resent after a reconnect or a hub restart with the same id,
// and the device answers a repeated id from memory [FP-4.5.1].
import type { Logger } from 'pino';
import type { DeviceLink } from '../ingest/device-link.ts';
import type { LiveBus } from '../live/live-bus.ts';
import { LogLimiter } from '../log-limiter.ts';
import { MAX_COMMAND_TEXT, MAX_NAME, type CommandResultFrame } from '../protocol/index.ts';
import { FINAL_STATUSES, type CommandLog, type CommandRecord } from './command-log.ts';

export interface CommandServiceOptions {
  log: CommandLog;
  live: LiveBus;
  logger: Logger;
  /** rate-limits what a device can make the service log (default: one of its own) */
  logLimiter?: LogLimiter;
  /** the device's current link, if it is online */
  linkOf(deviceId: string): DeviceLink | null;
  /** how long a command may wait for an offline device */
  queueTtlMs: number;
  /** most commands waiting per device */
  maxQueuedPerDevice: number;
  defaultTimeoutMs: number;
  maxTimeoutMs: number;
}

export class CommandError extends Error {
  constructor(readonly code: 'HUB_ERR_BAD_REQUEST' | 'HUB_ERR_QUEUE_FULL', message: string) {
    super(message);
  }
}

/** What the API and /ws/live show of a command. */
export function commandView(c: CommandRecord) {
  let args: unknown = c.args;
  let result: unknown = c.result;
  try { args = c.args ? JSON.parse(c.args) : {}; } catch { /* shown as text */ }
  try { if (c.result) result = JSON.parse(c.result); } catch { /* shown as text */ }
  return {
    id: c.id, deviceId: c.deviceId, name: c.name, args, timeoutMs: c.timeoutMs, status: c.status, result,
    createdAt: new Date(c.createdAt).toISOString(), updatedAt: new Date(c.updatedAt).toISOString(),
  };
}

export class CommandService {
  private readonly timers = new Map<number, NodeJS.Timeout>();
  private readonly limitedLog: LogLimiter;

  constructor(private readonly options: CommandServiceOptions) {
    this.limitedLog = options.logLimiter ?? new LogLimiter(options.logger);
  }

  /** After a restart: time out what is overdue, re-arm the rest. */
  async start(): Promise<void> {
    for (const command of await this.options.log.open()) this.arm(command);
  }

  async submit(deviceId: string, request: { name?: unknown; args?: unknown; timeoutMs?: unknown }): Promise<CommandRecord> {
    const { name, args = {}, timeoutMs = this.options.defaultTimeoutMs } = request;
    if (typeof name !== 'string' || name.length === 0 || Buffer.byteLength(name) > MAX_NAME) {
      throw new CommandError('HUB_ERR_BAD_REQUEST', `name: 1 to ${MAX_NAME} bytes`);
    }
    if (typeof args !== 'object' || args === null || Array.isArray(args)) throw new CommandError('HUB_ERR_BAD_REQUEST', 'args: a JSON object');
    const argsText = JSON.stringify(args);
    if (Buffer.byteLength(argsText) > MAX_COMMAND_TEXT) throw new CommandError('HUB_ERR_BAD_REQUEST', `args: at most ${MAX_COMMAND_TEXT} bytes of JSON`);
    if (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > this.options.maxTimeoutMs) {
      throw new CommandError('HUB_ERR_BAD_REQUEST', `timeoutMs: 1 to ${this.options.maxTimeoutMs}`);
    }
    const waiting = (await this.options.log.open(deviceId)).filter((c) => c.status === 'queued').length;
    if (waiting >= this.options.maxQueuedPerDevice) {
      throw new CommandError('HUB_ERR_QUEUE_FULL', `${waiting} commands already wait for ${deviceId}`);
    }
    const now = Date.now();
    let command = await this.options.log.create({ deviceId, name, args: argsText, timeoutMs, createdAt: now, expiresAt: now + this.options.queueTtlMs });
    this.publish(command);
    const link = this.options.linkOf(deviceId);
    this.logLifecycle(command, 'command submitted', { timeoutMs, online: link !== null });
    if (link) command = await this.send(command, link);
    else this.arm(command);
    return command;
  }

  /** The device (re)connected: deliver what waits and resend what is unanswered, in order. */
  async deviceReady(deviceId: string): Promise<void> {
    const link = this.options.linkOf(deviceId);
    if (!link) return;
    for (const command of await this.options.log.open(deviceId)) await this.send(command, link);
  }

  async result(deviceId: string, frame: CommandResultFrame): Promise<void> {
    const command = await this.options.log.get(frame.id);
    if (!command || command.deviceId !== deviceId) {
      // a device may only answer its own commands
      this.limitedLog.warn(deviceId, { deviceId, commandId: frame.id, status: frame.status }, 'result for an unknown command');
      return;
    }
    if (FINAL_STATUSES.has(command.status)) return; // a repeated answer changes nothing
    if (frame.status === 'accepted') {
      if (command.status !== 'acked') {
        const acked = (await this.options.log.update(command.id, { status: 'acked' }))!;
        this.logLifecycle(acked, 'command acked');
        this.publish(acked);
      }
      return;
    }
    this.clearTimer(command.id);
    const status = frame.status === 'succeeded' ? 'succeeded' : 'failed';
    const result = frame.status === 'unknown' ? JSON.stringify({ error: 'unknown command' }) : frame.payload;
    const finished = (await this.options.log.update(command.id, { status, result }))!;
    this.logLifecycle(finished, status === 'succeeded' ? 'command succeeded' : 'command failed', status === 'failed' ? { result: result.slice(0, 200) } : {});
    this.publish(finished);
  }

  private async send(command: CommandRecord, link: DeviceLink): Promise<CommandRecord> {
    if (FINAL_STATUSES.has(command.status)) return command;
    const deadline = command.deadline ?? Date.now() + command.timeoutMs;
    link.send({ type: 'command', id: command.id, timeoutMs: command.timeoutMs, name: command.name, args: command.args });
    let sent = command;
    if (command.status === 'queued') {
      sent = (await this.options.log.update(command.id, { status: 'sent', deadline }))!;
      this.logLifecycle(sent, 'command sent');
      this.publish(sent);
    } else {
      // a reconnecting device gets its unanswered commands again: limited, as it may reconnect in a loop
      this.limitedLog.info(command.deviceId, this.lifecycleFields(command), 'command resent');
    }
    this.arm(sent);
    return sent;
  }

  /** Sets the one timer a command needs: queue expiry while queued, result deadline once sent. */
  private arm(command: CommandRecord): void {
    this.clearTimer(command.id);
    const due = command.status === 'queued' ? command.expiresAt : command.deadline ?? Date.now() + command.timeoutMs;
    const reason = command.status === 'queued' ? 'not delivered: device stayed offline' : 'no result from the device in time';
    const timer = setTimeout(() => void this.timeOut(command.id, reason), Math.max(0, due - Date.now()));
    timer.unref();
    this.timers.set(command.id, timer);
  }

  private async timeOut(id: number, reason: string): Promise<void> {
    this.timers.delete(id);
    const command = await this.options.log.get(id);
    if (!command || FINAL_STATUSES.has(command.status)) return;
    const timedOut = (await this.options.log.update(id, { status: 'timed-out', result: JSON.stringify({ error: reason }) }))!;
    // a queued command expires (never delivered); a sent one times out (no result)
    this.logLifecycle(timedOut, command.status === 'queued' ? 'command expired' : 'command timed out', { reason });
    this.publish(timedOut);
  }

  private lifecycleFields(command: CommandRecord) {
    return { deviceId: command.deviceId, commandId: command.id, name: command.name, status: command.status };
  }

  /**
   * Lifecycle lines are not limited: each happens once per command, and commands come from the
   * operator (at most `maxQueuedPerDevice` waiting per device), not from devices.
   */
  private logLifecycle(command: CommandRecord, message: string, extra: object = {}): void {
    this.options.logger.info({ ...this.lifecycleFields(command), ...extra }, message);
  }

  private clearTimer(id: number): void {
    clearTimeout(this.timers.get(id));
    this.timers.delete(id);
  }

  private publish(command: CommandRecord): void {
    this.options.live.publish({ type: 'command', deviceId: command.deviceId, command: commandView(command) });
  }

  async close(): Promise<void> {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    await this.options.log.close();
  }
}
