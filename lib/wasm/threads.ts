// Backend 'wasm' with threads: the threaded module (scripts/build-wasm.js: -pthread, the native
// thread pool, native/wasm/async_exports.cc) on one shared memory, instantiated on the calling
// thread and in workers that host its pthreads.  Emscripten's own glue would start those workers
// from a script file; here they are started from source text (lib/wasm/worker-host.ts: a
// worker_thread in Node.js, a blob: Web Worker in the browser build), all before the first
// pthread_create, which then hands each new thread to a worker that is already listening: so
// creating threads never waits for the JavaScript thread's event loop.
//
// The calling thread runs sync calls (its chunks shared with the pool's threads), and async calls
// go to the module's service thread (fl_call_async), which sets a word in shared memory that
// Atomics.waitAsync here resolves on.  Results are the bits of the single-threaded module and of
// the native kernels: the kernels' chunks depend on the problem size only (thread_pool.h).
//
// threadImports and the worker's program are self-contained (their source text runs in the worker).
import { wasmCallSteps, type KernelExports, type WasmCall, type WasmExecuted, type WasmReturn } from './execute';
import type { WorkerHandle, WorkerHost } from './host-types';
import type { WasmApi, WasmModule } from './webassembly-api';

/** The threaded module as the loader compiled it, with its build's limits (lib/wasm/generated). */
export interface ThreadedModule {
  module: WasmModule;
  memory: { initial: number; maximum: number };
  threadStackBytes: number;
}

/** A shared WebAssembly.Memory, as used here. */
interface SharedMemory {
  readonly buffer: ArrayBufferLike;
  grow(pages: number): number;
}

/** The threaded module's exports beyond the kernels' (Emscripten's pthread runtime, async_exports.cc). */
interface ThreadedExports extends KernelExports {
  __wasm_call_ctors(): void;
  _emscripten_thread_init(thread: number, isMainBrowserThread: number, isMainRuntimeThread: number, canBlock: number, profile: number): void;
  _emscripten_thread_crashed(): void;
  emscripten_tls_init(): number;
  emscripten_stack_set_limits(base: number, end: number): void;
  stackSave(): number;
  stackAlloc(bytes: number): number;
  stackRestore(pointer: number): void;
  fl_start_threads(workers: number): number;
  fl_call_async(entry: number, entryLength: number, scalars: number, arrays: number, results: number, words: number): number;
  fl_thread_stack(thread: number, out: number): void;
  __indirect_function_table: { get(index: number): (argument: number) => number };
}

/** What differs between the threads' imports: the main thread makes pthreads, workers never do. */
export interface ThreadHooks {
  maximumBytes: number;
  stackBytes: number;
  /** pthread_create's host half: 0, or EAGAIN (6) when no worker is free. */
  create(thread: number, start: number, argument: number): number;
  /** The main thread's pthread identity, from the module's static constructors. */
  initMain(thread: number): void;
}

/**
 * The threaded module's imports (the functions Emscripten's glue would provide): time, memory
 * growth, the pthread hooks, and refusals of what the kernels never reach (a refusal is a trap).
 */
