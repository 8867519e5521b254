// Ingest: validates frames from device sessions, batches readings into the store, acknowledges
// what is durable, and fans readings out live. It knows links, stores and buses only by interface.
import type { Logger } from 'pino';
import { ErrorCode, ValueType, type ChannelDescriptor, type ErrorName, type Frame, type HelloFrame, type ReadingsColumns } from '../protocol/index.ts';
import type { LiveBus, LiveReading } from '../live/live-bus.ts';
import { LogLimiter } from '../log-limiter.ts';
import type { Metrics } from '../metrics.ts';
import type { DeviceRegistry } from '../registry/registry.ts';
import { isWriteRejected } from '../store/errors.ts';
import { writeSalvaging } from '../store/salvage-write.ts';
import { ReadingBatch } from '../store/reading-batch.ts';
import type { Reading, ReadingStore } from '../store/store.ts';
import { emptyCounters, type DeviceCounters, type Presence } from '../presence/presence.ts';
import type { DeviceLink } from './device-link.ts';

export interface IngestOptions {
  store: ReadingStore;
  registry: DeviceRegistry;
  presence: Presence;
  live: LiveBus;
  metrics: Metrics;
  log: Logger;
  /** rate-limits what devices and a failing store can make ingest log (default: one of its own) */
  logLimiter?: LogLimiter;
  /** flush when this many readings are pending */
  batchSize: number;
  /** flush at most this long after the first pending reading */
  flushIntervalMs: number;
  /**
   * [FP-5.6] a device with this many frames unacknowledged is taken to be waiting for an ACK
   * before it sends more: what is pending is flushed then, without waiting for flushIntervalMs
   * (default 32, the window FP-5.6 suggests)
   */
  ackWindow?: number;
  /**
   * store writes running at once (default 1). More keep a store that answers over a network busy
   * between requests; ACKs and watermarks still follow batch order, whatever order writes end in.
   */
  writesInFlight?: number;
  /** [FP-4.2.4] samples further ahead of the hub clock are rejected */
  maxFutureMs: number;
  /**
   * [FP-4.2.4] samples older than this are refused (FP_ERR_BAD_TIME): the store would drop them
   * anyway (InfluxDB's retention policy), and an ACK must never cover a reading that is not kept
   */
  maxAgeMs?: number;
  /**
   * Sees every accepted reading once, in arrival order, before it is durable (alert rules): a
   * slice of ingest's pending batch, read during the call and not kept. Resends are not shown.
   */
  watch?: (deviceId: string, readings: ReadingBatch, from: number, count: number) => void;
  /** [FP-4.1.4] distinct channel names one device may declare over its lifetime (default 256) */
  maxChannelNamesPerDevice?: number;
  now?: () => number;
}

/** Why a HELLO's channels are refused. */
export interface ChannelRefusal {
  code: 'FP_ERR_BAD_PAYLOAD' | 'FP_ERR_TOO_MANY_CHANNELS';
  text: string;
}

const WATERMARK_SAVE_MS = 1000;

/** Written batches kept for reuse: one per write in flight and one filling is what is in use. */
const MAX_SPARE_BATCHES = 4;

/** Skipped seq ranges remembered per device; older ones count as lost for good. */
const MAX_SKIPPED_RANGES = 8;

/** Removes `seq` from the device's skipped ranges; false when it was not skipped. */
function takeSkipped(device: DeviceState, seq: number): boolean {
  const i = device.skipped.findIndex(([from, to]) => from <= seq && seq <= to);
  if (i < 0) return false;
  const [from, to] = device.skipped[i];
  const rest: [number, number][] = [];
  if (from < seq) rest.push([from, seq - 1]);
  if (seq < to) rest.push([seq + 1, to]);
  device.skipped.splice(i, 1, ...rest);
  if (device.skipped.length > MAX_SKIPPED_RANGES) device.skipped.shift();
  return true;
}

// [FP-4.2.4] earlier times mean a device whose clock was never set
const EARLIEST_TIME = Date.UTC(2000, 0, 1);

/** Channel lists kept once however many devices declare them; past this many, lists are not shared. */
const MAX_SHARED_CHANNEL_LISTS = 1024;

