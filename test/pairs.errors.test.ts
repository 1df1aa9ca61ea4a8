// The spec's error table for mine() and pairLoss(): every bad input throws the documented class and
// code with a message naming the argument, synchronously from the sync form and as a rejection
// (never a synchronous throw) from the async form, on every backend name (validation happens
// before dispatch).  Then the errors that only a backend can find: more outputs than maxOutputs
// (the message names the count), and a backend that is not available here.
import { describe, expect, it } from 'vitest';

import { backendInfo, mine, mineAsync, pairLoss, pairLossAsync, type MineArgs, type PairLossArgs } from './api';
import { BACKEND, checkBothForms, INVALID, LABEL, OPTION, SHAPE, TOO_LARGE, type Code } from './error-checks';
import { backendCases } from './helpers';
import { refMine, type PairCase } from './pairs-reference';

type Fn = 'mine' | 'pairLoss';

/** A typed array whose buffer has been transferred away. */
function detached<T extends Float32Array | Int32Array>(array: T): T {
  structuredClone(array.buffer, { transfer: [array.buffer as ArrayBuffer] });
  return array;
}

// A valid call: N = 4 queries, D = 3, a reference set of M = 5 rows.
const N = 4;
const D = 3;
const M = 5;
const emb = (data: unknown = new Float32Array(N * D).map((_, i) => Math.sin(i + 1)), shape: unknown = [N, D]) => ({ data, shape });
const refT = (data: unknown = new Float32Array(M * D).map((_, i) => Math.cos(i * 0.7)), shape: unknown = [M, D]) => ({ data, shape });
const labels = () => new Int32Array([0, 1, 0, 2]);
const refLabels = () => new Int32Array([2, 0, 1, 1, 0]);
const withRef = () => ({ ref: refT(), refLabels: refLabels() });
/** The miner or loss each function needs. */
const SPEC: Record<Fn, Record<string, unknown>> = { mine: { miner: { type: 'multi-similarity' } }, pairLoss: { loss: { type: 'contrastive' } } };
const valid = (fn: Fn, extra: Record<string, unknown> = {}) => ({ embeddings: emb(), labels: labels(), ...SPEC[fn], ...extra });
const loss = (l: Record<string, unknown>, extra: Record<string, unknown> = {}) => valid('pairLoss', { loss: l, ...extra });
const miner = (m: Record<string, unknown>, extra: Record<string, unknown> = {}) => valid('mine', { miner: m, ...extra });

interface Row {
  what: string;
  /** Which functions the row applies to (both: args gets each in turn). */
  fns: Fn[];
  args: (fn: Fn) => unknown;
  code: Code;
  names: string;
  ownBackend?: boolean;
  raw?: boolean;
}
const BOTH: Fn[] = ['mine', 'pairLoss'];
const MINE: Fn[] = ['mine'];
const LOSS: Fn[] = ['pairLoss'];
const row = (what: string, fns: Fn[], args: (fn: Fn) => unknown, code: Code, names: string, extra: Partial<Row> = {}): Row => ({ what, fns, args, code, names, ...extra });

