// Finding and instantiating the WebAssembly kernels (backend 'wasm').  The module is embedded in
// the package as base64 (lib/wasm/generated/, written by npm run build:wasm), so it loads the
// same way under CommonJS, ES modules, browsers and bundlers: no file is read and nothing from
// node: is imported.  Loaded on first use and never thrown: a failure is recorded as the reason
// backendInfo().wasm gives, as native.ts does for the addon.
import { firstLine } from '../errors';
import { instantiateKernels, type KernelExports } from './execute';
import { embeddedModule } from './embedded';
import type { GeneratedModule } from './host-types';
import { webAssemblyApi, type WasmModule } from './webassembly-api';

interface WasmState {
  module: WasmModule | null;
  reason: string | null;
}

let state: WasmState | null = null;
let kernels: KernelExports | null = null;

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

function load(): WasmState {
  const wasm = webAssemblyApi();
  if (!wasm) return { module: null, reason: 'this JavaScript engine has no WebAssembly' };
  if (!wasm.validate(SIMD_PROBE)) return { module: null, reason: 'this WebAssembly engine has no SIMD128, which the kernel module is built with' };
  let generated: GeneratedModule;
  try {
    generated = embeddedModule();
  } catch (error) {
    return { module: null, reason: `the WebAssembly kernels are not built into this copy of fusedloss (npm run build:wasm, which needs emcc): ${firstLine(error)}` };
  }
  try {
    return { module: new wasm.Module(decodeBase64(generated.wasm)), reason: null };
  } catch (error) {
    return { module: null, reason: `the WebAssembly kernel module did not compile: ${firstLine(error)}` };
  }
}

function loaded(): WasmState {
  if (!state) state = load();
  return state;
}

/** The compiled kernel module (a worker instantiates its own from it), or null. */
export function wasmModule(): WasmModule | null {
  return loaded().module;
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
  return { available: module !== null, simd: module !== null, threads: 1, reason };
}

/** This thread's instance of the kernels, created on first use. */
export function wasmKernels(): KernelExports {
  const { module, reason } = loaded();
  if (!module) throw new Error(reason ?? 'the WebAssembly kernels are not available');
  if (!kernels) kernels = instantiateKernels(module);
  return kernels;
}

/**
 * Forgets this thread's instance after a trap (its memory and allocator may be half-updated): the
 * next call starts a fresh one.
 */
export function dropWasmKernels(): void {
  kernels = null;
}

/** Internal, for tests: the bytes of WebAssembly memory this thread's instance holds (0: none yet). */
export function wasmMemoryBytes(): number {
  return kernels ? kernels.memory.buffer.byteLength : 0;
}

/** Internal, for tests: forget the module and instance; `module` (or null: unavailable, `reason`) stands in for the embedded one. */
export function resetWasmForTesting(options: { module?: WasmModule | null; reason?: string } = {}): void {
  kernels = null;
  state = 'module' in options ? { module: options.module ?? null, reason: options.module ? null : (options.reason ?? 'disabled for a test') } : null;
}
