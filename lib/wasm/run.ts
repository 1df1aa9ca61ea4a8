// Backend 'wasm' for every kernel: the family's adapter (lib/<family>/wasm.ts) turns a plan into
// a WasmCall, the executor runs it on this thread's instance (sync) or off the JavaScript thread
// (async, lib/wasm/off-thread.ts), and its status becomes the error the other backends throw.
import { backendError, fusedLossError, ErrorCode, type ErrorCodeValue } from '../errors';
import { checkStillAttached, type OutArrays, type OutputSpec } from '../outputs';
import { platform } from '../platform';
import { plainView } from '../read-once';
import { executeWasmCall, keepInstance, WASM_STATUS, type WasmCall, type WasmExecuted, type WasmOutputSpec } from './execute';
import { dropWasmKernels, wasmKernels, wasmModule, wasmThreads } from './loader';
import { offThreadRunner } from './off-thread';

/** How a family runs on 'wasm': its plan as a call, and the call's outputs as the family's. */
export interface WasmAdapter<Plan, Outputs> {
  call(plan: Plan): WasmCall;
  outputs(executed: WasmExecuted, plan: Plan): Outputs;
}

/**
 * A call from the plan's addon arguments (enum codes, as lib/<family>/native.ts makes them): the
 * scalars and inputs named in the order of the export (native/wasm/<family>_exports.cc).
 */
export function wasmCall(entry: string, args: Record<string, unknown>, scalars: readonly string[], inputs: readonly string[],
  outputs: (WasmOutputSpec | null)[], results: number, returnedArrays = 0): WasmCall {
  return {
    entry,
    scalars: scalars.map((name) => {
      // A name the plan lacks is this file's bug (the lists follow the exports), not the caller's.
      if (typeof args[name] !== 'number' && typeof args[name] !== 'boolean') throw backendError(`internal: ${entry}'s scalar ${name} is not in the plan`);
      return Number(args[name]);
    }),
    inputs: inputs.map((name) => (args[name] ?? null) as Float32Array | Int32Array | null),
    outputs,
    results,
    returnedArrays,
  };
}

/** A family's result arrays (its *_OUTPUTS, in the export's order), null where this call returns none. */
export function wasmOutputs<Plan>(specs: readonly OutputSpec<Plan>[], plan: Plan): (WasmOutputSpec | null)[] {
  return specs.map((spec) =>
    spec.returned && !spec.returned(plan) ? null : { name: spec.name, type: spec.type === 'Int32Array' ? 'i32' : 'f32', length: spec.length(plan) },
  );
}

const STATUS_CODES: Record<number, ErrorCodeValue> = {
  [WASM_STATUS.option]: ErrorCode.OPTION,
  [WASM_STATUS.shape]: ErrorCode.SHAPE,
  [WASM_STATUS.label]: ErrorCode.LABEL,
  [WASM_STATUS.tooLarge]: ErrorCode.TOO_LARGE,
};

function succeeded(executed: WasmExecuted): WasmExecuted {
  if (executed.status === WASM_STATUS.ok) return executed;
  throw fusedLossError(STATUS_CODES[executed.status] ?? ErrorCode.BACKEND, executed.message);
}

function trapped(error: unknown): Error {
  return backendError(`the WebAssembly kernels trapped: ${error instanceof Error ? error.message : String(error)}`);
}

/** The caller's out arrays as plain views (no subclass or own property of theirs runs). */
function plainOut(out: OutArrays): Record<string, Float32Array | Int32Array> {
  return Object.fromEntries(Object.entries(out).map(([name, array]) => [name, plainView(array)]));
}

/** `call` on this thread's instance, which is dropped after a trap or when the call grew it past keepInstance's limit. */
function executeHere(call: WasmCall, into: Record<string, Float32Array | Int32Array> = {}): WasmExecuted {
  const kernels = wasmKernels();
  try {
    const executed = executeWasmCall(kernels, call, into);
    if (!keepInstance(kernels)) dropWasmKernels();
    return executed;
  } catch (error) {
    dropWasmKernels();
    throw trapped(error);
  }
}

export function runWasmSync<Plan, Outputs>(adapter: WasmAdapter<Plan, Outputs>, plan: Plan, out: OutArrays): Outputs {
  return adapter.outputs(succeeded(executeHere(adapter.call(plan), plainOut(out))), plan);
}

/**
 * The call off the JavaScript thread: on the threaded module's service thread (once its workers
 * are ready), else on the single-threaded module's worker; null where neither can take it.
 */
async function offThread(call: WasmCall): Promise<WasmExecuted | null> {
  const module = wasmModule();
  if (!module) return null;
  const family = wasmThreads();
  if (!family) return offThreadRunner()?.run(module, call) ?? null;
  let running = family.runAsync(call);
  if (!running) {
    await family.ready;
    running = family.runAsync(call);
  }
  let executed: WasmExecuted | null;
  try {
    executed = await running;
  } catch (error) {
    dropWasmKernels(); // a thread of the family trapped: the next call starts a fresh one
    throw error;
  }
  // As after a sync call: a family grown past keepInstance's limit ends once its calls are back.
  if (!keepInstance(family.kernels)) dropWasmKernels(family);
  return executed;
}

/**
 * Off the JavaScript thread where a runner exists, else after yielding once.  The call's inputs
 * are private copies (the caller may reuse or transfer its buffers at once); the outputs are
 * copied into `out` when the call is back, if none was detached meanwhile.
 */
export async function runWasmAsync<Plan, Outputs>(adapter: WasmAdapter<Plan, Outputs>, plan: Plan, out: OutArrays): Promise<Outputs> {
  const call = adapter.call(plan);
  call.inputs = call.inputs.map((input) => (input ? input.slice() : null));
  let executed: WasmExecuted | null = null;
  try {
    executed = await offThread(call);
  } catch (error) {
    throw trapped(error);
  }
  if (!executed) await platform.nextTurn();
  // No runner, or its worker failed to start before taking the call: the inputs are still here.
  executed ??= executeHere(call);
  succeeded(executed);
  checkStillAttached(out);
  const into = plainOut(out);
  for (const [name, target] of Object.entries(into)) {
    target.set(executed.outputs[name]);
    executed.outputs[name] = target;
  }
  return adapter.outputs(executed, plan);
}
