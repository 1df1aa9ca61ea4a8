// The embedded kernel module as Node.js finds it: lib/wasm/generated/fusedloss-wasm.js, written by
// npm run build:wasm (scripts/build-wasm.js) and copied into dist/cjs by scripts/build-ts.js.  The
// browser build uses embedded.browser.ts, which build-ts fills in instead.
import type { GeneratedModule } from './host-types';

export type { GeneratedModule } from './host-types';

/** The embedded module; throws when this copy of fusedloss was built without emcc. */
export function embeddedModule(): GeneratedModule {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('./generated/fusedloss-wasm.js') as GeneratedModule;
}