export function threadImports(memory: SharedMemory, hooks: ThreadHooks): Record<string, Record<string, unknown>> {
  const refuse = (name: string) => () => {
    throw new Error(`fusedloss wasm: the kernel module called ${name}, which the fusedloss loader does not provide`);
  };
  const grow = (requested: number) => {
    const wanted = requested >>> 0;
    if (wanted > hooks.maximumBytes) return 0;
    // A fifth more than asked where it fits (Emscripten's glue overgrows too): fewer, larger grows.
    for (const target of [Math.min(hooks.maximumBytes, wanted + Math.floor(wanted / 5)), wanted]) {
      const pages = Math.ceil((target - memory.buffer.byteLength) / 65536);
      if (pages <= 0) return 1;
      try {
        memory.grow(pages);
        return 1;
      } catch {
        // try the exact size, then give up: malloc returns null and the kernel reports TOO_LARGE
      }
    }
    return 0;
  };
  return {
    env: {
      memory,
      emscripten_get_now: () => performance.now(),
      emscripten_check_blocking_allowed: () => undefined,
      // The pool starts with the calling thread alone; fl_start_threads grows it once workers are ready.
      emscripten_num_logical_cores: () => 1,
      emscripten_get_heap_max: () => hooks.maximumBytes,
      emscripten_resize_heap: grow,
      emscripten_memcpy_big: (to: number, from: number, count: number) => {
        new Uint8Array(memory.buffer).copyWithin(to >>> 0, from >>> 0, (from >>> 0) + (count >>> 0));
      },
      _emscripten_default_pthread_stack_size: () => hooks.stackBytes,
      __pthread_create_js: (thread: number, _attributes: number, start: number, argument: number) => hooks.create(thread, start, argument),
      __emscripten_init_main_thread_js: (thread: number) => hooks.initMain(thread),
      __emscripten_thread_cleanup: () => undefined,
      emscripten_unwind_to_js_event_loop: refuse('emscripten_unwind_to_js_event_loop (after a thread crashed)'),
      emscripten_receive_on_main_thread_js: refuse('emscripten_receive_on_main_thread_js'),
      _emscripten_notify_thread_queue: refuse('_emscripten_notify_thread_queue'),
      emscripten_set_canvas_element_size: refuse('emscripten_set_canvas_element_size'),
      emscripten_webgl_create_context: refuse('emscripten_webgl_create_context'),
      abort: refuse('abort'),
      exit: refuse('exit'),
    },
    wasi_snapshot_preview1: {
      // Nothing the kernels print is shown: the bytes count as written.
      fd_write: (_fd: number, iovs: number, count: number, written: number) => {
        const view = new DataView(memory.buffer);
        let total = 0;
        for (let i = 0; i < count; i++) total += view.getUint32((iovs >>> 0) + 8 * i + 4, true);
        view.setUint32(written >>> 0, total, true);
        return 0;
      },
      // An empty environment: FUSEDLOSS_THREADS is read by the host (platform.wasmThreads).
      environ_sizes_get: (count: number, bytes: number) => {
        const view = new DataView(memory.buffer);
        view.setUint32(count >>> 0, 0, true);
        view.setUint32(bytes >>> 0, 0, true);
        return 0;
      },
      environ_get: () => 0,
    },
  };
}

/** What a pthread's worker posts: once listening, once its instance exists, and if its thread ends. */
interface ThreadReply {
  ready?: true;
  cmd?: 'loaded' | 'exited' | 'crashed';
  reason?: string;
}

// The worker's program: an instance of the module on the shared memory (its start function sees
// the memory initialized already), then, on 'run', the pthread: identity, stack and
// thread-locals first, as Emscripten's worker.js does, then its start routine, which for the
// pool's and the service's threads never returns.
function workerSource(listen: string): string {
  return `'use strict';
const threadImports = ${threadImports.toString()};
let exports = null;
function handle(message, post) {
  if (message.cmd === 'load') {
    const hooks = { maximumBytes: message.maximumBytes, stackBytes: message.stackBytes, create: () => 6,
      initMain: () => { throw new Error('fusedloss wasm: a worker ran the static constructors'); } };
    exports = new WebAssembly.Instance(message.module, threadImports(message.memory, hooks)).exports;
    post({ cmd: 'loaded' });
    return;
  }
  exports._emscripten_thread_init(message.thread, 0, 0, 1, 0);
  exports.emscripten_stack_set_limits(message.stackTop, message.stackTop - message.stackBytes);
  exports.stackRestore(message.stackTop);
  exports.emscripten_tls_init();
  try {
    exports.__indirect_function_table.get(message.start)(message.argument);
    post({ cmd: 'exited' });
  } catch (error) {
    exports._emscripten_thread_crashed();
    post({ cmd: 'crashed', reason: error instanceof Error ? error.message : String(error) });
  }
}
${listen}
`;
}

/** Whether this thread may block (Atomics.wait): not a page's main thread. */
function mayBlock(): boolean {
  return typeof (globalThis as { document?: unknown }).document === 'undefined';
}

/**
 * One threaded instance family: the calling thread's instance and the workers of its pthreads.
 * Created by the loader on first use; `threads` is 1 until the workers are ready (`ready`).
 */
