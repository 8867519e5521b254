// The live bus across hubs, on core NATS. Readings go on one subject per device and everything else
// on one shared subject, so a hub asks NATS only for the readings its own live clients want:
//
//   live.readings.<token>   {"type":"readings","deviceId":…,"readings":[…]}   token: deviceSubjectToken
//   live.events             status, command and console events, every device
//   live.interest           {"hubId":…,"listening":bool,"ask"?:true}          who has live clients
//
// Every event, a hub's own included, reaches its subscribers through NATS: one path, and one order
// per publisher (NATS keeps a connection's messages in order, across subjects too).
//
// `active` is true while a live client anywhere may listen: this hub's subscribers, or another hub
// that said so on live.interest in the last INTEREST_TTL_MS. Hubs with live clients say so when
// that starts and every INTEREST_EVERY_MS; one that stops says so at once; a starting bus asks and
// the others answer, so a new hub publishes for existing clients within a round trip. Ingest skips
// building readings for a bus that is not active: in a cluster with no dashboard open nothing is
// encoded or sent.
//
// Core NATS delivers at most once. When a node dies, a subscriber connected to it misses what is
// published until its client has reconnected to another node and resubscribed (nats.js does both
// by itself), and a publisher connected to it loses what it wrote to that node and not yet routed
// plus what it publishes until its client is connected again (nats.js resets its outbound buffer
// at every dial). nats-live-bus.test.ts pins that down: one contiguous gap per outage, nothing lost
// after it. Live readings are a view (history is the record) and presence keeps status in
// PostgreSQL, so a gap is acceptable here.
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { ALL_DEVICES, type LiveBus, type LiveEvent, type LiveFilter, type LiveSubscription } from './live-bus.ts';

export const LIVE_READINGS_PREFIX = 'live.readings.';
export const LIVE_EVENTS_SUBJECT = 'live.events';
export const LIVE_INTEREST_SUBJECT = 'live.interest';
/** how often a hub with live clients repeats that it has them */
export const INTEREST_EVERY_MS = 5_000;
/** how long another hub's interest counts without being repeated (three announcements) */
export const INTEREST_TTL_MS = 3 * INTEREST_EVERY_MS;

export interface NatsLiveBusOptions {
  /** this hub's id; a bus ignores its own interest announcements */
  hubId: string;
  log?: Logger;
  /** default INTEREST_EVERY_MS; tests shorten it */
  interestEveryMs?: number;
  now?: () => number;
}

export interface NatsLiveBus extends LiveBus {
  /** the subjects this bus is subscribed to on NATS, sorted (diagnostics and tests) */
  natsSubjects(): string[];
  /** Unsubscribes everything and tells the other hubs it no longer listens. */
  close(): Promise<void>;
}

/**
 * A device id as one subject token. Ids are `[A-Za-z0-9._:-]{1,64}` [FP-4.1]; NATS splits subjects
 * at `.` and gives `*` and `>` meaning, so every character outside `[A-Za-z0-9:-]` becomes `_` and
 * two hex digits per UTF-8 byte. `_` itself is escaped, so the mapping is one to one.
 */
export function deviceSubjectToken(deviceId: string): string {
  let token = '';
  for (const char of deviceId) {
    if (/^[A-Za-z0-9:-]$/.test(char)) token += char;
    else for (const byte of Buffer.from(char, 'utf8')) token += `_${byte.toString(16).padStart(2, '0')}`;
  }
  return token;
}

interface Subscriber {
  listener: (event: LiveEvent) => void;
  filter: LiveFilter;
}

interface InterestMessage {
  hubId: string;
  listening: boolean;
  ask?: boolean;
}

function copyFilter(filter: LiveFilter): LiveFilter {
  return { devices: filter.devices === '*' ? '*' : new Set(filter.devices) };
}

