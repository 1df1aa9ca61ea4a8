// backendInfo() and setThreads(): what this process can run on, and the native thread count.
import { invalidArg, optionError } from './errors';
import { cudaInfo, native } from './native';
import { packageVersion as version } from './package-root';

export interface BackendInfo {
  /** A native addon is loaded (native CPU backend available). */
  native: boolean;
  /** Path of the loaded addon, or null. */
  binary: string | null;
  /** Why no addon loaded (platform, paths tried, error), or null. */
  loadError: string | null;
  cuda: { available: boolean; reason: string | null; devices: { index: number; name: string; computeCapability: string; totalMemory: number }[] };
  /** Instruction set the native CPU kernels run with: 'avx512' | 'avx2' | 'scalar', or null without the addon. */
  simd: string | null;
  /** Native CPU threads (workers + caller). */
  threads: number;
  version: string;
}


export function backendInfo(): BackendInfo {
  const { addon, binary, loadError } = native();
  const cuda = cudaInfo();
  const runtime = addon ? addon.runtimeInfo() : null;
  return {
    native: addon !== null,
    binary,
    loadError,
    cuda: { available: cuda.available, reason: cuda.reason, devices: cuda.devices },
    simd: runtime ? runtime.simd : null,
    threads: runtime ? runtime.threads : 1,
    version,
  };
}

/** Sets the native CPU thread count (FUSEDLOSS_THREADS sets the initial one). Results do not depend on it. */
export function setThreads(threads: number): void {
  if (typeof threads !== 'number') throw invalidArg('threads must be a number');
  if (!Number.isInteger(threads) || threads < 1 || threads > 1024) throw optionError(`threads = ${threads} must be an integer in [1, 1024]`);
  const { addon } = native();
  if (addon) addon.setThreads(threads);
}