/**
 * A HELLO's channels as every sample reads them: by channel id, the [FP-4.2.1] value type code
 * (NO_CHANNEL where none is declared) and the name. A sample's check is then a compare of two codes.
 */
interface ChannelIndex {
  types: Uint8Array;
  names: string[];
}

/** Not a value type code: the codec refuses every code it does not know. */
const NO_CHANNEL = 0xff;

const NO_CHANNELS: ChannelIndex = { types: new Uint8Array(0), names: [] };

interface ChannelList {
  list: ChannelDescriptor[];
  byId: ChannelIndex;
}

function channelsById(channels: readonly ChannelDescriptor[]): ChannelIndex {
  const size = channels.reduce((n, c) => Math.max(n, c.id + 1), 0);
  const byId: ChannelIndex = { types: new Uint8Array(size).fill(NO_CHANNEL), names: new Array<string>(size).fill('') };
  for (const c of channels) {
    byId.types[c.id] = ValueType[c.type];
    byId.names[c.id] = c.name;
  }
  return byId;
}

/** Per-device protocol state that outlives connections: sequence watermarks and channels. */
export interface DeviceState {
  readonly id: string;
  session: number | null;
  /** highest seq accepted into a batch (durable or not yet) */
  acceptedSeq: number;
  /** highest seq durable; what ACKs carry */
  durableSeq: number;
  /**
   * [FP-5.2] seq ranges this session jumped over (inclusive), newest last, at most a few: a frame
   * from one that still arrives is new to the hub and is stored, never dropped as a duplicate.
   */
  skipped: [number, number][];
  /** bumped when pending frames are abandoned, so their later ACKs are not sent */
  epoch: number;
  /** the latest HELLO's channels by id */
  channels: ChannelIndex;
  /** presence's counters for the device, updated in place */
  counters: DeviceCounters;
  /** the latest batch handed to the store with readings of the device, and their latest time */
  lastBatch: number;
  lastBatchTime: number;
}

/**
 * What a READINGS frame comes to [FP-5]: ingest decides, the device session performs it. `reply`
 * goes to the device at once; an accepted frame's ACK follows when its batch is durable.
 */
export type ReadingsVerdict =
  /** ERROR, and the protocol session ends */
  | { kind: 'refuse'; code: ErrorName; text: string }
  /** already held: dropped; the ACK again when it is durable */
  | { kind: 'duplicate'; reply: Frame | null }
  /** queued for the store; an ERROR for samples it dropped */
  | { kind: 'accepted'; reply: Frame | null };

const ACCEPTED: ReadingsVerdict = { kind: 'accepted', reply: null };

interface PendingAck {
  device: DeviceState;
  seq: number;
  epoch: number;
  /** the frame's latest accepted sample time */
  lastTime: number;
}

interface Batch {
  /** numbered in the order batches are cut, which is the order their ACKs go out in */
  id: number;
  readings: ReadingBatch;
  acks: PendingAck[];
  /**
   * holds a reading at or before a time its device has in a batch not yet written: the same point
   * may be in both, and the later must win, so this write starts only when the earlier ones ended
   */
  afterEarlier: boolean;
  written: boolean;
}

/** How a batch's store write ended. */
type WriteOutcome =
  | { ok: true; refused: readonly Reading[]; error?: unknown }
  | { ok: false };

export class Ingest {
  private readonly devices = new Map<string, DeviceState>();
  /**
   * Devices of one kind declare the same channels: each idle connection holding its own copy (the
   * descriptors, their names and units, the index) cost about half a KiB.
   */
  private readonly channelLists = new Map<string, ChannelList>();
  private pending: Batch;
  /**
   * Written batches' columns, for the next batches: a zeroed full-size pair of columns for every
   * batch was 3 % of the hub's CPU at 40 readings per frame.
   */
  private readonly spareBatches: ReadingBatch[] = [];
  private timer: NodeJS.Timeout | null = null;
  /** writes of cut batches waiting for a free slot, oldest first */
  private readonly queued: (() => Promise<void>)[] = [];
  /** store writes running */
  private inFlight = 0;
  private readonly writesInFlight: number;
  /** cut batches, oldest first, from the oldest whose write has not ended */
  private readonly unwritten: Batch[] = [];
  /** resolves when every batch cut so far has been written (or failed) */
  private allWritten: Promise<unknown> = Promise.resolve();
  /** resolves when every batch cut so far is acknowledged or abandoned, in the order they were cut */
  private released: Promise<void> = Promise.resolve();
  /** a device filled its window while every write slot was busy: flush when one is free */
  private flushWhenWritten = false;
  private readonly unsavedMarks = new Set<DeviceState>();
  private marksSavedAt = 0;
  private readonly now: () => number;
  private readonly limitedLog: LogLimiter;
  private readonly ackWindow: number;
  /** readings the store refused for good since start, for /healthz */
  readonly storeRejections = { readings: 0, lastAt: 0, lastError: '' };