const ROWS: Row[] = [
  // ERR_FUSEDLOSS_INVALID_ARG — TypeError
  row('no args', BOTH, () => undefined, INVALID, 'args', { raw: true }),
  row('null args', BOTH, () => null, INVALID, 'args', { raw: true }),
  row('an array as args', BOTH, (fn) => [valid(fn)], INVALID, 'args', { raw: true }),
  row('missing embeddings', BOTH, (fn) => ({ labels: labels(), ...SPEC[fn] }), INVALID, 'embeddings'),
  row('missing labels', BOTH, (fn) => ({ embeddings: emb(), ...SPEC[fn] }), INVALID, 'labels'),
  row('missing miner', MINE, () => ({ embeddings: emb(), labels: labels() }), INVALID, 'miner'),
  row('missing loss', LOSS, () => ({ embeddings: emb(), labels: labels(), miner: { type: 'batch-hard' } }), INVALID, 'loss'),
  row('unknown top-level key', BOTH, (fn) => valid(fn, { margin: 0.2 }), INVALID, 'margin'),
  row('misspelt key (refLabel)', BOTH, (fn) => valid(fn, { ref: refT(), refLabel: refLabels() }), INVALID, 'refLabel'),
  row('loss given to mine', MINE, () => valid('mine', { loss: { type: 'contrastive' } }), INVALID, 'loss'),
  row('gradients given to mine', MINE, () => valid('mine', { gradients: false }), INVALID, 'gradients'),
  row('maxOutputs given to pairLoss', LOSS, () => valid('pairLoss', { maxOutputs: 10 }), INVALID, 'maxOutputs'),
  row('unknown key inside miner', BOTH, (fn) => valid(fn, { miner: { type: 'multi-similarity', margin: 0.1 } }), INVALID, 'margin'),
  row('another miner’s key (batch-hard epsilon)', BOTH, (fn) => valid(fn, { miner: { type: 'batch-hard', epsilon: 0.1 } }), INVALID, 'epsilon'),
  row('another miner’s key (pair-margin triplets)', MINE, () => miner({ type: 'pair-margin', triplets: 'all' }), INVALID, 'triplets'),
  row('unknown key inside loss', LOSS, () => loss({ type: 'circle', temperature: 0.1 }), INVALID, 'temperature'),
  row('another loss’s key (contrastive margin)', LOSS, () => loss({ type: 'contrastive', margin: 0.1 }), INVALID, 'margin'),
  row('another loss’s key (ntxent alpha)', LOSS, () => loss({ type: 'ntxent', alpha: 2 }), INVALID, 'alpha'),
  row('miner without type', BOTH, (fn) => valid(fn, { miner: { epsilon: 0.1 } }), INVALID, 'miner.type'),
  row('loss without type', LOSS, () => loss({ margin: 0.1 }), INVALID, 'loss.type'),
  row('miner a string', BOTH, (fn) => valid(fn, { miner: 'batch-hard' }), INVALID, 'miner'),
  row('miner null', BOTH, (fn) => valid(fn, { miner: null }), INVALID, 'miner'),
  row('loss a string', LOSS, () => valid('pairLoss', { loss: 'contrastive' }), INVALID, 'loss'),
  row('bare Float32Array embeddings', BOTH, (fn) => valid(fn, { embeddings: new Float32Array(N * D) }), INVALID, 'embeddings'),
  row('Int16Array embeddings data', BOTH, (fn) => valid(fn, { embeddings: emb(new Int16Array(N * D)) }), INVALID, 'embeddings'),
  row('Uint8Array ref data', BOTH, (fn) => valid(fn, { ...withRef(), ref: refT(new Uint8Array(M * D)) }), INVALID, 'ref'),
  row('string ref', BOTH, (fn) => valid(fn, { ...withRef(), ref: 'r' }), INVALID, 'ref'),
  row('detached embeddings', BOTH, (fn) => valid(fn, { embeddings: emb(detached(new Float32Array(N * D))) }), INVALID, 'embeddings'),
  row('detached ref', BOTH, (fn) => valid(fn, { ...withRef(), ref: refT(detached(new Float32Array(M * D))) }), INVALID, 'ref'),
  row('detached labels', BOTH, (fn) => valid(fn, { labels: detached(labels()) }), INVALID, 'labels'),
  row('detached refLabels', BOTH, (fn) => valid(fn, { ...withRef(), refLabels: detached(refLabels()) }), INVALID, 'refLabels'),
  row('detached selfIndex', BOTH, (fn) => valid(fn, { ...withRef(), selfIndex: detached(new Int32Array([0, 1, -1, 2])) }), INVALID, 'selfIndex'),
  row('non-integer labels', BOTH, (fn) => valid(fn, { labels: [0, 1.5, 0, 2] }), INVALID, 'labels'),
  row('non-integer refLabels', BOTH, (fn) => valid(fn, { ...withRef(), refLabels: [0, 1, 2, 0.5, 1] }), INVALID, 'refLabels'),
  row('string selfIndex', BOTH, (fn) => valid(fn, { ...withRef(), selfIndex: '0,1,2,3' }), INVALID, 'selfIndex'),
  row('distance a number', BOTH, (fn) => valid(fn, { distance: 2 }), INVALID, 'distance'),
  row('normalize a string', BOTH, (fn) => valid(fn, { normalize: 'yes' }), INVALID, 'normalize'),
  row('gradients a number', LOSS, () => valid('pairLoss', { gradients: 1 }), INVALID, 'gradients'),
  row('miner.epsilon a string', BOTH, (fn) => valid(fn, { miner: { type: 'multi-similarity', epsilon: '0.1' } }), INVALID, 'miner.epsilon'),
  row('miner.triplets a number', MINE, () => miner({ type: 'triplet-margin', triplets: 2 }), INVALID, 'miner.triplets'),
  row('loss.alpha a string', LOSS, () => loss({ type: 'multi-similarity', alpha: '2' }), INVALID, 'loss.alpha'),
  row('maxOutputs a string', MINE, () => valid('mine', { maxOutputs: '10' }), INVALID, 'maxOutputs'),
  row('refLabels without ref', BOTH, (fn) => valid(fn, { refLabels: refLabels() }), INVALID, 'refLabels'),
  row('selfIndex without ref', BOTH, (fn) => valid(fn, { selfIndex: [0, 1, 2, 3] }), INVALID, 'selfIndex'),
  row('ref without refLabels', BOTH, (fn) => valid(fn, { ref: refT() }), INVALID, 'refLabels'),

  // ERR_FUSEDLOSS_SHAPE — RangeError
  row('embeddings rank 1', BOTH, (fn) => valid(fn, { embeddings: emb(undefined, [N * D]) }), SHAPE, 'embeddings'),
  row('embeddings rank 3', BOTH, (fn) => valid(fn, { embeddings: emb(undefined, [2, 2, D]) }), SHAPE, 'embeddings'),
  row('embeddings data shorter than its shape', BOTH, (fn) => valid(fn, { embeddings: emb(new Float32Array(N * D - 1)) }), SHAPE, 'embeddings'),
  row('embeddings shape with 0', BOTH, (fn) => valid(fn, { embeddings: emb(new Float32Array(0), [0, D]), labels: [] }), SHAPE, 'embeddings'),
  row('ref rank 1', BOTH, (fn) => valid(fn, { ...withRef(), ref: refT(undefined, [M * D]) }), SHAPE, 'ref'),
  row('ref D differs from embeddings', BOTH, (fn) => valid(fn, { ...withRef(), ref: refT(new Float32Array(M * 4), [M, 4]) }), SHAPE, 'ref'),
  row('ref data longer than its shape', BOTH, (fn) => valid(fn, { ...withRef(), ref: refT(new Float32Array(M * D + 1)) }), SHAPE, 'ref'),
  row('labels too short', BOTH, (fn) => valid(fn, { labels: [0, 1, 2] }), SHAPE, 'labels'),
  row('labels too long', BOTH, (fn) => valid(fn, { labels: new Int32Array(N + 1) }), SHAPE, 'labels'),
  row('refLabels of the wrong length', BOTH, (fn) => valid(fn, { ...withRef(), refLabels: [0, 1, 2, 3] }), SHAPE, 'refLabels'),
  row('selfIndex of the wrong length', BOTH, (fn) => valid(fn, { ...withRef(), selfIndex: [0, 1, 2] }), SHAPE, 'selfIndex'),

  // ERR_FUSEDLOSS_LABEL — RangeError
  row('selfIndex = M', BOTH, (fn) => valid(fn, { ...withRef(), selfIndex: [0, M, -1, 2] }), LABEL, 'selfIndex[1]'),
  row('selfIndex −2', BOTH, (fn) => valid(fn, { ...withRef(), selfIndex: new Int32Array([0, 1, 2, -2]) }), LABEL, 'selfIndex[3]'),

  // ERR_FUSEDLOSS_OPTION — RangeError
  row("distance 'manhattan'", BOTH, (fn) => valid(fn, { distance: 'manhattan' }), OPTION, 'distance'),
  row("miner.type 'hard-negative'", BOTH, (fn) => valid(fn, { miner: { type: 'hard-negative' } }), OPTION, 'miner.type'),
  row("loss.type 'arcface'", LOSS, () => loss({ type: 'arcface' }), OPTION, 'loss.type'),
  row("miner.triplets 'medium'", BOTH, (fn) => valid(fn, { miner: { type: 'triplet-margin', triplets: 'medium' } }), OPTION, 'miner.triplets'),
  row("backend 'gpu'", BOTH, (fn) => valid(fn, { backend: 'gpu' }), OPTION, 'backend', { ownBackend: true }),
  row("distance 'cosine' with normalize false", BOTH, (fn) => valid(fn, { distance: 'cosine', normalize: false }), OPTION, 'normalize'),
  row('default cosine (multi-similarity) with normalize false', BOTH, (fn) => valid(fn, { normalize: false, ...(fn === 'pairLoss' ? { loss: { type: 'multi-similarity' } } : {}) }), OPTION, 'normalize'),
  row("circle with distance 'euclidean'", LOSS, () => loss({ type: 'circle' }, { distance: 'euclidean' }), OPTION, 'distance'),
  row("circle with distance 'dot'", LOSS, () => loss({ type: 'circle' }, { distance: 'dot' }), OPTION, 'distance'),
  row("threshold-consistent with distance 'squared-euclidean'", LOSS, () => loss({ type: 'threshold-consistent' }, { distance: 'squared-euclidean' }), OPTION, 'distance'),
  row("threshold-consistent with a miner and distance 'euclidean'", LOSS, () => loss({ type: 'threshold-consistent' }, { miner: { type: 'batch-hard' }, distance: 'euclidean' }), OPTION, 'distance'),
  ...(
    [
      ['loss.alpha', { type: 'multi-similarity', alpha: 0 }],
      ['loss.alpha', { type: 'multi-similarity', alpha: -2 }],
      ['loss.alpha', { type: 'multi-similarity', alpha: NaN }],
      ['loss.beta', { type: 'multi-similarity', beta: 0 }],
      ['loss.base', { type: 'multi-similarity', base: NaN }],
      ['loss.gamma', { type: 'circle', gamma: 0 }],
      ['loss.gamma', { type: 'circle', gamma: -80 }],
      ['loss.m', { type: 'circle', m: NaN }],
      ['loss.temperature', { type: 'ntxent', temperature: 0 }],
      ['loss.temperature', { type: 'ntxent', temperature: -0.07 }],
      ['loss.temperature', { type: 'ntxent', temperature: Infinity }],
      ['loss.posMargin', { type: 'contrastive', posMargin: NaN }],
      ['loss.negMargin', { type: 'contrastive', negMargin: -Infinity }],
      ['loss.margin', { type: 'triplet-margin', margin: NaN }],
      ['loss.margin', { type: 'triplet-margin', margin: Infinity }],
      ['loss.marginPlus', { type: 'threshold-consistent', marginPlus: NaN }],
      ['loss.marginMinus', { type: 'threshold-consistent', marginMinus: Infinity }],
    ] as const
  ).map(([names, l]) => row(`${names} = ${String(Object.values(l)[1])} (${l.type})`, LOSS, () => loss({ ...l }), OPTION, names)),
  ...(
    [
      ['miner.epsilon', { type: 'multi-similarity', epsilon: -0.1 }],
      ['miner.epsilon', { type: 'multi-similarity', epsilon: NaN }],
      ['miner.margin', { type: 'triplet-margin', margin: NaN }],
      ['miner.margin', { type: 'triplet-margin', margin: -Infinity }],
      ['miner.posMargin', { type: 'pair-margin', posMargin: NaN }],
      ['miner.negMargin', { type: 'pair-margin', negMargin: Infinity }],
    ] as const
  ).map(([names, m]) => row(`${names} = ${String(Object.values(m)[1])}`, BOTH, (fn) => valid(fn, { miner: { ...m } }), OPTION, names)),
  row('maxOutputs −1', MINE, () => valid('mine', { maxOutputs: -1 }), OPTION, 'maxOutputs'),
  row('maxOutputs 1.5', MINE, () => valid('mine', { maxOutputs: 1.5 }), OPTION, 'maxOutputs'),
  row('maxOutputs NaN', MINE, () => valid('mine', { maxOutputs: NaN }), OPTION, 'maxOutputs'),

  // ERR_FUSEDLOSS_TOO_LARGE — RangeError, checked before lengths are compared
  row('embeddings shape product 2^60, tiny data', BOTH, (fn) => valid(fn, { embeddings: emb(new Float32Array(2), [2 ** 30, 2 ** 30]) }), TOO_LARGE, 'embeddings'),
  row('embeddings shape product 2^54', BOTH, (fn) => valid(fn, { embeddings: emb([1, 2], [2 ** 53, 2]) }), TOO_LARGE, 'embeddings'),
  row('ref shape product 2^60, tiny data', BOTH, (fn) => valid(fn, { ...withRef(), ref: refT(new Float32Array(3), [2 ** 57, D]) }), TOO_LARGE, 'ref'),
];

