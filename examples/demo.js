'use strict';
// `npm run demo`: score a synthetic 51-member ensemble forecast on a 1.25° lat-lon grid with
// latitude weights, on every backend available here, with all three CRPS estimators; then one
// ArcFace training step (marginSoftmax with gradients) over 100,000 classes; then pair mining
// and pair losses of a batch against a 65,536-entry memory bank (examples/demo-pairs.js).
// Deterministic (seeded), runs in a few seconds on a 2-core machine.
// `node examples/demo.js --unfused` also runs bench/margin_cpu_bench (if built) at the ArcFace size
// for a measured fused-vs-unfused comparison (a few seconds more).

const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const common = require('../bench/common');
const { memoryBankStep } = require('./demo-pairs');

const GRID_DEGREES = 1.25;
const MEMBERS = 51;
const SEED = 42;
const ESTIMATORS = [
  { label: 'standard', options: { estimator: 'standard' } },
  { label: 'fair', options: { estimator: 'fair' } },
  { label: 'almost-fair α=0.95', options: { estimator: 'almost-fair', alpha: 0.95 } },
];

/** Regular grid: latitudes 90..-90 (rows), longitudes 0..360 exclusive (columns), in radians. */
function makeGrid(degrees) {
  const rows = Math.round(180 / degrees) + 1;
  const columns = Math.round(360 / degrees);
  const lat = new Float64Array(rows).map((_, i) => ((90 - i * degrees) * Math.PI) / 180);
  const lon = new Float64Array(columns).map((_, j) => (j * degrees * Math.PI) / 180);
  return { rows, columns, points: rows * columns, lat, lon };
}

/** A smooth temperature-like "truth" (K): equator-to-pole gradient plus a few waves. */
function truthAt(lat, lon) {
  return 250 + 40 * Math.cos(lat) ** 2 + 6 * Math.cos(lat) * Math.sin(3 * lon) + 3 * Math.sin(2 * lat) * Math.cos(2 * lon + 1) + 1.5 * Math.sin(5 * lon + 4 * lat);
}

/**
 * Ensemble in the layout [member, lat, lon] (memberAxis 0, members strided as in anemoi), a smooth
 * forecast bias, spread growing towards the poles; observations = truth + measurement noise.
 */
function makeForecast(grid) {
  const normal = common.seededNormal(SEED);
  const { points } = grid;
  const ensemble = new Float32Array(MEMBERS * points);
  const observations = new Float32Array(points);
  const weights = new Float32Array(points);
  for (let i = 0; i < grid.rows; i++) {
    const lat = grid.lat[i];
    const spread = 0.6 + 2.4 * Math.abs(Math.sin(lat));
    for (let j = 0; j < grid.columns; j++) {
      const lon = grid.lon[j];
      const p = i * grid.columns + j;
      const truth = truthAt(lat, lon);
      const centre = truth + 0.4 * Math.cos(lat) * Math.sin(lon) + spread * 0.7 * normal();
      for (let k = 0; k < MEMBERS; k++) ensemble[k * points + p] = centre + spread * normal();
      observations[p] = truth + 0.3 * normal();
      weights[p] = Math.max(0, Math.cos(lat));
    }
  }
  return { ensemble, observations, weights };
}

function availableBackends(info) {
  const backends = [];
  if (info.cuda.available) backends.push('cuda');
  if (info.native) backends.push('cpu');
  backends.push('js');
  return backends;
}

function norm2(values) {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i] * values[i];
  return Math.sqrt(sum);
}

