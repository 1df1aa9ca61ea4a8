'use strict';
// marginSoftmax bench (`npm run bench:margin`): the fused ArcFace loss with gradients through the
// public API on the native CPU backend, against the machine's FMA peak, an unfused C++ baseline
// (bench/margin_cpu_bench: materialized N×C logits, same GEMM), NumPy's OpenBLAS sgemm and the
// TypeScript fallback, all measured in this run.  Each configuration runs in its own child
// process so that its peak memory (maxRSS over the child's baseline after the inputs exist) is
// its own.  Not a test: it prints numbers and checks them against the spec.  Usage:
//   node bench/margin.bench.js [--sizes 256x10000,1024x100000] [--dim 512] [--quick] [--js-rows 32]
//                              [--no-js] [--no-numpy] [--no-harness] [--harness-all] [--harness PATH] [--json FILE]
//                              [--bf16-sizes 1024x100k,256x50k] [--bf16-runs 5] [--no-bf16]
//                              [--limit-sizes 1024x100k,256x50k] [--limit-rounds 2] [--no-limit]
// The bf16 table: precision 'fp32' against 'bf16' (issue 14.2: ≥ 1.6× at N = 1024, C = 100k), both in
// one child per size, calls alternating, so the machine's load reaches both alike.
// The GEMM-limit table (issue 14.1, bench/margin_limit.js): the API call against NumPy's sgemm and
// unfused form on the same inputs in the same run; the two losses are compared.  Inputs and sizes:
// bench/margin_inputs.js.

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const common = require('./common');

const { mib, MiB } = common;
const { flopsOf, makeInputs, apiBytes, cpuWorkBytes } = require('./margin_inputs');
const { LIMIT_SIZES, SGEMM_RATE_TARGET, UNFUSED_NUMPY_TARGET, measureGemmLimit, printGemmLimitTable, ratio } = require('./margin_limit');

const ROOT = path.join(__dirname, '..');
const DEFAULT_SIZES = [256, 1024].flatMap((n) => [10000, 100000, 1000000].map((c) => ({ n, c })));
const QUICK_SIZES = [{ n: 64, c: 10000 }, { n: 256, c: 10000 }];
const BF16_SIZES = [{ n: 1024, c: 100000 }, { n: 256, c: 50000 }];
/** Issue 14 point 2: precision 'bf16' at least this much faster than 'fp32' at N = 1024, C = 100k. */
const BF16_TARGET = 1.6;
/** Slack for allocator and V8 bookkeeping in the memory check. */
const MEMORY_SLACK_BYTES = 32 * MiB;
/** The unfused C++ baseline runs by default only up to this many logits (N·C); --harness-all lifts it. */
const HARNESS_DEFAULT_MAX_LOGITS = 128 * 1000000;
/** Configurations with more flops than this get one timed run after the warm-up. */
const HEAVY_FLOPS = 400e9;
const USAGE =
  'node bench/margin.bench.js [--sizes NxC,NxC,...] [--dim D] [--quick] [--js-rows N] [--no-js] [--no-numpy] [--no-harness] [--harness-all] [--harness PATH] [--json FILE] [--bf16-sizes NxC,...] [--bf16-runs R] [--no-bf16] [--limit-sizes NxC,...] [--limit-rounds R] [--no-limit]';

function parseSizes(text) {
  return text.split(',').filter(Boolean).map((item) => {
    const match = /^(\d+)x(\d+(?:\.\d+)?)(k|M)?$/i.exec(item.trim());
    if (!match) throw new Error(`--sizes: '${item}' is not NxC (e.g. 256x10000, 1024x100k, 256x1M)`);
    const scale = match[3] ? (match[3].toLowerCase() === 'k' ? 1e3 : 1e6) : 1;
    const size = { n: Number(match[1]), c: Math.round(Number(match[2]) * scale) };
    if (!(size.n >= 1 && size.c >= 2)) throw new Error(`--sizes: '${item}' needs N >= 1 and C >= 2`);
    return size;
  });
}

