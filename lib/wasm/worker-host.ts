// Workers in Node.js: worker_threads whose program is eval'd source, so no file is read: the
// single-threaded module's async worker (lib/wasm/off-thread.ts) and the threaded module's pthreads
// (lib/wasm/threads.ts).  The browser build uses worker-host.browser.ts (Web Workers) instead.

import type { WorkerHost, WorkerReply } from './host-types';

export type { WorkerHandle, WorkerHost, WorkerReply } from './host-types';

interface NodeWorker {
  postMessage(message: unknown, transfer?: ArrayBuffer[]): void;
  on(event: 'message', listener: (message: never) => void): void;
  on(event: 'error', listener: (error: Error) => void): void;
  ref(): void;
  unref(): void;
  terminate(): Promise<number>;
}

// import(), not require: an eval'd worker is an ES module when the process runs with
// --input-type=module.  Messages posted before the listener is attached wait in the port.
const LISTEN = `import('node:worker_threads').then(({ parentPort }) => {
  const post = (message, transfer) => parentPort.postMessage(message, transfer);
  parentPort.on('message', (message) => handle(message, post));
  post({ ready: true });
});`;

/** FUSEDLOSS_THREADS when it is an integer in [1, 64] (as the native pool reads it, with a lower cap: each is a worker with an instance), else the cores. */
function threadCount(): number {
  const forced = Number(process.env.FUSEDLOSS_THREADS);
  if (Number.isInteger(forced) && forced >= 1) return Math.min(forced, 64);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const os = require('node:os') as { availableParallelism?(): number; cpus(): unknown[] };
  return Math.min(os.availableParallelism ? os.availableParallelism() : os.cpus().length, 64) || 1;
}

/** Node.js's worker_threads, or null where this is not Node.js or they cannot be loaded. */
export function workerHost(): WorkerHost | null {
  const node = typeof process === 'object' && process !== null && typeof process.versions?.node === 'string';
  if (!node) return null;
  let Worker: new (code: string, options: { eval: true }) => NodeWorker;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    ({ Worker } = require('node:worker_threads') as { Worker: typeof Worker });
  } catch {
    return null;
  }
  return {
    listen: LISTEN,
    threads: threadCount(),
    start(source) {
      const worker = new Worker(source, { eval: true });
      return {
        post: (message, transfer) => worker.postMessage(message, transfer),
        onMessage: (listener) => worker.on('message', listener),
        onError: (listener) => worker.on('error', listener),
        ref: () => worker.ref(),
        unref: () => worker.unref(),
        terminate: () => void worker.terminate(),
      };
    },
  };
}
