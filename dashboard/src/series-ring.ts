// Fixed-capacity time series for live charts. Each point is written twice (at i and i + capacity),
// so the newest `length` points are always one contiguous subarray that uPlot can draw directly:
// no copying per frame and no allocation once the chart exists, however long the page stays open.
export class SeriesRing {
  private readonly t: Float64Array;
  private readonly v: Float64Array;
  private head = 0;
  length = 0;

  constructor(readonly capacity: number) {
    this.t = new Float64Array(capacity * 2);
    this.v = new Float64Array(capacity * 2);
  }

  get lastTime(): number {
    return this.length === 0 ? -Infinity : this.t[(this.head - 1 + this.capacity) % this.capacity];
  }

  get lastValue(): number | undefined {
    return this.length === 0 ? undefined : this.v[(this.head - 1 + this.capacity) % this.capacity];
  }

  /** Returns false for a point older than the newest: uPlot needs ascending times. */
  push(time: number, value: number): boolean {
    if (time < this.lastTime) return false;
    const i = this.head;
    this.t[i] = this.t[i + this.capacity] = time;
    this.v[i] = this.v[i + this.capacity] = value;
    this.head = (i + 1) % this.capacity;
    if (this.length < this.capacity) this.length++;
    return true;
  }

  private start(): number {
    return (this.head - this.length + this.capacity) % this.capacity;
  }

  times(): Float64Array {
    const s = this.start();
    return this.t.subarray(s, s + this.length);
  }

  values(): Float64Array {
    const s = this.start();
    return this.v.subarray(s, s + this.length);
  }

  clear(): void {
    this.head = 0;
    this.length = 0;
  }
}