export function createNatsLiveBus(nc: NatsConnection, options: NatsLiveBusOptions): NatsLiveBus {
  const { hubId, log } = options;
  const now = options.now ?? Date.now;
  const interestEveryMs = options.interestEveryMs ?? INTEREST_EVERY_MS;
  const subscribers = new Map<object, Subscriber>();
  /** NATS subscriptions by subject: live.events, live.readings.> or one per wanted device */
  const natsSubs = new Map<string, Subscription>();
  /** other hubs with live clients, until when their last announcement counts */
  const remoteInterest = new Map<string, number>();
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  let closed = false;

  function deliver(event: LiveEvent): void {
    for (const { listener, filter } of subscribers.values()) {
      if (event.type === 'readings' && filter.devices !== '*' && !filter.devices.has(event.deviceId)) continue;
      try {
        listener(event);
      } catch (err) {
        log?.error({ err }, 'live listener failed');
      }
    }
  }

  function onMessage(err: Error | null, msg: { data: Uint8Array }): void {
    if (err) return void log?.warn({ err }, 'live subscription error');
    let event: LiveEvent;
    try {
      event = JSON.parse(decoder.decode(msg.data)) as LiveEvent;
    } catch (parseErr) {
      return void log?.warn({ err: parseErr }, 'live message that is not JSON; dropped');
    }
    if (typeof event !== 'object' || event === null || typeof event.deviceId !== 'string') return;
    deliver(event);
  }

  /** The subjects the local subscribers' filters add up to. */
  function wantedSubjects(): Set<string> {
    const wanted = new Set<string>();
    if (subscribers.size === 0) return wanted;
    wanted.add(LIVE_EVENTS_SUBJECT);
    const filters = [...subscribers.values()].map((s) => s.filter);
    if (filters.some((f) => f.devices === '*')) {
      wanted.add(`${LIVE_READINGS_PREFIX}>`);
      return wanted;
    }
    for (const filter of filters) for (const id of filter.devices as ReadonlySet<string>) wanted.add(LIVE_READINGS_PREFIX + deviceSubjectToken(id));
    return wanted;
  }

  // New subscriptions go out before old ones are dropped: a reading in flight while a filter
  // widens to '*' may then arrive twice rather than not at all. Subscribers filter again anyway,
  // so what a NATS subscription lets through beyond a filter is never delivered.
  function syncSubscriptions(): void {
    if (closed) return;
    const wanted = wantedSubjects();
    for (const subject of wanted) if (!natsSubs.has(subject)) natsSubs.set(subject, nc.subscribe(subject, { callback: onMessage }));
    for (const [subject, sub] of natsSubs) {
      if (wanted.has(subject)) continue;
      sub.unsubscribe();
      natsSubs.delete(subject);
    }
  }

  function announce(message: Omit<InterestMessage, 'hubId'>): void {
    if (nc.isClosed()) return;
    nc.publish(LIVE_INTEREST_SUBJECT, encoder.encode(JSON.stringify({ hubId, ...message })));
  }

  const interestSub = nc.subscribe(LIVE_INTEREST_SUBJECT, {
    callback(err, msg) {
      if (err) return;
      let message: InterestMessage;
      try {
        message = JSON.parse(decoder.decode(msg.data)) as InterestMessage;
      } catch {
        return;
      }
      if (typeof message?.hubId !== 'string' || message.hubId === hubId) return;
      if (message.listening) remoteInterest.set(message.hubId, now() + interestEveryMs * 3);
      else remoteInterest.delete(message.hubId);
      if (message.ask && subscribers.size > 0) announce({ listening: true });
    },
  });
  const repeat = setInterval(() => {
    if (subscribers.size > 0) announce({ listening: true });
  }, interestEveryMs);
  repeat.unref();
  announce({ listening: false, ask: true });

  function subscriberCountChanged(before: number): void {
    syncSubscriptions();
    if ((before === 0) !== (subscribers.size === 0)) announce({ listening: subscribers.size > 0 });
  }

  return {
    get active() {
      if (subscribers.size > 0) return true;
      const at = now();
      for (const [id, until] of remoteInterest) {
        if (until > at) return true;
        remoteInterest.delete(id);
      }
      return false;
    },
    publish(event) {
      if (closed || nc.isClosed()) return;
      const subject = event.type === 'readings' ? LIVE_READINGS_PREFIX + deviceSubjectToken(event.deviceId) : LIVE_EVENTS_SUBJECT;
      nc.publish(subject, encoder.encode(JSON.stringify(event)));
    },
    subscribe(listener, filter = ALL_DEVICES) {
      const key = {};
      const before = subscribers.size;
      subscribers.set(key, { listener, filter: copyFilter(filter) });
      subscriberCountChanged(before);
      const subscription: LiveSubscription = {
        setFilter(next) {
          const entry = subscribers.get(key);
          if (!entry) return;
          entry.filter = copyFilter(next);
          syncSubscriptions();
        },
        unsubscribe() {
          if (!subscribers.has(key)) return;
          const count = subscribers.size;
          subscribers.delete(key);
          subscriberCountChanged(count);
        },
      };
      return subscription;
    },
    natsSubjects() {
      return [...natsSubs.keys()].sort();
    },
    async close() {
      if (closed) return;
      const wasListening = subscribers.size > 0;
      subscribers.clear();
      syncSubscriptions();
      closed = true;
      clearInterval(repeat);
      interestSub.unsubscribe();
      if (wasListening) announce({ listening: false });
    },
  };
}
