'use strict';
// Smoke test of an installed fusedloss (scripts/pack-smoke.sh copies this folder into a consumer
// project next to node_modules/fusedloss): the addon was loaded from prebuilds/, and every kernel
// (crps, marginSoftmax, mine, pairLoss) runs on each available backend with the answers of the
// TypeScript backend.  `api` is the package as the caller imported it (require or import).
const assert = require('node:assert/strict');
const path = require('node:path');

function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  };
}
const floats = (n, seed) => Float32Array.from({ length: n }, rng(seed));
const labelsOf = (n, classes) => Int32Array.from({ length: n }, (_, i) => i % classes);

function close(actual, expected, what) {
  const a = typeof actual === 'number' ? [actual] : actual;
  const e = typeof expected === 'number' ? [expected] : expected;
  assert.equal(a.length, e.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) {
    const tol = 1e-4 * Math.max(1, Math.abs(e[i]));
    if (!(Math.abs(a[i] - e[i]) <= tol)) assert.fail(`${what}[${i}]: ${a[i]} vs ${e[i]} (TypeScript backend)`);
  }
}

const N = 24;
const D = 8;
const crpsArgs = { ensemble: { data: floats(64 * 11, 1), shape: [64, 11] }, observations: floats(64, 2), estimator: 'fair', gradients: true };
const marginArgs = {
  embeddings: { data: floats(N * D, 3), shape: [N, D] },
  weights: { data: floats(10 * D, 4), shape: [10, D] },
  labels: labelsOf(N, 10),
  margin: { type: 'arcface', m: 0.5 },
  scale: 16,
};
const pairBase = { embeddings: { data: floats(N * D, 5), shape: [N, D] }, labels: labelsOf(N, 4) };

const kernels = {
  crps: (api, backend) => {
    const r = api.crps({ ...crpsArgs, backend });
    return { backend: r.backend, values: { mean: r.mean, scores: r.scores, gradEnsemble: r.gradEnsemble } };
  },
  marginSoftmax: (api, backend) => {
    const r = api.marginSoftmax({ ...marginArgs, backend });
    return { backend: r.backend, values: { loss: r.loss, gradEmbeddings: r.gradEmbeddings, gradWeights: r.gradWeights } };
  },
  mine: (api, backend) => {
    const r = api.mine({ ...pairBase, miner: { type: 'multi-similarity', epsilon: 0.1 }, backend });
    assert.ok(r.positiveAnchors.length + r.negativeAnchors.length > 0, 'mine: no pairs mined');
    return { backend: r.backend, exact: { positiveAnchors: r.positiveAnchors, positives: r.positives, negativeAnchors: r.negativeAnchors, negatives: r.negatives } };
  },
  pairLoss: (api, backend) => {
    const r = api.pairLoss({ ...pairBase, loss: { type: 'multi-similarity', alpha: 2, beta: 50, base: 0.5 }, backend });
    return { backend: r.backend, values: { loss: r.loss, gradEmbeddings: r.gradEmbeddings } };
  },
};

module.exports = function smoke(api, how) {
  const info = api.backendInfo();
  assert.equal(info.native, true, `${how}: native addon not loaded: ${info.loadError}`);
  const prebuilds = path.join('node_modules', 'fusedloss', 'prebuilds') + path.sep;
  assert.ok(info.binary && info.binary.includes(prebuilds), `${how}: addon not from prebuilds/: ${info.binary}`);
  if (process.env.FUSEDLOSS_SMOKE_EXPECT_CUDA === '1') {
    // Built with CUDA: without a driver it says why, never "this build … has no CUDA backend".
    assert.ok(info.cuda.available || !/no CUDA backend/.test(info.cuda.reason ?? ''), `${how}: prebuilt binary without CUDA: ${info.cuda.reason}`);
  }
  // The WebAssembly kernels ship in dist/ when npm run build:wasm ran before packing (CI requires it).
  const wasm = info.wasm.available || process.env.FUSEDLOSS_REQUIRE_WASM === '1';
  const backends = [...(info.cuda.available ? ['cuda'] : []), 'cpu', ...(wasm ? ['wasm'] : [])];
  const ran = [];
  for (const [name, run] of Object.entries(kernels)) {
    const reference = run(api, 'js');
    assert.equal(reference.backend, 'js');
    for (const backend of backends) {
      const got = run(api, backend);
      assert.equal(got.backend, backend, `${name}: ran on ${got.backend}, asked for ${backend}`);
      for (const [key, value] of Object.entries(got.values ?? {})) close(value, reference.values[key], `${how} ${name} ${backend} ${key}`);
      for (const [key, value] of Object.entries(got.exact ?? {})) assert.deepEqual(value, reference.exact[key], `${how} ${name} ${backend} ${key}`);
    }
    assert.equal(run(api, 'auto').backend, backends[0], `${name}: 'auto' did not pick ${backends[0]}`);
    ran.push(name);
  }
  console.log(`${how}: native from ${path.relative(process.cwd(), info.binary)} (simd ${info.simd}, cuda ${info.cuda.available ? 'available' : `unavailable: ${info.cuda.reason}`}); ` +
    `${ran.join(', ')} agree with the TypeScript backend on ${backends.join(', ')}`);
};
