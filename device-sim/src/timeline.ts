// One timer for the whole fleet: events go into fixed-width time slots (a timing wheel) and the
// simulator's loop takes what is due. Ten thousand devices at 5 Hz are 50k events a second;
// that many Node timers would cost far more than one Map lookup per slot.
export class Timeline<T> {
  private readonly slots = new Map<number, T[]>();
  /** the next slot to run */
  private cursor: number;
  private running = false;
  private count = 0;

  constructor(private readonly slotMs: number, now: number) {
    this.cursor = Math.floor(now / slotMs);
  }

  get size(): number {
    return this.count;
  }

  /** Schedules `item` for `time`; a time already past runs in the next slot. */
  at(time: number, item: T): void {
    // while slots are being taken, the current one is already detached: later is the soonest
    const soonest = this.running ? this.cursor + 1 : this.cursor;
    const slot = Math.max(Math.floor(time / this.slotMs), soonest);
    const items = this.slots.get(slot);
    if (items) items.push(item);
    else this.slots.set(slot, [item]);
    this.count++;
  }

  /** Hands every item due at or before `now` to `run`, slot by slot in time order. */
  take(now: number, run: (item: T) => void): void {
    const last = Math.floor(now / this.slotMs);
    this.running = true;
    try {
      for (; this.cursor <= last; this.cursor++) {
        const items = this.slots.get(this.cursor);
        if (!items) continue;
        this.slots.delete(this.cursor);
        this.count -= items.length;
        for (const item of items) run(item);
      }
    } finally {
      this.running = false;
    }
  }

  clear(): void {
    this.slots.clear();
    this.count = 0;
  }
}
