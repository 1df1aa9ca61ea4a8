// The calls the browser test makes, on fixed inputs, and how their results are compared: loaded
// by the page (test/browser/page.mjs, through the browser build) and by test/browser/run.mjs in
// Node.js (through the CommonJS build), so both sides run exactly the same calls.  Plain ES module,
// no Node.js or DOM API.

/** A linear congruential stream (Numerical Recipes' constants; integer arithmetic, so the same on both sides and on every run). */
function stream(seed) {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
}

function uniform(rng, n, lo, hi) {
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * rng());
}

function integers(rng, n, lo, hi) {
  return Int32Array.from({ length: n }, () => lo + Math.floor((hi - lo + 1) * rng()));
}

/** The inputs of every call (a fresh copy each time: a call may not keep or change the caller's arrays). */
export function inputs() {
  const rng = stream(0x5eed);
  const points = 24;
  const members = 9;
  const rows = 16;
  const dim = 12;
  const classes = 7;
  return {
    crps: {
      ensemble: { data: uniform(rng, points * members, -2, 3), shape: [points, members] },
      observations: uniform(rng, points, -2, 3),
      estimator: 'fair',
      gradients: true,
    },
    marginSoftmax: {
      embeddings: { data: uniform(rng, rows * dim, -1, 1), shape: [rows, dim] },
      weights: { data: uniform(rng, classes * dim, -1, 1), shape: [classes, dim] },
      labels: integers(rng, rows, 0, classes - 1),
      margin: { type: 'arcface', m: 0.5 },
      scale: 30,
      gradients: true,
    },
    // Small integers and the dot product: every similarity is exact, so no mining decision can
    // depend on rounding and the mined sets must be equal everywhere.
    mine: {
      embeddings: { data: Float32Array.from(integers(rng, rows * dim, -3, 3)), shape: [rows, dim] },
      labels: integers(rng, rows, 0, 3),
      distance: 'dot',
      miner: { type: 'multi-similarity', epsilon: 0.5 },
    },
    pairLoss: {
      embeddings: { data: uniform(rng, rows * dim, -1, 1), shape: [rows, dim] },
      labels: integers(rng, rows, 0, 3),
      loss: { type: 'multi-similarity' },
      gradients: true,
    },
  };
}

export const KERNELS = ['crps', 'marginSoftmax', 'mine', 'pairLoss'];

/** A result as plain JSON: typed arrays as number arrays (NaN and ±Infinity as strings, which JSON lacks). */
export function plain(result) {
  const number = (v) => (Number.isFinite(v) ? v : String(v));
  return Object.fromEntries(
    Object.entries(result).map(([key, value]) => [key, ArrayBuffer.isView(value) ? Array.from(value, number) : typeof value === 'number' ? number(value) : value]),
  );
}

/** Every kernel on `backend`, sync and async (`api` is the package's namespace): { 'crps sync': result, ... }. */
export async function runAll(api, backend) {
  const results = {};
  for (const kernel of KERNELS) {
    results[`${kernel} sync`] = plain(api[kernel]({ ...inputs()[kernel], backend }));
    results[`${kernel} async`] = plain(await api[`${kernel}Async`]({ ...inputs()[kernel], backend }));
  }
  return results;
}

// How two backends' results may differ (docs/spec/<family>.md, Accuracy): each is within these of
// the float64 reference, so two of them within twice that.  Per result field: 'exact' (integers,
// mined sets), 'ulp' (crps scores: each within one float32 ulp of the exact value), 'relative'
// (scalars), 'norm' (gradients: ‖a − b‖/‖b‖).
const RULES = {
  crps: { scores: ['ulp', 2], mean: ['relative', 2e-6], gradEnsemble: ['norm', 2e-5], gradObservations: ['norm', 2e-5] },
  marginSoftmax: { loss: ['relative', 2e-5], losses: ['relative', 2e-5], predictions: ['exact'], gradEmbeddings: ['norm', 2e-4], gradWeights: ['norm', 2e-4] },
  mine: { positiveAnchors: ['exact'], positives: ['exact'], negativeAnchors: ['exact'], negatives: ['exact'] },
  pairLoss: { loss: ['relative', 2e-5], gradEmbeddings: ['norm', 2e-4] },
};

const value = (v) => (typeof v === 'string' ? Number(v) : v);

/**
 * The differences between `actual` and `expected` (two runAll results) beyond the rules (with
 * `exact`, any difference), as messages, and the largest relative difference seen per call (0
 * when bit-identical).
 */
export function compare(actual, expected, label, { exact = false } = {}) {
  const problems = [];
  const largest = {};
  for (const [call, want] of Object.entries(expected)) {
    const got = actual[call];
    const kernel = call.split(' ')[0];
    if (!got) {
      problems.push(`${label} ${call}: missing`);
      continue;
    }
    largest[call] = 0;
    for (const [field, rule] of Object.entries(RULES[kernel])) {
      if (!(field in want)) continue;
      const a = [got[field]].flat().map(value);
      const b = [want[field]].flat().map(value);
      const where = `${label} ${call} ${field}`;
      if (a.length !== b.length) {
        problems.push(`${where}: ${a.length} values, expected ${b.length}`);
        continue;
      }
      const [kind, tol] = exact ? ['exact'] : rule;
      if (kind === 'norm') {
        let diff = 0;
        let norm = 0;
        for (let i = 0; i < a.length; i++) {
          diff += (a[i] - b[i]) ** 2;
          norm += b[i] ** 2;
        }
        const rel = Math.sqrt(diff) / Math.max(Math.sqrt(norm), 1e-30);
        largest[call] = Math.max(largest[call], rel);
        if (!(rel <= tol)) problems.push(`${where}: ‖Δ‖/‖g‖ = ${rel} > ${tol}`);
        continue;
      }
      for (let i = 0; i < a.length; i++) {
        if (Object.is(a[i], b[i])) continue;
        const rel = Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), 1e-30);
        largest[call] = Math.max(largest[call], Number.isNaN(rel) ? Infinity : rel);
        const bound = kind === 'ulp' ? tol * 2 ** -23 : kind === 'relative' ? tol : 0;
        if (!(rel <= bound)) {
          problems.push(`${where}[${i}]: ${a[i]} vs ${b[i]}`);
          break;
        }
      }
    }
  }
  return { problems, largest };
}
