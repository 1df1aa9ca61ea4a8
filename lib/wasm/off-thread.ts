// The seam for running WebAssembly calls off the JavaScript thread.  A runner takes a call whose
// arrays it may keep (lib/wasm/run.ts copies them) and resolves with its outputs.  In Node the
// runner is one worker_thread with its own instance of the kernels, created on first use and not
// keeping the process alive while idle; elsewhere there is none yet (a browser Web Worker can be
// installed with setOffThreadRunner), and async calls yield once, then run on the calling thread.
import { executeWasmCall, instantiateKernels, keepInstance, type WasmCall, type WasmExecuted } from './execute';
import type { WasmModule } from './webassembly-api';

/**
 * Runs calls elsewhere: null when it cannot start (the call then runs on the calling thread); a
 * rejection when the worker's instance trapped (it starts a fresh one) or the worker died.
 */
export interface OffThreadRunner {
  run(module: WasmModule, call: WasmCall): Promise<WasmExecuted> | null;
}

// The worker's program: the executor's functions as source text (execute.ts keeps them
// self-contained for this), a fresh instance per trap, outputs transferred back.  import(), not
// require: an eval'd worker is an ES module when the process runs with --input-type=module.
// Messages posted before the listener is attached wait in the port.
function workerSource(): string {
  return `'use strict';
const instantiateKernels = ${instantiateKernels.toString()};
const executeWasmCall = ${executeWasmCall.toString()};
const keepInstance = ${keepInstance.toString()};
let kernels = null;
import('node:worker_threads').then(({ parentPort }) => parentPort.on('message', ({ id, module, call }) => {
  try {
    if (!kernels) kernels = instantiateKernels(module);
    const executed = executeWasmCall(kernels, call);
    if (!keepInstance(kernels)) kernels = null;
    const transfer = [...Object.values(executed.outputs), ...executed.returned].map((array) => array.buffer);
    parentPort.postMessage({ id, executed }, transfer);
  } catch (error) {
    kernels = null;
    parentPort.postMessage({ id, trap: error instanceof Error ? error.message : String(error) });
  }
}));
`;
}

interface NodeWorker {
  postMessage(message: unknown, transfer?: ArrayBuffer[]): void;
  on(event: 'message', listener: (message: { id: number; executed?: WasmExecuted; trap?: string }) => void): void;
  on(event: 'error', listener: (error: Error) => void): void;
  ref(): void;
  unref(): void;
  terminate(): Promise<number>;
}

class NodeWorkerRunner implements OffThreadRunner {
  private worker: NodeWorker | null = null;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve(executed: WasmExecuted): void; reject(error: Error): void }>();

  constructor(private readonly Worker: new (code: string, options: { eval: true }) => NodeWorker) {}

  private started(): NodeWorker {
    if (this.worker) return this.worker;
    const worker = new this.Worker(workerSource(), { eval: true });
    worker.on('message', ({ id, executed, trap }) => {
      const call = this.pending.get(id);
      if (!call) return;
      this.pending.delete(id);
      if (this.pending.size === 0) worker.unref();
      if (executed) call.resolve(executed);
      else call.reject(new Error(`the WebAssembly kernels trapped: ${trap}`));
    });
    worker.on('error', (error) => {
      // The worker is gone: every call it held fails, and the next call starts another.
      this.worker = null;
      for (const call of this.pending.values()) call.reject(error);
      this.pending.clear();
    });
    worker.unref();
    this.worker = worker;
    return worker;
  }

  run(module: WasmModule, call: WasmCall): Promise<WasmExecuted> | null {
    let worker: NodeWorker;
    try {
      worker = this.started();
    } catch {
      return null; // no worker here (resource limits, a host without them): the calling thread serves
    }
    const id = this.nextId++;
    const transfer = call.inputs.filter((input): input is Float32Array | Int32Array => input !== null).map((input) => input.buffer as ArrayBuffer);
    return new Promise<WasmExecuted>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage({ id, module, call }, transfer);
    });
  }
}

let runner: OffThreadRunner | null | undefined;

function nodeRunner(): OffThreadRunner | null {
  const node = typeof process === 'object' && process !== null && typeof process.versions?.node === 'string';
  if (!node) return null;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { Worker } = require('node:worker_threads') as { Worker: new (code: string, options: { eval: true }) => NodeWorker };
    return new NodeWorkerRunner(Worker);
  } catch {
    return null;
  }
}

/** The runner async wasm calls use, or null: run on the calling thread after yielding once. */
export function offThreadRunner(): OffThreadRunner | null {
  if (runner === undefined) runner = nodeRunner();
  return runner;
}

/** Installs the runner of another host (a browser Web Worker), or null to run on the calling thread. */
export function setOffThreadRunner(next: OffThreadRunner | null): void {
  runner = next;
}