async function main() {
  const fusedloss = common.loadFusedloss();
  const info = fusedloss.backendInfo();
  const grid = makeGrid(GRID_DEGREES);
  const machine = common.machineInfo();

  console.log(`fusedloss demo: CRPS of a synthetic ${MEMBERS}-member ensemble forecast on a ${GRID_DEGREES}° lat-lon grid`);
  console.log(`(${grid.rows} × ${grid.columns} = ${grid.points.toLocaleString('en-US')} points, cos(lat) weights, seeded data), scored on every backend available here.`);
  console.log(common.describeBackends(info));
  console.log(`Machine: ${machine.cpuModel}, ${machine.logicalCores} logical cores\n`);

  const start = common.nowSeconds();
  const { ensemble, observations, weights } = makeForecast(grid);
  console.log(`Data generated in ${((common.nowSeconds() - start) * 1e3).toFixed(0)} ms: ensemble [${MEMBERS}, ${grid.rows}, ${grid.columns}] (memberAxis 0), observations [${grid.rows}, ${grid.columns}]\n`);

  const inputs = {
    ensemble: { data: ensemble, shape: [MEMBERS, grid.rows, grid.columns] },
    observations: { data: observations, shape: [grid.rows, grid.columns] },
    weights,
    memberAxis: 0,
  };
  const backends = availableBackends(info);
  const rows = [];
  const means = {};
  for (const { label, options } of ESTIMATORS) {
    means[label] = {};
    for (const backend of backends) {
      const timing = await common.timeRuns(() => fusedloss.crps({ ...inputs, ...options, backend }), { warmup: 1, minRuns: 3, maxRuns: 3 });
      means[label][backend] = timing.last.mean;
      const reference = means[label][backends[0]];
      rows.push([label, timing.last.backend, timing.last.mean.toFixed(6), (timing.median * 1e3).toFixed(2), Math.abs(timing.last.mean - reference).toExponential(2)]);
    }
  }
  console.log(common.table(['estimator', 'backend', 'weighted mean CRPS (K)', 'time ms', `|Δ mean| vs ${backends[0]}`], rows, ['l', 'l']));

  console.log('\nMax abs difference of the mean between backends:');
  for (const { label } of ESTIMATORS) {
    const values = Object.values(means[label]);
    console.log(`  ${label.padEnd(20)} ${(Math.max(...values) - Math.min(...values)).toExponential(2)}`);
  }
  const first = backends[0];
  const ordered = means.fair[first] <= means['almost-fair α=0.95'][first] && means['almost-fair α=0.95'][first] <= means.standard[first];
  console.log(`Check fair ≤ almost-fair ≤ standard (the standard estimator penalizes a finite ensemble): ${ordered ? 'ok' : 'VIOLATED'}`);

  console.log('\nTraining-loss form: fair CRPS with gradients (∂mean/∂ensemble, ∂mean/∂observations):');
  const gradRows = [];
  for (const backend of backends) {
    const timing = await common.timeRuns(() => fusedloss.crps({ ...inputs, estimator: 'fair', gradients: true, backend }), { warmup: 1, minRuns: 3, maxRuns: 3 });
    const result = timing.last;
    gradRows.push([result.backend, result.mean.toFixed(6), norm2(result.gradEnsemble).toExponential(4), norm2(result.gradObservations).toExponential(4), (timing.median * 1e3).toFixed(2)]);
  }
  console.log(common.table(['backend', 'mean', '‖gradEnsemble‖₂', '‖gradObservations‖₂', 'time ms'], gradRows, ['l']));
  console.log(`\nTimes are medians of 3 runs after a warm-up; CRPS part ${((common.nowSeconds() - start) * 1e3).toFixed(0)} ms.`);

  await arcFaceStep(fusedloss, info);
  await memoryBankStep(fusedloss, info);
  console.log(`\nTotal demo time ${((common.nowSeconds() - start) * 1e3).toFixed(0)} ms.`);
}

// ---- ArcFace: one training step of a face-recognition-sized classifier head ----

const ARC = { rows: 256, dim: 512, classes: 100000, noise: 1.2, seed: 7 };
/** The TypeScript fallback gets a Partial FC subset of this many classes and this many rows. */
const ARC_JS = { rows: 64, classes: 1000 };
const MiB = 2 ** 20;

/** Fast seeded uniform fill in [-0.5, 0.5) (xorshift32): the 51.2M center coordinates in well under a second. */
function fillUniform(array, seed) {
  let state = seed >>> 0 || 1;
  for (let i = 0; i < array.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    array[i] = (state >>> 0) * 2.3283064365386963e-10 - 0.5;
  }
}

/**
 * C class centers, random unit vectors (uniform directions in the cube, normalized: in 512
 * dimensions they are nearly orthogonal, |cos| ≈ 0.04); N labels; each embedding = its class
 * center + isotropic Gaussian noise of norm ≈ `noise` (so cos to its own center ≈ 1/√(1 + noise²)),
 * scaled by a random feature norm in [5, 15) as a backbone's raw features would be.
 */
