// CRPS point weights broadcast against the point shape as NumPy broadcasts ([lat, 1] latitude
// weights for points [lat, lon], leading 1s, fewer axes), with the member axis anywhere; and shape
// errors that name the likely fix (memberAxis when a per-point vector fits the ensemble without
// another axis, [lat, 1] for a bare latitude vector), the same on every backend name.
import { describe, expect, it } from 'vitest';

import { crps, crpsAsync, type CrpsArgs } from './api';
import { pairStats, refFinish } from './crps-reference';
import {
  backendCases,
  makeEnsemble,
  moveAxisPerm,
  permute,
  resultBitwiseDiff,
  Rng,
  testSeed,
  checkAgainstRef,
} from './helpers';

const SEED = testSeed('crps.broadcast');
const BACKENDS = backendCases();
const [LAT, LON, M] = [6, 5, 4];

/** NumPy's broadcast of `data` (shape `shape`) to `target`, written out index by index. */
function broadcastTo(data: Float32Array, shape: number[], target: number[]): Float32Array {
  const out = new Float32Array(target.reduce((a, b) => a * b, 1));
  const offset = shape.length - target.length;
  for (let i = 0; i < out.length; i++) {
    let rest = i;
    const index = target.map(() => 0);
    for (let a = target.length - 1; a >= 0; a--) {
      index[a] = rest % target[a];
      rest = Math.floor(rest / target[a]);
    }
    let source = 0;
    for (let a = 0; a < shape.length; a++) {
      const coordinate = a < offset ? 0 : shape[a] === 1 ? 0 : index[a - offset];
      source = source * shape[a] + coordinate;
    }
    out[i] = data[source];
  }
  return out;
}

const WEIGHT_SHAPES = [[LAT, 1], [1, LON], [LON], [1, LAT, LON], [1, 1, LAT, 1], [1], [1, 1], [LAT, LON], [LAT * LON]];

describe.each(BACKENDS)('backend $name', ({ name: backend, available }) => {
  it.skipIf(!available).each([0, 1, 2])('weights broadcast against the points [lat, lon] with the member axis at %i', (memberAxis) => {
    const rng = new Rng(SEED + memberAxis);
    const data = makeEnsemble(rng, { outer: LAT * LON, members: M, inner: 1, ties: true });
    const stats = pairStats(data);
    const moved = permute(data.ensemble, [LAT, LON, M], moveAxisPerm(3, 2, memberAxis));
    const failures: string[] = [];
    for (const shape of WEIGHT_SHAPES) {
      const size = shape.reduce((a, b) => a * b, 1);
      const values = Float32Array.from({ length: size }, () => rng.uniform(0, 2));
      const expanded = shape.length === 1 && size === LAT * LON ? values : broadcastTo(values, shape, [LAT, LON]);
      const common = { ensemble: moved, memberAxis, observations: { data: data.observations, shape: [LAT, LON] }, estimator: 'fair', gradients: true, backend };
      const result = crps({ ...common, weights: { data: values, shape } } as CrpsArgs);
      const explicit = crps({ ...common, weights: expanded } as CrpsArgs);
      const label = `weights [${shape}] memberAxis ${memberAxis} seed ${SEED + memberAxis}`;
      failures.push(...resultBitwiseDiff(result, explicit, label));
      // The mean against the float64 reference (the gradients are in the permuted layout: checked bitwise above).
      const ref = refFinish(stats, { alpha: 1, weights: expanded });
      failures.push(...checkAgainstRef({ ...result, gradEnsemble: undefined, gradObservations: undefined }, ref, { backend }, label));
    }
    expect(failures).toEqual([]);
  });

  it.skipIf(!available)('a broadcast weight of 0 leaves its row of points out of the mean, NaN scores included', () => {
    const rng = new Rng(SEED + 10);
    const data = makeEnsemble(rng, { outer: LAT * LON, members: M, inner: 1 });
    for (let k = 0; k < M; k++) data.ensemble[(2 * LON + 3) * M + k] = NaN; // a land point on latitude row 2
    const latitude = Float32Array.from({ length: LAT }, (_, i) => (i === 2 ? 0 : 1 + i));
    const result = crps({ ensemble: { data: data.ensemble, shape: [LAT, LON, M] }, observations: data.observations, weights: { data: latitude, shape: [LAT, 1] }, gradients: true, backend });
    const ref = refFinish(pairStats({ ...data, ensemble: data.ensemble.map((v) => (Number.isNaN(v) ? 0 : v)) }), { alpha: 0, weights: broadcastTo(latitude, [LAT, 1], [LAT, LON]) });
    expect(Number.isNaN(result.scores[2 * LON + 3])).toBe(true);
    expect(Math.abs(result.mean - ref.mean)).toBeLessThanOrEqual(1e-5 * ref.meanScale);
    for (let k = 0; k < M; k++) expect(result.gradEnsemble[(2 * LON + 3) * M + k]).toBe(0);
  });
});

