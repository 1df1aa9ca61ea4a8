// Finding the native addon and choosing a backend.  The addon is loaded on first use (never at
// import), CUDA is probed on first use too, and a failure to load is recorded, not thrown: the
// TypeScript fallback then serves and backendInfo().loadError says what was tried and why.
import * as path from 'node:path';

import { backendError, optionError } from './errors';
import { packageRoot } from './package-root';
import { BACKENDS, type Backend } from './validate';

export type ResolvedBackend = 'cuda' | 'cpu' | 'js';

export interface NativeCudaInfo {
  built: boolean;
  available: boolean;
  reason: string | null;
  devices: { index: number; name: string; computeCapability: string; totalMemory: number }[];
}

/** The addon's surface; kernels add their own functions (see each lib/<kernel>.ts). */
export interface NativeAddon {
  runtimeInfo(): { simd: string; threads: number; cores: number };
  cudaInfo(): NativeCudaInfo;
  setThreads(n: number): void;
  [kernel: string]: unknown;
}


interface LoadState {
  addon: NativeAddon | null;
  binary: string | null;
  loadError: string | null;
}

let state: LoadState | null = null;

function load(): LoadState {
  if (process.env.FUSEDLOSS_BACKEND === 'js') {
    return { addon: null, binary: null, loadError: 'not loaded: FUSEDLOSS_BACKEND=js' };
  }
  let binary: string | null = null;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const nodeGypBuild = require('node-gyp-build') as { path(dir: string): string };
    binary = nodeGypBuild.path(packageRoot);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const addon = require(binary) as NativeAddon;
    return { addon, binary, loadError: null };
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return {
      addon: null,
      binary: null,
      loadError:
        `no native addon loaded for ${process.platform}-${process.arch} (Node ${process.versions.node}, ` +
        `Node-API ${process.versions.napi}); looked in ${path.join(packageRoot, 'build', 'Release')} and ` +
        `${path.join(packageRoot, 'prebuilds')}${binary ? ` and failed to load ${binary}` : ''}: ${reason}. ` +
        'The TypeScript backend is serving. To build the addon, install cmake and a C++17 compiler ' +
        '(nvcc for CUDA) and run `npm rebuild fusedloss`.',
    };
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

function defaultBackend(): Backend {
  const forced = process.env.FUSEDLOSS_BACKEND;
  if (forced === undefined || forced === '') return 'auto';
  if (!(BACKENDS as readonly string[]).includes(forced)) {
    throw optionError(`FUSEDLOSS_BACKEND = '${forced}' is not one of ${BACKENDS.join(', ')}`);
  }
  return forced as Backend;
}

/**
 * The backend a call runs on.  An explicit per-call backend wins; 'auto' (the default) follows
 * FUSEDLOSS_BACKEND when set, else CUDA when built and a device is present, else native CPU, else
 * the TypeScript fallback.
 */
export function resolveBackend(requested: Backend): ResolvedBackend {
  const backend = requested === 'auto' ? defaultBackend() : requested;
  const { addon, loadError } = native();
  switch (backend) {
    case 'js':
      return 'js';
    case 'cpu':
      if (!addon) throw backendError(`backend 'cpu' is not available: ${loadError}`);
      return 'cpu';
    case 'cuda': {
      if (!addon) throw backendError(`backend 'cuda' is not available: ${loadError}`);
      const cuda = cudaInfo();
      if (!cuda.available) throw backendError(`backend 'cuda' is not available: ${cuda.reason}`);
      return 'cuda';
    }
    default:
      if (addon && cudaInfo().available) return 'cuda';
      return addon ? 'cpu' : 'js';
  }
}

/** The addon, for a backend resolveBackend() returned as 'cpu' or 'cuda'. */
export function addon(): NativeAddon {
  const { addon: loaded } = native();
  if (!loaded) throw backendError('native addon not loaded');
  return loaded;
}
