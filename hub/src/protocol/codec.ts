// Pure frame codec: bytes in, typed frames out, and back. No I/O, timers or environment.
import { crc16 } from './crc16.ts';
import { ProtocolError } from './errors.ts';
import {
  CHECKSUM_SIZE, CommandStatus, DEVICE_ID_PATTERN, FLAG_ABS_TIME, FrameType, HEADER_SIZE, MAX_CHANNELS, MAX_COMMAND_TEXT,
  MAX_DEVICE_ID, MAX_FIRMWARE, MAX_NAME, MAX_PAYLOAD, MAX_UNIT, MIN_RECEIVE_FRAME, PROTOCOL_VERSION, ValueType,
  type ChannelDescriptor, type CommandStatusName, type Frame, type ReadingsFrame, type Sample, type ValueTypeName,
} from './frames.ts';
import { ReadingsColumns } from './readings-columns.ts';

// ignoreBOM: a leading EF BB BF is part of the string, not something to strip silently
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();
const valueTypeNames = new Map<number, ValueTypeName>(
  Object.entries(ValueType).map(([name, code]) => [code, name as ValueTypeName]),
);
const statusNames = new Map<number, CommandStatusName>(
  Object.entries(CommandStatus).map(([name, code]) => [code, name as CommandStatusName]),
);
const VALUE_SIZE: Record<ValueTypeName, number> = { f32: 4, f64: 8, i32: 4, bool: 1 };

function bad(message: string): never {
  throw new ProtocolError('FP_ERR_BAD_PAYLOAD', message);
}

class Reader {
  private pos: number;
  private readonly view: DataView;
  constructor(private readonly bytes: Uint8Array, start: number, private readonly end: number) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = start;
  }
  private take(n: number): number {
    if (this.pos + n > this.end) bad(`payload ends ${this.pos + n - this.end} byte(s) early`);
    const at = this.pos;
    this.pos += n;
    return at;
  }
  u8(): number { return this.view.getUint8(this.take(1)); }
  u16(): number { return this.view.getUint16(this.take(2), true); }
  u32(): number { return this.view.getUint32(this.take(4), true); }
  u64(): number {
    const at = this.take(8);
    const hi = this.view.getUint32(at + 4, true);
    if (hi > 0x1fffff) bad('time does not fit in 53 bits');
    return hi * 0x100000000 + this.view.getUint32(at, true);
  }
  str(lengthBytes: 1 | 2, max: number, what: string): string {
    const n = lengthBytes === 1 ? this.u8() : this.u16();
    if (n > max) bad(`${what} is ${n} bytes, limit ${max}`);
    const at = this.take(n);
    try {
      return utf8Decoder.decode(this.bytes.subarray(at, at + n));
    } catch {
      return bad(`${what} is not valid UTF-8`);
    }
  }
  left(): number { return this.end - this.pos; }
  done(): void {
    if (this.pos !== this.end) bad(`${this.end - this.pos} byte(s) left over after the payload`);
  }
}

/** [FP-4.1] 0 (the protocol maximum) or at least MIN_RECEIVE_FRAME */
function checkMaxFrame(n: number): number {
  if (n !== 0 && n < MIN_RECEIVE_FRAME) bad(`max receive frame ${n} is below ${MIN_RECEIVE_FRAME}`);
  return n;
}

function readValueType(r: Reader): ValueTypeName {
  const code = r.u8();
  return valueTypeNames.get(code) ?? bad(`unknown value type 0x${code.toString(16)}`);
}

// Scratch for reading floats out of a frame without a DataView per frame
const scratch = new ArrayBuffer(8);
const scratchBytes = new Uint8Array(scratch);
const scratchF32 = new Float32Array(scratch, 0, 1);
const scratchF64 = new Float64Array(scratch, 0, 1);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function readF32(bytes: Uint8Array, at: number): number {
  if (LITTLE_ENDIAN) for (let k = 0; k < 4; k++) scratchBytes[k] = bytes[at + k];
  else for (let k = 0; k < 4; k++) scratchBytes[k] = bytes[at + 3 - k];
  return scratchF32[0];
}

