'use strict';
// Pair mining / pair losses bench (`npm run bench:pairs`): three workloads through the public API
// on the native CPU backend, beside the TypeScript fallback, an unfused C++ baseline
// (bench/pairs_cpu_bench: the N×M matrix materialized with the same GEMM, rows sorted, triplets
// enumerated, as pytorch-metric-learning does) and, where torch and PML import,
// pytorch-metric-learning itself on the PyTorch CPU (bench/pml_pairs.py), all in this run.  Each
// configuration runs in its own child process, so its peak memory is its own.  Usage:
//   node bench/pairs.bench.js [--sizes 256,1024,4096,512x65536] [--dims 128,512] [--workloads ms,batch-hard,triplets]
//                            [--quick] [--no-js] [--no-harness] [--no-pml] [--pml-src DIR] [--python BIN] [--json FILE]
//                            [--before-addon FILE] [--issue14]
//
// Workloads: ms = multi-similarity miner (ε 0.1) + multi-similarity loss + gradients (cosine);
// batch-hard = batch-hard mining (euclidean); triplets = triplet-margin loss (margin 0.05,
// euclidean) over all triplets + gradients.  Inputs: label (i >> 2) mod max(1, N/4), a random
// center per class plus 3× noise; M = N is the batch against itself, else a memory bank.
//
// --before-addon FILE: also time the API with another build of the addon (FUSEDLOSS_ADDON_PATH),
// its children alternating with this build's (two each, the lower median kept), for a
// before/after column measured in the same run.  The issue-14.4 targets (ms at 1024² and
// 512 × 65,536 against PML, all triplets at 1024², D = 128) get their own table and verdicts;
// --issue14 runs those three rows only.

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const common = require('./common');

const { mib, MiB } = common;

const ROOT = path.join(__dirname, '..');
const WORK_BUFFER_BYTES = 64 * MiB;
const MEMORY_SLACK_BYTES = 48 * MiB;
const WORKLOADS = ['ms', 'batch-hard', 'triplets'];
/** The TypeScript fallback runs by default only up to this many N·M·D multiply-adds. */
const JS_MAX_WORK = 2 ** 28;
/** Noise around the class centers (as bench/pairs_cpu_bench.cc): a good share of triplets violate the margin. */
const NOISE = 3;