  constructor(private readonly options: IngestOptions) {
    this.now = options.now ?? Date.now;
    this.ackWindow = options.ackWindow ?? 32;
    this.writesInFlight = options.writesInFlight ?? 1;
    if (!Number.isSafeInteger(this.writesInFlight) || this.writesInFlight < 1) throw new RangeError(`writesInFlight must be a whole number ≥ 1, not ${options.writesInFlight}`);
    this.limitedLog = options.logLimiter ?? new LogLimiter(options.log);
    this.pending = this.nextBatch(1);
  }

  /** The columns of a written batch when there is one; new ones grow as they fill. */
  private nextBatch(id: number): Batch {
    return { id, readings: this.spareBatches.pop() ?? new ReadingBatch(), acks: [], afterEarlier: false, written: false };
  }

  /**
   * [FP-4.1.4] Each channel name becomes a stored series (an InfluxDB tag value): a device that
   * invents names (from values, dates, counters) would grow the store without bound and, past
   * InfluxDB's per-tag limit, get every batch holding a new name refused. So names are unique per
   * HELLO and bounded per device over its lifetime.
   */
  async admitChannels(frame: HelloFrame): Promise<ChannelRefusal | null> {
    const names = frame.channels.map((c) => c.name);
    const duplicate = names.find((name, i) => names.indexOf(name) !== i);
    if (duplicate !== undefined) return { code: 'FP_ERR_BAD_PAYLOAD', text: `channel name ${JSON.stringify(duplicate)} declared twice` };
    const max = this.options.maxChannelNamesPerDevice ?? 256;
    if (!(await this.options.registry.addChannelNames(frame.deviceId, names, max))) {
      return { code: 'FP_ERR_TOO_MANY_CHANNELS', text: `more than ${max} distinct channel names over the device's lifetime` };
    }
    return null;
  }

  /** [FP-4.1] Binds a link to a device and answers with the resume point. */
  async hello(link: DeviceLink, frame: HelloFrame): Promise<DeviceState> {
    const { registry, presence } = this.options;
    const record = await registry.get(frame.deviceId);
    let device = this.devices.get(frame.deviceId);
    if (!device) {
      device = {
        id: frame.deviceId, session: record?.session ?? null, acceptedSeq: record?.ackedSeq ?? 0, durableSeq: record?.ackedSeq ?? 0, skipped: [],
        epoch: 0, channels: NO_CHANNELS, counters: emptyCounters(), lastBatch: 0, lastBatchTime: -Infinity,
      };
      this.devices.set(frame.deviceId, device);
    } else if (record && (record.session !== device.session || record.ackedSeq > device.durableSeq)) {
      // Another hub process served the device since this one did (its HELLO changed the session,
      // or its ACKs went further): the registry holds the latest resume point. With one process the
      // registry never differs this way, as it only lags behind what this process holds.
      device.session = record.session;
      device.acceptedSeq = device.durableSeq = record.ackedSeq;
      device.skipped = [];
      device.epoch++;
    }
    if (device.session !== frame.session) {
      // [FP-5.1] a new session is a new sequence space
      device.session = frame.session;
      device.acceptedSeq = device.durableSeq = 0;
      device.skipped = [];
      device.epoch++;
    }
    // Frames of this session still being written keep their place: the device's resends of them
    // are dropped as duplicates, and their ACK goes to whichever link is current when they land.
    const channels = this.sharedChannels(frame.channels);
    device.channels = channels.byId;
    await registry.updateHello(frame.deviceId, { firmware: frame.firmware, channels: channels.list, session: frame.session });
    link.maxFrame = frame.maxFrame || undefined; // [FP-4.1.5] every HELLO states it anew
    const { replaced, counters } = await presence.connect(frame.deviceId, link, { firmware: frame.firmware, channels: channels.list });
    device.counters = counters;
    replaced?.end('FP_ERR_REPLACED'); // [FP-6.5]
    link.send({ type: 'ack', ackedSeq: device.durableSeq, hubTime: this.now() }); // [FP-4.1.2]
    return device;
  }