function readF64(bytes: Uint8Array, at: number): number {
  if (LITTLE_ENDIAN) for (let k = 0; k < 8; k++) scratchBytes[k] = bytes[at + k];
  else for (let k = 0; k < 8; k++) scratchBytes[k] = bytes[at + 7 - k];
  return scratchF64[0];
}

/** [FP-3.1, FP-3.5] Checks the header, length and checksum; returns where the payload ends. */
function checkEnvelope(bytes: Uint8Array): number {
  if (bytes.length < HEADER_SIZE) throw new ProtocolError('FP_ERR_TRUNCATED', `${bytes.length} bytes is shorter than the header`);
  const version = bytes[0];
  if (version !== PROTOCOL_VERSION) throw new ProtocolError('FP_ERR_BAD_VERSION', `version ${version}, expected ${PROTOCOL_VERSION}`);
  const length = bytes[8] | (bytes[9] << 8);
  if (length > MAX_PAYLOAD) throw new ProtocolError('FP_ERR_TOO_LARGE', `payload length ${length} over ${MAX_PAYLOAD}`);
  const expected = HEADER_SIZE + length + CHECKSUM_SIZE; // [FP-3.1]
  if (bytes.length < expected) throw new ProtocolError('FP_ERR_TRUNCATED', `${bytes.length} bytes, header promises ${expected}`);
  if (bytes.length > expected) throw new ProtocolError('FP_ERR_BAD_LENGTH', `${bytes.length} bytes, header promises ${expected}`);
  const payloadEnd = HEADER_SIZE + length;
  if (crc16(bytes, 0, payloadEnd) !== (bytes[payloadEnd] | (bytes[payloadEnd + 1] << 8))) throw new ProtocolError('FP_ERR_BAD_CHECKSUM', 'CRC-16 mismatch');
  return payloadEnd;
}

function payloadEndsEarly(by: number): never {
  return bad(`payload ends ${by} byte(s) early`);
}

/**
 * [FP-4.2] A READINGS payload into `into`, read straight from the bytes: no reader, DataView or
 * object per sample. Checks what Reader-based decoding would, in the same order.
 */
function readReadings(bytes: Uint8Array, payloadEnd: number, into: ReadingsColumns): ReadingsColumns {
  let at = HEADER_SIZE;
  into.seq = (bytes[4] | (bytes[5] << 8) | (bytes[6] << 16) | (bytes[7] << 24)) >>> 0;
  if (bytes[2] & FLAG_ABS_TIME) {
    if (at + 8 > payloadEnd) payloadEndsEarly(at + 8 - payloadEnd);
    const lo = (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0;
    const hi = (bytes[at + 4] | (bytes[at + 5] << 8) | (bytes[at + 6] << 16) | (bytes[at + 7] << 24)) >>> 0;
    if (hi > 0x1fffff) bad('time does not fit in 53 bits');
    into.baseTime = hi * 0x100000000 + lo;
    at += 8;
  } else {
    into.baseTime = undefined;
  }
  if (at + 2 > payloadEnd) payloadEndsEarly(at + 2 - payloadEnd);
  const count = bytes[at] | (bytes[at + 1] << 8);
  at += 2;
  if (count === 0) bad('READINGS with no samples');
  // every sample takes at least 7 bytes; a count the payload cannot hold ends early below
  if (count > into.channel.length) payloadEndsEarly(count * 7 - (payloadEnd - at));
  const { channel, valueType, offset, value } = into;
  for (let i = 0; i < count; i++) {
    if (at + 6 > payloadEnd) payloadEndsEarly(at + 6 - payloadEnd);
    channel[i] = bytes[at];
    const type = bytes[at + 1];
    valueType[i] = type;
    offset[i] = bytes[at + 2] | (bytes[at + 3] << 8) | (bytes[at + 4] << 16) | (bytes[at + 5] << 24);
    at += 6;
    switch (type) {
      case ValueType.f32:
        if (at + 4 > payloadEnd) payloadEndsEarly(at + 4 - payloadEnd);
        value[i] = readF32(bytes, at);
        at += 4;
        break;
      case ValueType.f64:
        if (at + 8 > payloadEnd) payloadEndsEarly(at + 8 - payloadEnd);
        value[i] = readF64(bytes, at);
        at += 8;
        break;
      case ValueType.i32:
        if (at + 4 > payloadEnd) payloadEndsEarly(at + 4 - payloadEnd);
        value[i] = bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24);
        at += 4;
        break;
      case ValueType.bool: {
        if (at + 1 > payloadEnd) payloadEndsEarly(at + 1 - payloadEnd);
        const b = bytes[at];
        if (b > 1) bad(`bool value ${b} is not 0 or 1`); // [FP-4.2.1]
        value[i] = b;
        at += 1;
        break;
      }
      default:
        bad(`unknown value type 0x${type.toString(16)}`);
    }
  }
  if (at !== payloadEnd) bad(`${payloadEnd - at} byte(s) left over after the payload`);
  into.count = count;
  return into;
}

