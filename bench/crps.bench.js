'use strict';
// CRPS throughput bench (`npm run bench`): native CPU vs the TypeScript fallback vs NumPy, with a
// memory-copy bandwidth baseline measured in this process.  Not a test: it prints numbers and
// checks them against the targets of the issue.  Usage:
//   node bench/crps.bench.js [--points N] [--members 2,4,16,51] [--quick] [--json FILE] [--no-numpy] [--out-loop]
//                            [--numpy-loop]
// --out-loop runs only the loop case: fair CRPS with gradients at 1M × 4 called back to back
// without awaiting (the event loop never turns), with fresh outputs and with `out`.
// --numpy-loop runs only issue 14's CRPS comparison: fair CRPS at P = 200k, M = 51 (or --points,
// one --members) in a tight synchronous loop writing into caller-owned `out` arrays, with and
// without gradients, against the vectorized NumPy sort form timed in the same run.

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const common = require('./common');

const TARGETS = { nativeOverTs: 20, copyFractionSmallM: 0.5, smallM: 4, nativeOverNumpy: 10 };
// Issue 14, point 3: the tight `out` loop at P = 200k, M = 51 against NumPy's sort form.
const LOOP_TARGETS = { scoresOverNumpy: 10, gradientsOverNumpy: 30 };

