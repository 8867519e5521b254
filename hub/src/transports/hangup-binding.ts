// A serialport binding that notices when the other end of a tty hangs up. `@serialport/bindings-cpp`
// (13.0.0) on Linux and macOS reads a port with non-blocking read(2) and waits for POLLIN on EAGAIN,
// but a read that returns 0 bytes it simply repeats, at once, forever. A tty that was hung up — the
// master of a pty closed, a USB-serial adapter pulled — answers every read with 0, so the port
// never emits 'close', and the read loop keeps a core busy (about 90 % of one, measured) until the
// process restarts. The port is opened non-blocking with VMIN=1 / VTIME=0, so "no data yet" is
// EAGAIN, never 0: here 0 bytes ends the read with a hang-up error, which makes the stream close
// the port and emit 'close' like any other disconnect.
//
// A read that waits for data also looks at the tty now and then: a device node that was removed (a
// pty whose master closed, /dev/ttyUSB0 after the adapter is pulled) or a path that now names
// another device is a hang-up too, however the kernel reports it on the descriptor.
//
// Everything else is the platform binding's own code. On Windows, where reads are overlapped I/O
// and none of this applies, the binding is used as it is.
import { fstat, read, stat, type Stats } from 'node:fs';
import { SerialPort } from 'serialport';

type PlatformBinding = typeof SerialPort.binding;
type PlatformPort = Awaited<ReturnType<PlatformBinding['open']>>;
type OpenOptions = Parameters<PlatformBinding['open']>[0];

/** The parts of the Linux and macOS port bindings that the read below needs. */
interface UnixPort {
  fd: number | null;
  readonly isOpen: boolean;
  poller: { once(event: 'readable', listener: (err?: Error | null) => void): unknown };
}

export interface HangupAwareOptions {
  /** a read waiting this long for data checks that the tty is still there (default 1000 ms) */
  probeMs?: number;
}

/** Thrown by a read on a hung-up port; the stream closes the port and emits 'close'. */
export class HangupError extends Error {
  readonly disconnect = true;
  readonly code = 'HANGUP';
}

function canceled(): Error {
  return Object.assign(new Error('Port is not open'), { canceled: true });
}

function readOnce(fd: number, buffer: Buffer, offset: number, length: number): Promise<number> {
  return new Promise((resolve, reject) => read(fd, buffer, offset, length, null, (err, bytesRead) => (err ? reject(err) : resolve(bytesRead))));
}

function statOf(target: number | string): Promise<Stats | null> {
  return new Promise((resolve) => {
    const done = (err: NodeJS.ErrnoException | null, stats: Stats) => resolve(err ? null : stats);
    if (typeof target === 'number') fstat(target, done);
    else stat(target, done);
  });
}

function isUnixPort(port: unknown): port is UnixPort {
  const candidate = port as Partial<UnixPort>;
  return typeof candidate.fd === 'number' && typeof candidate.poller?.once === 'function';
}

/**
 * Why the tty behind `fd` is gone, or null while it is still there: its node was removed (no links
 * left), or `path` no longer names it.
 */
export async function ttyGone(fd: number, path: string): Promise<string | null> {
  const [own, named] = await Promise.all([statOf(fd), statOf(path)]);
  if (!own) return 'the port descriptor is no longer valid';
  if (own.nlink === 0) return 'the device node was removed';
  if (!named) return `${path} is gone`;
  if (named.rdev !== own.rdev || named.ino !== own.ino || named.dev !== own.dev) return `${path} now names another device`;
  return null;
}

class HangupAwarePort {
  private readonly unix: UnixPort | null;

  constructor(private readonly inner: PlatformPort, private readonly path: string, private readonly probeMs: number) {
    this.unix = isUnixPort(inner) ? inner : null;
  }

  get openOptions() {
    return this.inner.openOptions;
  }

  get isOpen(): boolean {
    return this.inner.isOpen;
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  async read(buffer: Buffer, offset: number, length: number): Promise<{ buffer: Buffer; bytesRead: number }> {
    const port = this.unix;
    if (!port) return this.inner.read(buffer, offset, length);
    for (;;) {
      const fd = port.fd;
      if (!port.isOpen || fd === null) throw canceled();
      let bytesRead: number;
      try {
        bytesRead = await readOnce(fd, buffer, offset, length);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EAGAIN' && code !== 'EWOULDBLOCK' && code !== 'EINTR') {
          // EBADF, ENXIO, EIO: the same disconnects the platform binding reports
          throw Object.assign(err as Error, { disconnect: true });
        }
        await this.waitReadable(port, fd);
        continue;
      }
      if (bytesRead > 0) return { buffer, bytesRead };
      throw new HangupError(`${this.path} hung up (read returned 0 bytes)`);
    }
  }

  /** Waits for POLLIN like the platform binding does, checking the tty every `probeMs` meanwhile. */
  private waitReadable(port: UnixPort, fd: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      let timer: NodeJS.Timeout | null = null;
      const finish = (err?: Error | null) => {
        if (settled) return;
        settled = true;
        if (timer) clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      const probe = () => {
        timer = null;
        void ttyGone(fd, this.path).then((gone) => {
          if (settled) return;
          if (!port.isOpen) return finish(canceled());
          if (gone) return finish(new HangupError(`${this.path} hung up (${gone})`));
          timer = setTimeout(probe, this.probeMs);
          timer.unref();
        });
      };
      // the poller reports POLLERR / POLLHUP as an error ("bad file descriptor"): a disconnect
      port.poller.once('readable', (err) => finish(err ?? null));
      timer = setTimeout(probe, this.probeMs);
      timer.unref();
    });
  }

  write(buffer: Buffer): Promise<void> {
    return this.inner.write(buffer);
  }

  update(options: Parameters<PlatformPort['update']>[0]): Promise<void> {
    return this.inner.update(options);
  }

  set(options: Parameters<PlatformPort['set']>[0]): Promise<void> {
    return this.inner.set(options);
  }

  get(): ReturnType<PlatformPort['get']> {
    return this.inner.get();
  }

  getBaudRate(): Promise<{ baudRate: number }> {
    return this.inner.getBaudRate();
  }

  flush(): Promise<void> {
    return this.inner.flush();
  }

  drain(): Promise<void> {
    return this.inner.drain();
  }
}

/** The platform binding with hang-up detection, for `new SerialPort({ binding })`. */
export function hangupAwareBinding(options: HangupAwareOptions = {}, platform: PlatformBinding = SerialPort.binding): PlatformBinding {
  const probeMs = options.probeMs ?? 1000;
  // one platform's binding at run time; its open() takes that platform's options
  const openPlatform = platform.open.bind(platform) as (options: OpenOptions) => Promise<PlatformPort>;
  const binding = {
    list: () => platform.list(),
    async open(openOptions: OpenOptions) {
      // the read below relies on "no data" being EAGAIN, which VMIN=0 would turn into 0 bytes
      const inner = await openPlatform({ ...openOptions, vmin: 1, vtime: 0 } as OpenOptions);
      return new HangupAwarePort(inner, openOptions.path, probeMs);
    },
  };
  return binding as unknown as PlatformBinding;
}

/** A SerialPort (not yet open) on the hang-up aware binding. */
export function openHangupAwarePort(path: string, baudRate: number, options: HangupAwareOptions = {}): SerialPort {
  const settings = { path, baudRate, autoOpen: false, binding: hangupAwareBinding(options) };
  return new SerialPort(settings as ConstructorParameters<typeof SerialPort>[0]);
}
