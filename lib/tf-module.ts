// @tensorflow/tfjs as fusedloss/tfjs loads it in Node.js: required on the first loss call, so the
// optional peer dependency is needed only by those who use it.  The browser build imports it
// instead (lib/tf-module.browser.ts).

/** The @tensorflow/tfjs namespace; throws the loader's error when it is not installed. */
export function loadTfModule(): unknown {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('@tensorflow/tfjs');
}
