// The device registry sits behind this interface so a shared database can replace the embedded one.
import type { ChannelDescriptor } from '../protocol/index.ts';

export interface DeviceRecord {
  id: string;
  name: string;
  tokenHash: string | null;
  transport: 'ws' | 'serial';
  createdAt: number;
  firmware: string | null;
  channels: ChannelDescriptor[];
  lastSeen: number | null;
  /** [FP-5.2] the session and highest durable READINGS seq, for resume after reconnect or restart */
  session: number | null;
  ackedSeq: number;
}

export interface Watermark {
  deviceId: string;
  session: number;
  ackedSeq: number;
  lastSeen: number;
}

/** `create` found a device with that id: nothing was written. */
export class DeviceExistsError extends Error {
  override readonly name = 'DeviceExistsError';
  readonly code = 'REGISTRY_DEVICE_EXISTS';
  constructor(readonly deviceId: string) {
    super(`device ${deviceId} exists`);
  }
}

/** `create` found `maxDevices` devices already: nothing was written. */
export class DeviceLimitError extends Error {
  override readonly name = 'DeviceLimitError';
  readonly code = 'REGISTRY_DEVICE_LIMIT';
  constructor(readonly maxDevices: number) {
    super(`at most ${maxDevices} devices`);
  }
}

export interface NewDevice {
  id: string;
  name: string;
  tokenHash: string | null;
  transport: 'ws' | 'serial';
}

/**
 * Every method may be called by several hub processes sharing one registry at once: what must not
 * race (a duplicate id, the device limit, the channel-name bound) is decided by the registry in
 * one step, never by a read followed by a write in the caller.
 */
export interface DeviceRegistry {
  /**
   * Adds a device, or changes nothing and rejects: with DeviceExistsError when the id is taken
   * (checked first), with DeviceLimitError when `maxDevices` devices exist already. Of concurrent
   * creates of one id exactly one succeeds; concurrent creates never take the count past `maxDevices`.
   */
  create(device: NewDevice, options?: { maxDevices?: number }): Promise<DeviceRecord>;
  get(id: string): Promise<DeviceRecord | undefined>;
  findByTokenHash(tokenHash: string): Promise<DeviceRecord | undefined>;
  list(): Promise<DeviceRecord[]>;
  count(): Promise<number>;
  /** Changes the device's display name; false when there is no such device. */
  rename(id: string, name: string): Promise<boolean>;
  /** Removes the device, its token (it no longer finds the device) and its channel names. */
  delete(id: string): Promise<boolean>;
  /** [FP-4.1.3] HELLO replaces firmware and channels; [FP-5.1] a new session starts its watermark at 0 */
  updateHello(id: string, hello: { firmware: string; channels: ChannelDescriptor[]; session: number }): Promise<void>;
  /** What `get` returns as `session`, `ackedSeq` and `lastSeen` from then on, to every process. */
  saveWatermarks(marks: readonly Watermark[]): Promise<void>;
  /**
   * [FP-4.1.4] Records the channel names a device declares, unless that would take it past `max`
   * distinct names over its lifetime; then records none and returns false.
   */
  addChannelNames(id: string, names: readonly string[], max: number): Promise<boolean>;
  close(): Promise<void>;
}