function parseArgs(argv) {
  const options = { points: 1e6, members: [2, 4, 16, 51], quick: false, json: path.join(__dirname, 'results', 'crps.json'), numpy: true, outLoop: false, numpyLoop: false };
  let pointsGiven = false;
  let membersGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${flag} needs a value`);
      return argv[++i];
    };
    if (flag === '--points') {
      options.points = Math.round(Number(value()));
      pointsGiven = true;
    } else if (flag === '--members') {
      options.members = value().split(',').map(Number);
      membersGiven = true;
    }
    else if (flag === '--quick') options.quick = true;
    else if (flag === '--json') options.json = path.resolve(value());
    else if (flag === '--no-numpy') options.numpy = false;
    else if (flag === '--out-loop') options.outLoop = true;
    else if (flag === '--numpy-loop') options.numpyLoop = true;
    else if (flag === '--help' || flag === '-h') {
      console.log('node bench/crps.bench.js [--points N] [--members 2,4,16,51] [--quick] [--json FILE] [--no-numpy] [--out-loop] [--numpy-loop]');
      process.exit(0);
    } else throw new Error(`unknown flag ${flag}`);
  }
  if (options.numpyLoop) {
    if (!pointsGiven) {
      options.points = options.quick ? 2e4 : 2e5;
      pointsGiven = true;
    }
    if (!membersGiven) options.members = [51];
    if (options.members.length !== 1) throw new Error('--numpy-loop takes one --members value');
    if (options.json === path.join(__dirname, 'results', 'crps.json')) options.json = path.join(__dirname, 'results', 'crps-numpy-loop.json');
  }
  if (options.quick && !pointsGiven) options.points = 1e5;
  if (!(options.points >= 1)) throw new Error('--points must be a positive integer');
  if (!options.members.every((m) => Number.isInteger(m) && m >= 2)) throw new Error('--members must be integers >= 2');
  options.members.sort((a, b) => a - b);
  return options;
}

/** Run counts: fewer for the slow TypeScript backend at large M, and in --quick mode. */
function runPlan(backend, members, quick) {
  if (quick) return { warmup: 1, minRuns: backend === 'js' ? 1 : 3, maxRuns: 3, budgetSeconds: 2 };
  if (backend === 'js') return members >= 16 ? { warmup: 1, minRuns: 3, maxRuns: 3, budgetSeconds: 0 } : { warmup: 1, minRuns: 5, maxRuns: 5, budgetSeconds: 0 };
  return { warmup: 1, minRuns: 5, maxRuns: 15, budgetSeconds: 10 };
}

/** Bytes one call must move: ensemble + observations read, scores written (+ both gradients). */
function trafficBytes(points, members, gradients) {
  const forward = 4 * (points * members + points + points);
  return gradients ? forward + 4 * (points * members + points) : forward;
}

function makeData(points, members, seed) {
  const normal = common.seededNormal(seed);
  const observations = new Float32Array(points);
  const ensemble = new Float32Array(points * members);
  for (let p = 0; p < points; p++) {
    const centre = normal();
    observations[p] = centre + 0.5 * normal();
    for (let k = 0; k < members; k++) ensemble[p * members + k] = centre + normal();
  }
  return { ensemble, observations };
}

function runNumpy(options, runs, gradients = false) {
  const probe = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return { skipped: 'python3 with numpy not found' };
  const script = path.join(__dirname, 'numpy_crps.py');
  const args = [script, '--points', String(options.points), '--members', options.members.join(','), '--check'];
  if (gradients) args.push('--gradients');
  if (runs) args.push('--runs', String(runs));
  else if (options.quick) args.push('--runs', '2');
  const run = spawnSync('python3', args, { encoding: 'utf8', maxBuffer: 16 << 20, timeout: 30 * 60 * 1000, env: common.numpyEnvironment() });
  if (run.error || run.status !== 0) return { skipped: `numpy_crps.py failed: ${run.error ? run.error.message : run.stderr.trim()}` };
  return JSON.parse(run.stdout);
}

async function benchOneSize(fusedloss, native, options, members) {
  const { points } = options;
  const { ensemble, observations } = makeData(points, members, 1000 + members);
  const copy = common.copyBandwidth(ensemble);
  const rows = [];
  for (const gradients of [false, true]) {
    const call = (backend) => () =>
      fusedloss.crps({ ensemble: { data: ensemble, shape: [points, members] }, observations, estimator: 'fair', gradients, backend });
    const bytes = trafficBytes(points, members, gradients);
    const measure = async (backend) => {
      const timing = await common.timeRuns(call(backend), runPlan(backend, members, options.quick));
      return {
        runs: timing.seconds.length,
        seconds: timing.seconds,
        medianSeconds: timing.median,
        pointsPerSecond: points / timing.median,
        gbPerSecond: bytes / timing.median / 1e9,
        bestPointsPerSecond: points / timing.best,
        mean: timing.last.mean,
      };
    };
    const nativeResult = native ? await measure('cpu') : null;
    const jsResult = await measure('js');
    const meanRelDiff = nativeResult ? Math.abs(nativeResult.mean - jsResult.mean) / Math.abs(jsResult.mean) : NaN;
    rows.push({ members, points, gradients, bytes, copy, native: nativeResult, js: jsResult, meanRelDiffNativeVsJs: meanRelDiff });
    const note = nativeResult ? `native ${common.si(nativeResult.pointsPerSecond)} pts/s` : 'no native';
    console.error(`  M=${members} gradients=${gradients}: ${note}, TS ${common.si(jsResult.pointsPerSecond)} pts/s`);
  }
  return rows;
}

/**
 * A training loop's pattern: `calls` synchronous calls back to back (no await, so the event loop
 * never turns and dropped outputs are not reclaimed in between), each timed alone; once with fresh
 * outputs every call, once writing into the same `out` arrays.  Fair CRPS with gradients.
 */
function benchOutLoop(fusedloss, backend, points, members, calls) {
  const { ensemble, observations } = makeData(points, members, 77);
  const args = { ensemble: { data: ensemble, shape: [points, members] }, observations, estimator: 'fair', gradients: true, backend };
  const out = { scores: new Float32Array(points), gradEnsemble: new Float32Array(points * members), gradObservations: new Float32Array(points) };
  const loop = (withOut) => {
    const seconds = [];
    let mean = 0;
    for (let i = 0; i < calls; i++) {
      const start = process.hrtime.bigint();
      mean = fusedloss.crps(withOut ? { ...args, out } : args).mean;
      seconds.push(Number(process.hrtime.bigint() - start) / 1e9);
    }
    const sorted = [...seconds].sort((a, b) => a - b);
    return { calls, medianSeconds: sorted[Math.floor(calls / 2)], meanSeconds: seconds.reduce((a, b) => a + b, 0) / calls, bestSeconds: sorted[0], mean };
  };
  loop(true); // warm-up: the out arrays' pages and the kernel's first run
  const fresh = loop(false);
  const reused = loop(true);
  return { backend, points, members, estimator: 'fair', gradients: true, fresh, out: reused, sameMean: Object.is(fresh.mean, reused.mean) };
}

function printOutLoop(loop) {
  const ms = (s) => common.fixed(s * 1e3, 1);
  console.log(`\nLoop of ${loop.fresh.calls} synchronous crps() calls (${loop.backend}, fair, gradients, ${loop.points.toLocaleString('en-US')} × ${loop.members}), ms per call:`);
  console.log(common.table(['outputs', 'median', 'mean', 'best'], [
    ['fresh each call', ms(loop.fresh.medianSeconds), ms(loop.fresh.meanSeconds), ms(loop.fresh.bestSeconds)],
    ['out (reused)', ms(loop.out.medianSeconds), ms(loop.out.meanSeconds), ms(loop.out.bestSeconds)],
  ]));
  console.log(`Speed-up with out: ${common.fixed(loop.fresh.medianSeconds / loop.out.medianSeconds, 1)}× (median); same mean both ways: ${loop.sameMean}`);
}

/** (t(M)/t(Mb)) / ((M log2 M)/(Mb log2 Mb)) with Mb the baseIndex-th smallest M; ≤ 1: no worse than M log M. */
function addGrowth(rows, backend, baseIndex = 0, key = 'growthVsMLogM') {
  for (const gradients of [false, true]) {
    const series = rows.filter((r) => r.gradients === gradients && r[backend]);
    if (series.length <= baseIndex) continue;
    const base = series[baseIndex];
    const mLogM = (m) => m * Math.log2(m);
    for (const row of series.slice(baseIndex)) {
      row[backend][key] = row[backend].medianSeconds / base[backend].medianSeconds / (mLogM(row.members) / mLogM(base.members));
    }
  }
}

function addNumpy(rows, numpy) {
  if (!numpy.results) return;
  for (const row of rows) {
    const match = numpy.results.find((r) => r.members === row.members);
    if (!match || row.gradients) continue;
    row.numpy = { pointsPerSecond: match.pointsPerSecond, medianSeconds: match.medianSeconds };
    if (row.native) row.nativeOverNumpy = row.native.pointsPerSecond / match.pointsPerSecond;
  }
}

function printTable(rows) {
  const headers = ['M', 'gradients', 'native pts/s', 'native best', 'native GB/s', 'copy GB/s', 'of copy', 'TS pts/s', 'native/TS', 'growth/MlogM', 'numpy pts/s', 'native/numpy', 'runs nat/TS'];
  const body = rows.map((r) => {
    const n = r.native;
    return [
      r.members,
      r.gradients ? 'yes' : 'no',
      n ? common.si(n.pointsPerSecond) : '—',
      n ? common.si(n.bestPointsPerSecond) : '—',
      n ? common.fixed(n.gbPerSecond) : '—',
      common.fixed(r.copy.gbPerSecond),
      n ? common.fixed(n.gbPerSecond / r.copy.gbPerSecond) : '—',
      common.si(r.js.pointsPerSecond),
      n ? `${common.fixed(n.pointsPerSecond / r.js.pointsPerSecond, 1)}×` : '—',
      n ? common.fixed(n.growthVsMLogM) : '—',
      r.numpy ? common.si(r.numpy.pointsPerSecond) : '—',
      r.nativeOverNumpy !== undefined ? `${common.fixed(r.nativeOverNumpy, 1)}×` : '—',
      `${n ? n.runs : 0}/${r.js.runs}`,
    ];
  });
  console.log(common.table(headers, body));
}

function checkTargets(rows, numpy) {
  const withNative = rows.filter((r) => r.native);
  const verdict = (rowsChecked, value, pass, label, describe) => {
    if (!rowsChecked.length) return { label, status: 'n/a', detail: 'nothing measured' };
    const failing = rowsChecked.filter((r) => !pass(value(r)));
    const worst = rowsChecked.reduce((a, b) => (value(a) <= value(b) ? a : b));
    const status = failing.length ? 'MISSED' : 'met';
    const detail = failing.length ? `misses: ${failing.map(describe).join(', ')}` : `worst: ${describe(worst)}`;
    return { label, status, detail };
  };
  const tag = (r) => `M=${r.members}${r.gradients ? '+grad' : ''}`;
  const targets = [
    verdict(withNative, (r) => r.native.pointsPerSecond / r.js.pointsPerSecond, (v) => v >= TARGETS.nativeOverTs,
      `native >= ${TARGETS.nativeOverTs}x TypeScript fallback`, (r) => `${tag(r)} ${common.fixed(r.native.pointsPerSecond / r.js.pointsPerSecond, 1)}x`),
    verdict(withNative.filter((r) => r.members <= TARGETS.smallM), (r) => r.native.gbPerSecond / r.copy.gbPerSecond, (v) => v >= TARGETS.copyFractionSmallM,
      `M <= ${TARGETS.smallM}: native >= ${TARGETS.copyFractionSmallM} of copy bandwidth`, (r) => `${tag(r)} ${common.fixed(r.native.gbPerSecond / r.copy.gbPerSecond)}`),
    verdict(withNative.filter((r) => r.members > rows[0].members), (r) => -r.native.growthVsMLogM, (v) => v >= -1.05,
      'time growth vs M no worse than M log M (ratio <= 1, 5% slack)', (r) => `${tag(r)} ${common.fixed(r.native.growthVsMLogM)}`),
  ];
  if (numpy.results) {
    const compared = withNative.filter((r) => r.nativeOverNumpy !== undefined);
    targets.push(verdict(compared, (r) => r.nativeOverNumpy, (v) => v >= TARGETS.nativeOverNumpy,
      `native >= ${TARGETS.nativeOverNumpy}x vectorized NumPy (no gradients)`, (r) => `${tag(r)} ${common.fixed(r.nativeOverNumpy, 1)}x`));
  } else {
    targets.push({ label: `native >= ${TARGETS.nativeOverNumpy}x vectorized NumPy`, status: 'skipped', detail: numpy.skipped });
  }
  console.log('\nTargets:');
  for (const t of targets) console.log(`  [${t.status.padEnd(7)}] ${t.label} — ${t.detail}`);
  return targets;
}

/**
 * Issue 14's CRPS comparison: `calls` synchronous crps() calls back to back into the same `out`
 * arrays (fair, scores only and with gradients), each timed alone, beside NumPy's sort form of
 * the same P × M (scores only: NumPy has no gradients) timed in the same run.
 */
function benchNumpyLoop(fusedloss, backend, options) {
  const points = options.points, members = options.members[0];
  const calls = options.quick ? 5 : 40;
  const { ensemble, observations } = makeData(points, members, 51);
  const loadBefore = +os.loadavg()[0].toFixed(2);
  const cases = [];
  for (const gradients of [false, true]) {
    const out = gradients
      ? { scores: new Float32Array(points), gradEnsemble: new Float32Array(points * members), gradObservations: new Float32Array(points) }
      : { scores: new Float32Array(points) };
    const args = { ensemble: { data: ensemble, shape: [points, members] }, observations, estimator: 'fair', gradients, backend, out };
    for (let i = 0; i < 3; i++) fusedloss.crps(args); // warm-up: pages of `out`, the pool's threads
    const seconds = [];
    let mean = 0;
    for (let i = 0; i < calls; i++) {
      const start = process.hrtime.bigint();
      mean = fusedloss.crps(args).mean;
      seconds.push(Number(process.hrtime.bigint() - start) / 1e9);
    }
    const sorted = [...seconds].sort((a, b) => a - b);
    cases.push({ gradients, calls, medianSeconds: sorted[Math.floor(calls / 2)], bestSeconds: sorted[0], mean });
  }
  // Each row against NumPy doing the same: the scores, or the scores and the gradients.
  const numpy = options.numpy ? runNumpy(options, options.quick ? 2 : 7, true) : { skipped: 'disabled with --no-numpy' };
  const numpyResult = numpy.results ? numpy.results[0] : null;
  for (const c of cases) {
    const target = c.gradients ? LOOP_TARGETS.gradientsOverNumpy : LOOP_TARGETS.scoresOverNumpy;
    c.target = target;
    if (numpyResult) {
      c.numpySeconds = c.gradients ? numpyResult.gradientMedianSeconds : numpyResult.medianSeconds;
      c.overNumpy = c.numpySeconds / c.medianSeconds;
      c.status = c.overNumpy >= target ? 'met' : 'MISSED';
    } else c.status = 'skipped';
  }
  return { backend, points, members, estimator: 'fair', loadBefore, loadAfter: +os.loadavg()[0].toFixed(2), cases, numpy };
}

function printNumpyLoop(loop) {
  const ms = (s) => common.fixed(s * 1e3, 2);
  const numpyResult = loop.numpy.results ? loop.numpy.results[0] : null;
  console.log(`\nTight loop of synchronous crps() calls into caller-owned out (${loop.backend}, fair, ${loop.points.toLocaleString('en-US')} × ${loop.members}) against NumPy's sort form computing the same outputs (scores; scores and gradients with argsort), ms per call:`);
  console.log(common.table(['fusedloss', 'median', 'best', 'numpy median', 'numpy/fusedloss', 'target', 'status'], loop.cases.map((c) => [
    c.gradients ? 'scores + gradients' : 'scores',
    ms(c.medianSeconds),
    ms(c.bestSeconds),
    c.numpySeconds !== undefined ? ms(c.numpySeconds) : '—',
    c.overNumpy !== undefined ? `${common.fixed(c.overNumpy, 1)}×` : '—',
    `≥ ${c.target}×`,
    c.status,
  ])));
  if (numpyResult) console.log(`NumPy ${loop.numpy.numpy} (Python ${loop.numpy.python}), ${numpyResult.runs} runs, OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset for it; load average ${loop.loadBefore} before, ${loop.loadAfter} after.`);
  else console.log(`NumPy comparison skipped: ${loop.numpy.skipped}`);
}

