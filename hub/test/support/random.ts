// Seeded randomness for repeatable randomized tests: the simulator's PRNG, plus integers.
export { seededRandom } from '../../../device-sim/src/random.ts';

export function randomInt(rand: () => number, min: number, max: number): number {
  return min + Math.floor(rand() * (max - min + 1));
}
