// Why the hub cannot start, said in one line for the person starting it. startHub throws a
// StartError where it knows the cause; describeStartError (used by main.ts) turns that and the few
// system errors a start meets (a busy port, unreadable TLS files) into the line main.ts prints
// before it exits with code 2.
import { lstatSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HubOptions } from './config.ts';

export class StartError extends Error {
  override name = 'StartError';
}

type SystemError = Error & { code?: string; syscall?: string; path?: string; port?: number; address?: string };

const FS_REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a part of the path is not a directory',
  EISDIR: 'is a directory',
  ELOOP: 'too many symbolic links',
  EIO: 'input/output error',
};

function kindOf(path: string): 'file' | 'directory' | 'other' | 'missing' {
  try {
    const stat = lstatSync(path);
    return stat.isFile() ? 'file' : stat.isDirectory() ? 'directory' : 'other';
  } catch {
    return 'missing';
  }
}

/** What is wrong with a file or folder the hub keeps, e.g. "/x/readings.db is a directory". */
export function describePathProblem(path: string, err: unknown, expected: 'file' | 'directory' = 'file'): string {
  const kind = kindOf(path);
  if (kind === 'directory' && expected === 'file') return `${path} is a directory`;
  if ((kind === 'file' || kind === 'other') && expected === 'directory') return `${path} is not a directory`;
  const { code, message } = err as SystemError;
  if (code && FS_REASONS[code]) return `${path}: ${FS_REASONS[code]}`;
  return `${path}: ${message.replace(/^[A-Z]+: /, '')}`;
}

/** A StartError saying the data dir cannot be used because of `path`. */
export function dataDirError(dataDir: string, path: string, err: unknown, expected: 'file' | 'directory' = 'file'): StartError {
  return new StartError(`cannot use data dir ${dataDir}: ${describePathProblem(path, err, expected)}`, { cause: err });
}

/**
 * Makes sure the data dir exists, is a directory the hub can write in, and holds none of the hub's
 * files as something else (a directory named readings.db, say): cheaper to say now than to fail
 * when the first reading arrives.
 */
export function prepareDataDir(dataDir: string, files: readonly string[], folders: readonly string[] = []): void {
  try {
    mkdirSync(dataDir, { recursive: true });
  } catch (err) {
    throw dataDirError(dataDir, dataDir, err, 'directory');
  }
  const probe = join(dataDir, `.write-test-${process.pid}`);
  try {
    writeFileSync(probe, '');
    rmSync(probe);
  } catch (err) {
    throw new StartError(`cannot use data dir ${dataDir}: cannot write in it (${FS_REASONS[(err as SystemError).code ?? ''] ?? (err as Error).message})`, { cause: err });
  }
  for (const name of files) {
    const path = join(dataDir, name);
    const kind = kindOf(path);
    if (kind === 'directory') throw new StartError(`cannot use data dir ${dataDir}: ${path} is a directory`);
    if (kind === 'other') throw new StartError(`cannot use data dir ${dataDir}: ${path} is not a regular file`);
  }
  for (const name of folders) {
    const path = join(dataDir, name);
    const kind = kindOf(path);
    if (kind === 'file' || kind === 'other') throw new StartError(`cannot use data dir ${dataDir}: ${path} is not a directory`);
  }
}

/** The one line to print when the hub could not start, or null for an error nobody foresaw. */
export function describeStartError(err: unknown, options: Pick<HubOptions, 'port' | 'host' | 'tls'>): string | null {
  if (err instanceof StartError) return err.message;
  const e = err as SystemError;
  if (e?.syscall === 'listen' || e?.syscall === 'bind') {
    const port = e.port ?? options.port;
    if (e.code === 'EADDRINUSE') return `port ${port} is already in use (HUB_PORT)`;
    if (e.code === 'EACCES') return `no permission to listen on port ${port} (HUB_PORT; ports below 1024 need privileges)`;
    if (e.code === 'EADDRNOTAVAIL') return `cannot listen on ${options.host}: no such address on this machine (HUB_HOST)`;
  }
  if (e?.syscall === 'getaddrinfo' && (e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN')) return `cannot listen on ${options.host}: unknown host (HUB_HOST)`;
  if (options.tls) {
    const variable = e?.path === options.tls.certFile ? 'HUB_TLS_CERT' : e?.path === options.tls.keyFile ? 'HUB_TLS_KEY' : null;
    if (variable && e.path) return `cannot read ${variable} ${describePathProblem(e.path, err)}`;
    if (typeof e?.code === 'string' && e.code.startsWith('ERR_OSSL')) return `HUB_TLS_CERT/HUB_TLS_KEY unusable: ${e.message}`;
  }
  if (e?.code === 'ERR_DLOPEN_FAILED' || /better_sqlite3\.node|Could not locate the bindings file/.test(e?.message ?? '')) {
    return `the SQLite module (better-sqlite3) does not load on this machine; run \`npm rebuild better-sqlite3\` (${e.message.split('\n')[0]})`;
  }
  return null;
}