interface Expected {
  code: string;
  includes: string[];
  excludes?: string[];
}

const zeros = (n: number) => new Float32Array(n);
const ERROR_ROWS: { what: string; args: () => Record<string, unknown>; expected: Expected }[] = [
  {
    what: 'observations of the ensemble [51, 100] without its first axis (members first, memberAxis left at -1)',
    args: () => ({ ensemble: { data: zeros(5100), shape: [51, 100] }, observations: zeros(100) }),
    expected: { code: 'ERR_FUSEDLOSS_SHAPE', includes: ['observations', 'memberAxis: 0'] },
  },
  {
    what: 'observations shaped [B, G] for an ensemble [B, M, G] (memberAxis left at -1)',
    args: () => ({ ensemble: { data: zeros(3 * 7 * 5), shape: [3, 7, 5] }, observations: { data: zeros(15), shape: [3, 5] } }),
    expected: { code: 'ERR_FUSEDLOSS_SHAPE', includes: ['observations', 'memberAxis: 1', '[3, 5]'] },
  },
  {
    what: 'observations that fit without axis 0 while memberAxis is 2',
    args: () => ({ ensemble: { data: zeros(4 * 3 * 6), shape: [4, 3, 6] }, memberAxis: 2, observations: { data: zeros(18), shape: [3, 6] } }),
    expected: { code: 'ERR_FUSEDLOSS_SHAPE', includes: ['observations', 'memberAxis: 0'] },
  },
  {
    what: 'observations that fit no axis',
    args: () => ({ ensemble: { data: zeros(12), shape: [4, 3] }, observations: zeros(7) }),
    expected: { code: 'ERR_FUSEDLOSS_SHAPE', includes: ['observations', '[4]'], excludes: ['memberAxis:'] },
  },
  {
    what: 'gradOutput of the ensemble without its first axis',
    args: () => ({ ensemble: { data: zeros(12), shape: [4, 3] }, observations: zeros(4), gradients: true, gradOutput: zeros(3) }),
    expected: { code: 'ERR_FUSEDLOSS_SHAPE', includes: ['gradOutput', 'memberAxis: 0'] },
  },
  {
    what: 'bare latitude weights [lat] for points [lat, lon]',
    args: () => ({ ensemble: { data: zeros(LAT * LON * M), shape: [LAT, LON, M] }, observations: zeros(LAT * LON), weights: zeros(LAT) }),
    expected: { code: 'ERR_FUSEDLOSS_SHAPE', includes: ['weights', `[${LAT}]`, `[${LAT}, 1]`, 'broadcast'] },
  },
  {
    what: 'weights with an extra leading axis that is not 1',
    args: () => ({ ensemble: { data: zeros(LAT * LON * M), shape: [LAT, LON, M] }, observations: zeros(LAT * LON), weights: { data: zeros(2 * LAT * LON), shape: [2, LAT, LON] } }),
    expected: { code: 'ERR_FUSEDLOSS_SHAPE', includes: ['weights', `[2, ${LAT}, ${LON}]`] },
  },
  {
    what: 'weights [lat, 2] for points [lat, lon]',
    args: () => ({ ensemble: { data: zeros(LAT * LON * M), shape: [LAT, LON, M] }, observations: zeros(LAT * LON), weights: { data: zeros(2 * LAT), shape: [LAT, 2] } }),
    expected: { code: 'ERR_FUSEDLOSS_SHAPE', includes: ['weights', `[${LAT}, 2]`] },
  },
  {
    what: 'a NaN among broadcast weights',
    args: () => ({ ensemble: { data: zeros(LAT * LON * M), shape: [LAT, LON, M] }, observations: zeros(LAT * LON), weights: { data: Float32Array.of(1, 2, NaN, 1, 1, 1), shape: [LAT, 1] } }),
    expected: { code: 'ERR_FUSEDLOSS_OPTION', includes: ['weights[2]', 'finite'] },
  },
];

describe('shape errors name the likely fix, identically for every backend name', () => {
  it.each(ERROR_ROWS.map((row) => [row.what, row] as const))('%s', async (_what, row) => {
    const messages = new Set<string>();
    for (const backend of ['js', 'cpu', 'cuda', 'auto']) {
      const args = { ...row.args(), backend } as CrpsArgs;
      let caught: unknown;
      try {
        crps(args);
      } catch (error) {
        caught = error;
      }
      const rejected = await crpsAsync(args).then(
        () => undefined,
        (error: unknown) => error,
      );
      for (const error of [caught, rejected]) {
        expect(error, `${backend}: no error`).toBeInstanceOf(Error);
        const { code, message } = error as { code: string; message: string };
        expect(code, message).toBe(row.expected.code);
        for (const part of row.expected.includes) expect(message).toContain(part);
        for (const part of row.expected.excludes ?? []) expect(message).not.toContain(part);
        messages.add(message);
      }
    }
    expect([...messages]).toHaveLength(1);
  });
});
