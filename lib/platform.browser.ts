// The browser platform (lib/platform-types.ts), which the browser build (tsconfig.browser.json)
// compiles in place of lib/platform.ts: no native addon ('cpu' and 'cuda' refuse with this
// reason), no environment variables, a MessageChannel turn for yielding, console warnings, and the
// version that scripts/build-ts.js writes in from package.json.  Uses nothing but the web
// platform, so it runs in pages and workers without a bundler.
import type { Platform } from './platform-types';

const NO_ADDON =
  "no native addon in the browser: the browser build of fusedloss runs the 'js' backend (backends 'cpu' and 'cuda' need Node.js)";

/** A built-in getter, captured at load, that throws unless `this` is of its class (a brand check no caller code can fool). */
function brandCheck(constructor: { prototype: object } | undefined): (value: unknown) => boolean {
  const get = constructor && Reflect.getOwnPropertyDescriptor(constructor.prototype, 'byteLength')?.get;
  return (value) => {
    if (!get || typeof value !== 'object' || value === null) return false;
    try {
      get.call(value);
      return true;
    } catch {
      return false;
    }
  };
}

/** A MessagePort as the web platform has it (typed here: Node.js's types, which tsconfig.test.json checks this file with, lack onmessage). */
interface Port {
  onmessage: (() => void) | null;
  postMessage(message: null): void;
  close(): void;
}

// SharedArrayBuffer is undefined in a page that is not cross-origin isolated: then no memory is shared.
const sharedArrayBuffer = (globalThis as { SharedArrayBuffer?: { prototype: object } }).SharedArrayBuffer;

export const platform: Platform = {
  loadAddon: () => ({ addon: null, binary: null, loadError: NO_ADDON }),
  backendOverride: () => undefined,
  // A message to ourselves runs after the tasks already queued, without setTimeout's clamping of
  // nested timers (a loop of awaited calls would wait 4 ms each).
  nextTurn: () =>
    new Promise((resolve) => {
      const { port1, port2 } = new MessageChannel() as unknown as { port1: Port; port2: Port };
      port1.onmessage = () => {
        port1.close();
        resolve();
      };
      port2.postMessage(null);
    }),
  warn: (message, code) => console.warn(`${code}: ${message}`),
  // Replaced by scripts/build-ts.js with package.json's version (it fails the build if absent).
  version: '__FUSEDLOSS_PACKAGE_VERSION__',
  // The engine refuses larger arrays itself; every shape is still checked against this.
  maxArrayLength: Number.MAX_SAFE_INTEGER,
  isSharedArrayBuffer: brandCheck(sharedArrayBuffer),
  isArrayBuffer: brandCheck(ArrayBuffer),
  // A page cannot tell a Proxy from its target: a Proxy around an array is read as an array, each
  // element still exactly once (lib/read-once.ts), and messages call it an Array.
  isProxy: () => false,
};
