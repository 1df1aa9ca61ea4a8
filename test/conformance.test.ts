// Issue 10, point 7: one validation, no drift. Random calls (test/conformance-cases.ts: valid and
// invalid options of crps, marginSoftmax, mine and pairLoss at their boundaries, ±0, NaN, ±Inf,
// huge, wrong types, unknown enum strings, missing and extra keys) run on every backend, sync and
// async. Every backend must give the same outcome: the same error class and code (a documented
// ERR_FUSEDLOSS_* code, its class per the error table), or results that agree within a tolerance
// derived from how much the inputs let float32 rounding move them. Where the problem itself is
// ill-conditioned (a logit scale so large that a rounding of the cosine changes the softmax, a
// similarity on a discontinuity of the loss or miner) only the shape of the result must agree.
// Async must equal sync on the same backend bit for bit (same kernel, same inputs).
import { describe, expect, it } from 'vitest';

import { crps, crpsAsync, marginSoftmax, marginSoftmaxAsync, mine, mineAsync, pairLoss, pairLossAsync } from './api';
import { DRAW, type ConformanceCase, type Family } from './conformance-cases';
import { backendCases, Rng, testSeed } from './helpers';

const SEED = testSeed('conformance');
const BACKENDS = backendCases().filter((b) => b.available);
const CASES_PER_FAMILY = 120;

type AnyFn = (args: unknown) => unknown;
const SYNC: Record<Family, AnyFn> = { crps, marginSoftmax, mine, pairLoss } as unknown as Record<Family, AnyFn>;
const ASYNC: Record<Family, AnyFn> = { crps: crpsAsync, marginSoftmax: marginSoftmaxAsync, mine: mineAsync, pairLoss: pairLossAsync } as unknown as Record<
  Family,
  AnyFn
>;

type Rejection = { kind: 'error'; name: string; code: unknown; message: string };
type Outcome = Rejection | { kind: 'result'; result: Record<string, unknown> };

function asOutcome(error: unknown): Rejection {
  const e = error as { constructor?: { name?: string }; code?: unknown; message?: unknown };
  return { kind: 'error', name: e?.constructor?.name ?? typeof error, code: e?.code, message: String(e?.message) };
}

function runSync(c: ConformanceCase, backend: string): Outcome {
  try {
    return { kind: 'result', result: SYNC[c.family]({ ...c.args, backend }) as Record<string, unknown> };
  } catch (error) {
    return asOutcome(error);
  }
}

async function runAsync(c: ConformanceCase, backend: string): Promise<Outcome> {
  let pending: unknown;
  try {
    pending = ASYNC[c.family]({ ...c.args, backend });
  } catch (error) {
    return { ...asOutcome(error), name: 'a synchronous throw from an async function' };
  }
  try {
    return { kind: 'result', result: (await pending) as Record<string, unknown> };
  } catch (error) {
    return asOutcome(error);
  }
}

const CLASS_OF_CODE: Record<string, string> = {
  ERR_FUSEDLOSS_INVALID_ARG: 'TypeError',
  ERR_FUSEDLOSS_SHAPE: 'RangeError',
  ERR_FUSEDLOSS_LABEL: 'RangeError',
  ERR_FUSEDLOSS_OPTION: 'RangeError',
  ERR_FUSEDLOSS_TOO_LARGE: 'RangeError',
  ERR_FUSEDLOSS_BACKEND: 'Error',
};

/** A rejection must be a documented coded error whose class is the one the error table gives. */
function checkError(o: Rejection, label: string): string[] {
  const expected = typeof o.code === 'string' ? CLASS_OF_CODE[o.code] : undefined;
  if (!expected) return [`${label}: ${o.name} without a documented code (${String(o.code)}): ${o.message}`];
  return o.name === expected ? [] : [`${label}: ${o.code} is a ${o.name}, the error table says ${expected}: ${o.message}`];
}

// ---------------------------------------------------------------------------------------------
// How closely two accepted calls must agree

/** 'values': within `tol` (relative); 'shape': keys, types and lengths only. */
type Agreement = { mode: 'values'; tol: number; exactIntegers: boolean } | { mode: 'shape' };

