import { describe, expect, it } from 'vitest';
import { pointsJson } from './points-json.ts';

describe('pointsJson', () => {
  it('writes what JSON.stringify writes for the same points', () => {
    const points = [
      { channel: 'temperature', time: 1_764_489_600_000, value: 21.5 },
      { channel: 'temperature', time: 1_764_489_660_000, value: -0 },
      { channel: 'a "quoted" \\ name\n', time: 0, value: 1e21 },
      { channel: 'ünïcødé ✓', time: 1, value: -1.7976931348623157e308 },
      { channel: 'x', time: 2, value: 5e-324 },
    ];
    expect(pointsJson(points)).toBe(JSON.stringify(points));
    expect(JSON.parse(pointsJson(points))).toEqual(JSON.parse(JSON.stringify(points)));
    expect(pointsJson([])).toBe('[]');
  });
});
