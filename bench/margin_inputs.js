'use strict';
// The margin benches' inputs (bench/margin.bench.js's children, and through files NumPy's in
// bench/margin_limit.js) and their sizes.

const { MiB } = require('./common');

/** Flops of one forward + backward call: one N×D·D×C product forward, two for the gradients. */
const flopsOf = (n, c, d) => 6 * n * c * d;

/** xorshift32 uniform in [-0.5, 0.5): a fast fill for the 2 GiB weights of C = 1M. */
function fillUniform(array, seed) {
  let s = seed >>> 0 || 1;
  for (let i = 0; i < array.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    array[i] = (s >>> 0) * 2.3283064365386963e-10 - 0.5;
  }
}

/** The inputs of size N×C×D: the API children's and, through files, the NumPy baseline's. */
function makeInputs(n, c, d) {
  const embeddings = new Float32Array(n * d);
  const weights = new Float32Array(c * d);
  const labels = new Int32Array(n);
  fillUniform(embeddings, 17 + n);
  fillUniform(weights, 91 + c);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    labels[i] = s % c;
  }
  return { embeddings, weights, labels };
}

/** The native CPU kernel's default workMemory for [C, D] weights (marginCpuDefaultWorkBytes, native/kernels/margin.h). */
function cpuWorkBytes({ c }, d) {
  return Math.min(Math.max(4 * c * d, 64 * MiB), 1024 * MiB);
}

/** Bytes the API child needs: inputs, returned gradients, the kernel's normalized copies, slack. */
function apiBytes({ n, c }, d) {
  return 4 * 3 * (n + c) * d + cpuWorkBytes({ c }, d) + 256 * MiB;
}


module.exports = { flopsOf, fillUniform, makeInputs, apiBytes, cpuWorkBytes };
