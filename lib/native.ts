// Finding the native addon.  The addon is loaded on first use (never at import), CUDA is probed on
// first use too, and a failure to load is recorded, not thrown: the TypeScript fallback then
// serves and backendInfo().loadError says what was tried and why.  The records of the CUDA
// self-tests live here too; running them and choosing a backend is lib/dispatch.ts's.
import * as path from 'node:path';

import { backendError } from './errors';
import { packageRoot } from './package-root';
import { wasmStatus } from './wasm/loader';

/** A kernel family: the unit that is trusted on CUDA (or not) as a whole. */
export type KernelFamily = 'crps' | 'marginSoftmax' | 'pairs';
export const KERNEL_FAMILIES: readonly KernelFamily[] = ['crps', 'marginSoftmax', 'pairs'];
export type ResolvedBackend = 'cuda' | 'cpu' | 'wasm' | 'js';

export interface NativeCudaInfo {
  built: boolean;
  available: boolean;
  reason: string | null;
  devices: { index: number; name: string; computeCapability: string; totalMemory: number }[];
}

/** A family's CUDA self-test as recorded: passed, or failed with the reason. */
export interface SelfTestRecord {
  passed: boolean;
  reason: string | null;
}

/** The addon's surface; kernels add their own functions (see each lib/<kernel>.ts). */
export interface NativeAddon {
  runtimeInfo(): { simd: string; threads: number; cores: number };
  cudaInfo(): NativeCudaInfo;
  setThreads(n: number): void;
  /** Process-wide record of the self-tests (shared by worker threads); absent in older builds. */
  cudaSelfTestRecord?(family: string, passed?: boolean, reason?: string | null): SelfTestRecord | undefined;
  [kernel: string]: unknown;
}

interface LoadState {
  addon: NativeAddon | null;
  binary: string | null;
  loadError: string | null;
}

let state: LoadState | null = null;
let searchRoot = packageRoot;

function firstLine(error: unknown): string {
  return error instanceof Error ? error.message.split('\n')[0] : String(error);
}

/** The backend 'auto' falls back to without the addon, as the load messages name it. */
function serving(): string {
  return wasmStatus().available ? 'The WebAssembly backend is serving.' : 'The TypeScript backend is serving.';
}

function load(): LoadState {
  if (process.env.FUSEDLOSS_BACKEND === 'js') {
    return { addon: null, binary: null, loadError: 'not loaded: FUSEDLOSS_BACKEND=js' };
  }
  const where = `${process.platform}-${process.arch} (Node ${process.versions.node}, Node-API ${process.versions.napi})`;
  let binary: string;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const nodeGypBuild = require('node-gyp-build') as { path(dir: string): string };
    // FUSEDLOSS_ADDON_PATH: one given binary instead of the package's (the sanitizer build); a
    // test's own root still wins.
    const forced = searchRoot === packageRoot ? process.env.FUSEDLOSS_ADDON_PATH : undefined;
    binary = forced ? path.resolve(forced) : nodeGypBuild.path(searchRoot);
  } catch (error) {
    // No binary at all: the documented install without a compiler, so no warning, only the advice.
    return {
      addon: null,
      binary: null,
      loadError:
        `no native addon for ${where}; looked in ${path.join(searchRoot, 'build', 'Release')} and ` +
        `${path.join(searchRoot, 'prebuilds')}: ${firstLine(error)}. ${serving()} To build ` +
        'the addon, install cmake and a C++17 compiler (nvcc for CUDA) and run `npm rebuild fusedloss`.',
    };
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return { addon: require(binary) as NativeAddon, binary, loadError: null };
  } catch (error) {
    // A binary that is there but does not load (wrong glibc, corrupt file, missing library) is a
    // broken install the user did not choose: say so once, with the loader's own words.
    const loadError = `the native addon ${binary} failed to load on ${where}: ${firstLine(error)}. ${serving()}`;
    process.emitWarning(loadError, { type: 'FusedlossWarning', code: 'FUSEDLOSS_NATIVE_LOAD_FAILED' });
    return { addon: null, binary: null, loadError };
  }
}

export function native(): LoadState {
  if (!state) state = load();
  return state;
}

let cudaCache: NativeCudaInfo | null = null;

export function cudaInfo(): NativeCudaInfo {
  const { addon, loadError } = native();
  if (!addon) return { built: false, available: false, reason: loadError, devices: [] };
  if (!cudaCache) cudaCache = addon.cudaInfo();
  return cudaCache;
}

// --- the CUDA self-tests ---------------------------------------------------------------------

// This context's copy of the records.  The addon keeps the process-wide one, so that worker
// threads share one self-test per family: the first to finish records it, and later ones (and
// any that raced it) use that record.
const selfTests = new Map<KernelFamily, SelfTestRecord>();

export function storedSelfTest(addon: NativeAddon, family: KernelFamily): SelfTestRecord | undefined {
  let record = selfTests.get(family);
  if (!record && typeof addon.cudaSelfTestRecord === 'function') {
    record = addon.cudaSelfTestRecord(family);
    if (record) selfTests.set(family, record);
  }
  return record;
}

/**
 * Records a family's self-test outcome for this context and, where the addon keeps one, for the
 * process; returns the record that holds (another context's, when it recorded first).
 */
export function recordSelfTest(addon: NativeAddon, family: KernelFamily, outcome: SelfTestRecord): SelfTestRecord {
  let record = outcome;
  if (typeof addon.cudaSelfTestRecord === 'function') record = addon.cudaSelfTestRecord(family, record.passed, record.reason) ?? record;
  selfTests.set(family, record);
  return record;
}

/** The recorded self-test of a family (never runs it): null when no context has run it yet. */
export function cudaSelfTestRecord(family: KernelFamily): SelfTestRecord | null {
  const { addon } = native();
  return addon ? (storedSelfTest(addon, family) ?? null) : null;
}

/** The addon, for a backend resolveBackend() returned as 'cpu' or 'cuda'. */
export function addon(): NativeAddon {
  const { addon: loaded } = native();
  if (!loaded) throw backendError('native addon not loaded');
  return loaded;
}

/**
 * Internal, for tests only (not exported by the package): forget the loaded addon, the CUDA probe
 * and this context's self-test records; then load from `root` (default: the package), or use
 * `addon` as if it had loaded from `binary`.
 */
export function resetNativeForTesting(options: { root?: string; addon?: NativeAddon; binary?: string } = {}): void {
  searchRoot = options.root ?? packageRoot;
  state = options.addon ? { addon: options.addon, binary: options.binary ?? '(test addon)', loadError: null } : null;
  cudaCache = null;
  selfTests.clear();
}