function parseArgs(argv) {
  const options = {
    sizes: null, dim: 512, quick: false, jsRows: null, js: true, numpy: true, harness: true, harnessAll: false, harnessPath: null,
    json: path.join(__dirname, 'results', 'margin.json'), bf16Sizes: null, bf16Runs: null, bf16: true,
    limitSizes: null, limitRounds: null, limit: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${flag} needs a value`);
      return argv[++i];
    };
    if (flag === '--sizes') options.sizes = parseSizes(value());
    else if (flag === '--dim') options.dim = Number(value());
    else if (flag === '--quick') options.quick = true;
    else if (flag === '--js-rows') options.jsRows = Number(value());
    else if (flag === '--no-js') options.js = false;
    else if (flag === '--no-numpy') options.numpy = false;
    else if (flag === '--no-harness') options.harness = false;
    else if (flag === '--harness-all') options.harnessAll = true;
    else if (flag === '--harness') options.harnessPath = path.resolve(value());
    else if (flag === '--json') options.json = path.resolve(value());
    else if (flag === '--bf16-sizes') options.bf16Sizes = parseSizes(value());
    else if (flag === '--bf16-runs') options.bf16Runs = Number(value());
    else if (flag === '--no-bf16') options.bf16 = false;
    else if (flag === '--limit-sizes') options.limitSizes = parseSizes(value());
    else if (flag === '--limit-rounds') options.limitRounds = Number(value());
    else if (flag === '--no-limit') options.limit = false;
    else if (flag === '--help' || flag === '-h') {
      console.log(USAGE);
      console.log('  --sizes     N×C pairs (k and M suffixes allowed); default 256 and 1024 rows × 10k, 100k, 1M classes');
      console.log('              (1M only where free memory allows); --quick: 64x10000,256x10000');
      console.log('  --dim       embedding width D (default 512)');
      console.log('  --js-rows   rows of the TypeScript-fallback comparison, at the smallest C capped at 10k (default 32, --quick 8)');
      console.log('  --harness   path of the margin_cpu_bench binary (default: build/ or build-bench/, the newer)');
      console.log(`  --harness-all  run the unfused C++ baseline at every size (default: N·C <= ${HARNESS_DEFAULT_MAX_LOGITS / 1e6}M; at N=1024, C=1M`);
      console.log('              it needs ~14 GiB and several minutes on 2 cores)');
      console.log('  --no-js, --no-numpy, --no-harness  leave that baseline out');
      console.log(`  --bf16-sizes  N×C pairs of the precision 'fp32' vs 'bf16' table (default ${BF16_SIZES.map((z) => `${z.n}x${z.c}`).join(',')}; --quick: 256x10000)`);
      console.log('  --bf16-runs   timed calls of each precision there, alternating (default 5, --quick 3); --no-bf16 leaves the table out');
      console.log(`  --limit-sizes N×C pairs of the issue 14.1 table against NumPy's sgemm and unfused form (default ${LIMIT_SIZES.map((z) => `${z.n}x${z.c}`).join(',')}; --quick: 256x10000)`);
      console.log('  --limit-rounds rounds of (API child: 3 calls, NumPy child: 3 unfused calls and 3 sgemm alternating) there (default 2, --quick 1);');
      console.log('              --no-limit leaves the table out (it needs python3 with numpy)');
      process.exit(0);
    } else throw new Error(`unknown flag ${flag}`);
  }
  if (!options.sizes) options.sizes = options.quick ? QUICK_SIZES : DEFAULT_SIZES;
  if (options.jsRows === null) options.jsRows = options.quick ? 8 : 32;
  if (!options.bf16Sizes) options.bf16Sizes = options.quick ? [{ n: 256, c: 10000 }] : BF16_SIZES;
  if (options.bf16Runs === null) options.bf16Runs = options.quick ? 3 : 5;
  if (!options.limitSizes) options.limitSizes = options.quick ? [{ n: 256, c: 10000 }] : LIMIT_SIZES;
  if (options.limitRounds === null) options.limitRounds = options.quick ? 1 : 2;
  if (!(Number.isInteger(options.limitRounds) && options.limitRounds >= 1)) throw new Error('--limit-rounds must be a positive integer');
  if (!(Number.isInteger(options.bf16Runs) && options.bf16Runs >= 1)) throw new Error('--bf16-runs must be a positive integer');
  if (!(Number.isInteger(options.dim) && options.dim >= 1)) throw new Error('--dim must be a positive integer');
  if (!(Number.isInteger(options.jsRows) && options.jsRows >= 1)) throw new Error('--js-rows must be a positive integer');
  options.sizes.sort((a, b) => a.n * a.c - b.n * b.c || a.c - b.c);
  return options;
}


// ---------------------------------------------------------------- child: one configuration