const num = (v: unknown, fallback: number): number => (typeof v === 'number' ? v : fallback);
const floats = (v: unknown): number[] => {
  const t = v as { data?: ArrayLike<number> } | ArrayLike<number> | undefined;
  const data = t && 'data' in t ? t.data : (t as ArrayLike<number> | undefined);
  return data ? Array.from(data as ArrayLike<number>, Number) : [];
};

/** Rows of a [rows, width] row-major array. */
function rowsOf(values: number[], width: number): number[][] {
  return Array.from({ length: Math.floor(values.length / width) }, (_, i) => values.slice(i * width, (i + 1) * width));
}
const norm = (v: number[]): number => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
const cosine = (a: number[], b: number[]): number => a.reduce((s, x, k) => s + x * b[k], 0) / (norm(a) * norm(b));

/** The float64 cosines of a marginSoftmax call: [row][class] (max over sub-centers, all classes). */
function marginCosines(args: Record<string, unknown>): number[][] {
  const shape = (args.embeddings as { shape: number[] }).shape;
  const dim = shape[1];
  const x = rowsOf(floats(args.embeddings), dim);
  const wShape = (args.weights as { shape: number[] }).shape;
  let w = floats(args.weights);
  if (args.weightsLayout === 'columns') w = Array.from({ length: w.length }, (_, i) => w[(i % dim) * wShape[1] + Math.floor(i / dim)]);
  const centers = rowsOf(w, dim);
  const K = num(args.subCenters, 1);
  const classes = centers.length / K;
  return x.map((row) => Array.from({ length: classes }, (_, c) => Math.max(...centers.slice(c * K, c * K + K).map((w) => cosine(row, w)))));
}

/**
 * The margin softmax's logits are s_eff·ψ(c): a float32 rounding of c (~2^-22 after the dot
 * product and the norms) moves them by s_eff·gain·2^-20 at most. The loss and its gradient are
 * piecewise smooth in c; the pieces meet at the target cosine 0 (easyMargin), cos(π − m) (arcface's
 * fallback), cos((π − m2)/m1) (combined), a negative's τ (interclassFilter), and CurricularFace's
 * hard-negative test. A cosine within 1e-5 of such a point, or a logit error above 1e-2, leaves only
 * the shape to compare.
 */
function marginAgreement(args: Record<string, unknown>): Agreement {
  const cos = marginCosines(args);
  const x = rowsOf(floats(args.embeddings), cos.length ? floats(args.embeddings).length / cos.length : 1);
  const margin = (args.margin ?? { type: 'arcface' }) as Record<string, unknown>;
  const type = margin.type;
  const mode = args.scaleMode ?? 'fixed';
  const wNorm = Math.max(...rowsOf(floats(args.weights), x[0]?.length ?? 1).map(norm));
  let eff = num(args.scale, 64) * (mode === 'fixed' ? 1 : Math.max(...x.map(norm))) * (mode === 'product-norm' ? wNorm : 1);
  if (type === 'sphereface') eff *= num(margin.m, 4);
  if (type === 'combined') eff *= Math.max(1, Math.abs(num(margin.m1, 1)));
  const logitError = eff * 2 ** -20;
  if (!(logitError <= 1e-2) || args.curricular !== undefined) return { mode: 'shape' };
  const near = (v: number, at: number) => Math.abs(v - at) <= 1e-5;
  const labels = floats(args.labels);
  const angular = args.rowMargins ? floats((args.rowMargins as Record<string, unknown>).angular) : [];
  for (let i = 0; i < cos.length; i++) {
    const y = labels[i];
    const row = cos[i];
    if (args.interclassFilter !== undefined && row.some((c) => near(c, num(args.interclassFilter, 1)))) return { mode: 'shape' };
    if (y < 0 || !(y in row)) continue;
    const cy = row[y];
    if (margin.easyMargin === true && near(cy, 0)) return { mode: 'shape' };
    const m = angular.length ? angular[i] : num(margin.m, 0.5);
    if (type === 'arcface' && near(cy, Math.cos(Math.PI - m))) return { mode: 'shape' };
    if (type === 'combined' && near(cy, Math.cos((Math.PI - (angular.length ? angular[i] : num(margin.m2, 0.3))) / num(margin.m1, 1)))) {
      return { mode: 'shape' };
    }
  }
  return { mode: 'values', tol: 1e-4 + 8 * logitError, exactIntegers: false };
}

