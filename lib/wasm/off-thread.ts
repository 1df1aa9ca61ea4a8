// The seam for running WebAssembly calls off the JavaScript thread.  A runner takes a call whose
// arrays it may keep (lib/wasm/run.ts copies them) and resolves with its outputs.  The runner is
// one worker with its own instance of the kernels, created on first use: a worker_thread that does
// not keep the process alive while idle in Node.js, a Web Worker in the browser build.  Where the
// host has neither, async calls yield once, then run on the calling thread.
import { executeWasmCall, instantiateKernels, keepInstance, wasmCallSteps, type WasmCall, type WasmExecuted } from './execute';
import type { WasmModule } from './webassembly-api';
import type { WorkerHandle, WorkerHost } from './host-types';
import { workerHost } from './worker-host';

/**
 * Runs calls elsewhere: null when it cannot (the call then runs on the calling thread), or a
 * promise of the outputs, or of null when the worker failed to start before the call was handed
 * to it (the call then runs on the calling thread: its inputs were never transferred); a
 * rejection when the worker's instance trapped (it starts a fresh one) or the worker died.
 */
export interface OffThreadRunner {
  run(module: WasmModule, call: WasmCall): Promise<WasmExecuted | null> | null;
}

// The worker's program: the executor's functions as source text (execute.ts keeps them
// self-contained for this), a fresh instance per trap, outputs transferred back.  The host's
// lines (lib/wasm/worker-host.ts, worker-host.browser.ts) define post(message, transfer), feed
// each message to handle(message, post) and post { ready: true } once listening.
function workerSource(listen: string): string {
  return `'use strict';
const instantiateKernels = ${instantiateKernels.toString()};
const wasmCallSteps = ${wasmCallSteps.toString()};
const executeWasmCall = ${executeWasmCall.toString()};
const keepInstance = ${keepInstance.toString()};
let kernels = null;
function handle({ id, module, call }, post) {
  try {
    if (!kernels) kernels = instantiateKernels(module);
    const executed = executeWasmCall(kernels, call);
    if (!keepInstance(kernels)) kernels = null;
    const transfer = [...Object.values(executed.outputs), ...executed.returned].map((array) => array.buffer);
    post({ id, executed }, transfer);
  } catch (error) {
    kernels = null;
    post({ id, trap: error instanceof Error ? error.message : String(error) });
  }
}
${listen}
`;
}

interface Pending {
  resolve(executed: WasmExecuted | null): void;
  reject(error: Error): void;
}

// Calls wait (inputs still here) until the worker says it is ready, so a worker that cannot start
// (a page whose policy refuses blob: workers) costs no call: they run on the calling thread, and
// so does every later one.
export class WorkerRunner implements OffThreadRunner {
  private worker: WorkerHandle | null = null;
  private ready = false;
  private refused = false;
  private nextId = 0;
  private readonly waiting: { id: number; module: WasmModule; call: WasmCall }[] = [];
  private readonly pending = new Map<number, Pending>();

  constructor(private readonly host: WorkerHost) {}

  private send(worker: WorkerHandle, id: number, module: WasmModule, call: WasmCall): void {
    const transfer = call.inputs.filter((input): input is Float32Array | Int32Array => input !== null).map((input) => input.buffer as ArrayBuffer);
    worker.post({ id, module, call }, transfer);
  }

  private settled(worker: WorkerHandle, id: number): Pending | undefined {
    const call = this.pending.get(id);
    this.pending.delete(id);
    if (this.pending.size === 0) worker.unref();
    return call;
  }

  private started(): WorkerHandle {
    if (this.worker) return this.worker;
    const worker = this.host.start(workerSource(this.host.listen));
    this.ready = false;
    worker.onMessage(({ id, executed, trap, ready }) => {
      if (ready) {
        this.ready = true;
        for (const { id: queued, module, call } of this.waiting.splice(0)) this.send(worker, queued, module, call);
        return;
      }
      const call = this.settled(worker, id);
      if (!call) return;
      if (executed) call.resolve(executed);
      else call.reject(new Error(`the WebAssembly kernels trapped: ${trap}`));
    });
    worker.onError((error) => {
      this.worker = null;
      if (!this.ready) {
        // It never started: the waiting calls (and all later ones) run on the calling thread.
        this.refused = true;
        for (const { id } of this.waiting.splice(0)) this.settled(worker, id)?.resolve(null);
        return;
      }
      // The worker is gone: every call it held fails, and the next call starts another.
      for (const call of this.pending.values()) call.reject(error);
      this.pending.clear();
    });
    worker.unref();
    this.worker = worker;
    return worker;
  }

  run(module: WasmModule, call: WasmCall): Promise<WasmExecuted | null> | null {
    if (this.refused) return null;
    let worker: WorkerHandle;
    try {
      worker = this.started();
    } catch {
      return null; // no worker here (resource limits, a host that refuses): the calling thread serves
    }
    const id = this.nextId++;
    return new Promise<WasmExecuted | null>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.ref();
      if (this.ready) this.send(worker, id, module, call);
      else this.waiting.push({ id, module, call });
    });
  }
}

let runner: OffThreadRunner | null | undefined;

/** The runner async wasm calls use, or null: run on the calling thread after yielding once. */
export function offThreadRunner(): OffThreadRunner | null {
  if (runner === undefined) {
    const host = workerHost();
    runner = host ? new WorkerRunner(host) : null;
  }
  return runner;
}

/** Installs another runner, or null to run on the calling thread (tests). */
export function setOffThreadRunner(next: OffThreadRunner | null): void {
  runner = next;
}
