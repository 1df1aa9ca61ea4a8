// backendInfo() and setThreads(): what this process can run on, and the native thread count.
import { invalidArg, optionError } from './errors';
import { cudaInfo, native } from './native';
import { packageVersion as version } from './package-root';

/** What this process can run on: the result of backendInfo(). */
export interface BackendInfo {
  /** A native addon is loaded (native CPU backend available). */
  native: boolean;
  /** Path of the loaded addon, or null. */
  binary: string | null;
  /** Why no addon loaded (platform, paths tried, error), or null. */
  loadError: string | null;
  /** The CUDA backend (probed on first use). */
  cuda: {
    /** CUDA can run here: the addon was built with CUDA and a device is present. */
    available: boolean;
    /** Why CUDA is not available (no CUDA in this build, no device, the CUDA error, or the addon's loadError); null when it is. */
    reason: string | null;
    /** The CUDA devices found (empty without CUDA). */
    devices: {
      /** CUDA device ordinal. */
      index: number;
      /** Device name, as the CUDA runtime reports it. */
      name: string;
      /** Compute capability 'major.minor', e.g. '9.0'. */
      computeCapability: string;
      /** Global memory, in bytes. */
      totalMemory: number;
    }[];
  };
  /** Instruction set the native CPU kernels run with: 'avx512' | 'avx2' | 'scalar', or null without the addon. */
  simd: string | null;
  /** Native CPU threads (workers + caller); 1 without the addon. */
  threads: number;
  /** This package's version (from its package.json). */
  version: string;
}


/** What this process can run on: the native addon, CUDA devices, SIMD level, thread count and version. */
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