async function child(spec) {
  const fusedloss = common.loadFusedloss();
  const info = fusedloss.backendInfo();
  const addon = info.native ? require(info.binary) : null;
  const { n, c, d, backend, plan } = spec;
  const { embeddings, weights, labels } = makeInputs(n, c, d);
  const args = { embeddings: { data: embeddings, shape: [n, d] }, weights: { data: weights, shape: [c, d] }, labels, margin: { type: 'arcface' }, backend };
  if (spec.precisions) return comparePrecisions(fusedloss, args, spec, addon);
  if (global.gc) global.gc();
  const baselineKiB = process.resourceUsage().maxRSS;
  const rssBefore = process.memoryUsage().rss;
  // The first call is the warm-up and the memory measurement: nothing else is alive beside it.
  let start = common.nowSeconds();
  let result = fusedloss.marginSoftmax(args);
  const firstSeconds = common.nowSeconds() - start;
  const peakKiB = process.resourceUsage().maxRSS;
  const outputBytes = result.gradEmbeddings.byteLength + result.gradWeights.byteLength + 4 * 3 * n;
  const first = { loss: result.loss, backend: result.backend };
  result = null;
  const timing = await common.timeRuns(() => fusedloss.marginSoftmax(args).loss, { warmup: 0, ...plan });
  const fmaPeakGflops = addon && typeof addon.fmaPeak === 'function' ? addon.fmaPeak(spec.fmaSeconds) : null;
  return {
    n, c, d, backend: first.backend, loss: first.loss,
    firstCallSeconds: firstSeconds,
    seconds: timing.seconds,
    runs: timing.seconds.length,
    medianSeconds: timing.median,
    bestSeconds: timing.best,
    gflops: flopsOf(n, c, d) / timing.median / 1e9,
    fmaPeakGflops,
    baselineKiB,
    peakKiB,
    peakExtraBytes: (peakKiB - baselineKiB) * 1024,
    rssBeforeBytes: rssBefore,
    outputBytes,
    inputBytes: embeddings.byteLength + weights.byteLength + labels.byteLength,
  };
}

/** The same call at each of spec.precisions: one warm-up each, then spec.runs rounds alternating them. */
async function comparePrecisions(fusedloss, args, spec, addon) {
  const turnEventLoop = () => new Promise((resolve) => setImmediate(resolve));
  const byPrecision = {};
  for (const precision of spec.precisions) {
    byPrecision[precision] = { seconds: [], loss: fusedloss.marginSoftmax({ ...args, precision }).loss };
  }
  for (let run = 0; run < spec.runs; run++) {
    for (const precision of spec.precisions) {
      await turnEventLoop();  // as timeRuns: the finalizers of the dropped outputs run between calls
      const start = common.nowSeconds();
      fusedloss.marginSoftmax({ ...args, precision });
      byPrecision[precision].seconds.push(common.nowSeconds() - start);
    }
  }
  for (const entry of Object.values(byPrecision)) {
    entry.medianSeconds = common.median(entry.seconds);
    entry.gflops = flopsOf(spec.n, spec.c, spec.d) / entry.medianSeconds / 1e9;
  }
  const runtime = addon ? addon.runtimeInfo() : {};
  return { n: spec.n, c: spec.c, d: spec.d, runs: spec.runs, gemm: runtime.gemm, gemmBf16: runtime.gemmBf16, loadAverage1m: +os.loadavg()[0].toFixed(2), byPrecision };
}

// ---------------------------------------------------------------- parent: baselines and report


/** Bytes margin_cpu_bench needs (its unfused baseline holds x̂, Ŵ, Ŵᵀ, the logits and both gradients twice). */
function harnessBytes({ n, c }, d) {
  return 4 * (5 * c * d + 4 * n * d + n * c) + 256 * MiB;
}

function runPlan(flops, quick) {
  if (quick) return { minRuns: 2, maxRuns: 3, budgetSeconds: 1 };
  if (flops >= HEAVY_FLOPS) return { minRuns: 1, maxRuns: 1, budgetSeconds: 0 };
  return { minRuns: 3, maxRuns: 7, budgetSeconds: 4 };
}

function findHarness(options) {
  if (options.harnessPath) return fs.existsSync(options.harnessPath) ? options.harnessPath : null;
  const candidates = ['build/margin_cpu_bench', 'build-bench/margin_cpu_bench'].map((p) => path.join(ROOT, p)).filter((p) => fs.existsSync(p));
  candidates.sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  return candidates[0] || null;
}

function parseHarness(text) {
  const number = (re) => {
    const match = re.exec(text);
    return match ? Number(match[1]) : null;
  };
  const row = (label) => {
    const match = new RegExp(`^\\|\\s*${label}[^|]*\\|\\s*([\\d.]+)\\s*\\|\\s*([\\d.]+)\\s*\\|\\s*([\\d.]+)\\s*\\|\\s*(-?[\\d.]+)\\s*\\|`, 'm').exec(text);
    return match ? { seconds: Number(match[1]), gflops: Number(match[2]), percentOfPeak: Number(match[3]), peakExtraMiB: Number(match[4]) } : null;
  };
  const losses = /loss fused ([-\d.eE+naif]+), unfused ([-\d.eE+naif]+)/.exec(text);
  return {
    fmaPeakGflops: number(/FMA peak[^:]*:\s*([\d.]+)/),
    fused: row('fused'),
    unfused: row('unfused'),
    lossFused: losses ? Number(losses[1]) : null,
    lossUnfused: losses ? Number(losses[2]) : null,
  };
}

