// Builds the hub for `npm start`: every module the hub loads is transpiled to plain JavaScript in
// hub/dist/, one file per module, in the same folder layout, so paths taken relative to a module's
// own URL (the dashboard folder, the store's worker thread, packages resolved with createRequire)
// still point where they do in the sources.
// Runs on `npm install` (prepare) and before `npm start` (prestart); it takes well under a second
// and rewrites only files whose content changed, so an up-to-date install may be read-only.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const hub = dirname(fileURLToPath(import.meta.url));
const src = join(hub, 'src');
const out = join(hub, 'dist');

// What the hub loads: the entry point, the store's worker thread, and every module they reach.
const roots = ['main.ts', 'store/sqlite-thread-main.ts'].map((file) => join(src, file));
// esbuild has printed what is wrong; its stack would only hide that.
const failed = () => {
  process.stderr.write('hub build failed\n');
  process.exit(1);
};
const graph = await build({
  entryPoints: roots, absWorkingDir: src, outdir: out, bundle: true, packages: 'external', platform: 'node', format: 'esm',
  write: false, metafile: true, logLevel: 'error',
}).catch(failed);
const entryPoints = Object.keys(graph.metafile.inputs).map((file) => join(src, file));

// Each module stays its own file: relative imports are left as imports, renamed .ts -> .js.
const keepModules = {
  name: 'keep-modules',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\// }, (args) => {
      if (args.kind === 'entry-point') return undefined;
      return { path: args.path.replace(/\.ts$/, '.js'), external: true };
    });
  },
};

const result = await build({
  entryPoints,
  outdir: out,
  outbase: src,
  bundle: true,
  packages: 'external',
  platform: 'node',
  format: 'esm',
  target: 'node20',
  plugins: [keepModules],
  write: false,
  logLevel: 'warning',
}).catch(failed);

let written = 0;
const expected = new Set();
for (const file of result.outputFiles) {
  expected.add(file.path);
  let current;
  try {
    current = readFileSync(file.path);
  } catch {
    current = null;
  }
  if (current && Buffer.compare(current, file.contents) === 0) continue;
  mkdirSync(dirname(file.path), { recursive: true });
  // Written beside and renamed, so a hub starting meanwhile never reads half a file.
  const temporary = `${file.path}.${process.pid}.tmp`;
  writeFileSync(temporary, file.contents);
  renameSync(temporary, file.path);
  written++;
}
// Modules that no longer exist in the sources.
for (const file of readdirSync(out, { recursive: true, encoding: 'utf8' })) {
  const path = join(out, file);
  if (path.endsWith('.js') && !expected.has(path)) rmSync(path);
}
if (written > 0 && !process.argv.includes('--quiet')) {
  process.stderr.write(`hub build: ${written} of ${result.outputFiles.length} files written to ${relative(process.cwd(), out) || '.'}\n`);
}
