// Random calls for test/conformance.test.ts: for each kernel family a small valid call, then 0–3
// of its options (or nested option fields) replaced by a value drawn from that option's pool:
// valid values, boundaries (±0, the ends of ranges), NaN, ±Infinity, huge, fractional, wrong types,
// unknown enum strings; or the key removed, or an unknown key added. The pools hold valid and
// invalid values alike; whether a call is valid is for fusedloss to say — identically everywhere.
import { Rng } from './helpers';

export type Family = 'crps' | 'marginSoftmax' | 'mine' | 'pairLoss';

export interface ConformanceCase {
  family: Family;
  /** What was changed from the valid base call, for failure messages. */
  label: string;
  args: Record<string, unknown>;
}

/**
 * A value to put in a call: a constant, or a generator (a function of one parameter, the Rng) for
 * fresh data. Functions of no parameter, such as the wrong-type value `() => 1`, are constants.
 */
type Draw = unknown;
const REMOVE = Symbol('remove the key');

const pick = <T>(rng: Rng, values: readonly T[]): T => values[rng.int(values.length)];

/** Numbers at and around every boundary the options have, and the non-finite ones. */
const NUMBERS: readonly number[] = [
  0, -0, 1, -1, 0.5, 0.35, 2, 3, 4, 0.1, -0.5, 0.999, 1 + 2 ** -52, 1 - 2 ** -53, Math.PI, Math.PI - 1e-9, 3.2, 28.6, 64, 1e-7, -1e-30, 5e-324,
  1e6, 2e6, 2 ** 31, 2 ** 53, 3.4e38, 1e300, -1e300, Number.MAX_VALUE, NaN, Infinity, -Infinity,
];
/** Values of the wrong type for a number, boolean or string option. */
const WRONG_TYPES: readonly unknown[] = ['1', '', null, true, false, {}, [], [1], 1n, new Number(1), () => 1, Symbol('s')];
const BOOLEANS: readonly unknown[] = [true, false, 0, 1, 'true', null];

function numberPool(): Draw[] {
  return [...NUMBERS, ...WRONG_TYPES, REMOVE];
}
function enumPool(valid: readonly string[]): Draw[] {
  return [...valid, ...valid, 'unknown', valid[0].toUpperCase(), ` ${valid[0]}`, '', 0, null, true, REMOVE];
}
function booleanPool(): Draw[] {
  return [...BOOLEANS, REMOVE];
}

/** A float vector of n values drawn from a normal distribution (rounded to float32). */
export function normals(rng: Rng, n: number, sd = 1): number[] {
  return Array.from({ length: n }, () => Math.fround(sd * rng.normal()));
}
/** Small integers in [-2, 2]: similarities and distances between such rows are exact in float32. */
function lattice(rng: Rng, n: number): number[] {
  return Array.from({ length: n }, () => rng.int(5) - 2);
}

/** Float vectors of length n with one poisoned or odd entry (3.4e38 and 1e300 included), for weights-like inputs. */
function vectorPool(n: number): Draw[] {
  const withValue = (v: number) => (rng: Rng) => {
    const out = Array.from({ length: n }, () => rng.uniform(0.1, 2));
    out[rng.int(n)] = v;
    return out;
  };
  return [
    (rng: Rng) => Array.from({ length: n }, () => rng.uniform(0.1, 2)),
    (rng: Rng) => Float32Array.from({ length: n }, () => rng.uniform(0, 3)),
    (rng: Rng) => Float64Array.from({ length: n }, () => rng.uniform(0, 3)),
    (_: Rng) => new Array<number>(n).fill(0),
    withValue(-1), withValue(-0), withValue(NaN), withValue(Infinity), withValue(1e-45),
    withValue(3.4e38), withValue(1e300),
    (rng: Rng) => Array.from({ length: n + 1 }, () => rng.uniform(0.1, 2)),
    (_: Rng) => [],
    (_: Rng) => new Int32Array(n),
    'weights',
    null,
    REMOVE,
  ];
}

/** Integer label vectors of length n in [0, classes), with odd entries. */
function labelPool(n: number, classes: number, allowIgnore: boolean): Draw[] {
  const withValue = (v: unknown) => (rng: Rng) => {
    const out: unknown[] = Array.from({ length: n }, () => rng.int(classes));
    out[rng.int(n)] = v;
    return out;
  };
  return [
    (rng: Rng) => Int32Array.from({ length: n }, () => rng.int(classes)),
    (rng: Rng) => Array.from({ length: n }, () => rng.int(classes)),
    (rng: Rng) => BigInt64Array.from({ length: n }, () => BigInt(rng.int(classes))),
    (rng: Rng) => Float32Array.from({ length: n }, () => rng.int(classes)),
    withValue(allowIgnore ? -1 : classes),
    withValue(-2), withValue(classes), withValue(0.5), withValue(NaN), withValue(2 ** 31), withValue(-(2 ** 31) - 1), withValue(-0),
    (rng: Rng) => Array.from({ length: n + 1 }, () => rng.int(classes)),
    (rng: Rng) => (rng.next() < 0.5 ? new BigInt64Array(n).fill(2n ** 40n) : new Uint8Array(n)),
    'labels',
    REMOVE,
  ];
}

