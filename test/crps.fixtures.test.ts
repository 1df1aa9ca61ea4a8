// Golden vectors (test/data/crps.json, copied from shared/fixtures: scoringrules 0.11 /
// properscoring / AIFS-CRPS, float64) on every backend.  Unavailable backends are reported as
// skipped.  The in-test pairwise reference is held against the same vectors first, so the random
// tests (crps.random.test.ts) rest on a reference that is itself checked.
import { describe, expect, it } from 'vitest';

import { crps, crpsAsync, type CrpsArgs } from './api';
import { refCrps, type Policy } from './crps-reference';
import {
  backendCases,
  checkGradient,
  checkMean,
  checkPoints,
  loadCrpsFixtures,
  nums,
  type CrpsFixture,
  type KernelResult,
} from './helpers';

const cases = loadCrpsFixtures();

const ALPHA: Record<string, number> = { standard: 0, nrg: 0, ecdf: 0, qd: 0, int: 0, fair: 1, pwm: 1 };

function alphaOf(c: CrpsFixture): number {
  return c.estimator === 'almost-fair' ? (c.alpha ?? 0.95) : ALPHA[c.estimator];
}

/** Where the fixture's members live: [outer, members, inner] and the call's shape / memberAxis. */
function layout(c: CrpsFixture): { shape: number[]; memberAxis?: number; outer: number; inner: number } {
  if (c.shape) {
    const rank = c.shape.length;
    const axis = c.memberAxisArg === undefined ? rank - 1 : c.memberAxisArg < 0 ? c.memberAxisArg + rank : c.memberAxisArg;
    const outer = c.shape.slice(0, axis).reduce((a, b) => a * b, 1);
    const inner = c.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
    return { shape: c.shape, memberAxis: c.memberAxisArg, outer, inner };
  }
  if (c.memberAxis === 0) return { shape: [c.M, c.P], memberAxis: 0, outer: 1, inner: c.P };
  // Member axis last: leave memberAxis out so the default (-1) is what gets tested.
  return { shape: [c.P, c.M], memberAxis: c.memberAxis, outer: c.P, inner: 1 };
}

function fixtureArgs(c: CrpsFixture, backend: string, full: boolean): CrpsArgs {
  const { shape, memberAxis } = layout(c);
  const observations = Float32Array.from(nums(c.observations));
  const args: Record<string, unknown> = {
    ensemble: { data: Float32Array.from(nums(c.ensemble)), shape },
    observations: c.observationsShape ? { data: observations, shape: c.observationsShape } : observations,
    estimator: c.estimator,
    backend,
  };
  if (memberAxis !== undefined) args.memberAxis = memberAxis;
  if (c.alpha !== undefined) args.alpha = c.alpha;
  if (c.weights) args.weights = c.weights.slice();
  if (c.nanPolicy) args.nanPolicy = c.nanPolicy;
  if (full) {
    args.gradients = true;
    args.components = true;
    if (c.gradOutput) args.gradOutput = Float32Array.from(c.gradOutput);
  } else if (c.components) {
    args.components = true;
  }
  return args as unknown as CrpsArgs;
}

function expectedMean(c: CrpsFixture): number {
  const m = 'mean' in c ? c.mean : c.weightedMean;
  return m === null || m === undefined ? NaN : m;
}

/** Σ w·S / Σ w over the points with a finite skill: the scale of the mean's tolerance. */
function meanScale(c: CrpsFixture): number {
  const skill = nums(c.skill);
  let num = 0;
  let den = 0;
  skill.forEach((s, p) => {
    if (Number.isNaN(s)) return;
    const w = c.weights ? c.weights[p] : 1;
    num += w * s;
    den += w;
  });
  return num / den;
}

