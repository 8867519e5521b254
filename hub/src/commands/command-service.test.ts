// The command service with two processes' worth of parts on one command log: what one process
// armed, another may finish, and a result racing a timeout is recorded once.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { DeviceLink } from '../ingest/device-link.ts';
import { createLocalLiveBus, type LiveEvent } from '../live/live-bus.ts';
import type { Frame } from '../protocol/index.ts';
import { createSqliteCommandLog } from './command-log.ts';
import { CommandService } from './command-service.ts';

const waitFor = (check: () => boolean, what: string) =>
  vi.waitFor(() => {
    if (!check()) throw new Error(`still waiting: ${what}`);
  }, { timeout: 10_000, interval: 5 });

interface Process {
  service: CommandService;
  events: LiveEvent[];
  lines: { msg: string; commandId?: number }[];
}

describe('CommandService across processes sharing one command log', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function logPath(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'command-service-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    return join(dir, 'commands.db');
  }

  /** A hub process's command service, with its own connection to the log and its own live bus. */
  async function startProcess(path: string, options: { links?: Map<string, DeviceLink>; sweepIntervalMs?: number; queueTtlMs?: number; maxOpenPerDevice?: number } = {}): Promise<Process> {
    const live = createLocalLiveBus();
    const events: LiveEvent[] = [];
    live.subscribe((e) => events.push(e));
    const lines: Process['lines'] = [];
    const service = new CommandService({
      commandLog: createSqliteCommandLog({ path }), live,
      log: pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) }),
      linkOf: (id) => options.links?.get(id) ?? null,
      queueTtlMs: options.queueTtlMs ?? 3_600_000, maxOpenPerDevice: options.maxOpenPerDevice ?? 100, defaultTimeoutMs: 10_000, maxTimeoutMs: 600_000,
      sweepIntervalMs: options.sweepIntervalMs ?? 60_000,
    });
    await service.start();
    let closed = false;
    const close = async () => {
      if (!closed) await service.close();
      closed = true;
    };
    cleanups.push(close);
    return { service, events, lines };
  }

  function fakeLink(): DeviceLink & { frames: Frame[] } {
    const frames: Frame[] = [];
    return { transport: 'ws', frames, send: (frame) => void frames.push(frame), end: () => undefined };
  }

  const finalEvents = (p: Process, id: number) =>
    p.events.filter((e) => e.type === 'command' && (e.command as { id: number }).id === id && ['succeeded', 'failed', 'timed-out'].includes((e.command as { status: string }).status));

  it('a result racing a timeout in another process is recorded once, never both', async () => {
    const path = await logPath();
    const link = fakeLink();
    const a = await startProcess(path, { links: new Map([['dev-1', link]]) });
    const b = await startProcess(path);
    const reader = createSqliteCommandLog({ path });
    cleanups.push(() => reader.close());
    const outcomes = new Set<string>();
    for (let round = 0; round < 10; round++) {
      const sent = await a.service.submit('dev-1', { name: 'ping', timeoutMs: 60_000 });
      expect(sent.status).toBe('sent');
      const answer = () => a.service.result('dev-1', { type: 'command_result', id: sent.id, status: 'succeeded', payload: '"pong"' });
      // b's sweep as if the deadline had passed; which one starts first alternates
      const sweep = () => b.service.sweep(sent.deadline! + 1);
      await Promise.all(round % 2 ? [answer(), sweep()] : [sweep(), answer()]);
      const finals = [...finalEvents(a, sent.id), ...finalEvents(b, sent.id)];
      expect(finals).toHaveLength(1);
      const stored = (await reader.get(sent.id))!;
      expect(finals[0]).toMatchObject({ command: { id: sent.id, status: stored.status } });
      outcomes.add(stored.status);
    }
    // with the calls' order alternating, each side wins some rounds
    expect([...outcomes].sort()).toEqual(['succeeded', 'timed-out']);
  });

  it('another process times out a sent command whose timer died with its process', async () => {
    const path = await logPath();
    // started first: it has no timer of its own for the command, only its sweep
    const survivor = await startProcess(path, { sweepIntervalMs: 20 });
    const link = fakeLink();
    const dying = await startProcess(path, { links: new Map([['dev-1', link]]) });
    const sent = await dying.service.submit('dev-1', { name: 'ping', timeoutMs: 100 });
    expect(link.frames).toMatchObject([{ type: 'command', id: sent.id }]);
    await dying.service.close();

    await waitFor(() => finalEvents(survivor, sent.id).length === 1, 'timed out by the survivor');
    expect(finalEvents(survivor, sent.id)[0]).toMatchObject({ command: { status: 'timed-out', result: { error: 'no result from the device in time' } } });
    expect(survivor.lines.filter((l) => l.msg === 'command timed out' && l.commandId === sent.id)).toHaveLength(1);
  });

  it('another process expires a queued command whose timer died with its process', async () => {
    const path = await logPath();
    const survivor = await startProcess(path, { sweepIntervalMs: 20 });
    const dying = await startProcess(path, { queueTtlMs: 100 });
    const queued = await dying.service.submit('dev-offline', { name: 'ping' });
    expect(queued.status).toBe('queued');
    await dying.service.close();

    await waitFor(() => finalEvents(survivor, queued.id).length === 1, 'expired by the survivor');
    expect(finalEvents(survivor, queued.id)[0]).toMatchObject({ command: { status: 'timed-out', result: { error: 'not delivered: device stayed offline' } } });
    expect(survivor.lines.filter((l) => l.msg === 'command expired' && l.commandId === queued.id)).toHaveLength(1);
  });

  it('a queued command expires once, by its own timer or another process\'s sweep, and is never delivered after', async () => {
    const path = await logPath();
    const link = fakeLink();
    const links = new Map<string, DeviceLink>();
    const a = await startProcess(path, { links, queueTtlMs: 30 });
    const b = await startProcess(path, { sweepIntervalMs: 5 });
    const queued = await a.service.submit('dev-1', { name: 'ping' });
    await waitFor(() => finalEvents(a, queued.id).length + finalEvents(b, queued.id).length > 0, 'expired');
    expect(await b.service.sweep()).toBe(0);
    expect(await a.service.sweep()).toBe(0);
    expect(finalEvents(a, queued.id).length + finalEvents(b, queued.id).length).toBe(1);
    links.set('dev-1', link);
    await a.service.deviceReady('dev-1');
    expect(link.frames).toEqual([]);
  });

  it('at the open-command bound a process counts again from the log: commands another process finished free their places', async () => {
    const path = await logPath();
    const link = fakeLink();
    const b = await startProcess(path, { maxOpenPerDevice: 2 });
    const a = await startProcess(path, { links: new Map([['dev-x', link]]), maxOpenPerDevice: 2 });
    // submitted on B while the device is on A: queued on B, delivered and answered through A
    const first = await b.service.submit('dev-x', { name: 'ping' });
    const second = await b.service.submit('dev-x', { name: 'ping' });
    await expect(b.service.submit('dev-x', { name: 'ping' })).rejects.toMatchObject({ code: 'HUB_ERR_QUEUE_FULL' });
    await a.service.deviceReady('dev-x');
    for (const command of [first, second]) await a.service.result('dev-x', { type: 'command_result', id: command.id, status: 'succeeded', payload: '{}' });
    await new Promise((r) => setTimeout(r, 1100)); // B counts again at most once a second
    const third = await b.service.submit('dev-x', { name: 'ping' });
    expect(third.status).toBe('queued');
  });
});
