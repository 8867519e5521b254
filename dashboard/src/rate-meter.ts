// Readings per second from live updates, averaged over the last few whole seconds so a device
// sending at 50 Hz in bursts reads as a steady number. Fixed memory per device.
const SECONDS = 5;

export class RateMeter {
  private readonly counts = new Float64Array(SECONDS + 1);
  private readonly seconds = new Float64Array(SECONDS + 1).fill(-1);
  private first = -1;

  add(count: number, now: number): void {
    const second = Math.floor(now / 1000);
    const slot = second % this.counts.length;
    if (this.seconds[slot] !== second) {
      this.seconds[slot] = second;
      this.counts[slot] = 0;
    }
    this.counts[slot] += count;
    // the first second is only partly observed; counting it would read low
    if (this.first < 0) this.first = second + 1;
  }

  /** null until a whole second has been seen; then readings per second over completed seconds. */
  rate(now: number): number | null {
    if (this.first < 0) return null;
    const current = Math.floor(now / 1000);
    const from = Math.max(this.first, current - SECONDS);
    if (current - from < 1) return null;
    let sum = 0;
    for (let s = from; s < current; s++) {
      const slot = s % this.counts.length;
      if (this.seconds[slot] === s) sum += this.counts[slot];
    }
    return sum / (current - from);
  }
}
