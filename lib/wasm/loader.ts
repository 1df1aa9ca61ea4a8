// Finding and instantiating the WebAssembly kernels (backend 'wasm').  The module is embedded in
// the package as base64 (lib/wasm/generated/, written by npm run build:wasm), so it loads the
// same way under CommonJS, ES modules, browsers and bundlers: no file is read and nothing from
// node: is imported.  Loaded on first use and never thrown: a failure is recorded as the reason
// backendInfo().wasm gives, as native.ts does for the addon.
//
// Where the host has SharedArrayBuffer (Node.js; pages that are cross-origin isolated), the
// threaded module runs the calls (lib/wasm/threads.ts); elsewhere the single-threaded one, with
// async calls on a worker of its own (lib/wasm/off-thread.ts).
import { firstLine } from '../errors';
import { instantiateKernels, type KernelExports } from './execute';
import { embeddedModule } from './embedded';
import type { GeneratedModule } from './host-types';
import { ThreadedKernels, type ThreadedModule } from './threads';
import { webAssemblyApi, type WasmModule } from './webassembly-api';
import { workerHost } from './worker-host';

interface WasmState {
  module: WasmModule | null;
  /** The threaded module, where it is built and this host has shared memory. */
  threaded: ThreadedModule | null;
  reason: string | null;
}

let state: WasmState | null = null;
let kernels: KernelExports | null = null;
let family: ThreadedKernels | null = null;
/** Threads for the next family (tests); undefined: the worker host's (FUSEDLOSS_THREADS or the cores). */
let threadsOverride: number | undefined;

function decodeBase64(text: string): Uint8Array {
  // Buffer where there is one (Node: no 350 KB string of char codes), atob elsewhere.
  const buffer = (globalThis as { Buffer?: { from(text: string, encoding: string): Uint8Array } }).Buffer;
  if (buffer) return buffer.from(text, 'base64');
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; ++i) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

// The smallest module with a SIMD128 instruction (v128.const in a function's body): hosts without
// SIMD reject it, and the kernel module with it.
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11,
]);

/** Whether this host can share WebAssembly memory between threads. */
function sharedMemoryWorks(): boolean {
  // A page that is not cross-origin isolated may make shared memory (Chromium) but not pass it to a worker.
  if ((globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === false) return false;
  try {
    const { Memory } = (globalThis as unknown as { WebAssembly: { Memory: new (limits: object) => object } }).WebAssembly;
    new Memory({ initial: 1, maximum: 1, shared: true });
    return true;
  } catch {
    return false; // no SharedArrayBuffer (a page without cross-origin isolation) or no threads proposal
  }
}

function load(): WasmState {
  const wasm = webAssemblyApi();
  const none = (reason: string): WasmState => ({ module: null, threaded: null, reason });
  if (!wasm) return none('this JavaScript engine has no WebAssembly');
  if (!wasm.validate(SIMD_PROBE)) return none('this WebAssembly engine has no SIMD128, which the kernel module is built with');
  let generated: GeneratedModule;
  try {
    generated = embeddedModule();
  } catch (error) {
    return none(`the WebAssembly kernels are not built into this copy of fusedloss (npm run build:wasm, which needs emcc): ${firstLine(error)}`);
  }
  let module: WasmModule;
  try {
    module = new wasm.Module(decodeBase64(generated.wasm));
  } catch (error) {
    return none(`the WebAssembly kernel module did not compile: ${firstLine(error)}`);
  }
  let threaded: ThreadedModule | null = null;
  if (generated.threaded && sharedMemoryWorks()) {
    try {
      const { wasm: bytes, ...limits } = generated.threaded;
      threaded = { module: new wasm.Module(decodeBase64(bytes)), ...limits };
    } catch {
      threaded = null; // an engine without the threads proposal: single-threaded
    }
  }
  return { module, threaded, reason: null };
}

function loaded(): WasmState {
  if (!state) state = load();
  return state;
}

/** The compiled single-threaded kernel module (a worker instantiates its own from it), or null. */
export function wasmModule(): WasmModule | null {
  return loaded().module;
}

/** This thread's threaded family, started with the instance (null: single-threaded here). */
export function wasmThreads(): ThreadedKernels | null {
  wasmKernels();
  return family;
}

/** What backendInfo().wasm reports. */
export interface WasmStatus {
  available: boolean;
  simd: boolean;
  threads: number;
  reason: string | null;
}

export function wasmStatus(): WasmStatus {
  const { module, reason } = loaded();
  return { available: module !== null, simd: module !== null, threads: family ? family.threads : 1, reason };
}

/** The threaded family, or null where it cannot start here (then the single-threaded module serves). */
function startFamily(threaded: ThreadedModule): ThreadedKernels | null {
  try {
    // One worker per thread: the async service thread, and the pool's workers beside the calling thread.
    const host = workerHost();
    return new ThreadedKernels(threaded, host, threadsOverride ?? host?.threads ?? 0);
  } catch {
    return null;
  }
}

/** This thread's instance of the kernels, created on first use. */
export function wasmKernels(): KernelExports {
  const { module, threaded, reason } = loaded();
  if (!module) throw new Error(reason ?? 'the WebAssembly kernels are not available');
  if (!kernels) {
    family = threaded ? startFamily(threaded) : null;
    kernels = family ? family.kernels : instantiateKernels(module);
  }
  return kernels;
}

/**
 * Forgets this thread's instance after a trap (its memory and allocator may be half-updated) or
 * when it grew too large to keep: the next call starts a fresh one (a threaded family's workers
 * end once its async calls in flight have settled).  `only`: drop that family if it is still this
 * thread's.
 */
export function dropWasmKernels(only?: ThreadedKernels): void {
  if (only && only !== family) return; // that family was dropped already (and is closing)
  family?.close();
  family = null;
  kernels = null;
}

/** Internal, for tests: the bytes of WebAssembly memory this thread's instance holds (0: none yet). */
export function wasmMemoryBytes(): number {
  return kernels ? kernels.memory.buffer.byteLength : 0;
}

/**
 * Internal, for tests: forget the module and instance; `module` (or null: unavailable, `reason`)
 * stands in for the embedded one (single-threaded); `threads` sets the next family's thread count,
 * and `threaded: false` keeps to the single-threaded module.
 */
export function resetWasmForTesting(options: { module?: WasmModule | null; reason?: string; threads?: number; threaded?: boolean } = {}): void {
  dropWasmKernels();
  threadsOverride = options.threads;
  if ('module' in options) {
    state = { module: options.module ?? null, threaded: null, reason: options.module ? null : (options.reason ?? 'disabled for a test') };
  } else {
    state = null;
    if (options.threaded === false) state = { ...loaded(), threaded: null };
  }
}
