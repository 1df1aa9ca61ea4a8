// The spec's error table for marginSoftmax(): every bad input throws the documented class and code
// with a message naming the argument, synchronously from marginSoftmax() and as a rejection (never
// a synchronous throw) from marginSoftmaxAsync(), on every backend name (validation happens before
// dispatch, so even an unavailable backend reports the argument's own error).  Then: inputs are
// never modified, and every accepted input form gives the same result.
import { describe, expect, it } from 'vitest';

import { backendInfo, marginSoftmax, marginSoftmaxAsync, type MarginSoftmaxArgs } from './api';
import { BACKEND, checkBothForms, INVALID, LABEL, OPTION, SHAPE, TOO_LARGE, type Code, type ErrorRow } from './error-checks';
import { backendCases, bitwiseDiff } from './helpers';

/** A typed array whose buffer has been transferred away. */
function detached<T extends Float32Array | Int32Array>(array: T): T {
  structuredClone(array.buffer, { transfer: [array.buffer as ArrayBuffer] });
  return array;
}

// A valid call: N = 4 rows, D = 3, C = 5 classes.
const N = 4;
const D = 3;
const C = 5;
const emb = (data: unknown = new Float32Array(N * D).map((_, i) => Math.sin(i + 1)), shape: unknown = [N, D]) => ({ data, shape });
const wts = (data: unknown = new Float32Array(C * D).map((_, i) => Math.cos(i * 0.7)), shape: unknown = [C, D]) => ({ data, shape });
const labels = () => new Int32Array([0, 3, 4, 1]);
const valid = (extra: Record<string, unknown> = {}) => ({ embeddings: emb(), weights: wts(), labels: labels(), ...extra });

