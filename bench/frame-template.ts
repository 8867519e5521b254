// READINGS frames built once with the hub's codec, then re-stamped per send (seq, base time,
// checksum). Encoding tens of samples as objects for every frame would make the load generator,
// not the hub, the bottleneck on a 2-core machine.
import { crc16, decodeFrame, encodeFrame, HEADER_SIZE, type ChannelDescriptor, type Sample } from '../hub/src/protocol/index.ts';

export class ReadingsTemplate {
  private readonly template: Uint8Array;
  private readonly payloadEnd: number;
  readonly samples: number;

  /**
   * `rounds` samples per channel, one ms apart, the last at offset 0: every sample time is at or
   * before the frame's base time, which the latency scenario stamps with the send time.
   */
  constructor(channels: readonly ChannelDescriptor[], readonly rounds: number) {
    const samples: Sample[] = [];
    for (let r = 0; r < rounds; r++) {
      for (const c of channels) {
        const value = c.type === 'bool' ? r % 2 === 0 : c.type === 'i32' ? r : 20 + r / 8;
        samples.push({ channel: c.id, type: c.type, offset: r - (rounds - 1), value });
      }
    }
    this.samples = samples.length;
    this.template = encodeFrame({ type: 'readings', seq: 1, baseTime: 1, samples });
    this.payloadEnd = this.template.length - 2;
    const check = decodeFrame(this.make(7, 1_700_000_000_123));
    if (check.type !== 'readings' || check.seq !== 7 || check.baseTime !== 1_700_000_000_123 || check.samples.length !== samples.length) {
      throw new Error('re-stamped READINGS frame does not decode as expected');
    }
  }

  get bytes(): number {
    return this.template.length;
  }

  make(seq: number, baseTime: number): Uint8Array {
    const frame = this.template.slice();
    const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    view.setUint32(4, seq, true);
    view.setBigUint64(HEADER_SIZE, BigInt(baseTime), true);
    view.setUint16(this.payloadEnd, crc16(frame, 0, this.payloadEnd), true);
    return frame;
  }
}
