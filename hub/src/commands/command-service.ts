// Command lifecycle: queued → sent → (acked) → succeeded | failed | timed-out. Queued commands
// wait for their device; sent ones are resent after a reconnect or a hub restart with the same id,
// and the device answers a repeated id from memory [FP-4.5.1]. Open commands (queued, sent or
// acked) are bounded per device and counted in memory, so a submit costs the same however many
// commands wait; deleting a device fails its open commands.
//
// Every state change is a compare-and-set in the command log, so a result racing a timeout (in this
// process or another sharing the log) is recorded once. The times a command times out at are kept
// with it; a sweep on a timer times out whatever is due, whichever process armed it, and a local
// timer per command only makes the common case exact to the millisecond.
import type { Logger } from 'pino';
import type { DeviceLink } from '../ingest/device-link.ts';
import type { CommandView } from '../http/wire.ts';
import type { LiveBus } from '../live/live-bus.ts';
import { LogLimiter } from '../log-limiter.ts';
import { encodeFrame, MAX_COMMAND_TEXT, MAX_NAME, type CommandResultFrame } from '../protocol/index.ts';
import { FINAL_STATUSES, type CommandLog, type CommandRecord, type CommandStatus } from './command-log.ts';

export interface CommandServiceOptions {
  commandLog: CommandLog;
  live: LiveBus;
  log: Logger;
  /** rate-limits what a device can make the service log (default: one of its own) */
  logLimiter?: LogLimiter;
  /** the device's current link, if it is online */
  linkOf(deviceId: string): DeviceLink | null;
  /** how long a command may wait for an offline device */
  queueTtlMs: number;
  /** most open commands (queued, sent or acked) per device, online or not */
  maxOpenPerDevice: number;
  /** whether the device is (still) provisioned; default: always */
  deviceExists?(deviceId: string): Promise<boolean>;
  defaultTimeoutMs: number;
  maxTimeoutMs: number;
  /** how often the log is swept for commands past their time (default 1000 ms) */
  sweepIntervalMs?: number;
}

const OPEN: readonly CommandStatus[] = ['queued', 'sent', 'acked'];
const AWAITING_RESULT: readonly CommandStatus[] = ['sent', 'acked'];
const EXPIRED_REASON = 'not delivered: device stayed offline';
const NO_RESULT_REASON = 'no result from the device in time';

/** When an open command times out: its queue expiry while queued, its result deadline once sent. */
function dueAt(command: CommandRecord): number {
  return command.status === 'queued' ? command.expiresAt : command.deadline ?? command.updatedAt + command.timeoutMs;
}

export class CommandError extends Error {
  constructor(readonly code: 'HUB_ERR_BAD_REQUEST' | 'HUB_ERR_QUEUE_FULL' | 'HUB_ERR_NOT_FOUND', message: string) {
    super(message);
  }
}

/** What the API and /ws/live show of a command. */
export function commandView(c: CommandRecord): CommandView {
  let args: unknown = c.args;
  let result: unknown = c.result;
  try { args = c.args ? JSON.parse(c.args) : {}; } catch { /* shown as text */ }
  try { if (c.result) result = JSON.parse(c.result); } catch { /* shown as text */ }
  return {
    id: c.id, deviceId: c.deviceId, name: c.name, args, timeoutMs: c.timeoutMs, status: c.status, result,
    createdAt: new Date(c.createdAt).toISOString(), updatedAt: new Date(c.updatedAt).toISOString(),
  };
}

/** The result of a command whose device was deleted before it finished. */
export const DEVICE_DELETED_RESULT = JSON.stringify({ error: 'device deleted' });

/** A submit between its bound check and its insert; a deletion meanwhile cancels it. */
interface Reservation {
  cancelled: boolean;
}

