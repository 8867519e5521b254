// A linked pair of pseudo-terminals from socat: two serial ports that behave like a cable.
// Killing socat is an unplug: both ptys hang up. start() again on the same paths is a replug.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SerialPair {
  /** the hub's end */
  hubPath: string;
  /** the device's end */
  devicePath: string;
  readonly pid: number | undefined;
  /**
   * Kills socat (SIGTERM by default, which removes the links; SIGKILL leaves them dangling, and they
   * are removed here, as the kernel removes a USB adapter's device node, so that nothing opens a pty
   * that reused the number).
   */
  unplug(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  replug(): Promise<void>;
  stop(): Promise<void>;
}

export async function startSerialPair(): Promise<SerialPair> {
  const dir = mkdtempSync(join(tmpdir(), 'serial-pair-'));
  const hubPath = join(dir, 'hub');
  const devicePath = join(dir, 'device');
  let child: ChildProcess | null = null;

  const removeLinks = () => {
    rmSync(hubPath, { force: true });
    rmSync(devicePath, { force: true });
  };

  async function start(): Promise<void> {
    removeLinks();
    child = spawn('socat', [`pty,raw,echo=0,link=${hubPath}`, `pty,raw,echo=0,link=${devicePath}`], { stdio: 'ignore' });
    const deadline = Date.now() + 5000;
    while (!(existsSync(hubPath) && existsSync(devicePath))) {
      if (Date.now() > deadline) throw new Error('socat did not create the pty pair');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async function kill(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const running = child;
    child = null;
    if (running && running.exitCode === null && running.signalCode === null) {
      await new Promise<void>((resolve) => {
        running.once('exit', () => resolve());
        running.kill(signal);
      });
    }
    removeLinks();
  }

  await start();
  return {
    hubPath,
    devicePath,
    get pid() {
      return child?.pid;
    },
    unplug: (signal) => kill(signal),
    replug: start,
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