const ROWS: ErrorRow[] = [
  // ERR_FUSEDLOSS_INVALID_ARG — TypeError
  { what: 'no args', args: () => undefined, code: INVALID, names: 'args', raw: true },
  { what: 'null args', args: () => null, code: INVALID, names: 'args', raw: true },
  { what: 'an array as args', args: () => [valid()], code: INVALID, names: 'args', raw: true },
  { what: 'missing embeddings', args: () => ({ weights: wts(), labels: labels() }), code: INVALID, names: 'embeddings' },
  { what: 'missing weights', args: () => ({ embeddings: emb(), labels: labels() }), code: INVALID, names: 'weights' },
  { what: 'missing labels', args: () => ({ embeddings: emb(), weights: wts() }), code: INVALID, names: 'labels' },
  { what: 'unknown top-level key', args: () => valid({ temperature: 0.05 }), code: INVALID, names: 'temperature' },
  { what: 'misspelt key', args: () => valid({ subcenters: 2 }), code: INVALID, names: 'subcenters' },
  { what: 'bare Float32Array embeddings', args: () => valid({ embeddings: new Float32Array(N * D) }), code: INVALID, names: 'embeddings' },
  { what: 'Int16Array embeddings data', args: () => valid({ embeddings: emb(new Int16Array(N * D)) }), code: INVALID, names: 'embeddings' },
  { what: 'Uint8Array embeddings data', args: () => valid({ embeddings: emb(new Uint8Array(N * D)) }), code: INVALID, names: 'embeddings' },
  { what: 'Int16Array weights data', args: () => valid({ weights: wts(new Int16Array(C * D)) }), code: INVALID, names: 'weights' },
  { what: 'Uint8Array weights data', args: () => valid({ weights: wts(new Uint8Array(C * D)) }), code: INVALID, names: 'weights' },
  { what: 'string weights', args: () => valid({ weights: 'w' }), code: INVALID, names: 'weights' },
  { what: "workMemory '64MiB'", args: () => valid({ workMemory: '64MiB' }), code: INVALID, names: 'workMemory' },
  { what: 'onnxruntime int32 embeddings', args: () => valid({ embeddings: { data: new Int32Array(N * D), dims: [N, D], type: 'int32' } }), code: INVALID, names: 'embeddings' },
  { what: 'detached embeddings', args: () => valid({ embeddings: emb(detached(new Float32Array(N * D))) }), code: INVALID, names: 'embeddings' },
  { what: 'detached weights', args: () => valid({ weights: wts(detached(new Float32Array(C * D))) }), code: INVALID, names: 'weights' },
  { what: 'detached labels', args: () => valid({ labels: detached(labels()) }), code: INVALID, names: 'labels' },
  { what: 'non-integer labels', args: () => valid({ labels: [0, 1.5, 2, 3] }), code: INVALID, names: 'labels' },
  { what: 'string labels', args: () => valid({ labels: '0,1,2,3' }), code: INVALID, names: 'labels' },
  { what: 'Int16Array rowWeights', args: () => valid({ rowWeights: new Int16Array(N) }), code: INVALID, names: 'rowWeights' },
  { what: 'Uint8Array rowMargins.angular', args: () => valid({ rowMargins: { angular: new Uint8Array(N) } }), code: INVALID, names: 'rowMargins.angular' },
  { what: 'detached rowMargins.additive', args: () => valid({ margin: { type: 'cosface' }, rowMargins: { additive: detached(new Float32Array(N)) } }), code: INVALID, names: 'rowMargins.additive' },
  { what: 'non-integer classIndices', args: () => valid({ classIndices: [0, 1, 2, 3.5, 4] }), code: INVALID, names: 'classIndices' },
  { what: 'unknown key inside margin', args: () => valid({ margin: { type: 'arcface', m: 0.5, scale: 64 } }), code: INVALID, names: 'scale' },
  { what: 'another type’s key inside margin (cosface easyMargin)', args: () => valid({ margin: { type: 'cosface', easyMargin: true } }), code: INVALID, names: 'easyMargin' },
  { what: "'none' with m", args: () => valid({ margin: { type: 'none', m: 0.2 } }), code: INVALID, names: 'margin' },
  { what: 'unknown key inside rowMargins', args: () => valid({ rowMargins: { angular: new Float32Array(N), multiplicative: [1, 1, 1, 1] } }), code: INVALID, names: 'multiplicative' },
  { what: 'unknown key inside curricular', args: () => valid({ curricular: { t: 0, decay: 0.9 } }), code: INVALID, names: 'decay' },
  { what: 'curricular without t', args: () => valid({ curricular: { momentum: 0.1 } }), code: INVALID, names: 'curricular.t' },
  { what: 'margin a string', args: () => valid({ margin: 'arcface' }), code: INVALID, names: 'margin' },
  { what: 'non-number scale', args: () => valid({ scale: '64' }), code: INVALID, names: 'scale' },
  { what: 'non-boolean gradients', args: () => valid({ gradients: 1 }), code: INVALID, names: 'gradients' },
  { what: 'non-boolean easyMargin', args: () => valid({ margin: { type: 'arcface', easyMargin: 'yes' } }), code: INVALID, names: 'easyMargin' },

  // ERR_FUSEDLOSS_SHAPE — RangeError
  { what: 'embeddings rank 1', args: () => valid({ embeddings: emb(undefined, [N * D]) }), code: SHAPE, names: 'embeddings' },
  { what: 'embeddings rank 3', args: () => valid({ embeddings: emb(undefined, [2, 2, D]) }), code: SHAPE, names: 'embeddings' },
  { what: 'embeddings data shorter than its shape', args: () => valid({ embeddings: emb(new Float32Array(N * D - 1)) }), code: SHAPE, names: 'embeddings' },
  { what: 'embeddings shape with 0', args: () => valid({ embeddings: emb(new Float32Array(0), [0, D]) }), code: SHAPE, names: 'embeddings' },
  { what: 'weights rank 1', args: () => valid({ weights: wts(undefined, [C * D]) }), code: SHAPE, names: 'weights' },
  { what: 'weights D mismatch', args: () => valid({ weights: wts(new Float32Array(C * 4), [C, 4]) }), code: SHAPE, names: 'weights' },
  { what: "weights [C, D] with weightsLayout 'columns'", args: () => valid({ weightsLayout: 'columns' }), code: SHAPE, names: 'weights' },
  { what: "weights [C, D] with weightsLayout 'columns': the message names weightsLayout", args: () => valid({ weightsLayout: 'columns' }), code: SHAPE, names: "weightsLayout: 'rows'" },
  { what: 'weights [D, C] with the default layout: the message names weightsLayout', args: () => valid({ weights: wts(undefined, [D, C]) }), code: SHAPE, names: "weightsLayout: 'columns'" },
  { what: 'weights D mismatch: the message names weightsLayout', args: () => valid({ weights: wts(new Float32Array(C * 4), [C, 4]) }), code: SHAPE, names: 'weightsLayout' },
  { what: 'weights rows not a multiple of subCenters', args: () => valid({ subCenters: 2 }), code: SHAPE, names: 'subCenters' },
  { what: 'labels too short', args: () => valid({ labels: [0, 1, 2] }), code: SHAPE, names: 'labels' },
  { what: 'labels too long', args: () => valid({ labels: new Int32Array(N + 1) }), code: SHAPE, names: 'labels' },
  { what: 'rowMargins.angular of the wrong length', args: () => valid({ rowMargins: { angular: [0.5, 0.5, 0.5] } }), code: SHAPE, names: 'rowMargins.angular' },
  { what: 'rowMargins.additive of the wrong length', args: () => valid({ margin: { type: 'cosface' }, rowMargins: { additive: new Float32Array(N + 1) } }), code: SHAPE, names: 'rowMargins.additive' },
  { what: 'rowWeights of the wrong length', args: () => valid({ rowWeights: new Float64Array(N - 1) }), code: SHAPE, names: 'rowWeights' },

  // ERR_FUSEDLOSS_LABEL — RangeError
  { what: 'label = C', args: () => valid({ labels: [0, 1, C, 2] }), code: LABEL, names: 'labels[2]' },
  { what: 'label -2', args: () => valid({ labels: [0, -2, 1, 2] }), code: LABEL, names: 'labels[1]' },
  { what: 'classIndices with an out-of-range id', args: () => valid({ classIndices: [0, 1, 3, 4, C] }), code: LABEL, names: 'classIndices' },
  { what: 'classIndices with a negative id', args: () => valid({ classIndices: new Int32Array([0, 1, 3, 4, -1]) }), code: LABEL, names: 'classIndices' },
  { what: 'classIndices with a repeated id', args: () => valid({ classIndices: [0, 1, 3, 4, 3] }), code: LABEL, names: 'classIndices' },
  { what: 'classIndices missing a label', args: () => valid({ classIndices: [0, 3, 1] }), code: LABEL, names: 'labels[2]' },

  // ERR_FUSEDLOSS_OPTION — RangeError
  { what: 'unknown margin.type', args: () => valid({ margin: { type: 'magface' } }), code: OPTION, names: 'margin.type' },
  { what: 'negative scale', args: () => valid({ scale: -1 }), code: OPTION, names: 'scale' },
  { what: 'scale 0', args: () => valid({ scale: 0 }), code: OPTION, names: 'scale' },
  { what: 'scale NaN', args: () => valid({ scale: NaN }), code: OPTION, names: 'scale' },
  { what: 'scale Infinity', args: () => valid({ scale: Infinity }), code: OPTION, names: 'scale' },
  { what: 'labelSmoothing 1', args: () => valid({ labelSmoothing: 1 }), code: OPTION, names: 'labelSmoothing' },
  { what: 'labelSmoothing -0.1', args: () => valid({ labelSmoothing: -0.1 }), code: OPTION, names: 'labelSmoothing' },
  { what: 'interclassFilter -1', args: () => valid({ interclassFilter: -1 }), code: OPTION, names: 'interclassFilter' },
  { what: 'interclassFilter 1.5', args: () => valid({ interclassFilter: 1.5 }), code: OPTION, names: 'interclassFilter' },
  { what: 'curricular.momentum 2', args: () => valid({ curricular: { t: 0, momentum: 2 } }), code: OPTION, names: 'curricular.momentum' },
  { what: 'curricular.momentum -0.5', args: () => valid({ curricular: { t: 0, momentum: -0.5 } }), code: OPTION, names: 'curricular.momentum' },
  { what: 'sphereface m 2.5', args: () => valid({ margin: { type: 'sphereface', m: 2.5 } }), code: OPTION, names: 'margin.m' },
  { what: 'sphereface m 0', args: () => valid({ margin: { type: 'sphereface', m: 0 } }), code: OPTION, names: 'margin.m' },
  { what: 'arcface m -0.1', args: () => valid({ margin: { type: 'arcface', m: -0.1 } }), code: OPTION, names: 'margin.m' },
  { what: 'cosface m -0.1', args: () => valid({ margin: { type: 'cosface', m: -0.1 } }), code: OPTION, names: 'margin.m' },
  { what: 'arcface m NaN', args: () => valid({ margin: { type: 'arcface', m: NaN } }), code: OPTION, names: 'margin.m' },
  { what: 'combined m2 Infinity', args: () => valid({ margin: { type: 'combined', m2: Infinity } }), code: OPTION, names: 'margin.m2' },
  // Angular margins are radians below π; PML's ArcFaceLoss takes degrees (28.6).
  { what: 'arcface m 28.6 (degrees)', args: () => valid({ margin: { type: 'arcface', m: 28.6 } }), code: OPTION, names: 'margins are radians' },
  { what: 'arcface m 28.6 names the radian value', args: () => valid({ margin: { type: 'arcface', m: 28.6 } }), code: OPTION, names: '0.49916' },
  { what: 'arcface m = π', args: () => valid({ margin: { type: 'arcface', m: Math.PI } }), code: OPTION, names: 'margin.m' },
  { what: 'combined m2 28.6 (degrees)', args: () => valid({ margin: { type: 'combined', m2: 28.6 } }), code: OPTION, names: 'margins are radians' },
  { what: 'combined m2 −π', args: () => valid({ margin: { type: 'combined', m2: -Math.PI } }), code: OPTION, names: 'margin.m2' },
  { what: 'rowMargins.angular with a value in degrees', args: () => valid({ rowMargins: { angular: [0.5, 28.6, 0.5, 0.5] } }), code: OPTION, names: 'rowMargins.angular[1]' },
  { what: 'rowMargins.angular with −Infinity', args: () => valid({ rowMargins: { angular: [-Infinity, 0.5, 0.5, 0.5] } }), code: OPTION, names: 'rowMargins.angular[0]' },
  { what: 'sphereface m 2e6 (the same answer on every backend)', args: () => valid({ margin: { type: 'sphereface', m: 2e6 } }), code: OPTION, names: 'margin.m' },
  { what: 'sphereface m 1001', args: () => valid({ margin: { type: 'sphereface', m: 1001 } }), code: OPTION, names: '[1, 1000]' },
  { what: "margin.gradient 'approx'", args: () => valid({ margin: { type: 'arcface', gradient: 'approx' } }), code: OPTION, names: 'margin.gradient' },
  { what: "scaleMode 'x'", args: () => valid({ scaleMode: 'x' }), code: OPTION, names: 'scaleMode' },
  { what: "reduction 'x'", args: () => valid({ reduction: 'x' }), code: OPTION, names: 'reduction' },
  { what: "weightsLayout 'x'", args: () => valid({ weightsLayout: 'x' }), code: OPTION, names: 'weightsLayout' },
  { what: 'subCenters 0', args: () => valid({ subCenters: 0 }), code: OPTION, names: 'subCenters' },
  { what: 'subCenters 1.5', args: () => valid({ subCenters: 1.5 }), code: OPTION, names: 'subCenters' },
  { what: 'rowMargins.angular with cosface', args: () => valid({ margin: { type: 'cosface' }, rowMargins: { angular: new Float32Array(N) } }), code: OPTION, names: 'rowMargins.angular' },
  { what: 'rowMargins.angular with sphereface', args: () => valid({ margin: { type: 'sphereface' }, rowMargins: { angular: new Float32Array(N) } }), code: OPTION, names: 'rowMargins.angular' },
  { what: 'rowMargins.angular with none', args: () => valid({ margin: { type: 'none' }, rowMargins: { angular: new Float32Array(N) } }), code: OPTION, names: 'rowMargins.angular' },
  { what: 'rowMargins.additive with sphereface', args: () => valid({ margin: { type: 'sphereface', m: 2 }, rowMargins: { additive: [0, 0, 0, 0] } }), code: OPTION, names: 'rowMargins.additive' },
  { what: 'rowMargins.additive with none', args: () => valid({ margin: { type: 'none' }, rowMargins: { additive: [0, 0, 0, 0] } }), code: OPTION, names: 'rowMargins.additive' },
  { what: "backend 'gpu'", args: () => valid({ backend: 'gpu' }), code: OPTION, names: 'backend', ownBackend: true },
  { what: 'workMemory below 1 MiB', args: () => valid({ workMemory: 2 ** 20 - 1 }), code: OPTION, names: 'workMemory' },
  { what: 'workMemory 1.5 MiB + 0.5 byte', args: () => valid({ workMemory: 1.5 * 2 ** 20 + 0.5 }), code: OPTION, names: 'workMemory' },
  { what: 'workMemory Infinity', args: () => valid({ workMemory: Infinity }), code: OPTION, names: 'workMemory' },
  { what: 'workMemory 2^53 (not exact in a double)', args: () => valid({ workMemory: 2 ** 53 }), code: OPTION, names: 'workMemory' },

  // ERR_FUSEDLOSS_TOO_LARGE — RangeError, checked before lengths are compared
  { what: 'embeddings shape product 2^60, tiny data', args: () => valid({ embeddings: emb(new Float32Array(2), [2 ** 30, 2 ** 30]) }), code: TOO_LARGE, names: 'embeddings' },
  { what: 'embeddings shape product 2^54', args: () => valid({ embeddings: emb([1, 2], [2 ** 53, 2]) }), code: TOO_LARGE, names: 'embeddings' },
  { what: 'weights shape product 2^60, tiny data', args: () => valid({ weights: wts(new Float32Array(3), [2 ** 57, D]) }), code: TOO_LARGE, names: 'weights' },
];

