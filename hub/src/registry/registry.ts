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

export interface DeviceRegistry {
  create(device: { id: string; name: string; tokenHash: string | null; transport: 'ws' | 'serial' }): Promise<DeviceRecord>;
  get(id: string): Promise<DeviceRecord | undefined>;
  findByTokenHash(tokenHash: string): Promise<DeviceRecord | undefined>;
  list(): Promise<DeviceRecord[]>;
  count(): Promise<number>;
  delete(id: string): Promise<boolean>;
  /** [FP-4.1.3] HELLO replaces firmware and channels */
  updateHello(id: string, hello: { firmware: string; channels: ChannelDescriptor[]; session: number }): Promise<void>;
  saveWatermarks(marks: readonly Watermark[]): Promise<void>;
  /**
   * [FP-4.1.4] Records the channel names a device declares, unless that would take it past `max`
   * distinct names over its lifetime; then records none and returns false.
   */
  addChannelNames(id: string, names: readonly string[], max: number): Promise<boolean>;
  close(): Promise<void>;
}
