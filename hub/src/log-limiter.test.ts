// The log limiter with a hand-moved clock and a hand-run timer: no sleeping, no timing.
import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { LogLimiter, OVERFLOW_KEY, type LogLimiterOptions } from './log-limiter.ts';

interface Line { level: number; msg: string; key?: string; message?: string; suppressed?: number; n?: number }

function setup(options: LogLimiterOptions = {}, level = 'info') {
  const lines: Line[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()));
      done();
    },
  });
  const log = pino({ level }, sink);
  let time = 1000;
  const timers: { fn: () => void; at: number; cancelled: boolean }[] = [];
  const limiter = new LogLimiter(log, {
    perInterval: 3, intervalMs: 10_000, maxKeys: 4,
    now: () => time,
    setTimer: (fn, ms) => {
      const timer = { fn, at: time + ms, cancelled: false };
      timers.push(timer);
      return () => { timer.cancelled = true; };
    },
    ...options,
  });
  return {
    limiter, lines,
    advance(ms: number) {
      time += ms;
      // run what is due, as the event loop would
      for (const timer of timers.splice(0)) {
        if (timer.cancelled) continue;
        if (timer.at <= time) timer.fn();
        else timers.push(timer);
      }
    },
    armed: () => timers.filter((t) => !t.cancelled).length,
  };
}

/** pino writes asynchronously to a plain Writable; this waits for what was written so far. */
async function settle(): Promise<void> {
  await new Promise((r) => setImmediate(r));
}

describe('LogLimiter', () => {
  it('writes the first lines of a key, counts the rest, and writes one summary when the window is over', async () => {
    const { limiter, lines, advance, armed } = setup();
    for (let n = 0; n < 100; n++) limiter.warn('dev-1', { n }, 'device reported an error');
    await settle();
    expect(lines.map((l) => l.n)).toEqual([0, 1, 2]);
    expect(lines.every((l) => l.level === 40)).toBe(true);
    expect(armed()).toBe(1);

    advance(9_999);
    await settle();
    expect(lines).toHaveLength(3);
    advance(1);
    await settle();
    expect(lines).toHaveLength(4);
    expect(lines[3]).toMatchObject({ level: 40, key: 'dev-1', message: 'device reported an error', suppressed: 97, msg: 'suppressed 97 similar lines' });
    expect(armed()).toBe(0);
    expect(limiter.size).toBe(0);

    // a new window starts with the next line
    for (let n = 0; n < 5; n++) limiter.warn('dev-1', { n }, 'device reported an error');
    await settle();
    expect(lines.slice(4).map((l) => l.n)).toEqual([0, 1, 2]);
  });

  it('keeps keys and messages apart', async () => {
    const { limiter, lines } = setup();
    for (let n = 0; n < 10; n++) {
      limiter.warn('dev-1', { n }, 'bad frame');
      limiter.warn('dev-2', { n }, 'bad frame');
      limiter.info('dev-1', { n }, 'device connected');
    }
    await settle();
    expect(lines).toHaveLength(9);
    expect(lines.filter((l) => l.msg === 'device connected').map((l) => l.level)).toEqual([30, 30, 30]);
  });

  it('writes no summary for a window without suppressed lines, and forgets idle keys', async () => {
    const { limiter, lines, advance, armed } = setup();
    limiter.info('dev-1', {}, 'device connected');
    limiter.info('dev-2', {}, 'device connected');
    expect(armed()).toBe(0);
    expect(limiter.size).toBe(2);
    advance(10_000);
    limiter.sweep();
    await settle();
    expect(lines.map((l) => l.msg)).toEqual(['device connected', 'device connected']);
    expect(limiter.size).toBe(0);
  });

  it('past maxKeys, further keys share one overflow key: memory and output stay bounded', async () => {
    const { limiter, lines, advance } = setup();
    for (let device = 0; device < 1000; device++) {
      for (let n = 0; n < 10; n++) limiter.warn(`dev-${device}`, { n }, 'bad frame');
    }
    expect(limiter.size).toBe(5); // 4 keys and the overflow key
    await settle();
    // 4 keys × 3 lines, then 3 lines for all the others together
    expect(lines).toHaveLength(15);
    advance(10_000);
    await settle();
    const summaries = lines.slice(15);
    expect(summaries).toHaveLength(5);
    expect(summaries.reduce((sum, l) => sum + (l.suppressed ?? 0), 0)).toBe(10_000 - 15);
    expect(summaries.find((l) => l.key === OVERFLOW_KEY)).toMatchObject({ suppressed: 996 * 10 - 3 });
    expect(limiter.size).toBe(0);
  });

  it('frees the keys of windows that are over when a new key comes, without a timer', async () => {
    const { limiter, lines, advance } = setup();
    for (let device = 0; device < 4; device++) limiter.info(`dev-${device}`, {}, 'device connected');
    advance(10_000);
    limiter.info('dev-new', {}, 'device connected');
    expect(limiter.size).toBe(1);
    await settle();
    expect(lines).toHaveLength(5);
  });

  it('close() writes pending summaries at once and stops the timer', async () => {
    const { limiter, lines, armed } = setup();
    for (let n = 0; n < 7; n++) limiter.warn('dev-1', { n }, 'device reported an error');
    expect(armed()).toBe(1);
    limiter.close();
    await settle();
    expect(armed()).toBe(0);
    expect(lines.at(-1)).toMatchObject({ key: 'dev-1', suppressed: 4 });
  });

  it('costs nothing below the logger level: no key is tracked', async () => {
    const { limiter, lines } = setup({}, 'warn');
    for (let n = 0; n < 10; n++) limiter.info('dev-1', { n }, 'device connected');
    expect(limiter.size).toBe(0);
    await settle();
    expect(lines).toHaveLength(0);
  });
});
