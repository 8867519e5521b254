import { describe, expect, it } from 'vitest';
import { seededRandom } from '../random.ts';
import { createAccelerometer, ACCEL_MAX_G } from './accelerometer.ts';
import { BATTERY_MAX_MV, BATTERY_MIN_MV, createBattery, openCircuitMillivolts } from './battery.ts';
import { COUNTER_MAX, createCounter, poisson } from './counter.ts';
import { createDoor } from './door.ts';
import { createSensors, mixedKinds, parseSensorKinds, SENSOR_CHANNELS, SENSOR_KINDS, type SensorModel } from './index.ts';
import { createTemperature } from './temperature.ts';
import { createHumidity } from './humidity.ts';

const T0 = Date.UTC(2026, 10, 1);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function series(model: SensorModel, from: number, to: number, step: number): (number | boolean)[] {
  const values: (number | boolean)[] = [];
  for (let t = from; t <= to; t += step) values.push(model.read(t));
  return values;
}

function numbers(model: SensorModel, from: number, to: number, step: number): number[] {
  return series(model, from, to, step) as number[];
}

function correlation(a: number[], b: number[]): number {
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  const ma = mean(a);
  const mb = mean(b);
  let num = 0;
  let da = 0;
  let db = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - ma) * (b[i] - mb);
    da += (a[i] - ma) ** 2;
    db += (b[i] - mb) ** 2;
  }
  return num / Math.sqrt(da * db);
}

describe('sensor models', () => {
  it('are deterministic for a seed and differ between seeds', () => {
    for (const kind of SENSOR_KINDS) {
      const run = (seed: number) => series(createSensors([kind], { seed })[0], T0, T0 + 2 * DAY, 60_000);
      expect(run(42), kind).toEqual(run(42));
      if (kind !== 'door') expect(run(42), kind).not.toEqual(run(43));
    }
  });

  it('keep a channel\'s values when other channels are added to the device', () => {
    const alone = series(createSensors(['battery'], { seed: 5 })[0], T0, T0 + DAY, 60_000);
    const withOthers = createSensors(['temperature', 'door', 'battery'], { seed: 5 });
    expect(series(withOthers[2], T0, T0 + DAY, 60_000)).toEqual(alone);
    expect(withOthers.map((s) => s.channel)).toEqual([SENSOR_CHANNELS.temperature, SENSOR_CHANNELS.door, SENSOR_CHANNELS.battery]);
  });

  it('give every value the declared type, bounded, over weeks and at fast and slow sampling', () => {
    const bounds: Record<string, [number, number]> = {
      temperature: [5, 40], humidity: [0, 100], battery: [BATTERY_MIN_MV, BATTERY_MAX_MV], accel: [0, ACCEL_MAX_G], counter: [0, COUNTER_MAX],
    };
    const problems: string[] = [];
    for (let seed = 0; seed < 20; seed++) {
      const sensors = createSensors(SENSOR_KINDS, { seed, dayLengthMs: DAY / 4 });
      for (const step of [200, 97_000]) {
        const to = step < 1000 ? T0 + HOUR : T0 + 21 * DAY;
        for (const sensor of sensors) {
          const { type, name } = sensor.channel;
          for (const v of series(sensor, T0, to, step)) {
            const ok = type === 'bool'
              ? typeof v === 'boolean'
              : typeof v === 'number' && v >= bounds[name][0] && v <= bounds[name][1] && (type !== 'i32' || Number.isInteger(v));
            if (!ok) problems.push(`${name} seed ${seed}: ${v}`);
          }
        }
      }
    }
    expect(problems.slice(0, 10)).toEqual([]);
  });
});

describe('temperature', () => {
  it('follows a daily cycle: afternoons are warmer than early mornings', () => {
    const model = createTemperature({ rand: seededRandom(1), channel: SENSOR_CHANNELS.temperature, base: 20, dailyAmplitude: 3 });
    let warmer = 0;
    for (let day = 0; day < 10; day++) {
      const morning = model.read(T0 + day * DAY + 5 * HOUR) as number;
      const afternoon = model.read(T0 + day * DAY + 17 * HOUR) as number;
      if (afternoon > morning) warmer++;
    }
    expect(warmer).toBeGreaterThanOrEqual(8);
  });

  it('moves little between close samples (drift, not jumps)', () => {
    const values = numbers(createSensors(['temperature'], { seed: 3 })[0], T0, T0 + HOUR, 1000);
    const steps = values.slice(1).map((v, i) => Math.abs(v - values[i]));
    expect(Math.max(...steps)).toBeLessThan(0.5);
  });
});

describe('humidity', () => {
  it('falls when the temperature rises', () => {
    for (const seed of [1, 2, 3]) {
      const [temperature, humidity] = createSensors(['temperature', 'humidity'], { seed });
      const t = numbers(temperature, T0, T0 + 3 * DAY, 600_000);
      const h = numbers(humidity, T0, T0 + 3 * DAY, 600_000);
      expect(correlation(t, h)).toBeLessThan(-0.5);
    }
  });

  it('stays within 0–100 % even for extreme air', () => {
    const hot = { deviation: () => 60 };
    const cold = { deviation: () => -60 };
    expect(createHumidity({ rand: seededRandom(1), channel: SENSOR_CHANNELS.humidity, temperature: hot }).read(T0)).toBe(0);
    expect(createHumidity({ rand: seededRandom(1), channel: SENSOR_CHANNELS.humidity, temperature: cold }).read(T0)).toBe(100);
  });
});

