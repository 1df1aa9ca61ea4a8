// backendInfo() and setThreads(): what this process can run on, and the native thread count.
import { invalidArg, optionError } from './errors';
import { cudaInfo, cudaSelfTestRecord, KERNEL_FAMILIES, native, type KernelFamily } from './native';
import { platform } from './platform';
import { wasmStatus } from './wasm/loader';

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
    /** CUDA can run here: the addon was built with CUDA and a device is present (a family then still needs its selfTest to pass). */
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
    /**
     * Per kernel family, its CUDA self-test: small known-answer problems run on CUDA and on the
     * native CPU kernel and compared, once per process at the family's first CUDA use. 'auto'
     * uses CUDA for a family only once it has 'passed' (and never for pairs yet: they run on CUDA
     * only when asked for); after 'failed' it uses the CPU, and an explicit backend 'cuda' throws
     * ERR_FUSEDLOSS_BACKEND with the reason.
     */
    selfTest: Record<KernelFamily, CudaSelfTest>;
  };
  /** The WebAssembly backend ('wasm'): the package's kernels compiled with Emscripten, loaded on first use. */
  wasm: {
    /** The module is in this copy of the package (npm run build:wasm) and this engine compiled it. */
    available: boolean;
    /** Built with SIMD128 (the only build; an engine without SIMD makes the backend unavailable). */
    simd: boolean;
    /**
     * Threads its kernels run on now.  Where the host has SharedArrayBuffer (Node.js; pages that are
     * cross-origin isolated) the threaded module serves: FUSEDLOSS_THREADS (Node.js) or the cores,
     * from when its workers have started (a few milliseconds after the first 'wasm' call; 1 until
     * then).  Elsewhere 1: the single-threaded module.  Either way async calls leave the JavaScript
     * thread, and the results do not depend on the thread count.  setThreads() does not change it.
     */
    threads: number;
    /** Why it is not available (not built into the package, no SIMD128, compile error), or null. */
    reason: string | null;
  };
  /**
   * Instruction set the native CPU kernels run with: 'avx512' | 'avx2' | 'scalar' on x86-64 (the
   * CPU's best, or lower where FUSEDLOSS_SIMD=avx2 or scalar asks), 'neon' on arm64, or null
   * without the addon.
   */
  simd: string | null;
  /** Native CPU threads (workers + caller); 1 without the addon. */
  threads: number;
  /** This package's version (from its package.json). */
  version: string;
}


/** The CUDA self-test of one kernel family (crps; marginSoftmax; pairs: mine and pairLoss). */
export interface CudaSelfTest {
  /** 'untested' until the family's first CUDA use (always without CUDA), then 'passed' or 'failed'. */
  status: 'untested' | 'passed' | 'failed';
  /** Why it failed: the problem and the first output where CUDA and the CPU differ, or the CUDA error; null otherwise. */
  reason: string | null;
}

function selfTests(): Record<KernelFamily, CudaSelfTest> {
  const entries = KERNEL_FAMILIES.map((family): [KernelFamily, CudaSelfTest] => {
    const record = cudaSelfTestRecord(family);
    if (!record) return [family, { status: 'untested', reason: null }];
    return [family, record.passed ? { status: 'passed', reason: null } : { status: 'failed', reason: record.reason }];
  });
  return Object.fromEntries(entries) as Record<KernelFamily, CudaSelfTest>;
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
    cuda: { available: cuda.available, reason: cuda.reason, devices: cuda.devices, selfTest: selfTests() },
    wasm: wasmStatus(),
    simd: runtime ? runtime.simd : null,
    threads: runtime ? runtime.threads : 1,
    version: platform.version,
  };
}

/** Sets the native CPU thread count (FUSEDLOSS_THREADS sets the initial one). Results do not depend on it. */
export function setThreads(threads: number): void {
  if (typeof threads !== 'number') throw invalidArg('threads must be a number');
  if (!Number.isInteger(threads) || threads < 1 || threads > 1024) throw optionError(`threads = ${threads} must be an integer in [1, 1024]`);
  const { addon } = native();
  if (addon) addon.setThreads(threads);
}
