import { describe, expect, it } from 'vitest';
import { createMetrics } from './metrics.ts';

describe('metrics counted per frame', () => {
  it('frames and readings counted in plain numbers reach every scrape, each once', async () => {
    const metrics = createMetrics();
    metrics.countFrame('readings');
    metrics.countFrame('readings');
    metrics.countFrame('heartbeat');
    metrics.countReadingsIn(40);
    const first = await metrics.registry.metrics();
    expect(first).toMatch(/^hub_frames_in_total\{type="readings"\} 2$/m);
    expect(first).toMatch(/^hub_frames_in_total\{type="heartbeat"\} 1$/m);
    expect(first).not.toMatch(/^hub_frames_in_total\{type="hello"\}/m);
    expect(first).toMatch(/^hub_readings_in_total 40$/m);

    metrics.countFrame('readings');
    metrics.countReadingsIn(2);
    const second = await metrics.registry.metrics();
    expect(second).toMatch(/^hub_frames_in_total\{type="readings"\} 3$/m);
    expect(second).toMatch(/^hub_frames_in_total\{type="heartbeat"\} 1$/m);
    expect(second).toMatch(/^hub_readings_in_total 42$/m);
    expect((await metrics.registry.getSingleMetric('hub_readings_in_total')!.get()).values[0].value).toBe(42);
  });
});
