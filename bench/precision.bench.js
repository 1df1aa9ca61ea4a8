'use strict';
// npm run bench:precision: marginSoftmax forward + backward on the native CPU backend with
// precision 'fp32', 'tf32' and 'bf16' (docs/spec/precision.md), in one run, interleaved, median of
// --runs; prints ms per call and the ratio to fp32, and the loss's relative change.  Without a
// gemm that uses AVX512_BF16 the reduced precisions cost a normalized copy of the weights and
// the rounding passes, no GEMM time is saved; the ratio shows that overhead (or, with one, the gain).
//   node bench/precision.bench.js [--rows 256] [--classes 50000] [--dim 512] [--runs 5]
const { loadFusedloss, machineInfo, median, nowSeconds, seededNormal, table, fixed } = require('./common');

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
}

const N = option('rows', 256), C = option('classes', 50000), D = option('dim', 512), runs = option('runs', 5);
const { marginSoftmax } = loadFusedloss();
const normal = seededNormal(7);
const embeddings = { data: Float32Array.from({ length: N * D }, normal), shape: [N, D] };
const weights = { data: Float32Array.from({ length: C * D }, normal), shape: [C, D] };
const labels = Int32Array.from({ length: N }, (_, i) => (i * 7919) % C);
const PRECISIONS = ['fp32', 'tf32', 'bf16'];
const times = Object.fromEntries(PRECISIONS.map((p) => [p, []]));
const losses = {};
for (let run = 0; run < runs; run++) {
  for (const precision of PRECISIONS) {
    const start = nowSeconds();
    const result = marginSoftmax({ embeddings, weights, labels, precision, backend: 'cpu' });
    times[precision].push(nowSeconds() - start);
    losses[precision] = result.loss;
  }
}
const base = median(times.fp32);
console.log(JSON.stringify(machineInfo()));
console.log(`marginSoftmax N=${N} C=${C} D=${D}, cpu, forward + backward, median of ${runs}`);
console.log(table(['precision', 'ms', 'ratio to fp32', 'loss', 'loss change'], PRECISIONS.map((p) => [
  p, fixed(median(times[p]) * 1e3, 1), fixed(median(times[p]) / base, 3), losses[p].toPrecision(7),
  (Math.abs(losses[p] - losses.fp32) / Math.abs(losses.fp32)).toExponential(2),
])));