interface OptionSpec {
  /** Key path from the call object: ['margin', 'm']. */
  path: string[];
  pool: Draw[];
}

function draw(rng: Rng, value: Draw): unknown {
  return typeof value === 'function' && value.length === 1 ? (value as (r: Rng) => unknown)(rng) : value;
}

/** Sets (or removes) path in args, creating the nested object when the parent is not a plain object. */
function setPath(args: Record<string, unknown>, path: string[], value: unknown): void {
  let at = args;
  for (const key of path.slice(0, -1)) {
    const next = at[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) at[key] = {};
    else at[key] = { ...(next as Record<string, unknown>) };
    at = at[key] as Record<string, unknown>;
  }
  const last = path[path.length - 1];
  if (value === REMOVE) delete at[last];
  else at[last] = value;
}

function describeValue(value: unknown): string {
  if (value === REMOVE) return '(removed)';
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'symbol' || typeof value === 'function' || value === null || value === undefined || typeof value === 'boolean') return String(value);
  if (Object.is(value, -0)) return '-0';
  if (typeof value === 'number') return String(value);
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${(value as unknown as ArrayLike<unknown>).length})`;
  if (Array.isArray(value)) return `[${value.map(describeValue).join(', ')}]`;
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return `{ ${Object.entries(value).map(([k, v]) => `${k}: ${describeValue(v)}`).join(', ')} }`;
  }
  return typeof value === 'string' ? JSON.stringify(value) : Object.prototype.toString.call(value);
}

function mutate(rng: Rng, family: Family, base: Record<string, unknown>, options: OptionSpec[]): ConformanceCase {
  const args = base;
  const changes: string[] = [];
  const count = rng.int(4); // 0–3 changes: valid calls, single faults and their combinations
  for (let c = 0; c < count; c++) {
    const option = pick(rng, options);
    const value = draw(rng, pick(rng, option.pool));
    setPath(args, option.path, value);
    changes.push(`${option.path.join('.')} = ${describeValue(value)}`);
  }
  if (rng.next() < 0.05) {
    const key = pick(rng, ['bakend', 'gradient', 'extra', '__proto__x']);
    args[key] = 1;
    changes.push(`${key} = 1 (unknown key)`);
  }
  return { family, label: changes.length ? changes.join('; ') : 'the valid base call', args };
}

// ---------------------------------------------------------------------------------------------
// Families

const P = 4; // CRPS points
const M = 3; // CRPS members

function crpsCase(rng: Rng): ConformanceCase {
  const base: Record<string, unknown> = {
    ensemble: { data: normals(rng, P * M), shape: [P, M] },
    observations: normals(rng, P),
  };
  if (rng.next() < 0.5) base.gradients = true;
  const ensembles: Draw[] = [
    (r: Rng) => ({ data: normals(r, P * M), shape: [M, P] }),
    (r: Rng) => ({ data: normals(r, P * M, 1e30), shape: [P, M] }),
    (r: Rng) => ({ data: [...normals(r, P * M - 1), NaN], shape: [P, M] }),
    (r: Rng) => ({ data: [...normals(r, P * M - 1), -Infinity], shape: [P, M] }),
    (r: Rng) => ({ data: normals(r, P), shape: [P, 1] }),
    (r: Rng) => ({ data: normals(r, P * M), shape: [P, M + 1] }),
    (r: Rng) => ({ data: normals(r, P * M), shape: [P * M] }),
    (r: Rng) => Float32Array.from(normals(r, P * M)),
    { data: [], shape: [0, M] },
    { data: new Float32Array(P * M), shape: [P, M, 1] },
    { data: new Float32Array(P * M), shape: [P, -M] },
    { data: new Float32Array(P * M), shape: [P, M + 0.5] },
    REMOVE,
  ];
  const observations: Draw[] = [
    (r: Rng) => normals(r, P),
    (r: Rng) => [...normals(r, P - 1), NaN],
    (r: Rng) => [...normals(r, P - 1), Infinity],
    (r: Rng) => normals(r, P, 3e38),
    (r: Rng) => normals(r, P + 1),
    (r: Rng) => ({ data: normals(r, P), shape: [P, 1] }),
    'observations',
    REMOVE,
  ];
  return mutate(rng, 'crps', base, [
    { path: ['ensemble'], pool: ensembles },
    { path: ['observations'], pool: observations },
    { path: ['memberAxis'], pool: [-2, -1, 0, 1, 2, -3, -0, 0.5, NaN, Infinity, 2 ** 53, '1', null, REMOVE] },
    { path: ['estimator'], pool: enumPool(['standard', 'fair', 'almost-fair', 'nrg', 'ecdf', 'qd', 'int', 'pwm']) },
    { path: ['alpha'], pool: numberPool() },
    { path: ['weights'], pool: vectorPool(P) },
    { path: ['nanPolicy'], pool: enumPool(['propagate', 'omit', 'zero']) },
    { path: ['gradients'], pool: booleanPool() },
    { path: ['gradOutput'], pool: vectorPool(P) },
    { path: ['components'], pool: booleanPool() },
  ]);
}

const N = 3; // rows
const D = 4; // width
const CENTERS = 6; // weight rows: C·K with K ∈ {1, 2, 3, 6}

function marginCase(rng: Rng): ConformanceCase {
  const base: Record<string, unknown> = {
    embeddings: { data: normals(rng, N * D), shape: [N, D] },
    weights: { data: normals(rng, CENTERS * D), shape: [CENTERS, D] },
    labels: Int32Array.from({ length: N }, () => rng.int(CENTERS)),
    margin: { type: pick(rng, ['none', 'cosface', 'arcface', 'combined', 'sphereface']) },
    scale: pick(rng, [1, 8, 30, 64]),
  };
  const m = ['margin'];
  return mutate(rng, 'marginSoftmax', base, [
    { path: ['embeddings'], pool: [(r: Rng) => ({ data: normals(r, N * D, 1e20), shape: [N, D] }), (r: Rng) => ({ data: [...normals(r, N * D - 1), NaN], shape: [N, D] }), { data: new Float32Array(N * D), shape: [N, D] }, (r: Rng) => ({ data: normals(r, N * D), shape: [N, D + 1] }), REMOVE] },
    { path: ['weights'], pool: [(r: Rng) => ({ data: normals(r, CENTERS * D), shape: [D, CENTERS] }), (r: Rng) => ({ data: [...normals(r, CENTERS * D - 1), Infinity], shape: [CENTERS, D] }), (r: Rng) => ({ data: normals(r, 5 * D), shape: [5, D] }), REMOVE] },
    { path: ['weightsLayout'], pool: enumPool(['rows', 'columns']) },
    { path: ['labels'], pool: labelPool(N, CENTERS, true) },
    { path: ['margin'], pool: [null, 'arcface', [], { m: 0.5 }, REMOVE] },
    { path: [...m, 'type'], pool: enumPool(['none', 'cosface', 'arcface', 'combined', 'sphereface']) },
    { path: [...m, 'm'], pool: numberPool() },
    { path: [...m, 'm1'], pool: numberPool() },
    { path: [...m, 'm2'], pool: numberPool() },
    { path: [...m, 'm3'], pool: numberPool() },
    { path: [...m, 'easyMargin'], pool: booleanPool() },
    { path: [...m, 'gradient'], pool: enumPool(['exact', 'straight-through']) },
    { path: [...m, 'mm'], pool: [1] },
    { path: ['rowMargins', 'angular'], pool: vectorPool(N) },
    { path: ['rowMargins', 'additive'], pool: vectorPool(N) },
    { path: ['scale'], pool: numberPool() },
    { path: ['scaleMode'], pool: enumPool(['fixed', 'feature-norm', 'product-norm']) },
    { path: ['subCenters'], pool: [1, 2, 3, 6, 4, 0, -1, 1.5, NaN, Infinity, 2 ** 31, '2', REMOVE] },
    { path: ['labelSmoothing'], pool: numberPool() },
    { path: ['interclassFilter'], pool: numberPool() },
    { path: ['curricular'], pool: [{}, null, 0.5, { t: 0 }, REMOVE] },
    { path: ['curricular', 't'], pool: numberPool() },
    { path: ['curricular', 'momentum'], pool: numberPool() },
    { path: ['classIndices'], pool: [[0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0], [0, 0, 1], [0, 6], [-1], [], [0.5], new Int32Array([2, 0, 1, 3, 4, 5]), 'all', REMOVE] },
    { path: ['rowWeights'], pool: vectorPool(N) },
    { path: ['reduction'], pool: enumPool(['mean', 'sum']) },
    { path: ['gradients'], pool: booleanPool() },
  ]);
}

const Q = 6; // queries
const R = 5; // ref rows
const W = 3; // width

/**
 * Shared options of mine and pairLoss: inputs, ref, distance, normalize; rows with NaN, ±Inf and
 * entries near 1e30 included (docs/spec/nan-inf.md: every backend mines and scores them alike).
 */
function pairOptions(): OptionSpec[] {
  return [
    { path: ['embeddings'], pool: [(r: Rng) => ({ data: normals(r, Q * W), shape: [Q, W] }), { data: new Float32Array(Q * W), shape: [Q, W] }, (r: Rng) => ({ data: lattice(r, Q * W), shape: [Q, W, 1] }), (r: Rng) => ({ data: [...lattice(r, Q * W - 1), NaN], shape: [Q, W] }), (r: Rng) => ({ data: lattice(r, Q * W).map((v) => v * 1e30), shape: [Q, W] }), REMOVE] },
    { path: ['labels'], pool: labelPool(Q, 3, false) },
    { path: ['ref'], pool: [(r: Rng) => ({ data: lattice(r, R * W), shape: [R, W] }), (r: Rng) => ({ data: [Infinity, ...lattice(r, R * W - 1)], shape: [R, W] }), (r: Rng) => ({ data: lattice(r, R * W), shape: [R, W + 1] }), REMOVE] },
    { path: ['refLabels'], pool: labelPool(R, 3, false) },
    { path: ['selfIndex'], pool: [[0, 1, 2, -1, 4, -1], [0, 1, 2, 3, 4, 5], [-2, 0, 0, 0, 0, 0], [0, 1], [0.5, 0, 0, 0, 0, 0], REMOVE] },
    { path: ['distance'], pool: enumPool(['cosine', 'dot', 'euclidean', 'squared-euclidean']) },
    { path: ['normalize'], pool: booleanPool() },
  ];
}

function minerOptions(): OptionSpec[] {
  const m = ['miner'];
  return [
    { path: m, pool: [null, 'batch-hard', {}, []] },
    { path: [...m, 'type'], pool: enumPool(['multi-similarity', 'triplet-margin', 'batch-hard', 'pair-margin']) },
    { path: [...m, 'epsilon'], pool: numberPool() },
    { path: [...m, 'margin'], pool: numberPool() },
    { path: [...m, 'triplets'], pool: enumPool(['all', 'hard', 'semihard', 'easy']) },
    { path: [...m, 'posMargin'], pool: numberPool() },
    { path: [...m, 'negMargin'], pool: numberPool() },
  ];
}

/** Exact similarities (lattice rows, no normalization) unless a change says otherwise. */
function pairBase(rng: Rng): Record<string, unknown> {
  const base: Record<string, unknown> = {
    embeddings: { data: lattice(rng, Q * W), shape: [Q, W] },
    labels: Int32Array.from({ length: Q }, () => rng.int(3)),
    distance: pick(rng, ['dot', 'euclidean', 'squared-euclidean']),
    normalize: false,
  };
  if (rng.next() < 0.4) {
    base.ref = { data: lattice(rng, R * W), shape: [R, W] };
    base.refLabels = Int32Array.from({ length: R }, () => rng.int(3));
  }
  return base;
}

function mineCase(rng: Rng): ConformanceCase {
  const base = pairBase(rng);
  base.miner = { type: pick(rng, ['multi-similarity', 'triplet-margin', 'batch-hard', 'pair-margin']) };
  return mutate(rng, 'mine', base, [
    ...pairOptions(),
    ...minerOptions(),
    { path: ['maxOutputs'], pool: [0, 1, 5, 2 ** 31 - 1, 2 ** 31, -1, 0.5, NaN, Infinity, '10', REMOVE] },
  ]);
}

function pairLossCase(rng: Rng): ConformanceCase {
  const base = pairBase(rng);
  base.loss = { type: pick(rng, ['multi-similarity', 'contrastive', 'triplet-margin', 'circle', 'ntxent', 'threshold-consistent']) };
  if (rng.next() < 0.3) base.miner = { type: pick(rng, ['multi-similarity', 'triplet-margin', 'batch-hard', 'pair-margin']) };
  const l = ['loss'];
  return mutate(rng, 'pairLoss', base, [
    ...pairOptions(),
    ...minerOptions(),
    { path: l, pool: [null, 'ntxent', {}, REMOVE] },
    { path: [...l, 'type'], pool: enumPool(['multi-similarity', 'contrastive', 'triplet-margin', 'circle', 'ntxent', 'threshold-consistent']) },
    ...['alpha', 'beta', 'base', 'posMargin', 'negMargin', 'margin', 'm', 'gamma', 'temperature', 'lambdaPlus', 'lambdaMinus', 'marginPlus', 'marginMinus'].map(
      (key) => ({ path: [...l, key], pool: numberPool() }),
    ),
    { path: ['gradients'], pool: booleanPool() },
  ]);
}

export const DRAW: Record<Family, (rng: Rng) => ConformanceCase> = {
  crps: crpsCase,
  marginSoftmax: marginCase,
  mine: mineCase,
  pairLoss: pairLossCase,
};