export class ThreadedKernels {
  readonly kernels: ThreadedExports;
  readonly ready: Promise<void>;
  /** Threads the pool runs chunks on now (the calling thread included). */
  threads = 1;
  private serviceRunning = false;
  /** The workers that loaded in time have their threads (fl_start_threads ran, or there were none). */
  private sized = false;
  private broken: string | null = null;
  private closing = false;
  private inFlight = 0;
  private readonly memory: SharedMemory;
  private readonly workers: WorkerHandle<ThreadReply>[] = [];
  private readonly idle: WorkerHandle<ThreadReply>[] = [];
  private service: WorkerHandle<ThreadReply> | null = null;

  /** Throws where shared memory cannot be made (no SharedArrayBuffer: a page without cross-origin isolation). */
  constructor(threaded: ThreadedModule, host: WorkerHost | null, workerCount: number, private readonly readyLimitMs = 10_000) {
    const wasm = (globalThis as unknown as { WebAssembly: WasmApi & { Memory: new (limits: object) => SharedMemory } }).WebAssembly;
    this.memory = new wasm.Memory({ ...threaded.memory, shared: true });
    const maximumBytes = threaded.memory.maximum * 65536;
    const canBlock = mayBlock();
    let exports: ThreadedExports | null = null;
    const hooks: ThreadHooks = {
      maximumBytes,
      stackBytes: threaded.threadStackBytes,
      create: (thread, start, argument) => this.hand(thread, start, argument),
      initMain: (thread) => {
        exports!._emscripten_thread_init(thread, canBlock ? 0 : 1, 1, canBlock ? 1 : 0, 0);
        exports!.emscripten_tls_init();
      },
    };
    exports = new wasm.Instance(threaded.module, threadImports(this.memory, hooks)).exports as unknown as ThreadedExports;
    exports.__wasm_call_ctors();
    // The executor reads `memory` from the kernels, as a standalone module exports it; this one imports it.
    this.kernels = { ...exports, memory: this.memory as KernelExports['memory'] };
    this.ready = host && workerCount > 0 ? this.startWorkers(threaded, host, workerCount) : Promise.resolve();
  }

  private startWorkers(threaded: ThreadedModule, host: WorkerHost, count: number): Promise<void> {
    const source = workerSource(host.listen);
    const load = { cmd: 'load', module: threaded.module, memory: this.memory, maximumBytes: threaded.memory.maximum * 65536, stackBytes: threaded.threadStackBytes };
    const started = Array.from({ length: count }, () =>
      new Promise<void>((settle) => {
        let worker: WorkerHandle<ThreadReply>;
        try {
          worker = host.start<ThreadReply>(source);
        } catch {
          return settle(); // no worker here: fewer threads
        }
        this.workers.push(worker);
        // A worker that neither loads nor fails within the limit (a page that stalls blob: workers)
        // is not waited for: async calls waiting on `ready` go ahead with those that loaded.
        const timer = setTimeout(settle, this.readyLimitMs) as { unref?(): void };
        timer.unref?.();
        worker.onMessage((reply) => {
          if (reply.ready) worker.post(load, []);
          else if (reply.cmd === 'loaded' && this.sized) {
            // Too late: the pool was sized without it.
            this.workers.splice(this.workers.indexOf(worker), 1);
            worker.terminate();
          }
          else if (reply.cmd === 'loaded') {
            // Held (Node.js: ref'd) while starting, so a process awaiting `ready` stays up; then
            // idle workers never keep it alive.  After the listeners, which would ref it again.
            worker.unref();
            this.idle.push(worker);
            settle();
          }
          else if (reply.cmd === 'crashed') this.crashed(`a WebAssembly thread trapped: ${reply.reason}`);
        });
        worker.onError((error) => {
          settle();
          if (this.idle.includes(worker) || this.service === worker) this.crashed(error.message);
        });
      }),
    );
    return Promise.all(started).then(() => {
      this.sized = true;
      if (this.closing || this.broken || this.idle.length === 0) return;
      // One worker becomes the service thread, the others the pool's (pthread_create → hand).
      const threads = this.kernels.fl_start_threads(this.idle.length);
      this.serviceRunning = threads > 0;
      this.threads = Math.max(threads, 1);
    });
  }

