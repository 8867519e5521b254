import { describe, expect, it } from 'vitest';
import { DeviceBudget } from './device-budget.ts';

const limits = { framesPerSecond: 100, readingsPerSecond: 1000, bytesPerSecond: 10_000, closeAfterMs: 5000 };

describe('DeviceBudget', () => {
  it('lets a device within every budget through', () => {
    const budget = new DeviceBudget(limits, 0);
    // 50 frames/s of 10 readings and 100 bytes: half of each budget, for a minute
    for (let t = 0; t < 60_000; t += 20) expect(budget.charge(t, 100, 10)).toEqual({ kind: 'ok' });
  });

  it('names the budget a device is over and how long to stop reading', () => {
    const fat = new DeviceBudget(limits, 0);
    // one second of burst, then a frame of 1,600 readings: 1.6 s of readings budget to wait for
    expect(fat.charge(0, 100, 999)).toEqual({ kind: 'ok' });
    expect(fat.charge(0, 100, 1600)).toEqual({ kind: 'pause', pauseMs: 1599, budget: 'readings' });
    const big = new DeviceBudget(limits, 0);
    expect(big.charge(0, 15_000, 1)).toEqual({ kind: 'pause', pauseMs: 500, budget: 'bytes' });
    const chatty = new DeviceBudget(limits, 0);
    for (let i = 0; i < 100; i++) chatty.charge(0, 10, 0);
    expect(chatty.charge(0, 10, 0)).toEqual({ kind: 'pause', pauseMs: 10, budget: 'frames' });
  });

  it('closes a device that stays over budget without a break, also when it is paused in between', () => {
    const budget = new DeviceBudget(limits, 0);
    let t = 0;
    let verdict = budget.charge(t, 100, 0);
    // flat out: the next frame arrives as soon as the hub reads again
    for (let i = 0; i < 10_000 && verdict.kind !== 'close'; i++) {
      verdict = budget.charge(t, 100, 100);
      if (verdict.kind === 'pause') t += verdict.pauseMs;
    }
    expect(verdict).toEqual({ kind: 'close', budget: 'readings' });
    expect(t).toBeGreaterThanOrEqual(5000);
    expect(t).toBeLessThan(6000);
  });

  it('forgives a burst followed by a quiet second', () => {
    const budget = new DeviceBudget(limits, 0);
    for (let round = 0; round < 20; round++) {
      const t0 = round * 3000;
      // two seconds' worth at once, then quiet
      for (let i = 0; i < 20; i++) expect(budget.charge(t0, 100, 100).kind).not.toBe('close');
    }
  });
});
