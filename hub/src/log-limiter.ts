// Keeps what a device can make the hub log bounded: at most `perInterval` lines per key (a device
// id, an address or a port, plus the message) in each window of `intervalMs`. What goes over is
// counted, and one line "suppressed K similar lines" follows when the window ends. Keys live for
// one window; past `maxKeys` keys in a window, new ones share one overflow key, so memory stays
// bounded. Nothing runs and nothing is allocated until a line is logged.
import type { Logger } from 'pino';

export type LimitedLevel = 'error' | 'warn' | 'info' | 'debug';

export interface LogLimiterOptions {
  /** lines per key and window (default 5) */
  perInterval?: number;
  /** window length (default 10 s) */
  intervalMs?: number;
  /** keys tracked at once; further keys share the overflow key (default 10,000) */
  maxKeys?: number;
  /** a monotonic clock in ms (default performance.now) */
  now?: () => number;
  /** runs `fn` after `ms`; returns a cancel function (default an unref'd setTimeout) */
  setTimer?: (fn: () => void, ms: number) => () => void;
}

export const LOG_LIMIT_DEFAULTS = { perInterval: 5, intervalMs: 10_000, maxKeys: 10_000 } as const;

/** The key lines share once `maxKeys` keys are tracked. */
export const OVERFLOW_KEY = '*';

interface Window {
  id: string;
  key: string;
  message: string;
  level: LimitedLevel;
  start: number;
  logged: number;
  suppressed: number;
}

function unrefTimer(fn: () => void, ms: number): () => void {
  const timer = setTimeout(fn, ms);
  timer.unref();
  return () => clearTimeout(timer);
}

export class LogLimiter {
  private readonly perInterval: number;
  private readonly intervalMs: number;
  private readonly maxKeys: number;
  private readonly now: () => number;
  private readonly setTimer: (fn: () => void, ms: number) => () => void;
  /** in order of window start, since a window is only ever added at the end and removed when over */
  private readonly windows = new Map<string, Window>();
  private overflow: Window | null = null;
  /** windows with suppressed lines, whose summary is still to be written */
  private pending = 0;
  private cancelTimer: (() => void) | null = null;

  constructor(private readonly log: Logger, options: LogLimiterOptions = {}) {
    this.perInterval = options.perInterval ?? LOG_LIMIT_DEFAULTS.perInterval;
    this.intervalMs = options.intervalMs ?? LOG_LIMIT_DEFAULTS.intervalMs;
    this.maxKeys = options.maxKeys ?? LOG_LIMIT_DEFAULTS.maxKeys;
    this.now = options.now ?? (() => performance.now());
    this.setTimer = options.setTimer ?? unrefTimer;
  }

  error(key: string, fields: object, message: string): void {
    this.write('error', key, fields, message);
  }

  warn(key: string, fields: object, message: string): void {
    this.write('warn', key, fields, message);
  }

  info(key: string, fields: object, message: string): void {
    this.write('info', key, fields, message);
  }

  debug(key: string, fields: object, message: string): void {
    this.write('debug', key, fields, message);
  }

  /** Keys tracked now (for tests). */
  get size(): number {
    return this.windows.size + (this.overflow ? 1 : 0);
  }

  /** Writes the summaries of windows that are over and forgets them. */
  sweep(): void {
    const now = this.now();
    for (const window of this.windows.values()) {
      if (now - window.start < this.intervalMs) break;
      this.end(window);
      this.windows.delete(window.id);
    }
    if (this.overflow && now - this.overflow.start >= this.intervalMs) {
      this.end(this.overflow);
      this.overflow = null;
    }
  }

  /** Writes every pending summary now (at shutdown) and stops the timer. */
  close(): void {
    this.cancelTimer?.();
    this.cancelTimer = null;
    for (const window of this.windows.values()) this.end(window);
    this.windows.clear();
    if (this.overflow) this.end(this.overflow);
    this.overflow = null;
  }

  private write(level: LimitedLevel, key: string, fields: object, message: string): void {
    if (!this.log.isLevelEnabled(level)) return;
    this.sweep();
    const id = key + '\n' + message;
    let window = this.windows.get(id);
    if (!window) {
      if (this.windows.size < this.maxKeys) {
        window = { id, key, message, level, start: this.now(), logged: 0, suppressed: 0 };
        this.windows.set(id, window);
      } else {
        window = this.overflow ??= { id: OVERFLOW_KEY, key: OVERFLOW_KEY, message: '(lines of further keys)', level, start: this.now(), logged: 0, suppressed: 0 };
      }
    }
    if (window.logged < this.perInterval) {
      window.logged++;
      this.log[level](fields, message);
      return;
    }
    window.level = level;
    if (window.suppressed++ === 0) {
      this.pending++;
      this.arm();
    }
  }

  private end(window: Window): void {
    if (window.suppressed === 0) return;
    this.pending--;
    this.log[window.level](
      { key: window.key, message: window.message, suppressed: window.suppressed, intervalMs: this.intervalMs },
      `suppressed ${window.suppressed} similar lines`,
    );
  }

  /** One timer at a time, due when the oldest window with suppressed lines ends. */
  private arm(): void {
    if (this.cancelTimer || this.pending === 0) return;
    let due = Infinity;
    for (const window of this.windows.values()) {
      if (window.suppressed > 0) {
        due = window.start + this.intervalMs;
        break;
      }
    }
    if (this.overflow?.suppressed) due = Math.min(due, this.overflow.start + this.intervalMs);
    this.cancelTimer = this.setTimer(() => {
      this.cancelTimer = null;
      this.sweep();
      this.arm();
    }, Math.max(0, due - this.now()));
  }
}
