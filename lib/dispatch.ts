// The one path every kernel call takes: plan (validate, once, for every backend), choose the
// backend, run the TypeScript fallback or the native addon (sync, or off the JavaScript thread),
// and build the result.  Each family describes itself with a KernelDescriptor
// (lib/<family>/index.ts); nothing here knows a family's arguments.
import { trustedOnCuda } from './cuda-self-test';
import { DEVICE_CODES, enumCodes } from './enum-codes';
import { backendError, optionError } from './errors';
import { addon, cudaInfo, native, type KernelFamily, type ResolvedBackend } from './native';
import { checkOut, checkStillAttached, type OutArrays, type OutputSpec } from './outputs';
import { platform } from './platform';
import { BACKENDS, type Backend, type Planned } from './validate';
import { wasmStatus } from './wasm/loader';
import { runWasmAsync, runWasmSync, type WasmAdapter } from './wasm/run';

/** A kernel, as runKernel needs it: how to plan it, run it on each backend, and shape its result. */
export interface KernelDescriptor<Plan extends object, Outputs, Result> {
  /** The addon's entry points are `name` and `${name}Async`. */
  name: 'crps' | 'marginSoftmax' | 'mine' | 'pairLoss';
  /** The family whose CUDA self-test gates this kernel. */
  family: KernelFamily;
  plan(args: unknown): Planned<Plan>;
  /** The result arrays a caller may supply in `out`. */
  outputs: readonly OutputSpec<Plan>[];
  /** The TypeScript backend; it writes the arrays named in `out` into the caller's memory. */
  fallback(plan: Plan, out: OutArrays): Outputs;
  /** The plan as the addon's arguments (integer codes; lib/<family>/native.ts), without `device`. */
  addonArgs(plan: Plan): Record<string, unknown>;
  /** Backend 'wasm': the plan as a call of the WebAssembly kernels (lib/<family>/wasm.ts). */
  wasm: WasmAdapter<Plan, Outputs>;
  /** The result: the outputs with `backend`, and only the fields this call asked for. */
  result(outputs: Outputs, plan: Plan, backend: ResolvedBackend): Result;
}

function defaultBackend(): Backend {
  const forced = platform.backendOverride();
  if (forced === undefined || forced === '') return 'auto';
  if (!(BACKENDS as readonly string[]).includes(forced)) {
    throw optionError(`FUSEDLOSS_BACKEND = '${forced}' is not one of ${BACKENDS.join(', ')}`);
  }
  return forced as Backend;
}

/**
 * The families 'auto' may run on CUDA (after their self-test).  Pairs stay on the CPU until a GPU
 * run has measured the block-per-row pair kernels at their target (issue 13: ≥ 20× the 2-core CPU
 * at N = M = 4096 and 512 × 65,536); an explicit backend 'cuda' runs them.
 */
const AUTO_CUDA_FAMILIES: ReadonlySet<KernelFamily> = new Set<KernelFamily>(['crps', 'marginSoftmax']);

/**
 * The backend a call of `family` runs on.  An explicit per-call backend wins; 'auto' (the
 * default) follows FUSEDLOSS_BACKEND when set, else CUDA when built, a device is present, the
 * family is one 'auto' trusts on CUDA (not pairs, yet) and its self-test passed, else native CPU,
 * else WebAssembly, else the TypeScript fallback.
 */
export function resolveBackend(requested: Backend, family: KernelFamily): ResolvedBackend {
  const backend = requested === 'auto' ? defaultBackend() : requested;
  const { addon: loaded, loadError } = native();
  switch (backend) {
    case 'js':
      return 'js';
    case 'wasm': {
      const wasm = wasmStatus();
      if (!wasm.available) throw backendError(`backend 'wasm' is not available: ${wasm.reason}`);
      return 'wasm';
    }
    case 'cpu':
      if (!loaded) throw backendError(`backend 'cpu' is not available: ${loadError}`);
      return 'cpu';
    case 'cuda': {
      if (!loaded) throw backendError(`backend 'cuda' is not available: ${loadError}`);
      const cuda = cudaInfo();
      if (!cuda.available) throw backendError(`backend 'cuda' is not available: ${cuda.reason}`);
      const selfTest = trustedOnCuda(loaded, family);
      if (!selfTest.passed) throw backendError(`backend 'cuda' is not available for ${family}: its self-test failed: ${selfTest.reason}`);
      return 'cuda';
    }
    default:
      if (loaded && AUTO_CUDA_FAMILIES.has(family) && cudaInfo().available && trustedOnCuda(loaded, family).passed) return 'cuda';
      if (loaded) return 'cpu';
      return wasmStatus().available ? 'wasm' : 'js';
  }
}

