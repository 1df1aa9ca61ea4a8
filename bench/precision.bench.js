'use strict';
// npm run bench:precision: marginSoftmax forward + backward, and pairLoss (multi-similarity miner +
// multi-similarity loss + gradients, cosine: bench/pairs.bench.js's 'ms' workload) on the native CPU
// backend with precision 'fp32', 'tf32' and 'bf16' (docs/spec/precision.md), in one run,
// interleaved, median of --runs; prints ms per call and the ratio to fp32, and the loss's relative
// change.  Without a gemm that uses AVX512_BF16 the reduced precisions cost the rounding passes
// (and, for the margin kernel, a normalized copy of the weights), no GEMM time is saved; the ratio
// shows that overhead (or, with one, the gain).
//   node bench/precision.bench.js [--rows 256] [--classes 50000] [--dim 512] [--runs 5]
//                                 [--pairs-sizes 1024x1024,512x65536] [--pairs-dim 128] [--no-margin] [--no-pairs]
const { loadFusedloss, machineInfo, median, nowSeconds, seededNormal, table, fixed } = require('./common');

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? process.argv[at + 1] : fallback;
}
const flag = (name) => process.argv.includes(`--${name}`);

const runs = Number(option('runs', 5));
const fusedloss = loadFusedloss();
const normal = seededNormal(7);
const PRECISIONS = ['fp32', 'tf32', 'bf16'];

/** call(precision) → loss, timed at each precision in turn, `runs` rounds; the table. */
function comparePrecisions(title, call) {
  const times = Object.fromEntries(PRECISIONS.map((p) => [p, []]));
  const losses = {};
  for (const precision of PRECISIONS) losses[precision] = call(precision);  // warm-up
  for (let run = 0; run < runs; run++) {
    for (const precision of PRECISIONS) {
      const start = nowSeconds();
      losses[precision] = call(precision);
      times[precision].push(nowSeconds() - start);
    }
  }
  const base = median(times.fp32);
  console.log(`\n${title}, cpu, median of ${runs} (calls alternating)`);
  console.log(table(['precision', 'ms', 'ratio to fp32', 'loss', 'loss change'], PRECISIONS.map((p) => [
    p, fixed(median(times[p]) * 1e3, 1), fixed(median(times[p]) / base, 3), losses[p].toPrecision(7),
    (Math.abs(losses[p] - losses.fp32) / Math.abs(losses.fp32)).toExponential(2),
  ])));
}

const matrix = (rows, dim) => ({ data: Float32Array.from({ length: rows * dim }, normal), shape: [rows, dim] });

console.log(JSON.stringify(machineInfo()));
if (!flag('no-margin')) {
  const N = Number(option('rows', 256)), C = Number(option('classes', 50000)), D = Number(option('dim', 512));
  const embeddings = matrix(N, D);
  const weights = matrix(C, D);
  const labels = Int32Array.from({ length: N }, (_, i) => (i * 7919) % C);
  comparePrecisions(`marginSoftmax N=${N} C=${C} D=${D}, forward + backward`,
    (precision) => fusedloss.marginSoftmax({ embeddings, weights, labels, precision, backend: 'cpu' }).loss);
}
if (!flag('no-pairs')) {
  const D = Number(option('pairs-dim', 128));
  for (const size of option('pairs-sizes', '1024x1024,512x65536').split(',')) {
    const [n, m] = size.split('x').map(Number);
    // Four rows a class around a class center (as bench/pairs.bench.js), the batch itself when M = N.
    const classes = Math.max(1, n >> 2);
    const centers = matrix(classes, D).data;
    const rows = (count) => {
      const labels = Int32Array.from({ length: count }, (_, i) => (i >> 2) % classes);
      const data = Float32Array.from({ length: count * D }, (_, k) => centers[labels[Math.floor(k / D)] * D + (k % D)] + 3 * normal());
      return { data: { data, shape: [count, D] }, labels };
    };
    const x = rows(n);
    const base = { embeddings: x.data, labels: x.labels, backend: 'cpu' };
    if (m !== n) {
      const y = rows(m);
      Object.assign(base, { ref: y.data, refLabels: y.labels });
    }
    comparePrecisions(`pairLoss ms (multi-similarity miner + loss + gradients) N=${n} M=${m} D=${D}`,
      (precision) => fusedloss.pairLoss({ ...base, miner: { type: 'multi-similarity', epsilon: 0.1 }, loss: { type: 'multi-similarity' }, precision }).loss);
  }
}