  private sharedChannels(channels: ChannelDescriptor[]): ChannelList {
    const key = JSON.stringify(channels.map((c) => [c.id, c.type, c.name, c.unit]));
    let shared = this.channelLists.get(key);
    if (!shared) {
      shared = { list: channels, byId: channelsById(channels) };
      if (this.channelLists.size < MAX_SHARED_CHANNEL_LISTS) this.channelLists.set(key, shared);
    }
    return shared;
  }

  /** A link went away. Only the device's current link marks it offline. */
  disconnected(device: DeviceState, link: DeviceLink): void {
    void this.options.presence.disconnect(device.id, link);
  }

  touch(device: DeviceState): void {
    this.options.presence.seen(device.id);
    device.counters.frames++;
  }

  /** [FP-4.2] Validates samples, queues the good ones and schedules the cumulative ACK. */
  readings(device: DeviceState, frame: ReadingsColumns, via: { transport: DeviceLink['transport']; strictSequence: boolean }): ReadingsVerdict {
    const { metrics, live } = this.options;
    const arrival = this.now();
    const count = frame.count;
    metrics.countReadingsIn(count);
    // [FP-5.1] numbering starts at 1; a 0 would pass as a duplicate of nothing and vanish silently
    if (frame.seq === 0) return { kind: 'refuse', code: 'FP_ERR_BAD_PAYLOAD', text: 'READINGS seq 0: sequence numbers start at 1' };
    // [FP-5.2, FP-8.3] on a serial line a skip means a frame line was lost: start over from the ACK
    if (via.strictSequence && frame.seq > device.acceptedSeq + 1) {
      return { kind: 'refuse', code: 'FP_ERR_NO_HELLO', text: `seq ${frame.seq} skips ahead of ${device.acceptedSeq}; resend from the last ACK` };
    }
    if (frame.seq <= device.acceptedSeq) {
      if (takeSkipped(device, frame.seq)) {
        // [FP-5.2] late, out of order: not a duplicate, and no longer missing
        device.counters.sequenceGaps--;
      } else {
        // [FP-5.2] a resend of something already held
        device.counters.duplicates++;
        metrics.duplicates.inc();
        return { kind: 'duplicate', reply: frame.seq <= device.durableSeq ? { type: 'ack', ackedSeq: device.durableSeq, hubTime: arrival } : null };
      }
    } else {
      if (frame.seq > device.acceptedSeq + 1) {
        const missing = frame.seq - device.acceptedSeq - 1;
        device.counters.sequenceGaps += missing;
        metrics.sequenceGaps.inc(missing);
        device.skipped.push([device.acceptedSeq + 1, frame.seq - 1]);
        if (device.skipped.length > MAX_SKIPPED_RANGES) device.skipped.shift();
      }
      device.acceptedSeq = frame.seq;
    }

    const base = frame.baseTime ?? arrival; // [FP-4.2.2]
    const latest = arrival + this.options.maxFutureMs;
    const earliest = Math.max(EARLIEST_TIME, arrival - (this.options.maxAgeMs ?? Infinity));
    const pending = this.pending.readings;
    const firstAccepted = pending.length;
    pending.reserve(count);
    const { deviceId: deviceIds, channel: channelNames, time: times, value: pendingValues } = pending;
    let next = firstAccepted;
    const deviceId = device.id;
    const { types: channelTypes, names: channelNamesById } = device.channels;
    const { channel: channels, valueType, offset, value: values } = frame;
    // a point at or before this may also be in a batch still being written
    const overlapsUpTo = device.lastBatch >= this.oldestUnwritten() ? device.lastBatchTime : -Infinity;
    let overlaps = false;
    let lastTime = -Infinity;
    let firstError: { code: ErrorName; text: string } | null = null;
    let rejected = 0;
    for (let i = 0; i < count; i++) {
      const id = channels[i];
      const type = id < channelTypes.length ? channelTypes[id] : NO_CHANNEL;
      const time = base + offset[i];
      const value = values[i];
      if (type !== valueType[i] || !Number.isFinite(value) || time > latest || time < earliest) {
        const code: ErrorName = type === NO_CHANNEL ? 'FP_ERR_UNKNOWN_CHANNEL' : type !== valueType[i] || !Number.isFinite(value) ? 'FP_ERR_BAD_VALUE' : 'FP_ERR_BAD_TIME';
        rejected++;
        metrics.rejected.inc({ code });
        firstError ??= { code, text: `channel ${id}` };
        continue;
      }
      deviceIds[next] = deviceId;
      channelNames[next] = channelNamesById[id];
      times[next] = time;
      pendingValues[next] = value;
      next++;
      if (time > lastTime) lastTime = time;
      if (time <= overlapsUpTo) overlaps = true;
    }
    pending.length = next;
    if (overlaps) this.pending.afterEarlier = true;
    const accepted = pending.length - firstAccepted;
    device.counters.readings += accepted;
    let verdict = ACCEPTED;
    if (firstError) {
      device.counters.rejected += rejected;
      this.limitedLog.warn(device.id, {
        deviceId: device.id, transport: via.transport, code: firstError.code, rejected, samples: count, first: firstError.text,
      }, 'samples rejected');
      // [FP-4.2.4] one ERROR for the frame, before its ACK
      verdict = { kind: 'accepted', reply: { type: 'error', code: ErrorCode[firstError.code], text: `${rejected} of ${count} samples dropped; first: ${firstError.text}` } };
    }
    if (accepted > 0) this.options.watch?.(device.id, pending, firstAccepted, accepted);
    if (accepted > 0 && live.active) {
      const readings: LiveReading[] = new Array(accepted);
      for (let i = 0; i < accepted; i++) {
        const at = firstAccepted + i;
        readings[i] = { channel: pending.channel[at], time: pending.time[at], value: pending.value[at] };
      }
      live.publish({ type: 'readings', deviceId: device.id, readings });
    }
    this.pendingAck(device, frame.seq, lastTime);
    this.schedule(device);
    return verdict;
  }

