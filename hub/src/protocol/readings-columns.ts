// [FP-4.2] A READINGS frame's samples in columns: what the hub's ingest reads. An object per
// sample (and the garbage it leaves) was the largest cost of a 40-sample frame in the hub's
// profile, so the hub decodes into one set of typed arrays it reuses for every frame.
import { MAX_PAYLOAD, ValueType, type ReadingsFrame } from './frames.ts';

/** Most samples one READINGS payload can hold: a u16 count, then 7 bytes for the smallest (bool) sample. */
export const MAX_SAMPLES = Math.floor((MAX_PAYLOAD - 2) / 7);

export class ReadingsColumns {
  readonly type = 'readings' as const;
  seq = 0;
  /** ms since the Unix epoch; undefined means "stamp on arrival" [FP-4.2.2] */
  baseTime: number | undefined = undefined;
  /** samples held; the arrays are longer, and only their first `count` entries belong to this frame */
  count = 0;
  readonly channel: Uint8Array;
  /** [FP-4.2.1] value type codes */
  readonly valueType: Uint8Array;
  readonly offset: Int32Array;
  /** bool as 1 or 0 */
  readonly value: Float64Array;

  constructor(capacity = MAX_SAMPLES) {
    this.channel = new Uint8Array(capacity);
    this.valueType = new Uint8Array(capacity);
    this.offset = new Int32Array(capacity);
    this.value = new Float64Array(capacity);
  }

  /** A copy sized to these samples, which later decodes into this one leave alone. */
  copy(): ReadingsColumns {
    const c = new ReadingsColumns(this.count);
    c.seq = this.seq;
    c.baseTime = this.baseTime;
    c.count = this.count;
    c.channel.set(this.channel.subarray(0, this.count));
    c.valueType.set(this.valueType.subarray(0, this.count));
    c.offset.set(this.offset.subarray(0, this.count));
    c.value.set(this.value.subarray(0, this.count));
    return c;
  }

  /** The columns of a frame decoded (or built) with a sample per object. */
  static from(frame: ReadingsFrame): ReadingsColumns {
    const { samples } = frame;
    const c = new ReadingsColumns(samples.length);
    c.seq = frame.seq;
    c.baseTime = frame.baseTime;
    c.count = samples.length;
    for (let i = 0; i < samples.length; i++) {
      const s = samples[i];
      c.channel[i] = s.channel;
      c.valueType[i] = ValueType[s.type];
      c.offset[i] = s.offset;
      c.value[i] = typeof s.value === 'boolean' ? (s.value ? 1 : 0) : s.value;
    }
    return c;
  }
}
