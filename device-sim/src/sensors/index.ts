// The sensor kinds a simulated device can carry, their channels, and one factory for a set.
import type { ChannelDescriptor } from '../../../hub/src/protocol/index.ts';
import { deriveSeed, seededRandom, type Random } from '../random.ts';
import { createAccelerometer } from './accelerometer.ts';
import { createBattery } from './battery.ts';
import { createCounter } from './counter.ts';
import { createDoor } from './door.ts';
import { createHumidity } from './humidity.ts';
import type { SensorModel } from './sensor.ts';
import { createTemperature, type TemperatureModel } from './temperature.ts';

export type { SensorModel } from './sensor.ts';

export const SENSOR_KINDS = ['temperature', 'humidity', 'battery', 'accel', 'counter', 'door'] as const;
export type SensorKind = (typeof SENSOR_KINDS)[number];

// Fixed ids, so a device keeps its channel ids whichever subset it carries.
export const SENSOR_CHANNELS: Record<SensorKind, ChannelDescriptor> = {
  temperature: { id: 1, type: 'f32', name: 'temperature', unit: '°C' },
  humidity: { id: 2, type: 'f32', name: 'humidity', unit: '%' },
  battery: { id: 3, type: 'i32', name: 'battery', unit: 'mV' },
  accel: { id: 4, type: 'f32', name: 'accel', unit: 'g' },
  counter: { id: 5, type: 'i32', name: 'counter', unit: '' },
  door: { id: 6, type: 'bool', name: 'door', unit: '' },
};

export interface SensorSetOptions {
  seed: number;
  /** length of the simulated day; shorter days make daily cycles visible in a demo */
  dayLengthMs?: number;
  /** mean temperature in °C (a freezer, a greenhouse); default: a room */
  temperatureBase?: number;
}

export function createSensors(kinds: readonly SensorKind[], options: SensorSetOptions): SensorModel[] {
  const day = options.dayLengthMs ?? 86_400_000;
  // One stream per kind: adding a channel to a device does not change the others' values.
  const rand = (kind: SensorKind): Random => seededRandom(deriveSeed(options.seed, SENSOR_KINDS.indexOf(kind)));
  let temperature: TemperatureModel | undefined;
  const air = () => (temperature ??= createTemperature({ rand: rand('temperature'), channel: SENSOR_CHANNELS.temperature, base: options.temperatureBase, dayLengthMs: day }));
  return kinds.map((kind) => {
    const channel = SENSOR_CHANNELS[kind];
    switch (kind) {
      case 'temperature':
        return air();
      case 'humidity':
        return createHumidity({ rand: rand(kind), channel, temperature: air(), dayLengthMs: day });
      case 'battery':
        return createBattery({ rand: rand(kind), channel, dischargeMs: 2 * day });
      case 'accel':
        return createAccelerometer({ rand: rand(kind), channel, meanGapMs: Math.max(10_000, day / 1440) });
      case 'counter':
        return createCounter({ rand: rand(kind), channel });
      case 'door':
        return createDoor({ rand: rand(kind), channel });
    }
  });
}

/** A plausible device for `--channels mixed`: always a thermometer, plus some of the rest. */
export function mixedKinds(rand: Random): SensorKind[] {
  return SENSOR_KINDS.filter((kind) => kind === 'temperature' || rand() < 0.5);
}

/** Parses `temperature,door` or `all`; throws with the list of known kinds on a bad name. */
export function parseSensorKinds(list: string): SensorKind[] {
  if (list.trim() === 'all') return [...SENSOR_KINDS];
  const names = list.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) throw new Error('no channels given');
  for (const name of names) {
    if (!(SENSOR_KINDS as readonly string[]).includes(name)) throw new Error(`unknown channel ${JSON.stringify(name)}; known: ${SENSOR_KINDS.join(', ')}`);
  }
  return [...new Set(names as SensorKind[])];
}