  /**
   * Notes the frame for its ACK. A device's frames mostly come several to a socket read, one after
   * another: they share one entry, as the batch acknowledges them with one ACK anyway.
   */
  private pendingAck(device: DeviceState, seq: number, lastTime: number): void {
    const { acks } = this.pending;
    const last = acks.length > 0 ? acks[acks.length - 1] : undefined;
    if (last !== undefined && last.device === device && last.epoch === device.epoch) {
      if (seq > last.seq) last.seq = seq;
      if (lastTime > last.lastTime) last.lastTime = lastTime;
      return;
    }
    acks.push({ device, seq, epoch: device.epoch, lastTime });
  }

  private schedule(device: DeviceState): void {
    if (this.pending.readings.length >= this.options.batchSize) return this.startFlush();
    // A device whose window is full sends nothing more until its ACK: waiting out the timer for
    // more readings would only idle it (1-sample frames from 100 devices with windows of 32 fill
    // 3200 of a 5000-reading batch, and then everyone waited 20 ms). Only the frame that fills the
    // window flushes, so a device with a larger window does not make a batch of every frame. While
    // every write slot is busy, the flush waits for one and then takes everything that came
    // meanwhile: batches cut at every full window made the embedded store commit 1280-reading
    // batches and fall from 426k to 116k readings/s.
    if (device.acceptedSeq - device.durableSeq === this.ackWindow) {
      if (this.slotFree()) return this.startFlush();
      this.flushWhenWritten = true;
    }
    this.timer ??= setTimeout(() => this.flushDue(), this.options.flushIntervalMs);
  }

  /**
   * The flush interval is up. With the store idle the batch goes now, so a lightly loaded hub
   * acknowledges within the interval; while a write is running, the batch keeps growing until that
   * write ends and goes then (group commit): a batch cut at every interval under load made commits
   * smaller and more frequent, and the open-loop maximum fell 10–20 % at 15 ms.
   */
  private flushDue(): void {
    this.timer = null;
    if (this.inFlight === 0) return this.startFlush();
    this.flushWhenWritten = true;
  }