function runHarness(binary, size, d, threads, runs) {
  const args = [size.n, d, size.c, threads, runs].map(String);
  const run = spawnSync(binary, args, { encoding: 'utf8', maxBuffer: 16 << 20, timeout: 20 * 60 * 1000 });
  if (run.error || run.status !== 0) return { skipped: `margin_cpu_bench ${args.join(' ')} failed: ${run.error ? run.error.message : (run.stderr || '').trim() || `signal ${run.signal}`}` };
  const parsed = parseHarness(run.stdout);
  if (!parsed.fused) return { skipped: `could not parse margin_cpu_bench output: ${run.stdout.slice(0, 200)}` };
  return { command: `${path.relative(ROOT, binary)} ${args.join(' ')}`, runs, ...parsed };
}

function numpyAvailable() {
  const probe = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' });
  return !(probe.error || probe.status !== 0);
}

function runNumpy(size, d, threads, quick, heavy) {
  const script = path.join(__dirname, 'numpy_sgemm.py');
  const args = [script, '--n', size.n, '--d', d, '--c', size.c, '--threads', threads].map(String);
  if (quick || heavy) args.push('--min-runs', '1', '--max-runs', heavy ? '1' : '3', '--budget', '1');
  const run = spawnSync('python3', args, { encoding: 'utf8', maxBuffer: 16 << 20, timeout: 20 * 60 * 1000, env: common.numpyEnvironment() });
  if (run.error || run.status !== 0) return { skipped: `numpy_sgemm.py failed: ${run.error ? run.error.message : run.stderr.trim()}` };
  return JSON.parse(run.stdout);
}



const sizeTag = (r) => `N=${r.n} C=${common.si(r.c)}`;

function printTable(rows) {
  const headers = [
    'N', 'C', 'runs', 'median s', 'GFLOP/s', '% FMA peak', 'peak extra MiB', 'beyond outputs MiB', 'N×C logits MiB',
    'unfused s', 'speed vs unfused', 'unfused peak MiB', 'numpy sgemm GFLOP/s', 'ours/numpy',
  ];
  const body = rows.map((r) => {
    const a = r.api;
    if (!a || a.failed || a.skipped) return [r.n, common.si(r.c), '—', !a ? '—' : a.failed ? `failed: ${a.failed}` : 'skipped (memory)', ...Array(10).fill('—')];
    const u = r.harness && r.harness.unfused;
    return [
      r.n, common.si(r.c), a.runs, common.fixed(a.medianSeconds, 3), common.fixed(a.gflops, 1), common.fixed(a.percentOfPeak, 1),
      mib(a.peakExtraBytes), mib(a.peakExtraBytes - a.outputBytes), mib(4 * r.n * r.c),
      u ? common.fixed(u.seconds, 3) : '—', u ? ratio(u.seconds / a.medianSeconds) : '—', u ? String(u.peakExtraMiB) : '—',
      r.numpy && r.numpy.gflops ? common.fixed(r.numpy.gflops, 1) : '—', r.oursOverNumpy !== undefined ? ratio(r.oursOverNumpy, 2) : '—',
    ];
  });
  console.log(common.table(headers, body));
}

function printBf16Table(entries) {
  const measured = entries.filter((e) => !e.failed && !e.skipped);
  console.log(`\nprecision 'fp32' vs 'bf16' (same call, same child, calls alternating; median of each; GEMM bf16 path: ${measured.length ? measured[0].gemmBf16 : '—'}):`);
  console.log(common.table(['N', 'C', 'runs', 'fp32 s', 'fp32 GFLOP/s', 'bf16 s', 'bf16 GFLOP/s', 'bf16 speed-up', 'loss rel. change', 'load (1 min)'], entries.map((e) => {
    if (e.failed || e.skipped) return [e.n, common.si(e.c), e.failed ? `failed: ${e.failed}` : e.skipped, ...Array(7).fill('—')];
    const f = e.byPrecision.fp32, b = e.byPrecision.bf16;
    return [e.n, common.si(e.c), e.runs, common.fixed(f.medianSeconds, 3), common.fixed(f.gflops, 1), common.fixed(b.medianSeconds, 3), common.fixed(b.gflops, 1),
      ratio(e.ratio, 2), (Math.abs(b.loss - f.loss) / Math.abs(f.loss)).toExponential(2), common.fixed(e.loadAverage1m, 1)];
  })));
}


