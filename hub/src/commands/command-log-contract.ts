// The behaviour every CommandLog must show, run against each implementation by its own test file.
// Several hub processes may share one log: the races that matter (a result against a timeout, a
// deletion against either) run through two handles on the same log, as two processes would hold.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { COMMAND_STATUSES, FINAL_STATUSES, type CommandLog, type CommandRecord, type CommandStatus } from './command-log.ts';

export interface CommandLogUnderTest {
  log: CommandLog;
  /** another handle on the same commands, as a second hub process would hold; closed by cleanup */
  peer(): Promise<CommandLog>;
  cleanup(): Promise<void>;
}

const T0 = 1_700_000_000_000;
const OPEN: CommandStatus[] = ['queued', 'sent', 'acked'];

export function describeCommandLogContract(name: string, factory: () => Promise<CommandLogUnderTest>): void {
  describe(`CommandLog contract: ${name}`, () => {
    let subject: CommandLogUnderTest;
    let log: CommandLog;
    let peer: CommandLog;

    // a log of its own per case: due() and open() see every command in it
    beforeEach(async () => {
      subject = await factory();
      log = subject.log;
      peer = await subject.peer();
    });
    afterEach(async () => {
      await subject?.cleanup();
    });

    const submit = (deviceId = 'dev-1', fields: Partial<{ name: string; args: string; timeoutMs: number; createdAt: number; expiresAt: number }> = {}) =>
      log.create({ deviceId, name: 'ping', args: '{"n":1}', timeoutMs: 5000, createdAt: T0, expiresAt: T0 + 3_600_000, ...fields });

    it('creates queued commands with ids that only grow, and reads them back from every process', async () => {
      const first = await submit('dev-1', { name: 'set-rate', args: '{"hz":2}', timeoutMs: 250 });
      expect(first).toEqual({
        id: first.id, deviceId: 'dev-1', name: 'set-rate', args: '{"hz":2}', timeoutMs: 250, status: 'queued', result: null,
        createdAt: T0, updatedAt: T0, expiresAt: T0 + 3_600_000, deadline: null,
      });
      const second = await peer.create({ deviceId: 'dev-2', name: 'ping', args: '{}', timeoutMs: 1, createdAt: T0, expiresAt: T0 + 1 });
      expect(second.id).toBeGreaterThan(first.id);
      expect(await peer.get(first.id)).toEqual(first);
      expect(await log.get(second.id)).toEqual(second);
      expect(await log.get(second.id + 1000)).toBeUndefined();
    });

    it('never reuses an id, even after the newest command is gone from view', async () => {
      const ids = new Set<number>();
      for (let i = 0; i < 5; i++) ids.add((await (i % 2 ? peer : log).create({ deviceId: `d-${i}`, name: 'x', args: '{}', timeoutMs: 1, createdAt: T0, expiresAt: T0 })).id);
      expect(ids.size).toBe(5);
    });

    it('transition changes a command only from an expected status, and keeps the fields it does not name', async () => {
      const command = await submit();
      const before = Date.now();
      const sent = await log.transition(command.id, ['queued'], { status: 'sent', deadline: T0 + 5000 });
      expect(sent).toMatchObject({ id: command.id, status: 'sent', deadline: T0 + 5000, result: null });
      expect(sent!.updatedAt).toBeGreaterThanOrEqual(before);
      expect(await peer.get(command.id)).toEqual(sent);
      // not from an unexpected status: nothing changes
      expect(await log.transition(command.id, ['queued'], { status: 'sent', deadline: 1 })).toBeUndefined();
      expect(await log.transition(command.id, ['acked'], { status: 'failed', result: 'x' })).toBeUndefined();
      expect(await log.get(command.id)).toEqual(sent);
      const acked = await peer.transition(command.id, ['queued', 'sent'], { status: 'acked' });
      expect(acked).toMatchObject({ status: 'acked', deadline: T0 + 5000, result: null });
      const done = await log.transition(command.id, ['acked'], { status: 'succeeded', result: '{"ok":true}' });
      expect(done).toMatchObject({ status: 'succeeded', deadline: T0 + 5000, result: '{"ok":true}' });
      expect(await log.transition(command.id + 1000, OPEN, { status: 'failed' })).toBeUndefined();
    });

    it('a final command never changes again, whatever the expected statuses say', async () => {
      for (const final of FINAL_STATUSES) {
        const command = await submit();
        expect(await log.transition(command.id, ['queued'], { status: final, result: '"first"' })).toMatchObject({ status: final });
        for (const to of COMMAND_STATUSES) {
          expect(await peer.transition(command.id, [...COMMAND_STATUSES], { status: to, result: '"again"' })).toBeUndefined();
        }
        expect(await log.get(command.id)).toMatchObject({ status: final, result: '"first"' });
      }
    });

    it('of two transitions racing on one command from two processes, exactly one wins', async () => {
      for (let round = 0; round < 20; round++) {
        const command = await submit();
        await log.transition(command.id, ['queued'], { status: 'sent', deadline: T0 });
        // a result in one process against a timeout in another
        const [result, timeout] = await Promise.all([
          log.transition(command.id, OPEN, { status: 'succeeded', result: '"done"' }),
          peer.transition(command.id, ['sent', 'acked'], { status: 'timed-out', result: '{"error":"late"}' }),
        ]);
        expect([result, timeout].filter(Boolean)).toHaveLength(1);
        const winner = (result ?? timeout)!;
        expect(await log.get(command.id)).toEqual(winner);
        expect(await peer.get(command.id)).toEqual(winner);
      }
    });

    it('many transitions racing from two processes: exactly one wins each step', async () => {
      const command = await submit();
      const attempts = Array.from({ length: 10 }, (_, i) => (i % 2 ? peer : log).transition(command.id, ['queued'], { status: 'sent', deadline: T0 + i }));
      const won = (await Promise.all(attempts)).filter((r): r is CommandRecord => r !== undefined);
      expect(won).toHaveLength(1);
      expect((await log.get(command.id))!.deadline).toBe(won[0].deadline);
    });

    it('due: queued commands past their expiry, sent and acked ones past their deadline, oldest first', async () => {
      const now = T0 + 10_000;
      const expired = await submit('dev-1', { expiresAt: now - 1 });
      const expiresNow = await submit('dev-2', { expiresAt: now });
      const waiting = await submit('dev-1', { expiresAt: now + 1 });
      const late = await submit('dev-3');
      await log.transition(late.id, ['queued'], { status: 'sent', deadline: now - 5 });
      const lateAcked = await submit('dev-1');
      await log.transition(lateAcked.id, ['queued'], { status: 'acked', deadline: now });
      const inTime = await submit('dev-1', { expiresAt: now - 100 });
      // sent before its queue expiry: only its deadline counts now
      await log.transition(inTime.id, ['queued'], { status: 'sent', deadline: now + 1000 });
      const finished = await submit('dev-1', { expiresAt: now - 100 });
      await log.transition(finished.id, ['queued'], { status: 'failed', result: '"x"' });

      const due = await peer.due(now);
      expect(due.map((c) => c.id)).toEqual([expired.id, expiresNow.id, late.id, lateAcked.id]);
      expect(due.find((c) => c.id === late.id)).toMatchObject({ status: 'sent', deadline: now - 5 });
      expect((await log.due(now, 2)).map((c) => c.id)).toEqual([expired.id, expiresNow.id]);
      expect(await log.due(T0)).toEqual([]);
      expect((await log.due(now + 1000)).map((c) => c.id)).toEqual([expired.id, expiresNow.id, waiting.id, late.id, lateAcked.id, inTime.id]);

      // what one process times out is no longer due for the other
      await log.transition(expired.id, ['queued'], { status: 'timed-out', result: '"expired"' });
      expect((await peer.due(now)).map((c) => c.id)).toEqual([expiresNow.id, late.id, lateAcked.id]);
    });

    it('open lists commands not final yet, oldest first, all or by device', async () => {
      const a = await submit('dev-a');
      const b = await submit('dev-b');
      const c = await submit('dev-a');
      const d = await submit('dev-a');
      await log.transition(c.id, ['queued'], { status: 'sent', deadline: T0 });
      await log.transition(d.id, ['queued'], { status: 'succeeded', result: '{}' });
      expect((await peer.open()).map((x) => x.id)).toEqual([a.id, b.id, c.id]);
      expect((await peer.open('dev-a')).map((x) => [x.id, x.status])).toEqual([[a.id, 'queued'], [c.id, 'sent']]);
      expect(await log.open('dev-none')).toEqual([]);
    });

    it('failOpen fails every open command of one device at once, and only those', async () => {
      const queued = await submit('dev-a');
      const sent = await submit('dev-a');
      await log.transition(sent.id, ['queued'], { status: 'sent', deadline: T0 });
      const done = await submit('dev-a');
      await log.transition(done.id, ['queued'], { status: 'succeeded', result: '"ok"' });
      const other = await submit('dev-b');
      const failed = await peer.failOpen('dev-a', '{"error":"device deleted"}');
      expect(failed.map((c) => [c.id, c.status, c.result])).toEqual([
        [queued.id, 'failed', '{"error":"device deleted"}'],
        [sent.id, 'failed', '{"error":"device deleted"}'],
      ]);
      expect(await log.get(sent.id)).toEqual(failed[1]);
      expect(await log.get(done.id)).toMatchObject({ status: 'succeeded', result: '"ok"' });
      expect(await log.get(other.id)).toMatchObject({ status: 'queued' });
      expect(await log.failOpen('dev-a', '"again"')).toEqual([]);
    });

    it('failOpen racing transitions from another process: each command ends once', async () => {
      const commands = [];
      for (let i = 0; i < 10; i++) commands.push(await submit('dev-race'));
      const [failed, ...finished] = await Promise.all([
        log.failOpen('dev-race', '"deleted"'),
        ...commands.map((c) => peer.transition(c.id, ['queued'], { status: 'succeeded', result: '"done"' })),
      ]);
      const failedIds = new Set((failed as CommandRecord[]).map((c) => c.id));
      commands.forEach((c, i) => {
        const won = finished[i] as CommandRecord | undefined;
        expect(failedIds.has(c.id) !== (won !== undefined), `command ${c.id}`).toBe(true);
      });
      for (const c of commands) expect(FINAL_STATUSES.has((await log.get(c.id))!.status)).toBe(true);
    });

    it('recent: the newest commands of a device first, at most limit', async () => {
      const ids = [];
      for (let i = 0; i < 5; i++) ids.push((await submit('dev-r')).id);
      await submit('dev-other');
      expect((await peer.recent('dev-r', 3)).map((c) => c.id)).toEqual(ids.slice(2).reverse());
      expect(await log.recent('dev-none', 3)).toEqual([]);
    });
  });
}
