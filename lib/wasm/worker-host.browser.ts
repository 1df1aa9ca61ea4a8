// Workers in the browser build: classic Web Workers started from a Blob of their program (the
// single-threaded module's async worker, lib/wasm/off-thread.ts, and the threaded module's
// pthreads, lib/wasm/threads.ts), so no script URL of the package is needed.  Where the page has
// no Worker (or a policy refuses blob: workers), calls run on the calling thread.
import type { WorkerHandle, WorkerHost, WorkerReply } from './host-types';

export type { WorkerHandle, WorkerHost, WorkerReply } from './host-types';

/** The Web Worker API as used here (typed here: tsconfig.test.json checks this file with Node.js's types, which have no DOM). */
interface WebWorker {
  postMessage(message: unknown, transfer: ArrayBuffer[]): void;
  addEventListener(type: 'message', listener: (event: { data: never }) => void): void;
  addEventListener(type: 'error', listener: (event: { message?: string; preventDefault(): void }) => void): void;
  terminate(): void;
}
interface WebGlobals {
  Worker?: new (url: string) => WebWorker;
  Blob?: new (parts: string[], options: { type: string }) => object;
  URL?: { createObjectURL?(blob: object): string };
}

const LISTEN = `const post = (message, transfer) => self.postMessage(message, transfer);
self.onmessage = (event) => handle(event.data, post);
post({ ready: true });`;

/** Web Workers, or null where this global scope has none. */
export function workerHost(): WorkerHost | null {
  const { Worker, Blob, URL } = globalThis as WebGlobals;
  const createObjectURL = URL?.createObjectURL?.bind(URL);
  if (typeof Worker !== 'function' || typeof Blob !== 'function' || !createObjectURL) return null;
  return {
    listen: LISTEN,
    threads: Math.min(Math.max(Math.floor((globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1), 1), 64),
    start<Reply>(source: string): WorkerHandle<Reply> {
      // The URL lives as long as the page: a worker that dies is started again from it.
      const worker = new Worker(createObjectURL(new Blob([source], { type: 'text/javascript' })));
      return {
        post: (message: unknown, transfer: ArrayBuffer[]) => worker.postMessage(message, transfer),
        onMessage: (listener: (reply: Reply) => void) => worker.addEventListener('message', (event) => listener(event.data)),
        onError: (listener: (error: Error) => void) =>
          worker.addEventListener('error', (event) => {
            event.preventDefault();
            listener(new Error(`the WebAssembly worker failed: ${event.message || 'it could not start'}`));
          }),
        ref: () => {},
        unref: () => {},
        terminate: () => worker.terminate(),
      };
    },
  };
}