export class CommandService {
  private readonly timers = new Map<number, NodeJS.Timeout>();
  private readonly limitedLog: LogLimiter;
  /** ids of open commands per device: the bound is checked without a query */
  private readonly openIds = new Map<string, Set<number>>();
  private readonly recountedAt = new Map<string, number>();
  private readonly reserved = new Map<string, Set<Reservation>>();
  private sweepTimer: NodeJS.Timeout | null = null;
  private sweeping: Promise<number> | null = null;

  constructor(private readonly options: CommandServiceOptions) {
    this.limitedLog = options.logLimiter ?? new LogLimiter(options.log);
  }

  /**
   * After a restart: time out what is overdue, re-arm the rest, fail what belongs to deleted
   * devices; then sweep the log on a timer.
   */
  async start(): Promise<void> {
    const exists = new Map<string, boolean>();
    for (const command of await this.options.commandLog.open()) {
      let known = exists.get(command.deviceId);
      if (known === undefined) exists.set(command.deviceId, (known = (await this.options.deviceExists?.(command.deviceId)) ?? true));
      if (!known) continue;
      this.track(command);
      this.arm(command);
    }
    for (const [deviceId, known] of exists) if (!known) await this.deviceDeleted(deviceId);
    this.sweepTimer = setInterval(() => void this.sweep(), this.options.sweepIntervalMs ?? 1000);
    this.sweepTimer.unref();
  }

  /**
   * Times out every open command past its time at `now`, from this process or another; returns
   * how many. What a dead timer (a stopped process, another process) missed is caught here.
   */
  sweep(now = Date.now()): Promise<number> {
    this.sweeping ??= (async () => {
      let timedOut = 0;
      try {
        for (const command of await this.options.commandLog.due(now)) if (await this.timeOut(command)) timedOut++;
      } catch (err) {
        this.options.log.error({ err }, 'command sweep failed');
      } finally {
        this.sweeping = null;
      }
      return timedOut;
    })();
    return this.sweeping;
  }

  /** Open commands of a device, and submits under way for it. */
  openCount(deviceId: string): number {
    return (this.openIds.get(deviceId)?.size ?? 0) + (this.reserved.get(deviceId)?.size ?? 0);
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
    let open = this.openCount(deviceId);
    if (open >= this.options.maxOpenPerDevice && (await this.recount(deviceId))) open = this.openCount(deviceId);
    if (open >= this.options.maxOpenPerDevice) {
      throw new CommandError('HUB_ERR_QUEUE_FULL', `${open} commands for ${deviceId} are queued or wait for a result (at most ${this.options.maxOpenPerDevice})`);
    }
    const reservation: Reservation = { cancelled: false };
    const reservations = this.reserved.get(deviceId) ?? this.reserved.set(deviceId, new Set()).get(deviceId)!;
    reservations.add(reservation);
    let command: CommandRecord;
    try {
      if (this.options.deviceExists && !(await this.options.deviceExists(deviceId))) {
        throw new CommandError('HUB_ERR_NOT_FOUND', `no device ${JSON.stringify(deviceId)}`);
      }
      const now = Date.now();
      command = await this.options.commandLog.create({ deviceId, name, args: argsText, timeoutMs, createdAt: now, expiresAt: now + this.options.queueTtlMs });
    } finally {
      reservations.delete(reservation);
      if (reservations.size === 0) this.reserved.delete(deviceId);
    }
    if (reservation.cancelled) {
      // the device was deleted while this command was being stored: it must never be delivered
      const failed = await this.options.commandLog.transition(command.id, OPEN, { status: 'failed', result: DEVICE_DELETED_RESULT });
      if (!failed) return (await this.options.commandLog.get(command.id)) ?? command;
      this.logLifecycle(failed, 'command failed', { reason: 'device deleted' });
      this.publish(failed);
      return failed;
    }
    this.track(command);
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
    for (const command of await this.options.commandLog.open(deviceId)) await this.send(command, link);
  }

