// The embedded kernel module in the browser build: no require and no file to fetch, so
// scripts/build-ts.js replaces the marked line below in dist/browser with the generated module
// (lib/wasm/generated/, npm run build:wasm), or leaves null where that was not built.
import type { GeneratedModule } from './host-types';

export type { GeneratedModule } from './host-types';

const generated = null as GeneratedModule | null; // FUSEDLOSS_EMBEDDED_WASM

/** The embedded module; throws when this copy of fusedloss was built without emcc. */
export function embeddedModule(): GeneratedModule {
  if (!generated) throw new Error('dist/browser was built before npm run build:wasm');
  return generated;
}