async function main() {
  let options;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (error) {
    console.error(`crps.bench.js: ${error.message} (see --help)`);
    process.exit(2);
  }
  const fusedloss = common.loadFusedloss();
  const info = fusedloss.backendInfo();
  const machine = common.machineInfo();
  const started = new Date();

  console.log(`CRPS bench (estimator 'fair', layout [P, M], float32): P = ${options.points.toLocaleString('en-US')} points, M ∈ {${options.members.join(', ')}}${options.quick ? ' (--quick)' : ''}`);
  console.log(`Machine: ${machine.cpuModel}, ${machine.logicalCores} logical cores, ${machine.totalMemoryGiB} GiB, ${machine.platform}, Node ${machine.node}`);
  console.log(common.describeBackends(info));
  console.log(`backendInfo(): native=${info.native} simd=${info.simd} threads=${info.threads}`);
  const busy = common.loadWarning();
  if (busy) console.log(busy);
  if (!info.native) console.log('Native backend unavailable: only the TypeScript fallback is measured.');

  // Reference copy far larger than any cache, so the per-size copies below can be read against DRAM.
  const largeCopy = common.copyBandwidth(new Float32Array(64 << 20).fill(1), 5);
  console.log(`Copy bandwidth (Float32Array.set, 256 MiB, read + write): ${common.fixed(largeCopy.gbPerSecond)} GB/s`);
  // Every crps() call returns fresh outputs; their first-touch page faults are part of its time.
  const firstTouch = common.firstTouchBandwidth(64 << 20);
  console.log(`First touch of a fresh buffer (new Float32Array(256 MiB).fill): ${common.fixed(firstTouch.gbPerSecond)} GB/s`);

  if (options.numpyLoop) {
    const loop = benchNumpyLoop(fusedloss, info.native ? 'cpu' : 'js', options);
    printNumpyLoop(loop);
    fs.mkdirSync(path.dirname(options.json), { recursive: true });
    const report = { date: started.toISOString(), command: `node bench/crps.bench.js ${process.argv.slice(2).join(' ')}`.trim(), machine, backendInfo: info, largeCopy, targets: LOOP_TARGETS, numpyLoop: loop };
    fs.writeFileSync(options.json, `${JSON.stringify(report, null, 2)}\n`);
    const shown = path.relative(process.cwd(), options.json);
    console.log(`\nRaw numbers: ${shown.startsWith('..') ? options.json : shown}`);
    return;
  }

  const outLoop = benchOutLoop(fusedloss, info.native ? 'cpu' : 'js', options.quick ? 1e5 : 1e6, 4, options.quick ? 5 : 30);
  printOutLoop(outLoop);
  if (options.outLoop) return;

  const rows = [];
  for (const members of options.members) rows.push(...(await benchOneSize(fusedloss, info.native, options, members)));
  addGrowth(rows, 'native');
  addGrowth(rows, 'js');
  addGrowth(rows, 'native', 1, 'growthVsMLogMFromSecondM');

  const numpy = options.numpy ? runNumpy(options) : { skipped: 'disabled with --no-numpy' };
  addNumpy(rows, numpy);

  console.log('');
  printTable(rows);
  console.log('\nNotes: times are medians after one warm-up ("native best" is the fastest run); both');
  console.log('backends use the same P (the TypeScript fallback gets 3 runs at M >= 16). GB/s counts ensemble');
  console.log('+ observations read and scores written (+ gradEnsemble + gradObservations written with');
  console.log('gradients). "copy GB/s" is Float32Array.prototype.set of a buffer the size of the ensemble');
  console.log('(read + write bytes, best of 7); "of copy" = native GB/s / copy GB/s.');
  console.log(`growth/MlogM = (t(M)/t(${options.members[0]})) / ((M log2 M)/(${options.members[0]} log2 ${options.members[0]})) for the native backend.`);
  if (options.members.length > 2 && info.native) {
    const second = options.members[1];
    const list = (gradients) => rows.filter((r) => r.gradients === gradients && r.members > second).map((r) => `M=${r.members} ${common.fixed(r.native.growthVsMLogMFromSecondM)}`).join(', ');
    console.log(`Same growth with M=${second} as the base: no gradients ${list(false)}; gradients ${list(true)}.`);
  }
  const drift = rows.filter((r) => r.native).map((r) => r.meanRelDiffNativeVsJs);
  if (drift.length) console.log(`Sanity: max relative difference of the mean, native vs TypeScript: ${Math.max(...drift).toExponential(2)}`);
  if (numpy.results) console.log(`NumPy ${numpy.numpy} (Python ${numpy.python}): ${numpy.method}; native uses ${info.threads} threads.`);
  else console.log(`NumPy comparison skipped: ${numpy.skipped}`);

  const targets = checkTargets(rows, numpy);
  fs.mkdirSync(path.dirname(options.json), { recursive: true });
  const report = {
    date: started.toISOString(),
    command: `node bench/crps.bench.js ${process.argv.slice(2).join(' ')}`.trim(),
    options,
    machine,
    loadAverage1mAfter: +os.loadavg()[0].toFixed(2),
    backendInfo: info,
    largeCopy,
    firstTouch,
    targets: TARGETS,
    verdicts: targets,
    outLoop,
    rows,
    numpy,
  };
  fs.writeFileSync(options.json, `${JSON.stringify(report, null, 2)}\n`);
  const shown = path.relative(process.cwd(), options.json);
  console.log(`\nRaw numbers: ${shown.startsWith('..') ? options.json : shown}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
