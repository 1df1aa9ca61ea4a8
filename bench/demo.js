'use strict';
// `npm run demo`: score a synthetic 51-member ensemble forecast on a 1.25° lat-lon grid with
// latitude weights, on every backend available here, with all three CRPS estimators.
// Deterministic (seeded), runs in a few seconds on a 2-core machine.

const common = require('./common');

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
  console.log(`\nTimes are medians of 3 runs after a warm-up; total demo time ${((common.nowSeconds() - start) * 1e3).toFixed(0)} ms.`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