function checkTargets(rows, js, bf16, limit) {
  const results = [];
  const measured = rows.filter((r) => r.api && !r.api.failed && !r.api.skipped);
  const verdict = (label, list, pass, describe) => {
    if (!list.length) return results.push({ label, status: 'n/a', detail: 'nothing measured' });
    const failing = list.filter((r) => !pass(r));
    results.push({ label, status: failing.length ? 'MISSED' : 'met', detail: (failing.length ? 'misses: ' : '') + (failing.length ? failing : list).map(describe).join(', ') });
  };
  // The spec's bound (docs/spec/margin.md#memory): the normalized copies plus the default work buffer.
  const bound = (r) => 4 * (r.n + r.c) * r.d + cpuWorkBytes(r, r.d) + MEMORY_SLACK_BYTES;
  verdict('extra memory beyond the returned arrays ≤ normalized copies 4·(N+C)·D + the default workMemory (+32 MiB slack)', measured,
    (r) => r.api.peakExtraBytes - r.api.outputBytes <= bound(r), (r) => `${sizeTag(r)} ${mib(r.api.peakExtraBytes - r.api.outputBytes)}/${mib(bound(r))} MiB`);
  verdict('never N×C: peak extra < the N×C logits + both gradients of the unfused form', measured.filter((r) => r.n * r.c * 4 > 256 * MiB),
    (r) => r.api.peakExtraBytes < 4 * r.n * r.c + r.api.outputBytes, (r) => `${sizeTag(r)} ${mib(r.api.peakExtraBytes)} vs ${mib(4 * r.n * r.c + r.api.outputBytes)} MiB`);
  const withUnfused = measured.filter((r) => r.harness && r.harness.unfused);
  verdict('fused (API) faster than the unfused C++ baseline', withUnfused, (r) => r.harness.unfused.seconds / r.api.medianSeconds > 1,
    (r) => `${sizeTag(r)} ${ratio(r.harness.unfused.seconds / r.api.medianSeconds)}`);
  const bf16Target = bf16.filter((e) => e.ratio !== undefined && e.n === 1024 && e.c === 100000);
  verdict(`precision 'bf16' ≥ ${BF16_TARGET}× 'fp32' at N=1024 C=100k (issue 14.2)`, bf16Target, (e) => e.ratio >= BF16_TARGET,
    (e) => `${sizeTag(e)} ${ratio(e.ratio, 2)} (GEMM bf16 path ${e.gemmBf16})`);
  const limitMeasured = limit.filter((e) => e.seconds !== undefined);
  verdict(`our 6NCD rate ≥ ${SGEMM_RATE_TARGET}× numpy sgemm's (issue 14.1)`, limitMeasured, (e) => e.rateOverSgemm >= SGEMM_RATE_TARGET,
    (e) => `${sizeTag(e)} ${ratio(e.rateOverSgemm, 2)}`);
  verdict(`≥ ${UNFUSED_NUMPY_TARGET}× faster than the unfused NumPy form (issue 14.1)`, limitMeasured, (e) => e.speedOverUnfused >= UNFUSED_NUMPY_TARGET,
    (e) => `${sizeTag(e)} ${ratio(e.speedOverUnfused, 2)} (needs ${common.fixed(e.gflopsNeeded, 0)} GFLOP/s, FMA peak ${common.fixed(e.fmaPeakGflops, 0)})`);
  verdict('same loss as the unfused NumPy form (relative difference < 1e-4)', limitMeasured, (e) => e.lossRelDiff < 1e-4, (e) => `${sizeTag(e)} ${e.lossRelDiff.toExponential(1)}`);
  verdict('GEMM-limit sizes: extra memory beyond the returned arrays ≤ 4·(N+C)·D + the default workMemory (+32 MiB slack)', limitMeasured,
    (e) => e.extraBeyondOutputsBytes <= bound(e), (e) => `${sizeTag(e)} ${mib(e.extraBeyondOutputsBytes)}/${mib(bound(e))} MiB`);
  if (js && js.ratio !== undefined) results.push({ label: 'native faster than the TypeScript fallback', status: js.ratio > 1 ? 'met' : 'MISSED', detail: `${ratio(js.ratio)} at N=${js.n} C=${common.si(js.c)}` });
  console.log('\nChecks:');
  for (const t of results) console.log(`  [${t.status.padEnd(6)}] ${t.label} — ${t.detail}`);
  return results;
}