function makeFaceData({ rows, dim, classes, noise, seed }) {
  const weights = new Float32Array(classes * dim);
  fillUniform(weights, seed);
  for (let j = 0; j < classes; j++) {
    const row = weights.subarray(j * dim, (j + 1) * dim);
    let sum = 0;
    for (let k = 0; k < dim; k++) sum += row[k] * row[k];
    const inv = 1 / Math.sqrt(sum);
    for (let k = 0; k < dim; k++) row[k] *= inv;
  }
  const uniform = common.seededRandom(seed + 1);
  const normal = common.seededNormal(seed + 2);
  const labels = new Int32Array(rows);
  const embeddings = new Float32Array(rows * dim);
  const sigma = noise / Math.sqrt(dim);
  for (let i = 0; i < rows; i++) {
    labels[i] = Math.floor(uniform() * classes);
    const featureNorm = 5 + 10 * uniform();
    for (let k = 0; k < dim; k++) embeddings[i * dim + k] = featureNorm * (weights[labels[i] * dim + k] + sigma * normal());
  }
  return { embeddings, weights, labels };
}

function top1(predictions, labels) {
  let hits = 0;
  for (let i = 0; i < labels.length; i++) hits += predictions[i] === labels[i] ? 1 : 0;
  return hits / labels.length;
}

/** margin_cpu_bench's table rows, if it is built (`--unfused`). */
function measuredUnfused(threads) {
  const root = path.join(__dirname, '..');
  const binary = ['build/margin_cpu_bench', 'build-bench/margin_cpu_bench'].map((p) => path.join(root, p)).find((p) => fs.existsSync(p));
  if (!binary) return { note: 'bench/margin_cpu_bench is not built (`npm run bench:kernel:margin` builds and runs it)' };
  const args = [ARC.rows, ARC.dim, ARC.classes, threads, 1].map(String);
  const run = spawnSync(binary, args, { encoding: 'utf8', timeout: 120000 });
  if (run.error || run.status !== 0) return { note: `${path.relative(root, binary)} failed: ${run.error ? run.error.message : run.stderr.trim()}` };
  const rows = run.stdout.split('\n').filter((line) => /^\| (fused|unfused)/.test(line));
  return { command: `${path.relative(root, binary)} ${args.join(' ')}`, rows };
}

