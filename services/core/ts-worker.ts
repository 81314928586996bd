// Starting a worker thread on a TypeScript module. The worker runs a small evaluated bootstrap
// that registers tsx's loader and then imports the entry: on Node 20 a worker inherits
// `--import tsx` in its execArgv, but the hooks it registers do not apply to the worker's own
// imports (".ts": ERR_UNKNOWN_FILE_EXTENSION), and a process started by bin/gantry.js (tsx's
// register()) has no execArgv to inherit at all.
import { Worker, type WorkerOptions } from 'node:worker_threads';

export function startTsWorker(entry: URL, options: Omit<WorkerOptions, 'eval'> = {}): Worker {
  const tsx = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(code, { ...options, eval: true });
}