async function main() {
  let options;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (error) {
    console.error(`margin.bench.js: ${error.message} (see --help)`);
    process.exit(2);
  }
  const fusedloss = common.loadFusedloss();
  const info = fusedloss.backendInfo();
  const machine = common.machineInfo();
  const started = new Date();
  const d = options.dim;
  const addon = info.native ? require(info.binary) : null;
  const runtime = addon ? addon.runtimeInfo() : null;

  console.log(`marginSoftmax bench (ArcFace m 0.5, s 64, forward + backward, float32, weights [C, D]): D = ${d}, N×C ∈ {${options.sizes.map((s) => `${s.n}×${common.si(s.c)}`).join(', ')}}${options.quick ? ' (--quick)' : ''}`);
  console.log(`Machine: ${machine.cpuModel}, ${machine.logicalCores} logical cores, ${machine.totalMemoryGiB} GiB, ${machine.platform}, Node ${machine.node}`);
  console.log(common.describeBackends(info));
  const busy = common.loadWarning();
  if (busy) console.log(busy);
  if (!info.native) {
    console.log('Native backend unavailable: nothing to bench (the TypeScript fallback alone is far too slow at these sizes).');
    process.exit(1);
  }
  const fmaPeak = typeof addon.fmaPeak === 'function' ? addon.fmaPeak(0.5) : null;
  console.log(`runtimeInfo(): simd ${runtime.simd}, gemm ${runtime.gemm} (bf16 operands: ${runtime.gemmBf16}), ${runtime.threads} threads on ${runtime.cores} cores; FMA peak (addon fmaPeak, all threads): ${common.fixed(fmaPeak, 1)} GFLOP/s`);

  const harnessBinary = options.harness ? findHarness(options) : null;
  const harnessNote = !options.harness
    ? 'disabled with --no-harness'
    : harnessBinary
      ? `${path.relative(ROOT, harnessBinary)}`
      : 'not built: `npm run bench:kernel:margin` (or `cmake --build build --target margin_cpu_bench`) builds it';
  const numpyOk = options.numpy && numpyAvailable();
  const numpyNote = !options.numpy ? 'disabled with --no-numpy' : numpyOk ? 'bench/numpy_sgemm.py' : 'python3 with numpy not found';

  const rows = [];
  for (const size of options.sizes) {
    const row = { n: size.n, c: size.c, d, flops: flopsOf(size.n, size.c, d) };
    rows.push(row);
    const heavy = row.flops >= HEAVY_FLOPS;
    const memory = common.memoryAllows(apiBytes(size, d));
    if (!memory.ok) {
      row.api = { skipped: `memory: ${memory.note}` };
      console.error(`  N=${size.n} C=${common.si(size.c)}: skipped (${memory.note})`);
      continue;
    }
    const spec = { n: size.n, c: size.c, d, backend: 'cpu', plan: runPlan(row.flops, options.quick), fmaSeconds: options.quick ? 0.2 : 0.3 };
    row.api = common.runBenchChild(__filename, spec);
    if (row.api.failed) {
      console.error(`  N=${size.n} C=${common.si(size.c)}: API run failed: ${row.api.failed}`);
      continue;
    }
    row.api.percentOfPeak = row.api.fmaPeakGflops ? (100 * row.api.gflops) / row.api.fmaPeakGflops : NaN;
    let note = `API ${common.fixed(row.api.medianSeconds, 3)} s (${common.fixed(row.api.gflops, 1)} GFLOP/s)`;
    if (harnessBinary) {
      const harnessMemory = common.memoryAllows(harnessBytes(size, d));
      if (!options.harnessAll && size.n * size.c > HARNESS_DEFAULT_MAX_LOGITS) {
        row.harness = { skipped: `N·C > ${HARNESS_DEFAULT_MAX_LOGITS / 1e6}M, left out to keep the default run short (its unfused form needs ≈${(harnessBytes(size, d) / 2 ** 30).toFixed(0)} GiB and minutes here); --harness-all includes it` };
      } else {
        row.harness = harnessMemory.ok
          ? runHarness(harnessBinary, size, d, runtime.threads, options.quick || heavy ? 1 : 3)
          : { skipped: `memory: ${harnessMemory.note}` };
      }
      note += row.harness.unfused ? `, unfused C++ ${common.fixed(row.harness.unfused.seconds, 3)} s` : `, C++ harness: ${row.harness.skipped || 'no unfused row'}`;
    }
    if (numpyOk) {
      const numpyMemory = common.memoryAllows(4 * (size.n * d + size.c * d + size.n * size.c) + 256 * MiB);
      row.numpy = numpyMemory.ok ? runNumpy(size, d, runtime.threads, options.quick, heavy) : { skipped: `memory: ${numpyMemory.note}` };
      if (row.numpy.gflops) {
        row.oursOverNumpy = row.api.gflops / row.numpy.gflops;
        note += `, numpy sgemm ${common.fixed(row.numpy.gflops, 1)} GFLOP/s`;
      }
    }
    console.error(`  N=${size.n} C=${common.si(size.c)}: ${note}`);
  }

  let js = null;
  if (options.js) {
    const c = Math.min(10000, Math.min(...options.sizes.map((s) => s.c)));
    const n = options.jsRows;
    const plan = options.quick ? { minRuns: 1, maxRuns: 1, budgetSeconds: 0 } : { minRuns: 2, maxRuns: 3, budgetSeconds: 4 };
    const nativeSmall = common.runBenchChild(__filename, { n, c, d, backend: 'cpu', plan: runPlan(flopsOf(n, c, d), options.quick), fmaSeconds: 0.1 });
    const fallback = common.runBenchChild(__filename, { n, c, d, backend: 'js', plan, fmaSeconds: 0.1 });
    js = { n, c, d, native: nativeSmall, js: fallback };
    if (!nativeSmall.failed && !fallback.failed) {
      js.ratio = fallback.medianSeconds / nativeSmall.medianSeconds;
      js.lossRelDiff = Math.abs(fallback.loss - nativeSmall.loss) / Math.abs(fallback.loss);
    }
    console.error(`  TypeScript fallback at N=${n} C=${common.si(c)}: ${fallback.failed ? `failed: ${fallback.failed}` : `${common.fixed(fallback.medianSeconds, 3)} s`}`);
  }

  const bf16 = [];
  for (const size of options.bf16 ? options.bf16Sizes : []) {
    const memory = common.memoryAllows(apiBytes(size, d) + 4 * size.c * d);  // bf16 always copies the weights
    const entry = memory.ok
      ? { n: size.n, c: size.c, ...common.runBenchChild(__filename, { n: size.n, c: size.c, d, backend: 'cpu', precisions: ['fp32', 'bf16'], runs: options.bf16Runs }) }
      : { n: size.n, c: size.c, skipped: `memory: ${memory.note}` };
    bf16.push(entry);
    if (!entry.failed && !entry.skipped) entry.ratio = entry.byPrecision.fp32.medianSeconds / entry.byPrecision.bf16.medianSeconds;
    console.error(`  precision fp32 vs bf16 at N=${size.n} C=${common.si(size.c)}: ${entry.failed ? `failed: ${entry.failed}` : entry.skipped || ratio(entry.ratio, 2)}`);
  }

  const limit = [];
  const limitOk = options.limit && numpyAvailable();
  if (options.limit && !limitOk) console.error('  GEMM-limit table left out: python3 with numpy not found');
  for (const size of limitOk ? options.limitSizes : []) {
    const entry = measureGemmLimit(size, d, runtime.threads, options.limitRounds);
    limit.push(entry);
    console.error(`  GEMM limit at N=${size.n} C=${common.si(size.c)}: ${entry.failed || entry.skipped ||
      `ours ${common.fixed(entry.seconds, 3)} s, sgemm rate ${ratio(entry.rateOverSgemm, 2)}, vs unfused numpy ${ratio(entry.speedOverUnfused, 2)}`}`);
  }

  console.log('');
  printTable(rows);
  console.log(`\nNotes: API = marginSoftmax({ embeddings, weights, labels, margin: { type: 'arcface' }, backend: 'cpu' }),`);
  console.log(`gradients on. Times are medians after one warm-up (one timed run above ${HEAVY_FLOPS / 1e9} GFLOP); each N×C runs in its own`);
  console.log('child process. GFLOP/s count 6·N·C·D; "% FMA peak" is against addon fmaPeak() measured in that child.');
  console.log('"peak extra" = peak RSS over the child\'s baseline once the inputs exist (maxRSS), returned gradients included;');
  console.log('"beyond outputs" subtracts them (gradEmbeddings + gradWeights + 3 per-row arrays). "N×C logits" = 4·N·C bytes,');
  console.log('one materialized matrix of the unfused form (which needs two: logits and their gradient, done in place in the baseline).');
  console.log(`Unfused baseline: ${harnessNote}${harnessBinary ? ` run as \`margin_cpu_bench N ${d} C ${runtime.threads} runs\`, runs 3 (1 above ${HEAVY_FLOPS / 1e9} GFLOP or with --quick);` +
    ' its times have no warm-up (unfused: one run); its peaks are over its inputs and the preallocated fused outputs' : ''}.`);
  console.log(`NumPy: ${numpyNote}${numpyOk ? `: one float32 N×D·D×C product (2·N·C·D flops) with the output preallocated, ${runtime.threads} BLAS threads; ours/numpy = API GFLOP/s / sgemm GFLOP/s` : ''}.`);
  const firstNumpy = rows.find((r) => r.numpy && r.numpy.blas);
  if (firstNumpy) console.log(`NumPy ${firstNumpy.numpy.numpy} (Python ${firstNumpy.numpy.python}), ${firstNumpy.numpy.blas}${firstNumpy.numpy.blasConfig ? ` [${firstNumpy.numpy.blasConfig}]` : ''}.`);
  for (const r of rows) {
    if (r.harness && r.harness.skipped) console.log(`C++ baseline at ${sizeTag(r)} skipped: ${r.harness.skipped}`);
    if (r.harness && r.harness.fused && !r.harness.unfused) console.log(`C++ baseline at ${sizeTag(r)}: no unfused row (N·C too large for it)`);
    if (r.numpy && r.numpy.skipped) console.log(`NumPy at ${sizeTag(r)} skipped: ${r.numpy.skipped}`);
    if (r.api && r.api.skipped) console.log(`${sizeTag(r)} skipped: ${r.api.skipped}`);
  }
  const harnessRows = rows.filter((r) => r.harness && r.harness.fused);
  if (harnessRows.length) {
    console.log('\nKernel alone (margin_cpu_bench, outputs preallocated), same run:');
    console.log(common.table(['N', 'C', 'fused s', 'fused GFLOP/s', 'fused % peak', 'fused peak MiB', 'unfused s', 'unfused GFLOP/s', 'unfused peak MiB', 'fused/unfused speed', 'FMA peak GFLOP/s'],
      harnessRows.map((r) => {
        const h = r.harness;
        return [r.n, common.si(r.c), common.fixed(h.fused.seconds, 3), common.fixed(h.fused.gflops, 1), common.fixed(h.fused.percentOfPeak, 1), h.fused.peakExtraMiB,
          h.unfused ? common.fixed(h.unfused.seconds, 3) : '—', h.unfused ? common.fixed(h.unfused.gflops, 1) : '—', h.unfused ? h.unfused.peakExtraMiB : '—',
          h.unfused ? ratio(h.unfused.seconds / h.fused.seconds) : '—', common.fixed(h.fmaPeakGflops, 1)];
      })));
  }
  if (js) {
    if (js.ratio !== undefined) {
      console.log(`\nTypeScript fallback ('js') at N=${js.n}, C=${common.si(js.c)}, D=${d} (the small size only): ${common.fixed(js.js.medianSeconds, 3)} s ` +
        `(${common.fixed(js.js.gflops, 2)} GFLOP/s, ${js.js.runs} runs) vs native ${common.fixed(js.native.medianSeconds, 4)} s in the same run: native/TS ${ratio(js.ratio)}; ` +
        `loss relative difference ${js.lossRelDiff.toExponential(2)}; TS peak extra ${mib(js.js.peakExtraBytes)} MiB.`);
    } else console.log(`\nTypeScript fallback comparison failed: ${js.native.failed || js.js.failed}`);
  } else console.log('\nTypeScript fallback comparison disabled with --no-js.');
  const peaks = rows.map((r) => r.api && r.api.fmaPeakGflops).filter(Number.isFinite);
  if (peaks.length) console.log(`FMA peak per child: ${common.fixed(Math.min(...peaks), 0)}–${common.fixed(Math.max(...peaks), 0)} GFLOP/s (parent: ${common.fixed(fmaPeak, 0)}).`);

  if (bf16.length) printBf16Table(bf16);
  if (limit.length) printGemmLimitTable(limit, runtime.threads);
  const verdicts = checkTargets(rows, js, bf16, limit);
  fs.mkdirSync(path.dirname(options.json), { recursive: true });
  const report = {
    date: started.toISOString(),
    command: `node bench/margin.bench.js ${process.argv.slice(2).join(' ')}`.trim(),
    options,
    machine,
    loadAverage1mAfter: +os.loadavg()[0].toFixed(2),
    backendInfo: info,
    runtimeInfo: runtime,
    fmaPeakGflops: fmaPeak,
    harness: harnessNote,
    verdicts,
    rows,
    js,
    bf16,
    limit,
    elapsedSeconds: (Date.now() - started.getTime()) / 1e3,
  };
  fs.writeFileSync(options.json, `${JSON.stringify(report, null, 2)}\n`);
  const shown = path.relative(process.cwd(), options.json);
  console.log(`\nRaw numbers: ${shown.startsWith('..') ? options.json : shown} (total ${common.fixed(report.elapsedSeconds, 0)} s)`);
  const failed = rows.some((r) => r.api && r.api.failed) || (js && (js.native.failed || js.js.failed)) || bf16.some((e) => e.failed) || limit.some((e) => e.failed);
  if (failed) process.exit(1);
}

if (process.argv[2] === '--child') {
  child(JSON.parse(process.argv[3]))
    .then((result) => console.log(JSON.stringify(result)))
    .catch((error) => {
      console.error(error && error.stack ? error.stack : String(error));
      process.exit(1);
    });
} else {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