/**
 * Pair similarities are exact when the rows are small integers (the cases' lattice) and nothing
 * normalizes them: then every miner decision and every comparison with a margin is the same on
 * every backend, and only the loss's own float arithmetic differs. Otherwise a similarity may sit
 * on a miner's or a loss's threshold (a pair in or out, a term counted or not): shape only.
 */
function pairAgreement(args: Record<string, unknown>): Agreement {
  const small = (v: number) => Number.isNaN(v) || !Number.isFinite(v) || (Number.isInteger(v) && Math.abs(v) <= 2);
  const exactData = floats(args.embeddings).every(small) && floats(args.ref).every(small);
  return exactData && args.normalize === false ? { mode: 'values', tol: 1e-4, exactIntegers: true } : { mode: 'shape' };
}

function agreement(c: ConformanceCase): Agreement {
  if (c.family === 'crps') return { mode: 'values', tol: 1e-5, exactIntegers: true };
  if (c.family === 'marginSoftmax') return marginAgreement(c.args);
  return pairAgreement(c.args);
}

function describeArray(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (typeof v === 'number') return 'number';
  return ArrayBuffer.isView(v) ? `${v.constructor.name}(${(v as unknown as ArrayLike<number>).length})` : typeof v;
}

/** Two accepted calls: same keys, types, lengths; values per the agreement. */
function compareResults(a: Record<string, unknown>, b: Record<string, unknown>, how: Agreement, c: ConformanceCase, label: string): string[] {
  const failures: string[] = [];
  const keys = new Set([...Object.keys(a), ...Object.keys(b)].filter((k) => k !== 'backend'));
  for (const key of keys) {
    const [x, y] = [a[key], b[key]];
    // How many pairs a miner keeps is itself a decision that a rounding may flip: where the
    // similarities are not exact, mined arrays must agree in kind only.
    const kind = (v: unknown) => (how.mode === 'shape' && c.family === 'mine' ? describeArray(v).replace(/\(\d+\)$/, '') : describeArray(v));
    if (kind(x) !== kind(y)) {
      failures.push(`${label} ${key}: ${describeArray(x)} vs ${describeArray(y)}`);
      continue;
    }
    if (how.mode === 'shape' || x === undefined) continue;
    const xs = typeof x === 'number' ? [x] : Array.from(x as ArrayLike<number>);
    const ys = typeof y === 'number' ? [y] : Array.from(y as ArrayLike<number>);
    if (x instanceof Int32Array) {
      const differs = xs.findIndex((v, i) => v !== ys[i]);
      if (differs < 0) continue;
      // predictions: the largest cosine, so two classes whose cosines tie to 1e-5 are both right
      if (key === 'predictions' && !how.exactIntegers) {
        const cos = marginCosines(c.args);
        if (xs.every((v, i) => v === ys[i] || Math.abs(cos[i][v] - cos[i][ys[i]]) <= 1e-5)) continue;
      }
      failures.push(`${label} ${key}[${differs}]: ${xs[differs]} vs ${ys[differs]}`);
      continue;
    }
    const scale = ys.reduce((m, v) => (Number.isFinite(v) ? Math.max(m, Math.abs(v)) : m), 0);
    for (let i = 0; i < ys.length; i++) {
      const [u, v] = [xs[i], ys[i]];
      if (Object.is(u, v) || (Number.isNaN(u) && Number.isNaN(v))) continue;
      // The floor: values below 1e-30 (a loss of e^-70) are zero for this comparison's purpose.
      const ok = Number.isFinite(u) && Number.isFinite(v) && Math.abs(u - v) <= how.tol * (Math.abs(v) + scale) + 1e-30;
      if (!ok) {
        failures.push(`${label} ${key}[${i}]: ${u} vs ${v} (tolerance ${how.tol} of ${Math.abs(v) + scale})`);
        break;
      }
    }
  }
  return failures;
}

