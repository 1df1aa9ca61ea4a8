// One kernel call on a WebAssembly instance: the arrays placed in its memory, the entry point
// called with the ABI of native/wasm/wasm_call.h (scalars, array pointers, results), the outputs
// copied out, and everything it allocated freed, on success, failure and trap alike.
//
// instantiateKernels, wasmCallSteps, executeWasmCall (which uses only wasmCallSteps) and
// keepInstance are self-contained (no imports, no other module-level names): the async path's
// worker (lib/wasm/off-thread.ts) runs their source text, so the calling thread and the worker
// execute the same code.
import type { WasmApi, WasmModule } from './webassembly-api';

/** An output array of a call: its result name, element type and length. */
export interface WasmOutputSpec {
  name: string;
  type: 'f32' | 'i32';
  length: number;
}

/** A kernel call as the executor runs it: everything a worker needs, and nothing else. */
export interface WasmCall {
  /** The export, e.g. 'fl_crps'. */
  entry: string;
  /** The plan's numbers in the export's order (enums as codes, booleans as 0/1). */
  scalars: number[];
  /** The input arrays in the export's order (null: absent). */
  inputs: (Float32Array | Int32Array | null)[];
  /** The output arrays, after the inputs in the pointer table (null: not computed). */
  outputs: (WasmOutputSpec | null)[];
  /** How many float64 results the export writes. */
  results: number;
  /** Of those, the trailing (pointer, length) pairs of Int32Arrays the kernel allocated (mine). */
  returnedArrays: number;
}

/** What a call gave: status 0 with the outputs, or the failure's status and message. */
export interface WasmExecuted {
  status: number;
  message: string;
  /** Output arrays by name (the caller's `into` arrays where given). */
  outputs: Record<string, Float32Array | Int32Array>;
  results: number[];
  returned: Int32Array[];
}

/** The exports of the kernel module (native/wasm/*_exports.cc). */
export interface KernelExports {
  memory: { readonly buffer: ArrayBuffer };
  fl_alloc(bytes: number): number;
  fl_free(pointer: number): void;
  fl_error_message(): number;
  fl_error_length(): number;
  [entry: string]: unknown;
}

/** Statuses of native/wasm/wasm_call.h, and the executor's own for memory that cannot grow. */
export const WASM_STATUS = { ok: 0, option: 1, shape: 2, label: 3, tooLarge: 4, backend: 5 } as const;

/**
 * Instantiates the kernel module with the imports it has (an Emscripten standalone module: the
 * memory-growth notice, and proc_exit, which only abort() reaches) and runs its static
 * constructors.
 */
export function instantiateKernels(module: WasmModule): KernelExports {
  const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
  const provided: Record<string, Record<string, (...args: number[]) => unknown>> = {
    env: { emscripten_notify_memory_growth: () => undefined },
    wasi_snapshot_preview1: {
      proc_exit: (code: number) => {
        throw new Error(`fusedloss wasm: the kernel module aborted (exit ${code})`);
      },
    },
  };
  const imports: Record<string, Record<string, (...args: number[]) => unknown>> = {};
  for (const wanted of wasm.Module.imports(module)) {
    const fn = provided[wanted.module]?.[wanted.name];
    if (!fn) throw new Error(`fusedloss wasm: the module imports ${wanted.module}.${wanted.name}, which the loader does not provide`);
    (imports[wanted.module] ??= {})[wanted.name] = fn;
  }
  const instance = new wasm.Instance(module, imports);
  const exports = instance.exports as unknown as KernelExports & { _initialize?: () => void };
  if (typeof exports._initialize === 'function') exports._initialize();
  return exports;
}

/**
 * Whether an instance is worth keeping after a call: linear memory never shrinks, so one that a
 * large call grew past 1 GiB is dropped (the next call starts a fresh 16 MiB one) rather than
 * holding that memory for the life of the thread.  Calls above the limit pay the growth each time.
 */
export function keepInstance(kernels: KernelExports): boolean {
  return kernels.memory.buffer.byteLength <= 2 ** 30;
}

/** A placed call's entry point and the three pointers of wasm_call.h's ABI. */
export interface WasmInvocation {
  entry: string;
  scalars: number;
  arrays: number;
  results: number;
}

/** What the entry point gave: its status and, when not 0, its message. */
export interface WasmReturn {
  status: number;
  message: string;
}

/**
 * `call` on `kernels` as steps: one block for scalars, pointer table, results and arrays (16-byte
 * aligned each) is allocated and filled, the invocation is yielded to whoever calls the entry point
 * (on this thread: executeWasmCall; the threaded module's service thread: lib/wasm/threads.ts),
 * and from its return the outputs are read; the block is freed however the steps end.  `into`
 * supplies the caller's output arrays by name (written in place).
 */