describe('battery', () => {
  it('follows a Li-ion curve: monotonic, flat in the middle, steep at the ends', () => {
    const curve = Array.from({ length: 101 }, (_, i) => openCircuitMillivolts(i / 100));
    expect(curve.every((v, i) => i === 0 || v >= curve[i - 1])).toBe(true);
    expect(curve[100]).toBe(4200);
    expect(curve[0]).toBe(3000);
    expect(curve[60] - curve[40]).toBeLessThan(curve[10] - curve[0]);
  });

  it('discharges over time, and a swapped cell starts full', () => {
    const battery = createBattery({ rand: seededRandom(9), channel: SENSOR_CHANNELS.battery, dischargeMs: DAY, startCharge: 0.9 });
    const charge: number[] = [];
    const volts: number[] = [];
    for (let t = T0; t <= T0 + 1.5 * DAY; t += 60_000) {
      volts.push(battery.read(t) as number);
      charge.push(battery.charge());
    }
    const swap = charge.findIndex((c, i) => i > 0 && c > charge[i - 1]);
    // 0.88 of a day at average load, give or take the load's wobble
    expect(swap / 1440).toBeGreaterThan(0.8);
    expect(swap / 1440).toBeLessThan(0.96);
    expect(charge[swap]).toBe(1);
    expect(volts[swap - 1]).toBeLessThan(3300);
    expect(volts[swap]).toBeGreaterThan(4100);
    expect(volts[Math.floor(swap / 2)]).toBeLessThan(volts[0] - 100);
  });

  it('reports i32 or f32 millivolts as its channel declares', () => {
    const i32 = createBattery({ rand: seededRandom(1), channel: SENSOR_CHANNELS.battery });
    const f32 = createBattery({ rand: seededRandom(1), channel: { ...SENSOR_CHANNELS.battery, type: 'f32' } });
    expect(Number.isInteger(i32.read(T0))).toBe(true);
    expect(numbers(f32, T0, T0 + HOUR, 60_000).some((v) => !Number.isInteger(v))).toBe(true);
  });
});

describe('accelerometer', () => {
  it('rests at 1 g and has bursts of vibration', () => {
    const model = createAccelerometer({ rand: seededRandom(4), channel: SENSOR_CHANNELS.accel, meanGapMs: 30_000 });
    const values = numbers(model, T0, T0 + HOUR, 100);
    const sorted = [...values].sort((a, b) => a - b);
    expect(sorted[Math.floor(sorted.length / 2)]).toBeCloseTo(1, 1);
    expect(values.filter((v) => Math.abs(v - 1) > 0.2).length).toBeGreaterThan(50);
    expect(values.filter((v) => Math.abs(v - 1) > 0.2).length).toBeLessThan(values.length / 2);
  });
});

describe('counter', () => {
  it('only goes up, in whole steps, at about its rate', () => {
    const model = createCounter({ rand: seededRandom(2), channel: SENSOR_CHANNELS.counter, perSecond: 3, start: 0 });
    const values = numbers(model, T0, T0 + HOUR, 1000);
    expect(values.every((v, i) => Number.isInteger(v) && (i === 0 || v >= values[i - 1]))).toBe(true);
    expect(values.at(-1)! / 3600).toBeGreaterThan(2.7);
    expect(values.at(-1)! / 3600).toBeLessThan(3.3);
  });

  it('saturates at the i32 maximum instead of wrapping', () => {
    const model = createCounter({ rand: seededRandom(2), channel: SENSOR_CHANNELS.counter, perSecond: 1000, start: COUNTER_MAX - 10 });
    model.read(T0);
    expect(model.read(T0 + 60_000)).toBe(COUNTER_MAX);
  });

  it('draws Poisson counts with the right mean, small and large', () => {
    const rand = seededRandom(8);
    for (const mean of [0.5, 4, 200]) {
      let sum = 0;
      for (let i = 0; i < 20_000; i++) sum += poisson(rand, mean);
      expect(sum / 20_000).toBeCloseTo(mean, mean < 10 ? 1 : -1);
    }
  });
});

describe('door', () => {
  it('is mostly closed and opens now and then', () => {
    const model = createDoor({ rand: seededRandom(6), channel: SENSOR_CHANNELS.door, meanClosedMs: 60_000, meanOpenMs: 10_000 });
    const values = series(model, T0, T0 + 6 * HOUR, 1000);
    const open = values.filter((v) => v === true).length / values.length;
    expect(open).toBeGreaterThan(0.05);
    expect(open).toBeLessThan(0.3);
    const toggles = values.filter((v, i) => i > 0 && v !== values[i - 1]).length;
    expect(toggles).toBeGreaterThan(100);
  });
});

describe('channel lists', () => {
  it('parses names and "all", and refuses unknown names with the known list', () => {
    expect(parseSensorKinds('door, temperature,door')).toEqual(['door', 'temperature']);
    expect(parseSensorKinds('all')).toEqual([...SENSOR_KINDS]);
    expect(() => parseSensorKinds('temperature,lux')).toThrow(/unknown channel "lux"; known: temperature, humidity/);
    expect(() => parseSensorKinds(',')).toThrow(/no channels/);
  });

  it('mixes plausible devices: always a thermometer, and varied', () => {
    const rand = seededRandom(1);
    const devices = Array.from({ length: 50 }, () => mixedKinds(rand).join(','));
    expect(devices.every((d) => d.startsWith('temperature'))).toBe(true);
    expect(new Set(devices).size).toBeGreaterThan(10);
  });
});
