'use strict';
// Shared helpers for the benches (crps, margin, pair) and examples/demo.js: seeded random numbers,
// timing, memory-copy baseline, child processes that report JSON, a free-memory check, number
// formatting and plain-text tables.  No dependencies.

const { spawnSync } = require('child_process');
const os = require('os');
const path = require('path');

const MiB = 2 ** 20;

/** The built package (dist/cjs + build/Release addon), as a user would require it. */
function loadFusedloss() {
  return require(path.join(__dirname, '..'));
}

/** mulberry32: a small, fast, seeded PRNG returning floats in [0, 1). */
function seededRandom(seed) {
  let state = seed >>> 0;
  return function next() {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal sampler (Box–Muller) on top of a uniform PRNG. */
function seededNormal(seed) {
  const uniform = seededRandom(seed);
  let spare = null;
  return function nextNormal() {
    if (spare !== null) {
      const value = spare;
      spare = null;
      return value;
    }
    const u = 1 - uniform(); // (0, 1], keeps log finite
    const v = uniform();
    const radius = Math.sqrt(-2 * Math.log(u));
    spare = radius * Math.sin(2 * Math.PI * v);
    return radius * Math.cos(2 * Math.PI * v);
  };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function nowSeconds() {
  return Number(process.hrtime.bigint()) / 1e9;
}

/**
 * Times fn(): `warmup` untimed calls, then at least minRuns and at most maxRuns timed calls,
 * stopping once budgetSeconds of timed work is spent.  Returns { seconds[], median, best, last }.
 * The event loop turns once before each call, outside the timed part, as it does between the
 * steps of any real program: that is when Node runs the finalizers that hand dropped outputs'
 * memory back for reuse (a tight synchronous loop never lets them run).
 */
async function timeRuns(fn, { warmup = 1, minRuns = 3, maxRuns = 7, budgetSeconds = 10 } = {}) {
  const turnEventLoop = () => new Promise((resolve) => setImmediate(resolve));
  let last;
  for (let i = 0; i < warmup; i++) {
    await turnEventLoop();
    last = fn();
  }
  const seconds = [];
  let spent = 0;
  while (seconds.length < minRuns || (seconds.length < maxRuns && spent < budgetSeconds)) {
    await turnEventLoop();
    const start = nowSeconds();
    last = fn();
    const elapsed = nowSeconds() - start;
    seconds.push(elapsed);
    spent += elapsed;
  }
  return { seconds, median: median(seconds), best: Math.min(...seconds), last };
}

/**
 * Memory-copy baseline: Float32Array.prototype.set of `source` into a fresh buffer of the same
 * size, best of `runs` after one warm-up (which also faults the destination in).
 * Bytes counted: read + write = 2 × source bytes.
 */
function copyBandwidth(source, runs = 7) {
  let target = new Float32Array(source.length);
  target.set(source);
  const seconds = [];
  for (let i = 0; i < runs; i++) {
    const start = nowSeconds();
    target.set(source);
    seconds.push(nowSeconds() - start);
  }
  target = null;
  const bytes = 2 * source.byteLength;
  const best = Math.min(...seconds);
  return { bytes, seconds, bestSeconds: best, gbPerSecond: bytes / best / 1e9 };
}

/** Allocation + first write of a fresh buffer (page faults included), best of `runs`. */
function firstTouchBandwidth(length, runs = 3) {
  const seconds = [];
  for (let i = 0; i < runs; i++) {
    const start = nowSeconds();
    new Float32Array(length).fill(1);
    seconds.push(nowSeconds() - start);
  }
  const bytes = 4 * length;
  const best = Math.min(...seconds);
  return { bytes, seconds, bestSeconds: best, gbPerSecond: bytes / best / 1e9 };
}

/**
 * Runs `command args` and parses the last line of its stdout as JSON; { failed: why } when it
 * fails, times out or prints no JSON (the last stderr lines say why).
 */
function runJson(command, args, timeoutMinutes = 20) {
  const run = spawnSync(command, args, {
    cwd: path.join(__dirname, '..'), encoding: 'utf8', maxBuffer: 16 << 20, timeout: timeoutMinutes * 60e3, stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (run.error || run.status !== 0) {
    const why = run.error ? run.error.message : (run.stderr || '').trim().split('\n').filter(Boolean).slice(-3).join(' / ') || `exit ${run.status}, signal ${run.signal}`;
    return { failed: why };
  }
  const lines = run.stdout.trim().split('\n');
  try {
    return JSON.parse(lines[lines.length - 1]);
  } catch {
    return { failed: `no JSON in output: ${lines.slice(-1)[0]}` };
  }
}

/** One measurement in a fresh Node process (`script --child spec`, with --expose-gc), so sizes do not share a heap. */
function runBenchChild(script, spec) {
  return runJson(process.execPath, ['--expose-gc', script, '--child', JSON.stringify(spec)]);
}

/** Whether `bytes` fit in 80 % of the free memory, with a note for skipped rows. */
function memoryAllows(bytes) {
  const free = Math.min(os.freemem(), os.totalmem());
  return { ok: bytes <= 0.8 * free, note: `needs ≈${(bytes / 2 ** 30).toFixed(1)} GiB, ${(free / 2 ** 30).toFixed(1)} GiB free of ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB` };
}

/** Whole MiB, or '—'. */
const mib = (bytes) => (Number.isFinite(bytes) ? (bytes / MiB).toFixed(0) : '—');

function machineInfo() {
  const cpus = os.cpus();
  return {
    cpuModel: cpus.length ? cpus[0].model.trim() : 'unknown',
    logicalCores: cpus.length,
    totalMemoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    loadAverage1m: +os.loadavg()[0].toFixed(2),
  };
}

/** A warning line when other processes load the machine (timings are then unreliable), else ''. */
function loadWarning() {
  const load = os.loadavg()[0];
  const cores = os.cpus().length;
  return load > 0.5 * cores ? `WARNING: 1-minute load average ${load.toFixed(1)} on ${cores} cores before the run; other processes compete and timings are unreliable.` : '';
}

/**
 * The environment for NumPy children as its users get it: OpenBLAS not pinned to an older core
 * type (some images set OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE; issue 14 asks to measure without them).
 */
function numpyEnvironment() {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  return env;
}

/** One-line summary of backendInfo(). */
function describeBackends(info) {
  const native = info.native ? `native addon loaded (simd ${info.simd}, ${info.threads} threads)` : `no native addon (${info.loadError})`;
  const cuda = info.cuda.available
    ? `CUDA available (${info.cuda.devices.map((d) => `${d.name}, cc ${d.computeCapability}`).join('; ')})`
    : `CUDA unavailable: ${info.cuda.reason}`;
  return `fusedloss ${info.version}: ${native}; ${cuda}`;
}

/** Formats n with k significant digits and an SI suffix (1.23M, 45.6k). */
function si(value, digits = 3) {
  if (!Number.isFinite(value)) return String(value);
  const units = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
  for (const [scale, suffix] of units) if (Math.abs(value) >= scale) return `${(value / scale).toPrecision(digits)}${suffix}`;
  return value.toPrecision(digits);
}

function fixed(value, decimals = 2) {
  return Number.isFinite(value) ? value.toFixed(decimals) : '—';
}

/** Renders rows under headers as a Markdown table; align[i] 'l' left-aligns column i (default right). */
function table(headers, rows, align = []) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const pad = (c, i) => (align[i] === 'l' ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]));
  const line = (cells) => `| ${cells.map(pad).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (align[i] === 'l' ? ':' + '-'.repeat(w + 1) : '-'.repeat(w + 1) + ':')).join('|')}|`;
  return [line(headers), rule, ...rows.map(line)].join('\n');
}

module.exports = {
  MiB,
  numpyEnvironment,
  runJson,
  runBenchChild,
  memoryAllows,
  mib,
  loadFusedloss,
  seededRandom,
  seededNormal,
  median,
  nowSeconds,
  timeRuns,
  copyBandwidth,
  firstTouchBandwidth,
  machineInfo,
  describeBackends,
  loadWarning,
  si,
  fixed,
  table,
};