/** NaN-aware bitwise equality of two results (async vs sync on one backend). */
function sameBits(a: Record<string, unknown>, b: Record<string, unknown>, label: string): string[] {
  const failures: string[] = [];
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const [x, y] = [a[key], b[key]];
    if (typeof x === 'number' || typeof x === 'string' || x === undefined) {
      if (!Object.is(x, y) && !(Number.isNaN(x) && Number.isNaN(y))) failures.push(`${label} ${key}: ${String(x)} vs ${String(y)}`);
      continue;
    }
    const xs = x as ArrayLike<number>;
    const ys = y as ArrayLike<number> | undefined;
    if (!ys || describeArray(x) !== describeArray(y)) {
      failures.push(`${label} ${key}: ${describeArray(x)} vs ${describeArray(y)}`);
      continue;
    }
    for (let i = 0; i < xs.length; i++) {
      if (!Object.is(xs[i], ys[i]) && !(Number.isNaN(xs[i]) && Number.isNaN(ys[i]))) {
        failures.push(`${label} ${key}[${i}]: ${xs[i]} vs ${ys[i]}`);
        break;
      }
    }
  }
  return failures;
}

function sameOutcome(a: Outcome, b: Outcome, label: string, compare: (x: Record<string, unknown>, y: Record<string, unknown>) => string[]): string[] {
  if (a.kind === 'error' && b.kind === 'error') {
    return a.name === b.name && a.code === b.code ? [] : [`${label}: ${a.name} ${String(a.code)} (${a.message}) vs ${b.name} ${String(b.code)} (${b.message})`];
  }
  if (a.kind === 'result' && b.kind === 'result') return compare(a.result, b.result);
  const describe = (o: Outcome) => (o.kind === 'error' ? `${o.name} ${String(o.code)}: ${o.message}` : 'a result');
  return [`${label}: ${describe(a)} vs ${describe(b)}`];
}

const FAMILIES = ['crps', 'marginSoftmax', 'mine', 'pairLoss'] as const;

describe.each(FAMILIES)('conformance of %s over every backend', (family) => {
  it(`${CASES_PER_FAMILY} random valid and invalid calls: every backend, sync and async, gives the same result or the same coded error`, async () => {
    const rng = new Rng(SEED + 1000 * FAMILIES.indexOf(family));
    const failures: string[] = [];
    let accepted = 0;
    for (let n = 0; n < CASES_PER_FAMILY && failures.length < 12; n++) {
      const c = DRAW[family](rng);
      const label = `${family} #${n} (${c.label})`;
      const outcomes = BACKENDS.map((b) => ({ backend: b.name, sync: runSync(c, b.name) }));
      const reference = outcomes[0].sync;
      for (const o of outcomes) {
        if (o.sync.kind === 'error') failures.push(...checkError(o.sync, `${label} on ${o.backend}`));
        else if (o.sync.result.backend !== o.backend) failures.push(`${label}: ran on ${String(o.sync.result.backend)}, asked ${o.backend}`);
      }
      const how = reference.kind === 'result' ? agreement(c) : ({ mode: 'shape' } as const);
      for (const o of outcomes.slice(1)) {
        failures.push(...sameOutcome(o.sync, reference, `${label}: ${o.backend} vs ${outcomes[0].backend}`, (x, y) => compareResults(x, y, how, c, `${label}: ${o.backend} vs js`)));
      }
      for (const o of outcomes) {
        const asyncOutcome = await runAsync(c, o.backend);
        failures.push(...sameOutcome(asyncOutcome, o.sync, `${label}: async vs sync on ${o.backend}`, (x, y) => sameBits(x, y, `${label}: async vs sync on ${o.backend}`)));
      }
      if (reference.kind === 'result') accepted++;
    }
    // The pools are drawn so that about half the calls are valid; a run that accepts none (or
    // rejects none) has stopped testing one side.
    console.log(`[conformance ${family}] ${accepted} of ${CASES_PER_FAMILY} calls accepted, on ${BACKENDS.map((b) => b.name).join(', ')}`);
    expect(failures).toEqual([]);
  });
});
