// The firmware library as a package: Arduino / PlatformIO / ESP-IDF metadata agree with the
// sources, the example sketch compiles against the library, and the library cross-compiles for
// an 8-bit AVR (ATmega328P) and a Cortex-M0 with -Werror -pedantic, where those compilers are
// installed (skipped with a message otherwise). The footprint printed here is the one in README.md.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const here = fileURLToPath(new URL('.', import.meta.url));
const SOURCES = ['src/telemetry_frame.c', 'src/telemetry_session.c'].map((f) => join(here, f));
const WARN = ['-std=c99', '-Wall', '-Wextra', '-Werror', '-pedantic'];

function has(tool: string): boolean {
  try {
    execFileSync(tool, ['--version'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

function run(tool: string, args: string[]): string {
  try {
    return execFileSync(tool, args, { encoding: 'utf8', stdio: 'pipe' });
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string };
    throw new Error(`${tool} ${args.join(' ')} failed:\n${e.stderr ?? ''}${e.stdout ?? ''}`);
  }
}

/** text/data/bss of an ELF file, from binutils `size` (Berkeley format) */
function sizes(sizeTool: string, file: string): { text: number; data: number; bss: number } {
  const [text, data, bss] = run(sizeTool, [file]).trim().split('\n')[1].trim().split(/\s+/).map(Number);
  return { text, data, bss };
}

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'telemetry-package-'));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('library metadata', () => {
  const properties = Object.fromEntries(
    readFileSync(join(here, 'library.properties'), 'utf8').split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  const json = JSON.parse(readFileSync(join(here, 'library.json'), 'utf8'));

  it('Arduino library.properties and PlatformIO library.json name the same library and version, and headers that exist', () => {
    for (const key of ['name', 'version', 'author', 'maintainer', 'sentence', 'paragraph', 'category', 'architectures', 'includes']) {
      expect(properties[key], key).toBeTruthy();
    }
    expect(json.name).toBe(properties.name);
    expect(json.version).toBe(properties.version);
    expect(json.build.srcDir).toBe('src');
    for (const header of [...properties.includes.split(','), ...json.headers]) expect(existsSync(join(here, 'src', header.trim())), header).toBe(true);
    for (const example of json.examples) expect(existsSync(join(here, example.base, example.files[0]))).toBe(true);
  });

  it('the ESP-IDF component registers both sources and the include dir', () => {
    const cmake = readFileSync(join(here, 'CMakeLists.txt'), 'utf8');
    expect(cmake).toMatch(/idf_component_register\(SRCS "src\/telemetry_frame\.c" "src\/telemetry_session\.c"\s+INCLUDE_DIRS "src"\)/);
  });

  it('the Arduino library layout: only the library itself under src/ (no host programs with a main)', () => {
    for (const file of ['telemetry_frame.c', 'telemetry_frame.h', 'telemetry_session.c', 'telemetry_session.h']) {
      const text = readFileSync(join(here, 'src', file), 'utf8');
      expect(text, file).not.toMatch(/\bint\s+main\s*\(/);
    }
  });
});

describe('builds', () => {
  it.runIf(has('c++'))('the example sketch compiles against the library (host C++ with a stub Arduino core)', () => {
    run('c++', ['-std=c++11', '-Wall', '-Wextra', '-Werror', '-I', join(here, 'extras/test/arduino-stub'), '-I', join(here, 'src'),
      '-x', 'c++', '-fsyntax-only', join(here, 'examples/telemetry_sensor/telemetry_sensor.ino')]);
  });

  it.runIf(has('cmake') && has('cc'))('plain CMake builds the library target', () => {
    const build = join(dir, 'cmake-build');
    run('cmake', ['-S', here, '-B', build, '-DTF_NO_ERROR_NAMES=ON']);
    run('cmake', ['--build', build]);
    expect(existsSync(join(build, 'libtelemetry_hub.a'))).toBe(true);
  }, 60_000);

  const targets = [
    { name: 'AVR ATmega328P (Arduino Uno)', cc: 'avr-gcc', size: 'avr-size', flags: ['-mmcu=atmega328p'], linkFlags: [] as string[] },
    { name: 'Cortex-M0', cc: 'arm-none-eabi-gcc', size: 'arm-none-eabi-size', flags: ['-mcpu=cortex-m0', '-mthumb'], linkFlags: ['--specs=nosys.specs'] },
  ];
  for (const t of targets) {
    const present = has(t.cc) && has(t.size);
    // In CI (TEST_REQUIRE_REAL_PARTS=1) .ci/run installs both cross compilers: missing is a failure there.
    if (!present && process.env.TEST_REQUIRE_REAL_PARTS === '1') throw new Error(`${t.cc} is required for this test run but is not installed`);
    if (!present) console.warn(`skipping the ${t.name} compile check: ${t.cc} is not installed (apt-get install ${t.cc === 'avr-gcc' ? 'gcc-avr avr-libc' : 'gcc-arm-none-eabi libnewlib-arm-none-eabi'})`);
    it.runIf(present)(`cross-compiles for ${t.name} with -Os -Werror -pedantic, with and without error names`, () => {
      const common = [...WARN, ...t.flags, '-Os', '-ffunction-sections', '-fdata-sections', '-I', join(here, 'src')];
      const report: string[] = [];
      for (const defines of [[], ['-DTF_NO_ERROR_NAMES']]) {
        const objects = SOURCES.map((src, i) => {
          const out = join(dir, `${t.cc}-${defines.length}-${i}.o`);
          run(t.cc, [...common, ...defines, '-c', src, '-o', out]);
          return out;
        });
        for (const o of objects) {
          const s = sizes(t.size, o);
          report.push(`${o.endsWith('0.o') ? 'telemetry_frame.o' : 'telemetry_session.o'}${defines.length ? ' (TF_NO_ERROR_NAMES)' : ''}: text ${s.text}`);
        }
      }
      // a whole device on the module (extras/footprint/footprint.c), unused code dropped by the linker
      const elf = join(dir, `${t.cc}-footprint.elf`);
      run(t.cc, [...common, '-DTF_NO_ERROR_NAMES', '-Wl,--gc-sections', ...t.linkFlags, '-o', elf, join(here, 'extras/footprint/footprint.c'), ...SOURCES]);
      const s = sizes(t.size, elf);
      report.push(`footprint program: flash ${s.text + s.data} bytes, static RAM ${s.data + s.bss} bytes`);
      console.log(`${t.name}:\n  ${report.join('\n  ')}`);
      if (t.cc === 'avr-gcc') {
        expect(s.text + s.data).toBeLessThan(16 * 1024); // half the Uno's 32 KB flash
        expect(s.data + s.bss).toBeLessThan(1600); // of its 2 KB RAM, buffers included
      }
    }, 60_000);
  }
});