async function arcFaceStep(fusedloss, info) {
  const { rows, dim, classes } = ARC;
  console.log(`\nArcFace (marginSoftmax, m 0.5 rad, s 64, gradients on): N = ${rows} embeddings of width D = ${dim}, C = ${classes.toLocaleString('en-US')} classes`);
  const generated = common.nowSeconds();
  const data = makeFaceData(ARC);
  console.log(`Data generated in ${((common.nowSeconds() - generated) * 1e3).toFixed(0)} ms: class centers = random unit vectors [${classes}, ${dim}] ` +
    `(${(data.weights.byteLength / MiB).toFixed(0)} MiB), embeddings = own center + noise (cos ≈ ${(1 / Math.sqrt(1 + ARC.noise ** 2)).toFixed(2)}) × a feature norm in [5, 15).`);
  const args = { embeddings: { data: data.embeddings, shape: [rows, dim] }, weights: { data: data.weights, shape: [classes, dim] }, labels: data.labels, margin: { type: 'arcface' } };

  const native = info.cuda.available ? 'cuda' : info.native ? 'cpu' : null;
  const unfusedMatrix = 4 * rows * classes; // one materialized float32 N×C matrix
  if (native) {
    const baselineKiB = process.resourceUsage().maxRSS;
    const start = common.nowSeconds();
    const result = fusedloss.marginSoftmax({ ...args, backend: native });
    const seconds = common.nowSeconds() - start;
    const peakExtra = (process.resourceUsage().maxRSS - baselineKiB) * 1024;
    const outputs = result.gradEmbeddings.byteLength + result.gradWeights.byteLength;
    const normalized = 4 * (rows + classes) * dim;
    console.log(common.table(
      ['backend', 'loss', 'top-1 accuracy', 'time ms (one call, cold)', 'GFLOP/s (6·N·C·D)', '‖gradEmbeddings‖₂', '‖gradWeights‖₂'],
      [[result.backend, result.loss.toFixed(4), `${(100 * top1(result.predictions, data.labels)).toFixed(1)} %`, (seconds * 1e3).toFixed(0),
        ((6 * rows * classes * dim) / seconds / 1e9).toFixed(1), norm2(result.gradEmbeddings).toExponential(3), norm2(result.gradWeights).toExponential(3)]],
      ['l'],
    ));
    console.log(`Memory of the fused call: peak RSS ${(peakExtra / MiB).toFixed(0)} MiB over the pre-call peak, of which ${(outputs / MiB).toFixed(0)} MiB are the returned ` +
      `gradients; ${(Math.max(0, peakExtra - outputs) / MiB).toFixed(0)} MiB beyond them (the spec allows normalized copies, ${(normalized / MiB).toFixed(0)} MiB here, + a 64 MiB work buffer).`);
    console.log(`An unfused implementation materializes the N×C logits (${(unfusedMatrix / MiB).toFixed(0)} MiB) and their gradient (${(unfusedMatrix / MiB).toFixed(0)} MiB): ` +
      `${((2 * unfusedMatrix) / MiB).toFixed(0)} MiB on top of the same normalized copies and outputs, growing with N·C (at N = 1024, C = 1M: ${((2 * 4 * 1024 * 1e6) / 2 ** 30).toFixed(1)} GiB); ` +
      'the fused kernel streams the classes and its work buffer stays ≤ 64 MiB whatever N·C.');
    if (process.argv.includes('--unfused')) {
      const measured = measuredUnfused(info.threads);
      if (measured.rows) console.log(`Measured, ${measured.command} (kernel alone, outputs preallocated):\n${common.table(['method', 'time s', 'GFLOP/s (6NCD)', '% of FMA peak', 'peak extra memory MiB'], measured.rows.map((line) => line.split('|').slice(1, -1).map((cell) => cell.trim())), ['l'])}`);
      else console.log(measured.note);
    } else console.log('For a measured fused-vs-unfused comparison at this size: node examples/demo.js --unfused (runs bench/margin_cpu_bench when built).');
  } else console.log('No native backend here: the full-size call is skipped (the TypeScript fallback would take minutes at C = 100,000).');

  // The TypeScript fallback: far too slow for 100,000 classes, so a Partial FC subset (the
  // positives of the first rows plus random other classes) through `classIndices`, on both backends.
  const jsRows = ARC_JS.rows;
  const subsetLabels = data.labels.subarray(0, jsRows);
  const picked = new Set(subsetLabels);
  const uniform = common.seededRandom(ARC.seed + 3);
  while (picked.size < ARC_JS.classes) picked.add(Math.floor(uniform() * classes));
  const classIndices = Int32Array.from(picked);
  const small = { ...args, embeddings: { data: data.embeddings.subarray(0, jsRows * dim), shape: [jsRows, dim] }, labels: subsetLabels, classIndices };
  const smallRows = [];
  for (const backend of native ? [native, 'js'] : ['js']) {
    const start = common.nowSeconds();
    const result = fusedloss.marginSoftmax({ ...small, backend });
    const seconds = common.nowSeconds() - start;
    smallRows.push({ backend: result.backend, loss: result.loss, accuracy: top1(result.predictions, subsetLabels), seconds });
  }
  const js = smallRows[smallRows.length - 1];
  const jsFullSeconds = (js.seconds * (rows * classes)) / (jsRows * ARC_JS.classes);
  console.log(`\nSmaller problem for the TypeScript fallback (Partial FC: classIndices = the ${picked.size.toLocaleString('en-US')} classes of the first ${jsRows} rows' labels + random others):`);
  console.log(common.table(['backend', 'loss', 'top-1 accuracy (within the subset)', 'time ms (one call)'],
    smallRows.map((r) => [r.backend, r.loss.toFixed(6), `${(100 * r.accuracy).toFixed(1)} %`, (r.seconds * 1e3).toFixed(1)]), ['l']));
  if (smallRows.length > 1) console.log(`|Δ loss| native vs js ${Math.abs(smallRows[0].loss - js.loss).toExponential(2)}; native ${(js.seconds / smallRows[0].seconds).toFixed(0)}× faster here.`);
  console.log(`The full-size call on 'js' is skipped: at this rate it would take about ${jsFullSeconds.toFixed(0)} s.`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