  async result(deviceId: string, frame: CommandResultFrame): Promise<void> {
    const command = await this.options.commandLog.get(frame.id);
    if (!command || command.deviceId !== deviceId) {
      // a device may only answer its own commands
      this.limitedLog.warn(deviceId, { deviceId, commandId: frame.id, status: frame.status }, 'result for an unknown command');
      return;
    }
    if (FINAL_STATUSES.has(command.status)) return; // a repeated answer changes nothing
    if (frame.status === 'accepted') {
      if (command.status !== 'acked') {
        const deadline = command.deadline ?? Date.now() + command.timeoutMs;
        const acked = await this.options.commandLog.transition(command.id, ['queued', 'sent'], { status: 'acked', deadline });
        if (!acked) return; // finished meanwhile
        this.logLifecycle(acked, 'command acked');
        this.publish(acked);
      }
      return;
    }
    const status = frame.status === 'succeeded' ? 'succeeded' : 'failed';
    const result = frame.status === 'unknown' ? JSON.stringify({ error: 'unknown command' }) : frame.payload;
    const finished = await this.options.commandLog.transition(command.id, OPEN, { status, result });
    if (!finished) return; // timed out (or failed) meanwhile: that one is recorded, not this
    this.clearTimer(command.id);
    this.untrack(finished);
    this.logLifecycle(finished, status === 'succeeded' ? 'command succeeded' : 'command failed', status === 'failed' ? { result: result.slice(0, 200) } : {});
    this.publish(finished);
  }

  private async send(command: CommandRecord, link: DeviceLink): Promise<CommandRecord> {
    if (FINAL_STATUSES.has(command.status)) return command;
    const frame = { type: 'command', id: command.id, timeoutMs: command.timeoutMs, name: command.name, args: command.args } as const;
    if (link.maxFrame) {
      // [FP-4.4.1] never more than the device said it can receive: fail now rather than time out
      const frameBytes = encodeFrame(frame).length;
      if (frameBytes > link.maxFrame) return this.tooLarge(command, link.maxFrame, frameBytes);
    }
    let sent = command;
    if (command.status === 'queued') {
      // marked sent before it goes out: a command that timed out or failed meanwhile is never delivered
      const updated = await this.options.commandLog.transition(command.id, ['queued'], { status: 'sent', deadline: Date.now() + command.timeoutMs });
      if (!updated) return (await this.options.commandLog.get(command.id)) ?? command; // sent or finished meanwhile
      sent = updated;
      link.send(frame);
      this.logLifecycle(sent, 'command sent');
      this.publish(sent);
    } else {
      link.send(frame);
      // a reconnecting device gets its unanswered commands again: limited, as it may reconnect in a loop
      this.limitedLog.info(command.deviceId, this.lifecycleFields(command), 'command resent');
    }
    this.arm(sent);
    return sent;
  }

  /** [FP-4.4.1] Fails a command whose COMMAND frame is larger than the device can receive. */
  private async tooLarge(command: CommandRecord, maxFrame: number, frameBytes: number): Promise<CommandRecord> {
    const result = JSON.stringify({ error: 'command too large for the device', maxFrame, frameBytes });
    const failed = await this.options.commandLog.transition(command.id, OPEN, { status: 'failed', result });
    if (!failed) return (await this.options.commandLog.get(command.id)) ?? command; // finished meanwhile
    this.clearTimer(command.id);
    this.untrack(failed);
    this.logLifecycle(failed, 'command failed', { reason: 'too large for the device', maxFrame, frameBytes });
    this.publish(failed);
    return failed;
  }

  /** Sets the one local timer a command needs, at its due time; the sweep covers it if it dies. */
  private arm(command: CommandRecord): void {
    this.clearTimer(command.id);
    const timer = setTimeout(() => void this.timeOutWhenDue(command.id), Math.max(0, dueAt(command) - Date.now()));
    timer.unref();
    this.timers.set(command.id, timer);
  }

