// Worker entry for the threaded SQLite store. Plain JS because a worker starts without the
// parent's TypeScript loader; it registers one, then loads the worker's code.
import { register } from 'tsx/esm/api';

register();
await import('./sqlite-thread-main.ts');
