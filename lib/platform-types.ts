// The platform seam: what the kernels' core (dispatch, the adapters, backendInfo) needs from the
// JavaScript host it runs on.  lib/platform.ts is Node.js's (the native addon, environment
// variables, package.json's version); lib/platform.browser.ts is the browser build's (no addon;
// tsconfig.browser.json's moduleSuffixes pick it in place of platform.ts).  Each states its type
// as Platform, so the two cannot drift.

/** A CUDA device as the addon reports it, and whether CUDA can run. */
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

/** The addon's surface; kernels add their own functions (see each lib/<family>/native.ts). */
export interface NativeAddon {
  runtimeInfo(): { simd: string; threads: number; cores: number };
  cudaInfo(): NativeCudaInfo;
  setThreads(n: number): void;
  /** Process-wide record of the self-tests (shared by worker threads); absent in older builds. */
  cudaSelfTestRecord?(family: string, passed?: boolean, reason?: string | null): SelfTestRecord | undefined;
  [kernel: string]: unknown;
}

/** The outcome of loading the addon: the addon and its file, or why there is none. */
export interface AddonLoad {
  addon: NativeAddon | null;
  binary: string | null;
  loadError: string | null;
}

/** What the core asks of its host. */
export interface Platform {
  /**
   * Loads the native addon from the package folder `root` (undefined: the package's own) or
   * says why none loaded.  Never throws.
   */
  loadAddon(root: string | undefined): AddonLoad;
  /** The backend the environment forces (FUSEDLOSS_BACKEND), or undefined. */
  backendOverride(): string | undefined;
  /** Resolves after the host has run its other pending tasks (the async 'js' backend yields once). */
  nextTurn(): Promise<void>;
  /** Reports a problem the caller did not cause (a broken addon, a failed CUDA self-test), once per call. */
  warn(message: string, code: string): void;
  /** This package's version, as in its package.json. */
  version: string;
  /** The most elements one typed array may hold on this host. */
  maxArrayLength: number;
  /** Whether a value is a SharedArrayBuffer (another thread may write it at any time). */
  isSharedArrayBuffer(value: unknown): boolean;
  /** Whether a value is an ArrayBuffer (not shared). */
  isArrayBuffer(value: unknown): boolean;
  /** Whether a value is a Proxy (false where the host cannot tell). */
  isProxy(value: unknown): boolean;
}