  private async timeOutWhenDue(id: number): Promise<void> {
    this.timers.delete(id);
    try {
      const command = await this.options.commandLog.get(id);
      if (!command) return;
      // finished elsewhere (another hub recorded its result): no longer open here either
      if (FINAL_STATUSES.has(command.status)) return this.untrack(command);
      // moved on since this timer was set (sent by another process, say): wait for its new time
      if (dueAt(command) > Date.now()) return this.arm(command);
      await this.timeOut(command);
    } catch (err) {
      this.options.log.error({ err, commandId: id }, 'command timeout not recorded');
    }
  }

  /** Times out a command that is due, unless it moved on meanwhile; true when this call did it. */
  private async timeOut(command: CommandRecord): Promise<boolean> {
    const queued = command.status === 'queued';
    const reason = queued ? EXPIRED_REASON : NO_RESULT_REASON;
    const timedOut = await this.options.commandLog.transition(command.id, queued ? ['queued'] : AWAITING_RESULT, { status: 'timed-out', result: JSON.stringify({ error: reason }) });
    if (!timedOut) {
      const now = await this.options.commandLog.get(command.id);
      if (now && FINAL_STATUSES.has(now.status)) this.untrack(now);
      return false;
    }
    this.clearTimer(command.id);
    this.untrack(timedOut);
    // a queued command expires (never delivered); a sent one times out (no result)
    this.logLifecycle(timedOut, queued ? 'command expired' : 'command timed out', { reason });
    this.publish(timedOut);
    return true;
  }

  /**
   * The device was deleted: its open commands fail now (persisted, pushed live, timers cleared), and
   * submits under way for it are cancelled, so none of them reaches a device provisioned later
   * under the same id.
   */
  async deviceDeleted(deviceId: string): Promise<number> {
    for (const reservation of this.reserved.get(deviceId) ?? []) reservation.cancelled = true;
    const failed = await this.options.commandLog.failOpen(deviceId, DEVICE_DELETED_RESULT);
    for (const command of failed) {
      this.clearTimer(command.id);
      this.untrack(command);
      this.logLifecycle(command, 'command failed', { reason: 'device deleted' });
      this.publish(command);
    }
    return failed.length;
  }

  /**
   * At the limit, counts the device's open commands from the log once more (at most once a second):
   * another hub may have finished some this hub counted, and commands submitted on other hubs count
   * too. Returns whether it counted.
   */
  private async recount(deviceId: string): Promise<boolean> {
    const now = Date.now();
    if (now - (this.recountedAt.get(deviceId) ?? 0) < 1000) return false;
    this.recountedAt.set(deviceId, now);
    if (this.recountedAt.size > 10_000) this.recountedAt.clear();
    const open = await this.options.commandLog.open(deviceId);
    if (open.length === 0) this.openIds.delete(deviceId);
    else this.openIds.set(deviceId, new Set(open.map((c) => c.id)));
    return true;
  }

  private track(command: CommandRecord): void {
    const ids = this.openIds.get(command.deviceId) ?? this.openIds.set(command.deviceId, new Set()).get(command.deviceId)!;
    ids.add(command.id);
  }

  private untrack(command: CommandRecord): void {
    const ids = this.openIds.get(command.deviceId);
    if (!ids) return;
    ids.delete(command.id);
    if (ids.size === 0) this.openIds.delete(command.deviceId);
  }

  private lifecycleFields(command: CommandRecord) {
    return { deviceId: command.deviceId, commandId: command.id, name: command.name, status: command.status };
  }

  /**
   * Lifecycle lines are not limited: each happens once per command, and commands come from the
   * operator (at most `maxOpenPerDevice` open per device), not from devices.
   */
  private logLifecycle(command: CommandRecord, message: string, extra: object = {}): void {
    this.options.log.info({ ...this.lifecycleFields(command), ...extra }, message);
  }

  private clearTimer(id: number): void {
    clearTimeout(this.timers.get(id));
    this.timers.delete(id);
  }

  private publish(command: CommandRecord): void {
    this.options.live.publish({ type: 'command', deviceId: command.deviceId, command: commandView(command) });
  }

  async close(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    await this.sweeping;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.openIds.clear();
    await this.options.commandLog.close();
  }
}
