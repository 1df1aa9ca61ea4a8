'use strict';
// The GEMM-limit table of bench/margin.bench.js (issue 14.1): the API call against NumPy on the same
// inputs in the same run — numpy's sgemm of the same [N, D]·[D, C] shape (our 6NCD rate ≥ 0.85× its
// 2NCD rate) and the unfused NumPy form (bench/numpy_margin_unfused.py: ≥ 1.5× faster), OpenBLAS
// unpinned, rounds alternating an API child (margin.bench.js --child) and a NumPy child.

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const common = require('./common');
const { flopsOf, makeInputs, apiBytes } = require('./margin_inputs');

const { mib } = common;
const CHILD_SCRIPT = path.join(__dirname, 'margin.bench.js');

/** Issue 14 point 1, at these sizes: our 6NCD rate ≥ 0.85× numpy sgemm's, and ≥ 1.5× faster than the unfused NumPy form. */
const LIMIT_SIZES = [{ n: 1024, c: 100000 }, { n: 256, c: 50000 }];
const SGEMM_RATE_TARGET = 0.85;
const UNFUSED_NUMPY_TARGET = 1.5;

/** bench/numpy_margin_unfused.py on the inputs under `prefix`: the unfused NumPy form and sgemm, alternating. */
function runNumpyUnfused(size, d, threads, prefix, runs) {
  const script = path.join(__dirname, 'numpy_margin_unfused.py');
  const args = [script, '--n', size.n, '--d', d, '--c', size.c, '--threads', threads, '--inputs', prefix, '--runs', runs].map(String);
  const run = spawnSync('python3', args, { encoding: 'utf8', maxBuffer: 16 << 20, timeout: 20 * 60 * 1000, env: common.numpyEnvironment() });
  if (run.error || run.status !== 0) return { failed: `numpy_margin_unfused.py failed: ${run.error ? run.error.message : run.stderr.trim().split('\n').slice(-2).join(' / ')}` };
  return JSON.parse(run.stdout);
}

/**
 * Issue 14.1 at one size: `rounds` times an API child (3 timed calls after its warm-up) then a NumPy
 * child (3 unfused calls and 3 sgemm alternating) on the same inputs; medians over all rounds' calls.
 */
function measureGemmLimit(size, d, threads, rounds) {
  const entry = { n: size.n, c: size.c, d, rounds, loadBefore: +os.loadavg()[0].toFixed(2), api: [], numpy: [] };
  const memory = common.memoryAllows(apiBytes(size, d) + 4 * (3 * size.n * size.c + 2 * (size.n + size.c) * d));
  if (!memory.ok) return { ...entry, skipped: `memory: ${memory.note}` };
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'fusedloss-margin-'));
  const prefix = path.join(directory, 'inputs');
  try {
    const inputs = makeInputs(size.n, size.c, d);
    for (const key of ['embeddings', 'weights', 'labels']) fs.writeFileSync(`${prefix}.${key}`, new Uint8Array(inputs[key].buffer));
    const plan = { minRuns: 3, maxRuns: 3, budgetSeconds: 0 };
    for (let round = 0; round < rounds; round++) {
      const api = common.runBenchChild(CHILD_SCRIPT, { n: size.n, c: size.c, d, backend: 'cpu', plan, fmaSeconds: 0.3 });
      if (api.failed) return { ...entry, failed: `API: ${api.failed}` };
      entry.api.push(api);
      const numpy = runNumpyUnfused(size, d, threads, prefix, 3);
      if (numpy.failed) return { ...entry, failed: numpy.failed };
      entry.numpy.push(numpy);
    }
  } finally {
    fs.rmSync(directory, { recursive: true, force: true });
  }
  const flops = flopsOf(size.n, size.c, d);
  entry.seconds = common.median(entry.api.flatMap((a) => a.seconds));
  entry.gflops = flops / entry.seconds / 1e9;
  entry.sgemmSeconds = common.median(entry.numpy.flatMap((r) => r.sgemmRuns));
  entry.sgemmGflops = (flops / 3) / entry.sgemmSeconds / 1e9;
  entry.unfusedSeconds = common.median(entry.numpy.flatMap((r) => r.unfusedRuns));
  entry.rateOverSgemm = entry.gflops / entry.sgemmGflops;
  entry.speedOverUnfused = entry.unfusedSeconds / entry.seconds;
  // 1.5× the unfused form's speed as a 6NCD rate, and where that stands against the FMA peak.
  entry.gflopsNeeded = (UNFUSED_NUMPY_TARGET * flops) / entry.unfusedSeconds / 1e9;
  entry.fmaPeakGflops = common.median(entry.api.map((a) => a.fmaPeakGflops).filter(Number.isFinite));
  entry.lossRelDiff = Math.abs(entry.api[0].loss - entry.numpy[0].loss) / Math.abs(entry.numpy[0].loss);
  entry.extraBeyondOutputsBytes = Math.max(...entry.api.map((a) => a.peakExtraBytes - a.outputBytes));
  entry.loadAfter = +os.loadavg()[0].toFixed(2);
  entry.blas = entry.numpy[0].blas;
  entry.numpyEnv = entry.numpy[0].openblasEnv;
  return entry;
}

/** a/b as '1.23×', or '—'. */
const ratio = (value, digits = 1) => (Number.isFinite(value) ? `${common.fixed(value, digits)}×` : '—');

function printGemmLimitTable(entries, threads) {
  console.log(`\nAt the GEMM limit (issue 14.1): API vs NumPy on the same inputs, OpenBLAS unpinned, ${threads} threads; medians over all rounds' calls:`);
  console.log(common.table(['N', 'C', 'rounds×calls', 'ours s', 'ours GFLOP/s (6NCD)', 'sgemm s', 'sgemm GFLOP/s (2NCD)', `ours/sgemm rate (≥ ${SGEMM_RATE_TARGET})`,
    'unfused numpy s', `speed vs unfused (≥ ${UNFUSED_NUMPY_TARGET}×)`, 'GFLOP/s needed for it', 'FMA peak', 'loss rel. diff', 'extra MiB beyond outputs', 'load before/after'], entries.map((e) => {
    if (e.failed || e.skipped) return [e.n, common.si(e.c), e.failed ? `failed: ${e.failed}` : e.skipped, ...Array(12).fill('—')];
    return [e.n, common.si(e.c), `${e.rounds}×3`, common.fixed(e.seconds, 3), common.fixed(e.gflops, 1), common.fixed(e.sgemmSeconds, 3), common.fixed(e.sgemmGflops, 1),
      ratio(e.rateOverSgemm, 2), common.fixed(e.unfusedSeconds, 3), ratio(e.speedOverUnfused, 2), common.fixed(e.gflopsNeeded, 0), common.fixed(e.fmaPeakGflops, 0),
      e.lossRelDiff.toExponential(2), mib(e.extraBeyondOutputsBytes), `${common.fixed(e.loadBefore, 1)}/${common.fixed(e.loadAfter, 1)}`];
  })));
  const first = entries.find((e) => e.blas);
  if (first) console.log(`NumPy: ${first.blas}, OPENBLAS_* pinning ${Object.keys(first.numpyEnv || {}).length ? `still set: ${JSON.stringify(first.numpyEnv)}` : 'unset'}; unfused = bench/numpy_margin_unfused.py (logits materialized, 3 sgemm).`);
}

module.exports = { LIMIT_SIZES, SGEMM_RATE_TARGET, UNFUSED_NUMPY_TARGET, measureGemmLimit, printGemmLimitTable, ratio };
