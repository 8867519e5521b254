// [FP-4] Frame types as plain typed objects. The codec turns these into bytes and back.
export const FrameType = {
  HELLO: 0x01,
  READINGS: 0x02,
  ACK: 0x03,
  COMMAND: 0x04,
  COMMAND_RESULT: 0x05,
  ERROR: 0x06,
  HEARTBEAT: 0x07,
} as const;

// [FP-4.2.1]
export const ValueType = { f32: 0x01, f64: 0x02, i32: 0x03, bool: 0x04 } as const;
export type ValueTypeName = keyof typeof ValueType;

// [FP-4.5]
export const CommandStatus = { accepted: 0, succeeded: 1, failed: 2, unknown: 3 } as const;
export type CommandStatusName = keyof typeof CommandStatus;

export const PROTOCOL_VERSION = 1;
export const HEADER_SIZE = 10;
export const CHECKSUM_SIZE = 2;
// [FP-3.4] limits
export const MAX_PAYLOAD = 16384;
export const MAX_FRAME = HEADER_SIZE + MAX_PAYLOAD + CHECKSUM_SIZE;
export const MAX_CHANNELS = 64;
export const MAX_DEVICE_ID = 64;
export const MAX_NAME = 64;
export const MAX_UNIT = 16;
export const MAX_FIRMWARE = 64;
export const MAX_COMMAND_TEXT = 4096;
/** [FP-4.1] smallest `max receive frame` a HELLO may state (0 means the protocol maximum) */
export const MIN_RECEIVE_FRAME = 64;
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
// [FP-4.2] header flag bit 0 of READINGS
export const FLAG_ABS_TIME = 0x01;

export interface ChannelDescriptor {
  id: number;
  type: ValueTypeName;
  name: string;
  unit: string;
}

export interface Sample {
  channel: number;
  type: ValueTypeName;
  /** ms added to the base time (or to the arrival time when baseTime is absent) */
  offset: number;
  value: number | boolean;
}

export interface HelloFrame {
  type: 'hello';
  session: number;
  deviceId: string;
  firmware: string;
  channels: ChannelDescriptor[];
  /**
   * [FP-4.1] the largest frame the device can receive, in bytes (header and checksum included);
   * 0 or absent means the protocol maximum. Present only when the HELLO carries the field.
   */
  maxFrame?: number;
}
export interface ReadingsFrame {
  type: 'readings';
  seq: number;
  /** ms since the Unix epoch; absent means "stamp on arrival" [FP-4.2.2] */
  baseTime?: number;
  samples: Sample[];
}
export interface AckFrame {
  type: 'ack';
  ackedSeq: number;
  hubTime: number;
}
export interface CommandFrame {
  type: 'command';
  id: number;
  timeoutMs: number;
  name: string;
  args: string;
}
export interface CommandResultFrame {
  type: 'command_result';
  id: number;
  status: CommandStatusName;
  payload: string;
}
export interface ErrorFrame {
  type: 'error';
  code: number;
  text: string;
}
export interface HeartbeatFrame {
  type: 'heartbeat';
}

export type Frame =
  | HelloFrame
  | ReadingsFrame
  | AckFrame
  | CommandFrame
  | CommandResultFrame
  | ErrorFrame
  | HeartbeatFrame;