function bothWays(args: () => unknown, code: Code, names: string): Promise<string[]> {
  return checkBothForms('marginSoftmax', () => marginSoftmax(args() as MarginSoftmaxArgs), () => marginSoftmaxAsync(args() as MarginSoftmaxArgs), code, names);
}

const info = backendInfo();

describe.each(['auto', 'js', 'cpu', 'cuda'])('bad arguments with backend %s', (backend) => {
  it.each(ROWS.map((row) => [row.what, row] as const))('%s', async (_what, row) => {
    const args = () => {
      const a = row.args();
      return row.raw || row.ownBackend ? a : { ...(a as object), backend };
    };
    expect(await bothWays(args, row.code, row.names)).toEqual([]);
  });
});

describe('unavailable backends', () => {
  it.skipIf(info.cuda.available)("backend 'cuda' without a device: ERR_FUSEDLOSS_BACKEND (Error), sync and async", async () => {
    expect(await bothWays(() => valid({ backend: 'cuda' }), BACKEND, 'cuda')).toEqual([]);
  });

  it.skipIf(info.native)("backend 'cpu' without the native addon: ERR_FUSEDLOSS_BACKEND", async () => {
    expect(await bothWays(() => valid({ backend: 'cpu' }), BACKEND, 'cpu')).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------

function fullArgs(backend: string) {
  const embeddings = new Float32Array(6 * 5).map((_, i) => Math.sin(i * 1.3));
  const weights = new Float32Array(4 * 2 * 5).map((_, i) => Math.cos(i * 0.9));
  const lbl = new Int32Array([0, 3, -1, 2, 3, 0]);
  const rowWeights = new Float32Array([1, 0.5, 2, 0, 1.5, 1]);
  const angular = new Float64Array([0.3, 0.4, 0.5, 0.2, 0.6, 0.45]);
  const additive = [0.1, 0, 0.2, 0.05, 0.15, 0.1];
  const classIndices = new Int32Array([3, 0, 2]);
  return {
    embeddings: { data: embeddings, shape: [6, 5] },
    weights: { data: weights, shape: [8, 5] },
    labels: lbl,
    subCenters: 2,
    margin: { type: 'combined', m1: 1, m2: 0.3, m3: 0.1 },
    rowMargins: { angular, additive },
    scale: 16,
    labelSmoothing: 0.1,
    curricular: { t: 0.2, momentum: 0.1 },
    classIndices,
    rowWeights,
    backend,
  } as const;
}

function snapshot(value: unknown): unknown {
  if (ArrayBuffer.isView(value)) return { type: value.constructor.name, bytes: Array.from(new Uint8Array(value.buffer.slice(0)), (b) => b) };
  if (Array.isArray(value)) return value.map(snapshot);
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, snapshot(v)]));
  return value;
}

describe.each(backendCases())('inputs on backend $name', ({ name, available }) => {
  it.skipIf(!available)('are never modified, sync or async, and outputs are new arrays', async () => {
    const args = fullArgs(name);
    const before = snapshot(args);
    const sync = marginSoftmax(args as unknown as MarginSoftmaxArgs);
    expect(snapshot(args)).toEqual(before);
    const result = await marginSoftmaxAsync(args as unknown as MarginSoftmaxArgs);
    expect(snapshot(args)).toEqual(before);
    for (const out of [sync, result]) {
      for (const key of ['losses', 'logSumExp', 'predictions', 'gradEmbeddings', 'gradWeights'] as const) {
        const a = out[key] as ArrayBufferView;
        expect(a.buffer).not.toBe(args.embeddings.data.buffer);
        expect(a.buffer).not.toBe(args.weights.data.buffer);
        expect(a.buffer).not.toBe(args.labels.buffer);
      }
      expect(out.gradWeights!.length).toBe(3 * 2 * 5);
    }
  });

  it.skipIf(!available)('every accepted input form gives the same bits as Float32Array + Int32Array', () => {
    const base = fullArgs(name);
    const e = base.embeddings.data;
    const w = base.weights.data;
    const reference = marginSoftmax(base as unknown as MarginSoftmaxArgs);
    const forms: [string, Record<string, unknown>][] = [
      ['Float64Array data', { embeddings: { data: Float64Array.from(e), shape: [6, 5] }, weights: { data: Float64Array.from(w), shape: [8, 5] } }],
      ['number[] data and labels', { embeddings: { data: Array.from(e), shape: [6, 5] }, weights: { data: Array.from(w), shape: [8, 5] }, labels: Array.from(base.labels) }],
      ['onnxruntime tensors', { embeddings: { data: e, dims: [6, 5], type: 'float32' }, weights: { data: w, dims: [8, 5], type: 'float32' } }],
      ['TensorFlow.js tensors', { embeddings: { shape: [6, 5], dtype: 'float32', dataSync: () => e }, labels: { shape: [6], dtype: 'int32', dataSync: () => base.labels } }],
      ['tensor-like labels, classIndices and vectors', { labels: { data: base.labels, shape: [6] }, classIndices: [3, 0, 2], rowWeights: { data: base.rowWeights, shape: [6] } }],
    ];
    const failures: string[] = [];
    for (const [label, change] of forms) {
      const r = marginSoftmax({ ...base, ...change } as unknown as MarginSoftmaxArgs);
      for (const key of ['losses', 'logSumExp', 'gradEmbeddings', 'gradWeights'] as const) failures.push(...bitwiseDiff(r[key], reference[key], `${label} ${key}`));
      if (Array.from(r.predictions).join() !== Array.from(reference.predictions).join()) failures.push(`${label}: predictions`);
      if (!Object.is(r.loss, reference.loss) || !Object.is(r.curricularT, reference.curricularT)) failures.push(`${label}: loss or curricularT`);
    }
    expect(failures).toEqual([]);
  });
});
