import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { stopOnSignals } from './shutdown.ts';

function harness(close: () => Promise<void>, timeoutMs = 10_000) {
  const signals = new EventEmitter();
  const lines: { level: string; msg: string }[] = [];
  const log = {
    info: (_: unknown, msg: string) => void lines.push({ level: 'info', msg }),
    warn: (_: unknown, msg: string) => void lines.push({ level: 'warn', msg }),
    error: (_: unknown, msg: string) => void lines.push({ level: 'error', msg }),
  };
  const codes: number[] = [];
  let exited!: (code: number) => void;
  const exit = new Promise<number>((r) => (exited = r));
  stopOnSignals({ close, log: log as never, exit: (code) => (codes.push(code), exited(code)), timeoutMs, signals });
  return { signals, lines, codes, exit };
}

describe('stopOnSignals', () => {
  it('stops once on the first signal and exits 0; a second signal does not interrupt the stop', async () => {
    let closes = 0;
    let finish!: () => void;
    const h = harness(() => {
      closes++;
      return new Promise<void>((r) => (finish = r));
    });
    h.signals.emit('SIGTERM', 'SIGTERM');
    h.signals.emit('SIGINT', 'SIGINT');
    h.signals.emit('SIGTERM', 'SIGTERM');
    expect(closes).toBe(1);
    expect(h.codes).toEqual([]);
    finish();
    expect(await h.exit).toBe(0);
    expect(h.lines.map((l) => l.msg)).toEqual(['stopping', 'already stopping; the stop goes on', 'already stopping; the stop goes on']);
  });

  it('exits 1 when the stop fails', async () => {
    const h = harness(() => Promise.reject(new Error('disk gone')));
    h.signals.emit('SIGINT', 'SIGINT');
    expect(await h.exit).toBe(1);
    expect(h.lines.at(-1)).toEqual({ level: 'error', msg: 'unclean stop' });
  });

  it('exits 1 with a log line when the stop does not finish in time', async () => {
    const h = harness(() => new Promise<void>(() => undefined), 20);
    h.signals.emit('SIGTERM', 'SIGTERM');
    expect(await h.exit).toBe(1);
    expect(h.lines.at(-1)).toEqual({ level: 'error', msg: 'did not stop within 0.02 s; exiting' });
    expect(h.codes).toEqual([1]);
  });
});