function parseArgs(argv) {
  const o = {
    sizes: [[256, 256], [1024, 1024], [4096, 4096], [512, 65536]], dims: [128, 512], workloads: WORKLOADS,
    quick: false, js: true, harness: true, pml: true, pmlSrc: process.env.PML_SRC || null, python: null,
    json: path.join(__dirname, 'results', 'pairs.json'), beforeAddon: null, issue14: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${flag} needs a value`);
      return argv[++i];
    };
    if (flag === '--sizes') {
      o.sizes = value().split(',').map((item) => {
        const match = /^(\d+)(?:x(\d+))?$/.exec(item.trim());
        if (!match) throw new Error(`--sizes: '${item}' is not N or NxM`);
        return [Number(match[1]), Number(match[2] || match[1])];
      });
    } else if (flag === '--dims') o.dims = value().split(',').map(Number);
    else if (flag === '--workloads') o.workloads = value().split(',');
    else if (flag === '--quick') o.quick = true;
    else if (flag === '--no-js') o.js = false;
    else if (flag === '--no-harness') o.harness = false;
    else if (flag === '--no-pml') o.pml = false;
    else if (flag === '--pml-src') o.pmlSrc = path.resolve(value());
    else if (flag === '--python') o.python = value();
    else if (flag === '--json') o.json = path.resolve(value());
    else if (flag === '--before-addon') o.beforeAddon = path.resolve(value());
    else if (flag === '--issue14') o.issue14 = true;
    else if (flag === '--help' || flag === '-h') {
      console.log('node bench/pairs.bench.js [--sizes N,NxM,...] [--dims D,...] [--workloads ms,batch-hard,triplets] [--quick]');
      console.log('                         [--no-js] [--no-harness] [--no-pml] [--pml-src DIR] [--python BIN] [--json FILE]');
      console.log('                         [--before-addon FILE] [--issue14]');
      console.log('  --quick     sizes 256,1024 and D 128 only, fewer runs');
      console.log('  --pml-src   a pytorch-metric-learning checkout\'s src/ (or set PML_SRC); else an installed one is used if any');
      console.log('  --before-addon  also time the API with this addon binary, alternating with the current one (before/after)');
      console.log('  --issue14   only the three rows of issue 14.4\'s targets (instead of --sizes × --dims × --workloads)');
      process.exit(0);
    } else throw new Error(`unknown flag ${flag}`);
  }
  if (o.quick && !argv.includes('--sizes')) o.sizes = [[256, 256], [1024, 1024]];
  if (o.quick && !argv.includes('--dims')) o.dims = [128];
  for (const w of o.workloads) if (!WORKLOADS.includes(w)) throw new Error(`--workloads: unknown '${w}'`);
  return o;
}

// ---------------------------------------------------------------- child: one API configuration

/**
 * Standard normals from a counter-based hash (lowbias32 of the index, Box–Muller on pairs), so
 * bench/pml_pairs.py draws the very same float32 inputs with NumPy and the two losses compare.
 */
function hashUniform(index) {
  let x = (Math.imul(index, 0x9e3779b9) + 0x632be5ab) >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  x ^= x >>> 16;
  return ((x >>> 0) + 0.5) / 4294967296;
}

function hashNormals(count, offset) {
  const out = new Float32Array(count);
  for (let k = 0; k < count; k++) {
    const i = offset + k;
    out[k] = Math.sqrt(-2 * Math.log(hashUniform(2 * i))) * Math.cos(2 * Math.PI * hashUniform(2 * i + 1));
  }
  return out;
}

/** Rows (label (i >> 2) mod classes) = class center + NOISE · normal; queries, then the reference set. */
function makeInputs(n, m, d) {
  const classes = Math.max(1, Math.floor(n / 4));
  const centers = hashNormals(classes * d, 0);
  let offset = classes * d;
  const rows = (count) => {
    const noise = hashNormals(count * d, offset);
    offset += count * d;
    const data = new Float32Array(count * d);
    const labels = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      labels[i] = (i >> 2) % classes;
      for (let k = 0; k < d; k++) data[i * d + k] = centers[labels[i] * d + k] + NOISE * noise[i * d + k];
    }
    return { data, labels };
  };
  const x = rows(n);
  const args = { embeddings: { data: x.data, shape: [n, d] }, labels: x.labels };
  if (m !== n) {
    const y = rows(m);
    Object.assign(args, { ref: { data: y.data, shape: [m, d] }, refLabels: y.labels });
  }
  return args;
}

function workloadCall(fusedloss, workload, base) {
  if (workload === 'ms') return () => fusedloss.pairLoss({ ...base, miner: { type: 'multi-similarity', epsilon: 0.1 }, loss: { type: 'multi-similarity' } });
  if (workload === 'batch-hard') return () => fusedloss.mine({ ...base, miner: { type: 'batch-hard' } });
  return () => fusedloss.pairLoss({ ...base, loss: { type: 'triplet-margin', margin: 0.05 } });
}

const valueOf = (result) => (result.loss !== undefined ? result.loss : result.anchors.length);
const outputBytesOf = (result) =>
  Object.values(result).reduce((sum, v) => sum + (ArrayBuffer.isView(v) ? v.byteLength : 0), 0);

async function child({ workload, n, m, d, backend, plan, addon }) {
  if (addon) process.env.FUSEDLOSS_ADDON_PATH = addon;
  const fusedloss = common.loadFusedloss();
  const base = { ...makeInputs(n, m, d), backend };
  const call = workloadCall(fusedloss, workload, base);
  if (global.gc) global.gc();
  const baselineKiB = process.resourceUsage().maxRSS;
  const start = common.nowSeconds();
  let result = call();
  const firstSeconds = common.nowSeconds() - start;
  const peakKiB = process.resourceUsage().maxRSS;
  const first = { value: valueOf(result), backend: result.backend, outputBytes: outputBytesOf(result) };
  result = null;
  const timing = await common.timeRuns(() => valueOf(call()), { warmup: 0, ...plan });
  return {
    workload, n, m, d, backend: first.backend, value: first.value, firstCallSeconds: firstSeconds,
    seconds: timing.seconds, medianSeconds: timing.median, peakExtraBytes: (peakKiB - baselineKiB) * 1024, outputBytes: first.outputBytes,
  };
}

// ---------------------------------------------------------------- parent

/** Issue 14, point 4 (D = 128): the three rows, their goals (ratio to PML in the same run, or a time). */
const ISSUE14_TARGETS = [
  { workload: 'ms', n: 1024, m: 1024, d: 128, label: 'multi-similarity mine + loss + gradients, N = M = 1024', minPmlRatio: 12 },
  { workload: 'ms', n: 512, m: 65536, d: 128, label: 'multi-similarity mine + loss + gradients, N = 512 × M = 65,536', minPmlRatio: 50 },
  { workload: 'triplets', n: 1024, m: 1024, d: 128, label: 'all-triplets triplet-margin loss + gradients, N = M = 1024', maxSeconds: 0.02 },
];

/** Each issue-14.4 target with its row (if this run measured it) and verdict: 'met', 'MISSED' or null (not measured). */
function issue14Results(rows) {
  return ISSUE14_TARGETS.map((target) => {
    const row = rows.find((r) => r.workload === target.workload && r.n === target.n && r.m === target.m && r.d === target.d);
    const ours = row && row.api && row.api.medianSeconds;
    const pml = row && row.pml && row.pml.medianSeconds;
    let verdict = null;
    if (target.minPmlRatio && Number.isFinite(ours) && Number.isFinite(pml)) verdict = pml / ours >= target.minPmlRatio ? 'met' : 'MISSED';
    if (target.maxSeconds && Number.isFinite(ours)) verdict = ours <= target.maxSeconds ? 'met' : 'MISSED';
    return { target, row, ours, pml, verdict };
  });
}

const goalOf = (t) => (t.minPmlRatio ? `≥ ${t.minPmlRatio}× PML` : `≤ ${common.fixed(t.maxSeconds * 1e3, 0)} ms`);

function printIssue14Targets(rows, options) {
  const results = issue14Results(rows).filter((x) => x.row);
  if (!results.length) return;
  const headers = ['issue 14.4 target', 'ours s', ...(options.beforeAddon ? ['before s', 'before/ours'] : []), 'PML s', 'PML/ours', 'goal', 'verdict'];
  console.log(`\nIssue 14.4 targets (the rows above; load average ${os.loadavg().map((x) => x.toFixed(1)).join(', ')} now):`);
  console.log(common.table(headers, results.map(({ target, row, ours, pml, verdict }) => [
    target.label, secs(row.api), ...(options.beforeAddon ? [secs(row.before), times(row.before && row.before.medianSeconds, ours)] : []),
    secs(row.pml), times(pml, ours), goalOf(target), verdict || 'not measured',
  ]), ['l']));
}

function issue14Checks(rows) {
  return issue14Results(rows).filter((x) => x.verdict).map(({ target, ours, pml, verdict }) => [
    `issue 14.4: ${target.label}, D = ${target.d}: ${goalOf(target)}`, verdict,
    target.minPmlRatio ? `${common.fixed(ours * 1e3, 1)} ms against ${common.fixed(pml * 1e3, 0)} ms, ${times(pml, ours)}` : `${common.fixed(ours * 1e3, 1)} ms`,
  ]);
}

function findHarness() {
  const candidates = ['build/pairs_cpu_bench', 'build-bench/pairs_cpu_bench'].map((p) => path.join(ROOT, p)).filter((p) => fs.existsSync(p));
  candidates.sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  return candidates[0] || null;
}

function findPml(options) {
  const pythons = options.python ? [options.python] : ['python3', '/usr/bin/python3'];
  // What bench/pml_pairs.py imports (PML's losses need scipy and tqdm besides torch).
  const probe = `import sys; ${options.pmlSrc ? `sys.path.insert(0, ${JSON.stringify(options.pmlSrc)}); ` : ''}import torch; from pytorch_metric_learning import losses, miners`;
  for (const python of pythons) {
    const run = spawnSync(python, ['-c', probe], { encoding: 'utf8' });
    if (!run.error && run.status === 0) return python;
  }
  return null;
}

/** Rough bytes PML needs (its N×M copies; for all triplets the N×M×M mask and int64 indices). */
function pmlBytes(workload, n, m, pairsPerRow) {
  if (workload === 'triplets') return n * m * m + 3 * 8 * n * pairsPerRow.pos * pairsPerRow.neg + 12 * 4 * n * m;
  return 12 * 4 * n * m;
}

function runPlan(quick, n, m, d) {
  if (quick) return { minRuns: 2, maxRuns: 3, budgetSeconds: 1 };
  return n * m * d > 2 ** 33 ? { minRuns: 2, maxRuns: 3, budgetSeconds: 3 } : { minRuns: 3, maxRuns: 7, budgetSeconds: 3 };
}

const secs = (r) => (r && Number.isFinite(r.medianSeconds) ? common.fixed(r.medianSeconds, 4) : r && r.failed ? 'failed' : r && r.skipped ? 'skipped' : '—');
const times = (slow, fast) => (Number.isFinite(slow) && Number.isFinite(fast) ? `${common.fixed(slow / fast, 1)}×` : '—');

async function main() {
  let options;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (error) {
    console.error(`pairs.bench.js: ${error.message} (see --help)`);
    process.exit(2);
  }
  const fusedloss = common.loadFusedloss();
  const info = fusedloss.backendInfo();
  const machine = common.machineInfo();
  const started = new Date();
  if (options.issue14) console.log(`pair bench: issue 14.4's rows (${ISSUE14_TARGETS.map((t) => `${t.workload} ${t.n}×${t.m}`).join(', ')}; D = 128)`);
  else console.log(`pair bench: workloads ${options.workloads.join(', ')}; N×M ∈ {${options.sizes.map(([n, m]) => `${n}×${m}`).join(', ')}}; D ∈ {${options.dims.join(', ')}}`);
  console.log(`Machine: ${machine.cpuModel}, ${machine.logicalCores} logical cores, ${machine.totalMemoryGiB} GiB, Node ${machine.node}`);
  console.log(common.describeBackends(info));
  const busy = common.loadWarning();
  if (busy) console.log(busy);
  if (!info.native) {
    console.log('Native backend unavailable: nothing to bench.');
    process.exit(1);
  }
  const threads = info.threads;
  const harness = options.harness ? findHarness() : null;
  const python = options.pml ? findPml(options) : null;
  console.log(`Unfused C++ baseline: ${harness ? path.relative(ROOT, harness) : options.harness ? 'not built (`npm run bench:kernel:pairs` builds it)' : 'disabled'}`);
  console.log(`pytorch-metric-learning: ${python ? `${python}${options.pmlSrc ? ` with ${options.pmlSrc}` : ''}` : options.pml ? 'torch or pytorch_metric_learning not importable (--pml-src DIR, PML_SRC)' : 'disabled'}`);

  const rows = [];
  const configs = options.issue14
    ? ISSUE14_TARGETS.map(({ workload, n, m, d }) => ({ workload, n, m, d }))
    : options.dims.flatMap((d) => options.sizes.flatMap(([n, m]) => options.workloads.map((workload) => ({ workload, n, m, d }))));
  for (const { workload, n, m, d } of configs) {
    const self = n === m;
    const classes = Math.max(1, Math.floor(n / 4));
    const perClass = self ? 4 : m / classes;
    const pairsPerRow = { pos: self ? 3 : perClass, neg: m - (self ? 4 : perClass) };
    const row = { workload, n, m, d };
    rows.push(row);
    const tag = `${workload} N=${n} M=${m} D=${d}`;
    const apiSpec = { workload, n, m, d, backend: 'cpu', plan: runPlan(options.quick, n, m, d) };
    if (options.beforeAddon) {
      // Alternating children, the lower median of each build (the noise of a shared machine
      // mostly adds time).
      const lower = (a, b) => (!Number.isFinite(b.medianSeconds) || a.medianSeconds <= b.medianSeconds ? a : b);
      const tries = { api: [], before: [] };
      for (let k = 0; k < 2; k++) {
        tries.before.push(common.runBenchChild(__filename, { ...apiSpec, addon: options.beforeAddon }));
        tries.api.push(common.runBenchChild(__filename, apiSpec));
      }
      row.before = tries.before.reduce(lower);
      row.api = tries.api.reduce(lower);
    } else {
      row.api = common.runBenchChild(__filename, apiSpec);
    }
    if (options.js && n * m * d <= JS_MAX_WORK) row.js = common.runBenchChild(__filename, { workload, n, m, d, backend: 'js', plan: { minRuns: 1, maxRuns: 2, budgetSeconds: 2 } });
    if (harness) {
      const h = common.runJson(harness, [workload, n, m, d, threads, options.quick ? 1 : 3].map(String));
      row.harness = h.failed ? h : { fused: h.fused, unfused: h.unfused, triplets: h.triplets };
    }
    if (python) {
      const memory = common.memoryAllows(pmlBytes(workload, n, m, pairsPerRow));
      const runs = options.quick || n * m * d > 2 ** 31 ? 1 : 3;
      row.pml = memory.ok
        ? common.runJson(python, [path.join(__dirname, 'pml_pairs.py'), '--workload', workload, '--n', n, '--m', m, '--d', d, '--threads', threads, '--runs', runs,
            ...(options.pmlSrc ? ['--pml-src', options.pmlSrc] : [])].map(String))
        : { skipped: `out of memory: ${memory.note}` };
    }
    console.error(`  ${tag}: API ${secs(row.api)} s, js ${secs(row.js)}, unfused ${row.harness && row.harness.unfused ? common.fixed(row.harness.unfused.seconds, 4) : '—'}, PML ${secs(row.pml)}`);
  }

  const headers = ['workload', 'N', 'M', 'D', 'ours s', 'extra MiB', 'beyond outputs MiB', 'N×M MiB', 'js s', 'unfused C++ s (MiB)', 'vs unfused', 'PML s (MiB)', 'vs PML', 'value rel. Δ vs PML'];
  const relDiff = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? Math.abs(a - b) / Math.abs(b) : NaN);
  console.log('');
  console.log(common.table(headers, rows.map((r) => {
    const a = r.api || {};
    const u = r.harness && r.harness.unfused;
    return [
      r.workload, r.n, r.m, r.d, secs(a), mib(a.peakExtraBytes), mib(a.peakExtraBytes - a.outputBytes), mib(4 * r.n * r.m), secs(r.js),
      u ? `${common.fixed(u.seconds, 4)} (${u.peakExtraMiB.toFixed(0)})` : r.harness && r.harness.failed ? 'failed' : '—',
      u ? times(u.seconds, a.medianSeconds) : '—',
      r.pml && Number.isFinite(r.pml.medianSeconds) ? `${common.fixed(r.pml.medianSeconds, 4)} (${r.pml.peakExtraMiB.toFixed(0)})` : r.pml ? (r.pml.skipped ? 'OOM (skipped)' : 'failed') : '—',
      r.pml ? times(r.pml.medianSeconds, a.medianSeconds) : '—',
      r.pml && Number.isFinite(r.pml.value) ? relDiff(a.value, r.pml.value).toExponential(1) : '—',
    ];
  })));
  console.log('\nours = the public API on the native CPU backend (median after one warm-up); "extra" = peak RSS growth of its child');
  console.log('process during the first call, returned arrays included; "beyond outputs" subtracts them; "N×M" = one float32');
  console.log('similarity matrix, what the unfused forms hold (several times). unfused C++ = bench/pairs_cpu_bench (one run);');
  console.log('PML = pytorch-metric-learning on the PyTorch CPU (bench/pml_pairs.py), same threads, the same float32 inputs (a counter-based');
  console.log('hash both sides draw); "value" = the loss (ms, triplets) or the number of mined triplets (batch-hard). The C++ harness draws its own.');
  printIssue14Targets(rows, options);
  const firstPml = rows.find((r) => r.pml && r.pml.torch);
  if (firstPml) console.log(`PML ${firstPml.pml.pml}, torch ${firstPml.pml.torch}, Python ${firstPml.pml.python}.`);
  for (const r of rows) {
    for (const [name, part] of [['API', r.api], ['API before', r.before], ['js', r.js], ['C++ harness', r.harness], ['PML', r.pml]]) {
      if (part && (part.failed || part.skipped)) console.log(`${name} at ${r.workload} N=${r.n} M=${r.m} D=${r.d}: ${part.failed || part.skipped}`);
    }
  }

  // Checks against the issue's targets.
  const checks = [];
  const measured = rows.filter((r) => r.api && Number.isFinite(r.api.medianSeconds));
  const bound = (r) => 4 * 4 * (r.n + r.m) * r.d + WORK_BUFFER_BYTES + MEMORY_SLACK_BYTES;
  const over = measured.filter((r) => r.api.peakExtraBytes - r.api.outputBytes > bound(r));
  checks.push(['extra memory beyond outputs ≤ 16·(N+M)·D + 64 MiB work + 48 MiB slack (independent of N·M)', over.length ? 'MISSED' : 'met',
    over.map((r) => `${r.workload} ${r.n}×${r.m}×${r.d}: ${mib(r.api.peakExtraBytes - r.api.outputBytes)}/${mib(bound(r))} MiB`).join(', ')]);
  const big = measured.filter((r) => r.workload === 'triplets' && r.n === 4096 && r.m === 4096);
  if (big.length) checks.push(['all-triplets loss at N = M = 4096 well under a second', big.every((r) => r.api.medianSeconds < 0.5) ? 'met' : 'MISSED',
    big.map((r) => `D=${r.d}: ${common.fixed(r.api.medianSeconds, 3)} s`).join(', ')]);
  const pml1024 = measured.filter((r) => r.n === 1024 && r.m === 1024 && r.pml && Number.isFinite(r.pml.medianSeconds));
  if (pml1024.length) checks.push(['≥ 3× faster than PML at N = M = 1024', pml1024.every((r) => r.pml.medianSeconds / r.api.medianSeconds >= 3) ? 'met' : 'MISSED',
    pml1024.map((r) => `${r.workload} D=${r.d}: ${times(r.pml.medianSeconds, r.api.medianSeconds)}`).join(', ')]);
  checks.push(...issue14Checks(rows));
  const pmlOom = rows.filter((r) => r.pml && r.pml.skipped && r.api && Number.isFinite(r.api.medianSeconds));
  if (pmlOom.length) checks.push(['sizes PML cannot run here (memory) that we run', 'met', pmlOom.map((r) => `${r.workload} ${r.n}×${r.m}×${r.d}`).join(', ')]);
  console.log('\nChecks:');
  for (const [label, status, detail] of checks) console.log(`  [${status.padEnd(6)}] ${label}${detail ? ` — ${detail}` : ''}`);

  fs.mkdirSync(path.dirname(options.json), { recursive: true });
  const report = { date: started.toISOString(), command: `node bench/pairs.bench.js ${process.argv.slice(2).join(' ')}`.trim(), options, machine,
    backendInfo: info, checks, rows, elapsedSeconds: (Date.now() - started.getTime()) / 1e3 };
  fs.writeFileSync(options.json, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nRaw numbers: ${path.relative(process.cwd(), options.json)} (total ${common.fixed(report.elapsedSeconds, 0)} s)`);
  if (rows.some((r) => r.api && r.api.failed)) process.exit(1);
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