function checkFixture(result: KernelResult, c: CrpsFixture, full: boolean, label: string): string[] {
  const bound = nums(c.skill);
  const failures: string[] = [];
  failures.push(...checkPoints(result.scores, nums(c.scores), bound, `${label} scores`));
  failures.push(...checkMean(result.mean, expectedMean(c), meanScale(c), `${label} mean`));
  if (full) {
    failures.push(...checkGradient(result.gradEnsemble, nums(c.gradEnsemble), `${label} gradEnsemble`));
    failures.push(...checkGradient(result.gradObservations, nums(c.gradObservations), `${label} gradObservations`));
  } else if (result.gradEnsemble || result.gradObservations) {
    failures.push(`${label}: gradients returned without gradients: true`);
  }
  if (full || c.components) {
    failures.push(...checkPoints(result.skill, bound, bound, `${label} skill`));
    if (c.spread) failures.push(...checkPoints(result.spread, nums(c.spread), bound, `${label} spread`));
  }
  if (result.scores.length !== c.P) failures.push(`${label}: ${result.scores.length} scores for ${c.P} points`);
  if (full && result.gradEnsemble && result.gradEnsemble.length !== c.P * c.M) failures.push(`${label}: gradEnsemble length`);
  return failures;
}

describe('crps.json fixtures', () => {
  it('has the cases the spec asks for', () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
    const estimators = new Set(cases.map((c) => alphaOf(c) === 0 ? 'standard' : alphaOf(c) === 1 ? 'fair' : 'almost-fair'));
    expect([...estimators].sort()).toEqual(['almost-fair', 'fair', 'standard']);
    for (const policy of ['propagate', 'omit', 'zero']) expect(cases.some((c) => c.nanPolicy === policy)).toBe(true);
    expect(cases.some((c) => c.memberAxis === 0)).toBe(true);
    expect(cases.some((c) => c.shape && c.observationsShape)).toBe(true);
    expect(cases.some((c) => c.gradOutput)).toBe(true);
    expect(cases.some((c) => c.M === 1)).toBe(true);
  });

  // The reference every random test relies on reproduces the golden vectors.
  it.each(cases.map((c) => [c.name, c] as const))('in-test pairwise reference reproduces %s', (_name, c) => {
    const { outer, inner } = layout(c);
    const ref = refCrps(
      { ensemble: nums(c.ensemble), outer, members: c.M, inner, observations: nums(c.observations) },
      { alpha: alphaOf(c), nanPolicy: c.nanPolicy as Policy | undefined, weights: c.weights, gradOutput: c.gradOutput },
    );
    const result: KernelResult = { ...ref, scores: ref.scores as unknown as Float32Array, backend: 'ref' } as unknown as KernelResult;
    result.gradEnsemble = ref.gradEnsemble as unknown as Float32Array;
    result.gradObservations = ref.gradObservations as unknown as Float32Array;
    result.skill = ref.skill as unknown as Float32Array;
    result.spread = ref.spread as unknown as Float32Array;
    expect(checkFixture(result, c, true, `reference ${c.name}`)).toEqual([]);
  });
});

describe.each(backendCases())('crps.json on backend $name', ({ name, available }) => {
  it.skipIf(!available).each(cases.map((c) => [c.name, c] as const))('%s (gradients, components)', (_name, c) => {
    const result = crps(fixtureArgs(c, name, true));
    expect(result.backend).toBe(name);
    expect(checkFixture(result, c, true, `${name} ${c.name}`)).toEqual([]);
  });

  it.skipIf(!available).each(cases.map((c) => [c.name, c] as const))('%s (scores only)', (_name, c) => {
    const result = crps(fixtureArgs(c, name, false));
    expect(result.backend).toBe(name);
    expect(checkFixture(result, c, false, `${name} ${c.name} scores-only`)).toEqual([]);
  });

  it.skipIf(!available)('every case through crpsAsync', async () => {
    const failures: string[] = [];
    for (const c of cases) {
      const result = await crpsAsync(fixtureArgs(c, name, true));
      if (result.backend !== name) failures.push(`${c.name}: ran on ${result.backend}`);
      failures.push(...checkFixture(result, c, true, `${name} async ${c.name}`));
    }
    expect(failures).toEqual([]);
  });
});