/**
 * Decodes exactly one frame, as decodeFrame does, except that a READINGS frame's samples go into
 * `into` (which is returned) instead of an object each. `into` is overwritten by the next READINGS
 * decoded into it: copy() what must outlive that.
 */
export function decodeFrameInto(bytes: Uint8Array, into: ReadingsColumns): Exclude<Frame, ReadingsFrame> | ReadingsColumns {
  const payloadEnd = checkEnvelope(bytes);
  if (bytes[1] === FrameType.READINGS) return readReadings(bytes, payloadEnd, into);
  return decodeOther(bytes, payloadEnd) as Exclude<Frame, ReadingsFrame>;
}

/** Decodes exactly one frame. Throws only ProtocolError, checking in the order of [FP-3.5]. */
export function decodeFrame(bytes: Uint8Array): Frame {
  const payloadEnd = checkEnvelope(bytes);
  if (bytes[1] !== FrameType.READINGS) return decodeOther(bytes, payloadEnd);
  const columns = readReadings(bytes, payloadEnd, new ReadingsColumns(Math.floor((payloadEnd - HEADER_SIZE) / 7)));
  const samples: Sample[] = new Array(columns.count);
  for (let i = 0; i < columns.count; i++) {
    const type = valueTypeNames.get(columns.valueType[i])!;
    const v = columns.value[i];
    samples[i] = { channel: columns.channel[i], type, offset: columns.offset[i], value: type === 'bool' ? v === 1 : v };
  }
  const { seq, baseTime } = columns;
  return baseTime === undefined ? { type: 'readings', seq, samples } : { type: 'readings', seq, baseTime, samples };
}