  private slotFree(): boolean {
    return this.inFlight < this.writesInFlight && this.queued.length === 0;
  }

  /** The id of the oldest batch whose write has not ended (the next batch's, when none). */
  private oldestUnwritten(): number {
    return this.unwritten.length > 0 ? this.unwritten[0].id : this.pending.id;
  }

  private startFlush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.flushWhenWritten = false;
    if (this.pending.acks.length === 0) return;
    const batch = this.pending;
    this.pending = this.nextBatch(batch.id + 1);
    for (const ack of batch.acks) {
      ack.device.lastBatch = batch.id;
      if (ack.lastTime > ack.device.lastBatchTime) ack.device.lastBatchTime = ack.lastTime;
    }
    let settle!: (outcome: WriteOutcome) => void;
    const outcome = new Promise<WriteOutcome>((resolve) => (settle = resolve));
    const earlier = this.allWritten;
    this.allWritten = earlier.then(() => outcome);
    this.unwritten.push(batch);
    this.queued.push(async () => {
      if (batch.afterEarlier) await earlier;
      const result = await this.writeBatch(batch);
      batch.written = true;
      // the store is done with the readings (it reads them only until its write ends)
      if (this.spareBatches.length < MAX_SPARE_BATCHES) {
        batch.readings.clear();
        this.spareBatches.push(batch.readings);
      }
      settle(result);
    });
    // Writes may end in any order; ACKs and watermarks go out in the order batches were cut, so a
    // device's ACKs never pass one another and a failed batch is abandoned before any later
    // batch of its devices is acknowledged (the epoch check then holds those ACKs back).
    this.released = this.released.then(async () => this.release(batch, await outcome));
    this.startWrites();
  }

  private startWrites(): void {
    while (this.inFlight < this.writesInFlight && this.queued.length > 0) {
      const write = this.queued.shift()!;
      this.inFlight++;
      void write().finally(() => this.writeEnded());
    }
  }

  private writeEnded(): void {
    this.inFlight--;
    while (this.unwritten.length > 0 && this.unwritten[0].written) this.unwritten.shift();
    this.startWrites();
    if (this.flushWhenWritten && this.slotFree()) this.startFlush();
  }

  /** Writes the batch; settles once the store has it, or with `ok: false` when it could not take it. */
  private async writeBatch(batch: Batch): Promise<WriteOutcome> {
    const { store, metrics } = this.options;
    const stopTimer = metrics.storeWriteSeconds.startTimer();
    try {
      if (batch.readings.length > 0) await store.write(batch.readings);
      stopTimer();
      metrics.readingsStored.inc(batch.readings.length);
      return { ok: true, refused: [] };
    } catch (err) {
      const salvaged = isWriteRejected(err) ? await writeSalvaging((r) => store.write(r), batch.readings.toReadings()).catch(() => null) : null;
      if (!salvaged) {
        metrics.storeWriteFailures.inc();
        this.limitedLog.error('store', { err, readings: batch.readings.length }, 'store write failed; devices will resend');
        return { ok: false };
      }
      stopTimer();
      metrics.readingsStored.inc(batch.readings.length - salvaged.refused.length);
      return { ok: true, refused: salvaged.refused, error: salvaged.error };
    }
  }

  /** Acknowledges a written batch, or abandons a failed one; batches come here in the order they were cut. */
  private async release(batch: Batch, outcome: WriteOutcome): Promise<void> {
    if (!outcome.ok) return this.abandon(batch);
    if (outcome.refused.length > 0) this.refusedByStore(outcome.refused, outcome.error);
    const acked = new Map<DeviceState, number>();
    for (const { device, seq, epoch } of batch.acks) {
      if (epoch !== device.epoch) continue;
      device.durableSeq = Math.max(device.durableSeq, seq);
      acked.set(device, device.durableSeq);
    }
    for (const device of acked.keys()) this.unsavedMarks.add(device);
    if (this.now() - this.marksSavedAt >= WATERMARK_SAVE_MS) await this.saveWatermarks();
    const hubTime = this.now();
    for (const [device, ackedSeq] of acked) this.options.presence.linkOf(device.id)?.send({ type: 'ack', ackedSeq, hubTime });
  }

  /**
   * [FP-9 FP_ERR_STORE_REJECTED] The store refused these readings for good: resending cannot help,
   * so they are dropped and counted like invalid samples, their devices are told, and their frames
   * are acknowledged with everyone else's.
   */
  private refusedByStore(refused: readonly Reading[], error: unknown): void {
    const byDevice = new Map<string, Reading[]>();
    for (const r of refused) {
      const list = byDevice.get(r.deviceId);
      if (list) list.push(r);
      else byDevice.set(r.deviceId, [r]);
    }
    const reason = (error as Error | undefined)?.message?.slice(0, 200) ?? 'refused by the store';
    this.storeRejections.readings += refused.length;
    this.storeRejections.lastAt = this.now();
    this.storeRejections.lastError = reason;
    for (const [deviceId, readings] of byDevice) {
      this.options.metrics.rejected.inc({ code: 'FP_ERR_STORE_REJECTED' }, readings.length);
      const device = this.devices.get(deviceId);
      const channels = [...new Set(readings.map((r) => r.channel))];
      this.limitedLog.warn(`${deviceId}:store`, { deviceId, refused: readings.length, channels: channels.slice(0, 10), reason }, 'store refused readings');
      if (!device) continue;
      device.counters.rejected += readings.length;
      device.counters.readings -= readings.length;
      this.options.presence.linkOf(deviceId)?.send({ type: 'error', code: ErrorCode.FP_ERR_STORE_REJECTED, text: `${readings.length} readings of ${channels.slice(0, 3).join(', ')} refused by the store; not stored, do not resend` });
    }
  }

  /** [FP-5.5] Nothing durable: forget the frames and make every affected device start over. */
  private abandon(batch: Batch): void {
    const devices = new Set(batch.acks.filter((a) => a.epoch === a.device.epoch).map((a) => a.device));
    for (const device of devices) {
      device.acceptedSeq = device.durableSeq;
      // what was skipped above the watermark will be sent again in order
      device.skipped = device.skipped.filter(([from]) => from <= device.durableSeq).map(([from, to]) => [from, Math.min(to, device.durableSeq)]);
      device.epoch++;
      this.options.metrics.rejected.inc({ code: 'FP_ERR_STORE_UNAVAILABLE' });
      const link = this.options.presence.linkOf(device.id);
      if (link) {
        link.send({ type: 'error', code: ErrorCode.FP_ERR_STORE_UNAVAILABLE, text: 'readings not stored; resend after reconnect' });
        link.end('FP_ERR_STORE_UNAVAILABLE');
      }
    }
  }

  // The readings are durable before this; a watermark saved late (or lost in a crash) only means
  // a device resends frames after a hub restart, and idempotent writes absorb device-stamped ones.
  // Saving at most once a second keeps a registry write off every batch.
  private async saveWatermarks(): Promise<void> {
    const devices = [...this.unsavedMarks];
    this.unsavedMarks.clear();
    this.marksSavedAt = this.now();
    if (devices.length === 0) return;
    try {
      await this.options.registry.saveWatermarks(devices.map((d) => ({ deviceId: d.id, session: d.session ?? 0, ackedSeq: d.durableSeq, lastSeen: this.now() })));
    } catch (err) {
      this.limitedLog.warn('store', { err }, 'could not persist sequence watermarks');
    }
  }

  /** Writes everything pending; resolves when it is durable (or abandoned) and its watermarks saved. */
  async flush(): Promise<void> {
    this.startFlush();
    await this.released;
    await this.saveWatermarks();
  }

  /** The device was deleted: end its session and forget it. */
  async forget(id: string): Promise<void> {
    const { presence } = this.options;
    const link = presence.linkOf(id);
    if (link) {
      link.send({ type: 'error', code: ErrorCode.FP_ERR_UNKNOWN_DEVICE, text: 'device deleted' });
      link.end('FP_ERR_UNKNOWN_DEVICE');
      await presence.disconnect(id, link);
    }
    await presence.forget(id);
    this.devices.delete(id);
  }
}