type NativeEntry<Outputs> = (args: Record<string, unknown>) => Outputs;

function nativeEntry<Outputs>(name: string): NativeEntry<Outputs> {
  const fn = addon()[name];
  if (typeof fn !== 'function') throw backendError(`the loaded native addon has no ${name}(); rebuild fusedloss`);
  return fn as NativeEntry<Outputs>;
}

/**
 * The plan with a private copy of each of its arrays: the async TypeScript path works on copies,
 * as the native async path does, so the caller may reuse or transfer its buffers at once.
 */
function copyInputs<Plan extends object>(plan: Plan): Plan {
  const copy = { ...plan } as Record<string, unknown>;
  for (const [key, value] of Object.entries(copy)) {
    if (ArrayBuffer.isView(value)) copy[key] = (value as Float32Array | Int32Array).slice();
  }
  return copy as unknown as Plan;
}

/** The addon's arguments: the plan's, the device, and the caller's output arrays (written in place). */
function nativeArgs<Plan extends object>(descriptor: KernelDescriptor<Plan, unknown, unknown>, plan: Plan, backend: ResolvedBackend, out: OutArrays): Record<string, unknown> {
  const device = backend === 'cuda' ? 'cuda' : 'cpu';
  const args: Record<string, unknown> = { ...descriptor.addonArgs(plan), ...enumCodes({ device }, DEVICE_CODES) };
  if (Object.keys(out).length > 0) args.out = out;
  return args;
}

/** The outputs with the caller's own array objects in place of the fallback's plain views of them. */
function withCallerArrays<Outputs>(outputs: Outputs, out: OutArrays): Outputs {
  return Object.keys(out).length === 0 ? outputs : { ...outputs, ...out };
}

interface Call<Plan> {
  plan: Plan;
  backend: ResolvedBackend;
  out: OutArrays;
}

function prepare<Plan extends object>(descriptor: KernelDescriptor<Plan, unknown, unknown>, args: unknown): Call<Plan> {
  const planned = descriptor.plan(args);
  const backend = resolveBackend(planned.backend, descriptor.family);
  // Checked last: nothing of the caller's runs after this, until the kernel has written them.
  const out = checkOut(planned.out, descriptor.outputs, planned.plan);
  return { plan: planned.plan, backend, out };
}

function runSync<Plan extends object, Outputs, Result>(descriptor: KernelDescriptor<Plan, Outputs, Result>, args: unknown): Result {
  const { plan, backend, out } = prepare(descriptor, args);
  const outputs =
    backend === 'js'
      ? withCallerArrays(descriptor.fallback(plan, out), out)
      : backend === 'wasm'
        ? withCallerArrays(runWasmSync(descriptor.wasm, plan, out), out)
        : nativeEntry<Outputs>(descriptor.name)(nativeArgs(descriptor, plan, backend, out));
  return descriptor.result(outputs, plan, backend);
}

// Never throws: invalid arguments reject (an async function turns every throw into a rejection).
async function runAsync<Plan extends object, Outputs, Result>(descriptor: KernelDescriptor<Plan, Outputs, Result>, args: unknown): Promise<Result> {
  const { plan, backend, out } = prepare(descriptor, args);
  if (backend === 'js') {
    // The TypeScript backend has no thread of its own: it yields once, then runs on this thread.
    const owned = copyInputs(plan);
    await platform.nextTurn();
    checkStillAttached(out);
    return descriptor.result(withCallerArrays(descriptor.fallback(owned, out), out), plan, backend);
  }
  // Off the JavaScript thread where the host has a worker (lib/wasm/off-thread.ts).
  if (backend === 'wasm') return descriptor.result(withCallerArrays(await runWasmAsync(descriptor.wasm, plan, out), out), plan, backend);
  // The addon holds the output arrays until it settles, and rejects if one was detached meanwhile.
  const outputs = await nativeEntry<Promise<Outputs>>(`${descriptor.name}Async`)(nativeArgs(descriptor, plan, backend, out));
  return descriptor.result(outputs, plan, backend);
}

/** Runs one kernel call: planning, backend choice, the fallback or native call, and the result. */
export function runKernel<Plan extends object, Outputs, Result>(descriptor: KernelDescriptor<Plan, Outputs, Result>, args: unknown, options: { async: false }): Result;
export function runKernel<Plan extends object, Outputs, Result>(descriptor: KernelDescriptor<Plan, Outputs, Result>, args: unknown, options: { async: true }): Promise<Result>;
export function runKernel<Plan extends object, Outputs, Result>(descriptor: KernelDescriptor<Plan, Outputs, Result>, args: unknown, options: { async: boolean }): Result | Promise<Result> {
  return options.async ? runAsync(descriptor, args) : runSync(descriptor, args);
}