function bothWays(fn: Fn, args: () => unknown, code: Code, names: string): Promise<string[]> {
  if (fn === 'mine') return checkBothForms('mine', () => mine(args() as MineArgs), () => mineAsync(args() as MineArgs), code, names);
  return checkBothForms('pairLoss', () => pairLoss(args() as PairLossArgs), () => pairLossAsync(args() as PairLossArgs), code, names);
}

const info = backendInfo();
const CASES = ROWS.flatMap((r) => r.fns.map((fn) => [`${fn}: ${r.what}`, fn, r] as const));

describe.each(['auto', 'js', 'cpu', 'cuda'])('bad arguments with backend %s', (backend) => {
  it.each(CASES)('%s', async (_what, fn, r) => {
    const args = () => {
      const a = r.args(fn);
      return r.raw || r.ownBackend ? a : { ...(a as object), backend };
    };
    expect(await bothWays(fn, args, r.code, r.names)).toEqual([]);
  });
});

describe('the valid calls the table starts from are valid', () => {
  it.each(BOTH)('%s with and without a reference set', async (fn) => {
    const failures: string[] = [];
    for (const extra of [{}, withRef(), { ...withRef(), selfIndex: [0, 1, -1, 4] }]) {
      for (const backend of backendCases().filter((b) => b.available)) {
        const args = () => valid(fn, { ...extra, backend: backend.name });
        try {
          if (fn === 'mine') {
            mine(args() as MineArgs);
            await mineAsync(args() as MineArgs);
          } else {
            pairLoss(args() as PairLossArgs);
            await pairLossAsync(args() as PairLossArgs);
          }
        } catch (error) {
          failures.push(`${fn} ${backend.name} ${Object.keys(extra).join('+') || 'batch'}: ${String(error)}`);
        }
      }
    }
    expect(failures).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// maxOutputs: the cap is checked after counting, by each backend; the message names the count.

describe.each(backendCases())('maxOutputs on backend $name', ({ name, available }) => {
  const c: PairCase = {
    N: 6,
    D: 3,
    embeddings: new Float32Array(18).map((_, i) => Math.sin(1.7 * i + 0.3)),
    labels: new Int32Array([0, 0, 1, 1, 2, 2]),
  };
  const miners = [{ type: 'multi-similarity', epsilon: 0.5 }, { type: 'triplet-margin', triplets: 'all', margin: 1 }, { type: 'batch-hard' }, { type: 'pair-margin', posMargin: 0, negMargin: 4 }] as const;

  it.skipIf(!available).each(miners.map((m) => [m.type, m] as const))('%s: more outputs than maxOutputs → ERR_FUSEDLOSS_TOO_LARGE naming the count', async (_type, m) => {
    const count = refMine({ ...c, miner: m }).keys.length;
    expect(count).toBeGreaterThan(1);
    const args = (maxOutputs: number) => () => ({ embeddings: { data: c.embeddings, shape: [c.N, c.D] }, labels: c.labels, miner: m, maxOutputs, backend: name });
    const failures = [...(await bothWays('mine', args(count - 1), TOO_LARGE, String(count))), ...(await bothWays('mine', args(0), TOO_LARGE, String(count)))];
    expect(failures).toEqual([]);
  });
});

describe('maxOutputs: one message on every backend', () => {
  const c: PairCase = { N: 6, D: 3, embeddings: new Float32Array(18).map((_, i) => Math.cos(1.3 * i)), labels: new Int32Array([0, 0, 1, 1, 2, 2]) };
  const miners = [{ type: 'multi-similarity', epsilon: 0.5 }, { type: 'triplet-margin', margin: 1 }, { type: 'batch-hard' }, { type: 'pair-margin', posMargin: 0, negMargin: 4 }] as const;
  it.each(miners.map((m) => [m.type, m] as const))('%s', (_type, m) => {
    const messages = backendCases().filter((b) => b.available).map((b) => {
      try {
        mine({ embeddings: { data: c.embeddings, shape: [c.N, c.D] }, labels: c.labels, miner: m, maxOutputs: 1, backend: b.name } as never);
        return `${b.name}: no error`;
      } catch (error) {
        return `${(error as { code: string }).code}: ${(error as Error).message}`;
      }
    });
    expect(messages[0]).toMatch(new RegExp(`^ERR_FUSEDLOSS_TOO_LARGE: miner '${m.type}' finds \\d+ `));
    expect(new Set(messages).size).toBe(1);
  });
});

describe('unavailable backends', () => {
  it.skipIf(info.cuda.available).each(BOTH)("%s with backend 'cuda' without a device: ERR_FUSEDLOSS_BACKEND (Error), sync and async", async (fn) => {
    expect(await bothWays(fn, () => valid(fn, { backend: 'cuda' }), BACKEND, 'cuda')).toEqual([]);
  });

  it.skipIf(info.native).each(BOTH)("%s with backend 'cpu' without the native addon: ERR_FUSEDLOSS_BACKEND", async (fn) => {
    expect(await bothWays(fn, () => valid(fn, { backend: 'cpu' }), BACKEND, 'cpu')).toEqual([]);
  });
});