function decodeOther(bytes: Uint8Array, payloadEnd: number): Frame {
  const type = bytes[1];
  const r = new Reader(bytes, HEADER_SIZE, payloadEnd);
  let frame: Frame;
  switch (type) {
    case FrameType.HELLO: {
      const session = r.u32();
      const deviceId = r.str(1, MAX_DEVICE_ID, 'device id');
      const firmware = r.str(1, MAX_FIRMWARE, 'firmware');
      const count = r.u8();
      if (count > MAX_CHANNELS) bad(`${count} channels, limit ${MAX_CHANNELS}`);
      const channels: ChannelDescriptor[] = [];
      const seen = new Set<number>();
      for (let i = 0; i < count; i++) {
        const id = r.u8();
        if (seen.has(id)) bad(`channel ${id} declared twice`);
        seen.add(id);
        const valueType = readValueType(r);
        const name = r.str(1, MAX_NAME, 'channel name');
        if (name.length === 0) bad(`channel ${id} has an empty name`);
        channels.push({ id, type: valueType, name, unit: r.str(1, MAX_UNIT, 'unit') });
      }
      if (!DEVICE_ID_PATTERN.test(deviceId)) bad(`device id ${JSON.stringify(deviceId)} is not allowed`);
      // [FP-4.1] an optional trailing u16, max receive frame; any other leftover is refused by done()
      frame = r.left() === 2
        ? { type: 'hello', session, deviceId, firmware, channels, maxFrame: checkMaxFrame(r.u16()) }
        : { type: 'hello', session, deviceId, firmware, channels };
      break;
    }
    case FrameType.ACK:
      frame = { type: 'ack', ackedSeq: r.u32(), hubTime: r.u64() };
      break;
    case FrameType.COMMAND: {
      const id = r.u32();
      const timeoutMs = r.u32();
      const name = r.str(1, MAX_NAME, 'command name');
      if (name.length === 0) bad('empty command name');
      frame = { type: 'command', id, timeoutMs, name, args: r.str(2, MAX_COMMAND_TEXT, 'command args') };
      break;
    }
    case FrameType.COMMAND_RESULT: {
      const id = r.u32();
      const code = r.u8();
      const status = statusNames.get(code) ?? bad(`unknown command status ${code}`);
      frame = { type: 'command_result', id, status, payload: r.str(2, MAX_COMMAND_TEXT, 'result payload') };
      break;
    }
    case FrameType.ERROR:
      frame = { type: 'error', code: r.u16(), text: r.str(1, 255, 'error text') };
      break;
    case FrameType.HEARTBEAT:
      frame = { type: 'heartbeat' };
      break;
    default:
      throw new ProtocolError('FP_ERR_BAD_TYPE', `unknown frame type 0x${type.toString(16)}`);
  }
  r.done();
  return frame;
}

class Writer {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  pos = HEADER_SIZE;
  constructor(payloadSize: number) {
    if (payloadSize > MAX_PAYLOAD) throw new ProtocolError('FP_ERR_TOO_LARGE', `payload length ${payloadSize} over ${MAX_PAYLOAD}`);
    this.bytes = new Uint8Array(HEADER_SIZE + payloadSize + CHECKSUM_SIZE);
    this.view = new DataView(this.bytes.buffer);
  }
  u8(v: number): void { this.view.setUint8(this.pos, v); this.pos += 1; }
  u16(v: number): void { this.view.setUint16(this.pos, v, true); this.pos += 2; }
  u32(v: number): void { this.view.setUint32(this.pos, v, true); this.pos += 4; }
  i32(v: number): void { this.view.setInt32(this.pos, v, true); this.pos += 4; }
  f32(v: number): void { this.view.setFloat32(this.pos, v, true); this.pos += 4; }
  f64(v: number): void { this.view.setFloat64(this.pos, v, true); this.pos += 8; }
  // two u32 halves, not a BigInt: every ACK carries a u64, and a BigInt per ACK showed in profiles
  u64(v: number): void {
    this.view.setUint32(this.pos, v % 0x100000000, true);
    this.view.setUint32(this.pos + 4, Math.floor(v / 0x100000000), true);
    this.pos += 8;
  }
  raw(b: Uint8Array): void { this.bytes.set(b, this.pos); this.pos += b.length; }
  finish(type: number, flags: number, seq: number): Uint8Array {
    const length = this.bytes.length - HEADER_SIZE - CHECKSUM_SIZE;
    this.view.setUint8(0, PROTOCOL_VERSION);
    this.view.setUint8(1, type);
    this.view.setUint8(2, flags);
    this.view.setUint32(4, seq, true);
    this.view.setUint16(8, length, true);
    this.view.setUint16(HEADER_SIZE + length, crc16(this.bytes, 0, HEADER_SIZE + length), true);
    return this.bytes;
  }
}