  /** pthread_create's host half: the thread goes to a free worker, its stack read here (the creator's stack is valid). */
  private hand(thread: number, start: number, argument: number): number {
    const worker = this.idle.shift();
    if (!worker) return 6;
    const saved = this.kernels.stackSave();
    const out = this.kernels.stackAlloc(8) >>> 0;
    this.kernels.fl_thread_stack(thread, out);
    const [stackTop, stackBytes] = new Uint32Array(this.memory.buffer, out, 2);
    this.kernels.stackRestore(saved);
    this.service ??= worker; // fl_start_threads starts the service thread first
    worker.post({ cmd: 'run', thread, start, argument, stackTop, stackBytes }, []);
    return 0;
  }

  private crashed(reason: string): void {
    this.broken ??= reason;
    this.terminate();
  }

  private terminate(): void {
    for (const worker of this.workers.splice(0)) worker.terminate();
    this.idle.length = 0;
  }

  /** Ends the family: now, or when its async calls in flight have settled. */
  close(): void {
    this.closing = true;
    if (this.inFlight === 0) this.terminate();
  }

  /**
   * `call` on the service thread, or null when it is not running (before `ready`, without
   * workers): the caller runs it its other way.  Rejects when a thread of the family trapped.
   */
  runAsync(call: WasmCall): Promise<WasmExecuted> | null {
    if (!this.serviceRunning || this.broken || this.closing) return null;
    const kernels = this.kernels;
    const steps = wasmCallSteps(kernels, call);
    const first = steps.next();
    if (first.done) return Promise.resolve(first.value);
    const invocation = first.value;
    const name = new TextEncoder().encode(invocation.entry);
    const words = kernels.fl_alloc(16 + name.length) >>> 0;
    if (words === 0) {
      return Promise.resolve(steps.next({ status: 4, message: 'WebAssembly memory could not grow by 16 bytes for an async call' }).value as WasmExecuted);
    }
    new Uint8Array(this.memory.buffer, words + 16, name.length).set(name);
    const queued = kernels.fl_call_async(words + 16, name.length, invocation.scalars, invocation.arrays, invocation.results, words);
    if (queued !== 0) {
      kernels.fl_free(words);
      steps.return(undefined as never);
      return null; // -1: no service thread after all
    }
    this.inFlight++;
    this.service?.ref();
    return this.finished(words).then(
      (returned) => {
        this.settled(words);
        return steps.next(returned).value as WasmExecuted;
      },
      (error: unknown) => {
        this.settled(null); // the family is gone: its memory is not touched again
        throw error;
      },
    );
  }

  private settled(words: number | null): void {
    if (words !== null) this.kernels.fl_free(words);
    this.inFlight--;
    if (this.inFlight === 0) this.service?.unref();
    if (this.closing && this.inFlight === 0) this.terminate();
  }

  /** Resolves with the entry point's return once the service thread has set words[0]. */
  private async finished(words: number): Promise<WasmReturn> {
    const state = words >>> 2;
    const waitAsync = (Atomics as unknown as { waitAsync?(array: Int32Array, index: number, value: number, timeout: number): { async: boolean; value: Promise<string> | string } }).waitAsync;
    for (;;) {
      if (this.broken) throw new Error(this.broken);
      const view = new Int32Array(this.memory.buffer);
      if (Atomics.load(view, state) !== 0) break;
      // A bounded wait, so a crashed family is noticed; without waitAsync (older engines), polling.
      if (waitAsync) {
        const waited = waitAsync(view, state, 0, 250);
        if (waited.async) await waited.value;
      } else {
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    }
    const view = new Int32Array(this.memory.buffer);
    const [status, messageAt, messageLength] = [view[state + 1], view[state + 2] >>> 0, view[state + 3]];
    let message = '';
    if (messageAt !== 0) {
      message = new TextDecoder().decode(new Uint8Array(this.memory.buffer, messageAt, messageLength).slice());
      this.kernels.fl_free(messageAt);
    }
    return { status, message };
  }
}
