// What the host-specific modules of the wasm backend provide (lib/wasm/<name>.ts for Node.js,
// <name>.browser.ts for the browser build): the types both variants share, kept apart because a
// browser variant's './<name>' resolves to itself.
import type { WasmExecuted } from './execute';

/** What the worker posts back: ready (once, when it listens), or for call `id` its outputs or why its instance trapped. */
export interface WorkerReply {
  ready?: true;
  id: number;
  executed?: WasmExecuted;
  trap?: string;
}

/** A started worker, as lib/wasm/off-thread.ts (replies: WorkerReply) and lib/wasm/threads.ts drive it. */
export interface WorkerHandle<Reply = WorkerReply> {
  post(message: unknown, transfer: ArrayBuffer[]): void;
  onMessage(listener: (message: Reply) => void): void;
  /** The worker died: its pending calls fail. */
  onError(listener: (error: Error) => void): void;
  /** Keep the process alive while calls are pending (no-ops where a host has no such notion). */
  ref(): void;
  unref(): void;
  /** Stops it, whatever it is doing (a pthread's worker blocks in its loop for good). */
  terminate(): void;
}

/** How this host starts a worker, and the line of the worker's program that receives messages. */
export interface WorkerHost {
  /** Source that defines `post(message, transfer)`, calls `handle(message, post)` for each message and posts `{ ready: true }` once listening. */
  listen: string;
  /** Threads the WebAssembly kernels start with here: FUSEDLOSS_THREADS in Node.js, else the cores. */
  threads: number;
  start<Reply = WorkerReply>(source: string): WorkerHandle<Reply>;
}

/** The generated modules (scripts/build-wasm.js): the WebAssembly bytes as base64 and how they were built. */
export interface GeneratedModule {
  /** The single-threaded, standalone module. */
  wasm: string;
  simd: boolean;
  compiler: string;
  /** The threaded module, its shared memory's limits in 64 KiB pages and each pthread's stack. */
  threaded?: { wasm: string; memory: { initial: number; maximum: number }; threadStackBytes: number };
}
