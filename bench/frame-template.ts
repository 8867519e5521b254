// READINGS frames built once with the hub's codec, then re-stamped per send (seq, base time,
// checksum). Encoding tens of samples as objects for every frame would make the load generator,
// not the hub, the bottleneck on a 2-core machine.
import { crc16, decodeFrame, encodeFrame, HEADER_SIZE, type ChannelDescriptor, type Sample } from '../hub/src/protocol/index.ts';

export class ReadingsTemplate {
  private readonly template: Uint8Array;
  private readonly payloadEnd: number;
  /** ms one frame spans: its samples sit on this many consecutive ms */
  readonly rounds: number;

  /**
   * `samples` readings, dealt over the channels in turn (1 → the first channel only, 10 → two
   * rounds of four and two more), one round per ms, the last round at offset 0: every sample time
   * is at or before the frame's base time, which the latency scenario stamps with the send time,
   * and (channel, time) never repeats within a frame. Throws when the frame would exceed the
   * protocol's payload limit [FP-3.2].
   */
  constructor(channels: readonly ChannelDescriptor[], readonly samples: number) {
    if (!Number.isInteger(samples) || samples < 1) throw new Error(`${samples} samples per frame: at least 1`);
    this.rounds = Math.ceil(samples / channels.length);
    const list: Sample[] = [];
    for (let i = 0; i < samples; i++) {
      const r = Math.floor(i / channels.length);
      const c = channels[i % channels.length];
      const value = c.type === 'bool' ? r % 2 === 0 : c.type === 'i32' ? r : 20 + (r % 10) / 8;
      list.push({ channel: c.id, type: c.type, offset: r - (this.rounds - 1), value });
    }
    this.template = encodeFrame({ type: 'readings', seq: 1, baseTime: 1, samples: list });
    this.payloadEnd = this.template.length - 2;
    const check = decodeFrame(this.make(7, 1_700_000_000_123));
    if (check.type !== 'readings' || check.seq !== 7 || check.baseTime !== 1_700_000_000_123 || check.samples.length !== samples) {
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
