// Seeded randomness, so a simulation with --seed replays the same sensor values and faults.

export type Random = () => number;

/** mulberry32: tiny, fast, and good enough for simulated noise (not for anything secret). */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A seed for one part (a device, a sensor) of a seeded run. Hashing instead of `seed + index`
 * keeps neighbouring devices' streams unrelated.
 */
export function deriveSeed(seed: number, ...parts: number[]): number {
  let h = seed >>> 0;
  for (const part of parts) {
    h = Math.imul(h ^ (part >>> 0), 0x9e3779b1);
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
  }
  return h >>> 0;
}

/** Standard normal deviate (Box–Muller). */
export function gaussian(rand: Random): number {
  const u = 1 - rand(); // (0, 1]: log(0) would be -Infinity
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

/** Exponentially distributed wait with the given mean: the gap between independent events. */
export function exponential(rand: Random, mean: number): number {
  return -Math.log(1 - rand()) * mean;
}

export function between(rand: Random, min: number, max: number): number {
  return min + rand() * (max - min);
}
