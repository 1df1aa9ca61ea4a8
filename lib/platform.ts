// The Node.js platform (lib/platform-types.ts): the addon found by node-gyp-build in the package
// folder (or FUSEDLOSS_ADDON_PATH), FUSEDLOSS_BACKEND, setImmediate, process warnings, the version
// from package.json and util.types.  The browser build uses lib/platform.browser.ts instead.
import { constants as bufferConstants } from 'node:buffer';
import * as path from 'node:path';
import { types } from 'node:util';

import { firstLine } from './errors';
import { packageRoot, packageVersion } from './package-root';
import type { AddonLoad, NativeAddon, Platform } from './platform-types';
import { wasmStatus } from './wasm/loader';

/** The backend 'auto' falls back to without the addon, as the load messages name it. */
function serving(): string {
  return wasmStatus().available ? 'The WebAssembly backend is serving.' : 'The TypeScript backend is serving.';
}

function loadAddon(root: string | undefined): AddonLoad {
  if (process.env.FUSEDLOSS_BACKEND === 'js') {
    return { addon: null, binary: null, loadError: 'not loaded: FUSEDLOSS_BACKEND=js' };
  }
  const searchRoot = root ?? packageRoot;
  const where = `${process.platform}-${process.arch} (Node ${process.versions.node}, Node-API ${process.versions.napi})`;
  let binary: string;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const nodeGypBuild = require('node-gyp-build') as { path(dir: string): string };
    // FUSEDLOSS_ADDON_PATH: one given binary instead of the package's (the sanitizer build); a
    // test's own root still wins.
    const forced = root === undefined ? process.env.FUSEDLOSS_ADDON_PATH : undefined;
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

export const platform: Platform = {
  loadAddon,
  backendOverride: () => process.env.FUSEDLOSS_BACKEND,
  nextTurn: () => new Promise((resolve) => setImmediate(resolve)),
  warn: (message, code) => process.emitWarning(message, { type: 'FusedlossWarning', code }),
  version: packageVersion,
  maxArrayLength: bufferConstants.MAX_LENGTH,
  isSharedArrayBuffer: (value) => types.isSharedArrayBuffer(value),
  isArrayBuffer: (value) => types.isArrayBuffer(value),
  isProxy: (value) => types.isProxy(value),
};
