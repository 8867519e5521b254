import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { shellWord, simCommand } from './sim-command.ts';

/** The words a POSIX shell makes of `text`, as the operator's terminal would. */
function shellWords(text: string): string[] {
  const out = spawnSync('sh', ['-c', `for w in ${text}; do printf '%s\\0' "$w"; done`], { encoding: 'utf8' });
  expect(out.status).toBe(0);
  return out.stdout.split('\0').slice(0, -1);
}

describe('simCommand', () => {
  it('runs exactly the new device with its own token, for any id', () => {
    expect(simCommand('pump-0001', '0123456789abcdef0123456789abcdef', 'http://127.0.0.1:8080'))
      .toBe('npm run sim -- --hub http://127.0.0.1:8080 --id pump-0001 --device-token 0123456789abcdef0123456789abcdef');
    expect(simCommand('dev-1a2b3c4d', 'f'.repeat(32), 'https://hub.example'))
      .toBe(`npm run sim -- --hub https://hub.example --id dev-1a2b3c4d --device-token ${'f'.repeat(32)}`);
  });

  it('gives an id that starts with a dash as --id=…, which the simulator does not take for a missing value', () => {
    expect(simCommand('-x:1', 'abc', 'http://h:1')).toBe('npm run sim -- --hub http://h:1 --id=-x:1 --device-token abc');
  });

  it('quotes what a shell would change, so the words arrive as shown', () => {
    const hub = 'http://[::1]:8080';
    const words = shellWords(simCommand('a.b_c:d-e', "to'k en", hub));
    expect(words).toEqual(['npm', 'run', 'sim', '--', '--hub', hub, '--id', 'a.b_c:d-e', '--device-token', "to'k en"]);
    for (const text of ['plain', 'with space', '$HOME', '*', "it's", 'a;b', '']) expect(shellWords(`x ${shellWord(text)}`)).toEqual(['x', text]);
  });
});
