// The native addon, as the platform loads it (lib/platform.ts finds it in Node.js; the browser
// has none).  The addon is loaded on first use (never at import), CUDA is probed on
// first use too, and a failure to load is recorded, not thrown: the TypeScript fallback then
// serves and backendInfo().loadError says what was tried and why.  The records of the CUDA
// self-tests live here too; running them and choosing a backend is lib/dispatch.ts's.
import { backendError } from './errors';
import { platform } from './platform';
import type { AddonLoad, NativeAddon, NativeCudaInfo, SelfTestRecord } from './platform-types';

export type { NativeAddon, NativeCudaInfo, SelfTestRecord } from './platform-types';

/** A kernel family: the unit that is trusted on CUDA (or not) as a whole. */
export type KernelFamily = 'crps' | 'marginSoftmax' | 'pairs';
export const KERNEL_FAMILIES: readonly KernelFamily[] = ['crps', 'marginSoftmax', 'pairs'];
export type ResolvedBackend = 'cuda' | 'cpu' | 'wasm' | 'js';

let state: AddonLoad | null = null;
/** The package folder the addon is loaded from; undefined: the package's own (the platform's to find). */
let searchRoot: string | undefined;

export function native(): AddonLoad {
  if (!state) state = platform.loadAddon(searchRoot);
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
  searchRoot = options.root;
  state = options.addon ? { addon: options.addon, binary: options.binary ?? '(test addon)', loadError: null } : null;
  cudaCache = null;
  selfTests.clear();
}
