// [FP-9 FP_ERR_RATE_LIMIT] What one device may send: frames, readings and bytes per second, each
// a token bucket holding one second of burst. Frames alone do not bound a device: one within the
// frame limit can still carry 1,600 samples a frame. Pure: the transport passes the clock and acts
// on the verdict (pause reading, or end the session).

export interface BudgetLimits {
  framesPerSecond: number;
  readingsPerSecond: number;
  bytesPerSecond: number;
  /** over budget this long without a break ends the session */
  closeAfterMs: number;
}

export type BudgetName = 'frames' | 'readings' | 'bytes';

export type BudgetVerdict =
  | { kind: 'ok' }
  /** over budget: stop reading for `pauseMs`, the time until every bucket is back to zero */
  | { kind: 'pause'; pauseMs: number; budget: BudgetName }
  | { kind: 'close'; budget: BudgetName };

const OK: BudgetVerdict = { kind: 'ok' };

/** A throttle starting less than this after the previous pause ended continues the same stretch. */
const STREAK_GAP_MS = 1000;

export class DeviceBudget {
  private frames: number;
  private readings: number;
  private bytes: number;
  private last: number;
  private throttledSince = 0;
  /** when the last pause ends */
  private throttledUntil = -Infinity;

  constructor(private readonly limits: BudgetLimits, now: number) {
    this.frames = limits.framesPerSecond;
    this.readings = limits.readingsPerSecond;
    this.bytes = limits.bytesPerSecond;
    this.last = now;
  }

  /** Charges one frame of `bytes` carrying `readings` samples. */
  charge(now: number, bytes: number, readings: number): BudgetVerdict {
    const { framesPerSecond, readingsPerSecond, bytesPerSecond } = this.limits;
    const seconds = Math.max(0, now - this.last) / 1000;
    this.last = now;
    this.frames = Math.min(framesPerSecond, this.frames + seconds * framesPerSecond) - 1;
    this.readings = Math.min(readingsPerSecond, this.readings + seconds * readingsPerSecond) - readings;
    this.bytes = Math.min(bytesPerSecond, this.bytes + seconds * bytesPerSecond) - bytes;
    // every frame comes here: the common case returns without making anything
    if (this.frames >= 0 && this.readings >= 0 && this.bytes >= 0) return OK;
    let pauseMs = 0;
    let budget: BudgetName = 'frames';
    for (const [name, tokens, rate] of [
      ['frames', this.frames, framesPerSecond],
      ['readings', this.readings, readingsPerSecond],
      ['bytes', this.bytes, bytesPerSecond],
    ] as const) {
      const wait = tokens < 0 ? (-tokens / rate) * 1000 : 0;
      if (wait > pauseMs) {
        pauseMs = wait;
        budget = name;
      }
    }
    if (now - this.throttledUntil > STREAK_GAP_MS) this.throttledSince = now;
    this.throttledUntil = Math.max(this.throttledUntil, now + pauseMs);
    if (now - this.throttledSince > this.limits.closeAfterMs) return { kind: 'close', budget };
    return { kind: 'pause', pauseMs: Math.ceil(pauseMs), budget };
  }
}