export function* wasmCallSteps(kernels: KernelExports, call: WasmCall, into: Record<string, Float32Array | Int32Array> = {}): Generator<WasmInvocation, WasmExecuted, WasmReturn> {
  const failed = (status: number, message: string): WasmExecuted => ({ status, message, outputs: {}, results: [], returned: [] });
  const align = (bytes: number) => Math.ceil(bytes / 16) * 16;
  const arrayCount = call.inputs.length + call.outputs.length;
  const scalarsAt = 0;
  const pointersAt = align(call.scalars.length * 8);
  const resultsAt = pointersAt + align(arrayCount * 4);
  let total = resultsAt + align(Math.max(call.results, 1) * 8);
  const offsets: number[] = [];
  for (const input of call.inputs) {
    offsets.push(total);
    total += input ? align(input.byteLength) : 0;
  }
  for (const output of call.outputs) {
    offsets.push(total);
    total += output ? align(output.length * 4) : 0;
  }
  // wasm32 addresses 4 GiB, of which the module's own data and the kernels' work buffers need some.
  const addressable = 2 ** 32 - 2 ** 26;
  if (!(total <= addressable)) {
    return failed(4, `the call needs ${total} bytes of WebAssembly memory for its arrays; wasm32 addresses at most ${addressable}`);
  }
  const base = kernels.fl_alloc(total) >>> 0;
  if (base === 0) {
    return failed(4, `WebAssembly memory could not grow by the ${total} bytes the call's arrays need (it holds ${kernels.memory.buffer.byteLength} bytes)`);
  }
  try {
    let memory = kernels.memory.buffer;
    new Float64Array(memory, base + scalarsAt, call.scalars.length).set(call.scalars);
    const pointers = new Uint32Array(memory, base + pointersAt, arrayCount);
    call.inputs.forEach((input, i) => {
      pointers[i] = input ? base + offsets[i] : 0;
      if (input) new Uint8Array(memory, base + offsets[i], input.byteLength).set(new Uint8Array(input.buffer, input.byteOffset, input.byteLength));
    });
    call.outputs.forEach((output, i) => {
      pointers[call.inputs.length + i] = output ? base + offsets[call.inputs.length + i] : 0;
    });
    const { status, message } = yield { entry: call.entry, scalars: base + scalarsAt, arrays: base + pointersAt, results: base + resultsAt };
    memory = kernels.memory.buffer;  // the call may have grown (and so replaced) the buffer
    if (status !== 0) return failed(status, message);
    const results = Array.from(new Float64Array(memory, base + resultsAt, call.results));
    const outputs: Record<string, Float32Array | Int32Array> = {};
    call.outputs.forEach((output, i) => {
      if (!output) return;
      const at = base + offsets[call.inputs.length + i];
      const view = output.type === 'f32' ? new Float32Array(memory, at, output.length) : new Int32Array(memory, at, output.length);
      const target = into[output.name];
      if (target) {
        target.set(view);
        outputs[output.name] = target;
      } else {
        outputs[output.name] = view.slice();  // slice: a plain ArrayBuffer, also from shared memory
      }
    });
    const returned: Int32Array[] = [];
    const firstPair = call.results - 2 * call.returnedArrays;
    for (let k = 0; k < call.returnedArrays; ++k) {
      const pointer = results[firstPair + 2 * k];
      const length = results[firstPair + 2 * k + 1];
      returned.push(pointer === 0 ? new Int32Array(0) : new Int32Array(memory, pointer, length).slice());
      if (pointer !== 0) kernels.fl_free(pointer);
    }
    return { status: 0, message: '', outputs, results: results.slice(0, firstPair), returned };
  } finally {
    kernels.fl_free(base);
  }
}

/**
 * Runs `call` on `kernels` on this thread (wasmCallSteps, with the entry point called here).  A
 * trap propagates after the block is freed (the instance is then unusable: the caller drops it).
 */
export function executeWasmCall(kernels: KernelExports, call: WasmCall, into: Record<string, Float32Array | Int32Array> = {}): WasmExecuted {
  const steps = wasmCallSteps(kernels, call, into);
  let step = steps.next();
  while (!step.done) {
    const { entry, scalars, arrays, results } = step.value;
    let status: number;
    try {
      status = (kernels[entry] as (scalars: number, arrays: number, results: number) => number)(scalars, arrays, results);
    } catch (error) {
      steps.return(undefined as never);
      throw error;
    }
    // slice: TextDecoder refuses views of shared memory.
    const message = status === 0 ? '' : new TextDecoder().decode(new Uint8Array(kernels.memory.buffer, kernels.fl_error_message() >>> 0, kernels.fl_error_length()).slice());
    step = steps.next({ status, message });
  }
  return step.value;
}