function putU32(bytes: Uint8Array, at: number, v: number): void {
  bytes[at] = v & 0xff;
  bytes[at + 1] = (v >>> 8) & 0xff;
  bytes[at + 2] = (v >>> 16) & 0xff;
  bytes[at + 3] = v >>> 24;
}

function utf8(text: string, max: number, what: string): Uint8Array {
  const b = utf8Encoder.encode(text);
  if (b.length > max) bad(`${what} is ${b.length} bytes, limit ${max}`);
  return b;
}

function uint(v: number, bits: 8 | 16 | 32, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v >= 2 ** bits) bad(`${what} ${v} is not a u${bits}`);
  return v;
}

function valueTypeCode(type: ValueTypeName): number {
  return ValueType[type] ?? bad(`unknown value type ${String(type)}`);
}

/** Encodes one frame. Invalid field values throw ProtocolError(FP_ERR_BAD_PAYLOAD) instead of producing a frame peers would reject. */
export function encodeFrame(frame: Frame): Uint8Array {
  switch (frame.type) {
    case 'hello': {
      if (!DEVICE_ID_PATTERN.test(frame.deviceId)) bad(`device id ${JSON.stringify(frame.deviceId)} is not allowed`);
      if (frame.channels.length > MAX_CHANNELS) bad(`${frame.channels.length} channels, limit ${MAX_CHANNELS}`);
      const id = utf8(frame.deviceId, MAX_DEVICE_ID, 'device id');
      const fw = utf8(frame.firmware, MAX_FIRMWARE, 'firmware');
      const channels = frame.channels.map((c) => {
        const name = utf8(c.name, MAX_NAME, 'channel name');
        if (name.length === 0) bad(`channel ${c.id} has an empty name`);
        return { id: uint(c.id, 8, 'channel id'), type: valueTypeCode(c.type), name, unit: utf8(c.unit, MAX_UNIT, 'unit') };
      });
      if (new Set(channels.map((c) => c.id)).size !== channels.length) bad('a channel id is declared twice');
      const maxFrame = frame.maxFrame === undefined ? undefined : checkMaxFrame(uint(frame.maxFrame, 16, 'max receive frame'));
      const size = 4 + 1 + id.length + 1 + fw.length + 1 + channels.reduce((n, c) => n + 4 + c.name.length + c.unit.length, 0)
        + (maxFrame === undefined ? 0 : 2);
      const w = new Writer(size);
      w.u32(uint(frame.session, 32, 'session'));
      w.u8(id.length); w.raw(id);
      w.u8(fw.length); w.raw(fw);
      w.u8(channels.length);
      for (const c of channels) {
        w.u8(c.id); w.u8(c.type);
        w.u8(c.name.length); w.raw(c.name);
        w.u8(c.unit.length); w.raw(c.unit);
      }
      if (maxFrame !== undefined) w.u16(maxFrame);
      return w.finish(FrameType.HELLO, 0, 0);
    }
    case 'readings': {
      const { samples, baseTime } = frame;
      if (samples.length === 0 || samples.length > 0xffff) bad(`${samples.length} samples; 1 to 65535 allowed`);
      let size = (baseTime === undefined ? 0 : 8) + 2;
      for (const s of samples) size += 6 + (VALUE_SIZE[s.type] ?? bad(`unknown value type ${String(s.type)}`));
      const w = new Writer(size);
      if (baseTime !== undefined) {
        if (!Number.isSafeInteger(baseTime) || baseTime < 0) bad(`base time ${baseTime} is not a u64 ms count`);
        w.u64(baseTime);
      }
      w.u16(samples.length);
      for (const s of samples) {
        w.u8(uint(s.channel, 8, 'channel id'));
        w.u8(valueTypeCode(s.type));
        if (!Number.isInteger(s.offset) || s.offset < -(2 ** 31) || s.offset >= 2 ** 31) bad(`offset ${s.offset} is not an i32`);
        w.i32(s.offset);
        const v = s.value;
        if (s.type === 'bool') {
          if (typeof v !== 'boolean') bad(`channel ${s.channel}: bool sample needs a boolean`);
          w.u8(v ? 1 : 0);
        } else {
          if (typeof v !== 'number') bad(`channel ${s.channel}: ${s.type} sample needs a number`);
          if (s.type === 'i32') {
            if (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31) bad(`channel ${s.channel}: ${v} is not an i32`);
            w.i32(v);
          } else if (s.type === 'f32') w.f32(v);
          else w.f64(v);
        }
      }
      return w.finish(FrameType.READINGS, baseTime === undefined ? 0 : FLAG_ABS_TIME, uint(frame.seq, 32, 'seq'));
    }
    case 'ack': {
      // The frame the hub sends most: written byte by byte, without a Writer and its DataView.
      const ackedSeq = uint(frame.ackedSeq, 32, 'acked seq');
      const { hubTime } = frame;
      if (!Number.isSafeInteger(hubTime) || hubTime < 0) bad(`hub time ${hubTime} is not a u64 ms count`);
      const bytes = new Uint8Array(HEADER_SIZE + 12 + CHECKSUM_SIZE);
      bytes[0] = PROTOCOL_VERSION;
      bytes[1] = FrameType.ACK;
      bytes[8] = 12; // [FP-3.1] payload length, u16
      putU32(bytes, HEADER_SIZE, ackedSeq);
      putU32(bytes, HEADER_SIZE + 4, hubTime % 0x100000000);
      putU32(bytes, HEADER_SIZE + 8, Math.floor(hubTime / 0x100000000));
      const crc = crc16(bytes, 0, HEADER_SIZE + 12);
      bytes[HEADER_SIZE + 12] = crc & 0xff;
      bytes[HEADER_SIZE + 13] = crc >> 8;
      return bytes;
    }
    case 'command': {
      const name = utf8(frame.name, MAX_NAME, 'command name');
      if (name.length === 0) bad('empty command name');
      const args = utf8(frame.args, MAX_COMMAND_TEXT, 'command args');
      const w = new Writer(8 + 1 + name.length + 2 + args.length);
      w.u32(uint(frame.id, 32, 'command id'));
      w.u32(uint(frame.timeoutMs, 32, 'timeout'));
      w.u8(name.length); w.raw(name);
      w.u16(args.length); w.raw(args);
      return w.finish(FrameType.COMMAND, 0, 0);
    }
    case 'command_result': {
      const payload = utf8(frame.payload, MAX_COMMAND_TEXT, 'result payload');
      const status = CommandStatus[frame.status] ?? bad(`unknown command status ${String(frame.status)}`);
      const w = new Writer(4 + 1 + 2 + payload.length);
      w.u32(uint(frame.id, 32, 'command id'));
      w.u8(status);
      w.u16(payload.length); w.raw(payload);
      return w.finish(FrameType.COMMAND_RESULT, 0, 0);
    }
    case 'error': {
      // Error text is advisory: cut it to the limit rather than refuse to report the error.
      let textChars = [...frame.text];
      let text = utf8Encoder.encode(frame.text);
      while (text.length > 255) {
        textChars = textChars.slice(0, -1);
        text = utf8Encoder.encode(textChars.join('') + '…');
      }
      const w = new Writer(2 + 1 + text.length);
      w.u16(uint(frame.code, 16, 'error code'));
      w.u8(text.length); w.raw(text);
      return w.finish(FrameType.ERROR, 0, 0);
    }
    case 'heartbeat':
      return new Writer(0).finish(FrameType.HEARTBEAT, 0, 0);
    default:
      return bad(`unknown frame type ${String((frame as { type: unknown }).type)}`);
  }
}
