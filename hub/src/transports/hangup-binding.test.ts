// The hang-up aware binding on descriptors whose behaviour is certain: an empty file reads 0 bytes
// (what a hung-up tty answers), a FIFO with a writer and no data answers EAGAIN (a quiet tty) and
// loses its links when it is removed (a device node that went away).
import { execFileSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { closeSync, constants, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SerialPortMock, type SerialPortMockOpenOptions } from 'serialport';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../test/support/hub-fixture.ts';
import { hasRealPart } from '../../test/support/real-parts.ts';
import { startSerialPair } from '../../test/support/socat.ts';
import { hangupAwareBinding, ttyGone } from './hangup-binding.ts';

type PlatformBinding = Parameters<typeof hangupAwareBinding>[1];

/** A stand-in for the Linux port binding around a real descriptor; its poller fires on demand. */
function fakePlatform(fd: number) {
  const poller = new EventEmitter();
  let open = true;
  const platform = {
    list: async () => [],
    open: async (openOptions: object) => ({
      fd, openOptions, poller,
      get isOpen() {
        return open;
      },
      async close() {
        open = false;
        poller.emit('readable', Object.assign(new Error('Canceled'), { canceled: true }));
        closeSync(fd);
      },
      read: () => Promise.reject(new Error('the wrapper reads by itself')),
      write: async () => undefined,
    }),
  };
  return { platform: platform as unknown as PlatformBinding, poller, get open() { return open; } };
}

function portOn(binding: ReturnType<typeof hangupAwareBinding>, path: string) {
  const port = new SerialPortMock({ path, baudRate: 115200, autoOpen: false, binding } as unknown as SerialPortMockOpenOptions);
  const closes: (Error & { disconnected?: boolean } | null)[] = [];
  port.on('close', (err: Error | null) => closes.push(err));
  const data: Buffer[] = [];
  port.on('data', (chunk: Buffer) => data.push(chunk));
  return { port, closes, data, opened: new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve()))) };
}

describe('hang-up aware serial binding', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('a read that returns 0 bytes is a hang-up: the port closes as disconnected instead of reading again', async () => {
    dir = mkdtempSync(join(tmpdir(), 'hangup-'));
    const path = join(dir, 'tty');
    writeFileSync(path, '');
    const fake = fakePlatform(openSync(path, 'r'));
    const { opened, closes } = portOn(hangupAwareBinding({}, fake.platform), path);
    await opened;
    await waitFor(() => closes.length > 0, 'close after the 0-byte read');
    expect(closes[0]).toMatchObject({ disconnected: true, message: expect.stringContaining('hung up') });
    expect(fake.open).toBe(false);
  });

  it('passes data through, waits on the poller while quiet, and closes when the device node is removed', async () => {
    dir = mkdtempSync(join(tmpdir(), 'hangup-'));
    const path = join(dir, 'tty');
    execFileSync('mkfifo', [path]);
    const reader = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const writer = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
    try {
      const fake = fakePlatform(reader);
      const { opened, closes, data } = portOn(hangupAwareBinding({ probeMs: 20 }, fake.platform), path);
      await opened;
      // EAGAIN: the read waits for the poller, and the node is still there at every probe
      await waitFor(() => fake.poller.listenerCount('readable') > 0, 'read waiting for the poller');
      expect(await ttyGone(reader, path)).toBeNull();
      writeSync(writer, 'hello\n');
      fake.poller.emit('readable', null);
      await waitFor(() => Buffer.concat(data).toString() === 'hello\n', 'data read');
      expect(closes).toEqual([]);
      rmSync(path);
      expect(await ttyGone(reader, path)).toMatch(/removed|gone/);
      await waitFor(() => closes.length > 0, 'close after the node was removed');
      expect(closes[0]).toMatchObject({ disconnected: true, message: expect.stringContaining('hung up') });
    } finally {
      closeSync(writer);
    }
  });

  it('sees a path that now names another device', async () => {
    dir = mkdtempSync(join(tmpdir(), 'hangup-'));
    const path = join(dir, 'tty');
    const moved = join(dir, 'old');
    writeFileSync(path, '');
    const fd = openSync(path, 'r');
    try {
      execFileSync('mv', [path, moved]);
      writeFileSync(path, '');
      expect(await ttyGone(fd, path)).toMatch(/another device/);
    } finally {
      closeSync(fd);
    }
  });

  it.runIf(hasRealPart('socat'))('a live pty is there at every probe; after its master closes its node is gone', async () => {
    const pair = await startSerialPair();
    const fd = openSync(pair.hubPath, constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK);
    try {
      expect(await ttyGone(fd, pair.hubPath)).toBeNull();
      await pair.unplug('SIGKILL');
      await pair.replug();
      // the same path names a new pty now; the descriptor still refers to the old, removed one
      expect(await ttyGone(fd, pair.hubPath)).toMatch(/removed|another device/);
    } finally {
      closeSync(fd);
      await pair.stop();
    }
  });
});
