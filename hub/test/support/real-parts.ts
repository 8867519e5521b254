// Integration tests run against real programs. On a developer machine without one, its tests are
// skipped with the reason printed; in CI (TEST_REQUIRE_REAL_PARTS=1) a missing part fails the run.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';

function findBinary(name: string): string | undefined {
  if (name.startsWith('/')) return existsSync(name) ? name : undefined;
  try {
    return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** True when `binary` is installed. Use as `describe.runIf(hasRealPart('influxd'))`. */
export function hasRealPart(binary: string): boolean {
  if (findBinary(binary)) return true;
  if (process.env.TEST_REQUIRE_REAL_PARTS === '1') throw new Error(`${binary} is required for this test run but is not installed`);
  console.warn(`skipping tests that need ${binary}: it is not installed (see README, "Test it")`);
  return false;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
