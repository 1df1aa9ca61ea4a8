// The README's examples, run as written: each ```ts block is read from README.md (so the two cannot
// drift), compiled from TypeScript to CommonJS and run with the names it leaves to the reader
// (forecast, features, model, ...) bound to small real values, and what it computes is checked
// against a direct call. A README block that no test here runs fails the first test, so a new
// example cannot go unchecked.
import * as fs from 'node:fs';
import * as path from 'node:path';

import type * as TF from '@tensorflow/tfjs';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

import * as fusedloss from './api';
import { loadTf } from './load-tf';
import { bitwiseDiff, Rng, testSeed } from './helpers';
import * as fusedlossTfjs from '../lib/tfjs';

const tfOrNull = loadTf();
const README = fs.readFileSync(path.join(process.cwd(), 'README.md'), 'utf8');

/** Each ```ts block of the README with the heading it sits under. */
function readmeBlocks(): { heading: string; source: string }[] {
  const blocks: { heading: string; source: string }[] = [];
  let heading = '';
  for (const part of README.split(/^(```ts\n[\s\S]*?^```)/m)) {
    if (part.startsWith('```ts\n')) blocks.push({ heading, source: part.slice('```ts\n'.length, -'```'.length) });
    else heading = [...part.matchAll(/^#+ (.*)$/gm)].pop()?.[1] ?? heading;
  }
  return blocks;
}

const HEADINGS = { crps: 'CRPS', margin: 'Margin softmax', pairs: 'Pair mining and pair losses', tfjs: 'TensorFlow.js' } as const;

/**
 * Runs the block under `heading` with `given` bound to the names it leaves to the reader, and
 * returns the variables named in `results` as the block left them.
 */
function runBlock<R>(heading: string, given: Record<string, unknown>, results: readonly string[], tf: unknown = tfOrNull): R {
  const block = readmeBlocks().find((b) => b.heading === heading);
  if (!block) throw new Error(`README.md has no ts block under the heading ${heading}`);
  const { outputText } = ts.transpileModule(`${block.source}\nreturn { ${results.join(', ')} };\n`, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 },
  });
  const modules: Record<string, unknown> = { fusedloss, 'fusedloss/tfjs': fusedlossTfjs, '@tensorflow/tfjs': tf };
  const requireShim = (name: string): unknown => {
    if (!modules[name]) throw new Error(`the README example imports ${name}, which this test does not provide`);
    return modules[name];
  };
  const names = Object.keys(given);
  const run = new Function('require', 'exports', ...names, outputText) as (...args: unknown[]) => R;
  return run(requireShim, {}, ...names.map((name) => given[name]));
}

describe("README's examples", () => {
  const rng = new Rng(testSeed('readme.test'));
  const floats = (length: number) => Float32Array.from({ length }, () => rng.uniform(-1, 1));
  const classes = (length: number, count: number) => Int32Array.from({ length }, () => rng.int(count));

  it('every ts block sits under a heading this file runs', () => {
    const headings = readmeBlocks().map((b) => b.heading);
    expect(headings.sort()).toEqual(Object.values(HEADINGS).sort());
  });

  it('CRPS: the result is what crps() gives on the same inputs', () => {
    const forecast = floats(40320 * 51);
    const truth = floats(40320);
    const { result } = runBlock<{ result: fusedloss.CrpsResult }>(HEADINGS.crps, { forecast, truth }, ['result']);
    const direct = fusedloss.crps({ ensemble: { data: forecast, shape: [40320, 51] }, observations: truth, estimator: 'fair', gradients: true });
    expect(result.mean).toBe(direct.mean);
    expect([...bitwiseDiff(result.scores, direct.scores, 'scores'), ...bitwiseDiff(result.gradEnsemble, direct.gradEnsemble, 'gradEnsemble')]).toEqual([]);
  });

  it('margin softmax: loss, gradients and predictions of the stated shapes, as a direct call gives', () => {
    const features = floats(256 * 512);
    const centers = floats(10000 * 512);
    const labels = classes(256, 10000);
    const out = runBlock<fusedloss.MarginSoftmaxResult>(HEADINGS.margin, { features, centers, labels }, ['loss', 'gradEmbeddings', 'gradWeights', 'predictions']);
    const direct = fusedloss.marginSoftmax({
      embeddings: { data: features, shape: [256, 512] }, weights: { data: centers, shape: [10000, 512] }, labels, margin: { type: 'arcface', m: 0.5 }, scale: 64,
    });
    expect(Number.isFinite(out.loss)).toBe(true);
    expect(out.loss).toBe(direct.loss);
    expect([...bitwiseDiff(out.gradEmbeddings, direct.gradEmbeddings, 'gradEmbeddings'), ...bitwiseDiff(out.gradWeights, direct.gradWeights, 'gradWeights')]).toEqual([]);
    expect(out.predictions.every((p, i) => p === direct.predictions[i])).toBe(true);
  });

  it('pairs: mined pairs and the loss with gradients for queries and bank', () => {
    const queries = floats(512 * 128);
    const bank = floats(4096 * 128);
    const labels = classes(512, 64);
    const bankLabels = classes(4096, 64);
    type Out = { pairs: fusedloss.MinedPairs; loss: number; gradEmbeddings: Float32Array; gradRef: Float32Array };
    const out = runBlock<Out>(HEADINGS.pairs, { queries, labels, bank, bankLabels }, ['pairs', 'loss', 'gradEmbeddings', 'gradRef']);
    const batch = { embeddings: { data: queries, shape: [512, 128] }, labels, ref: { data: bank, shape: [4096, 128] }, refLabels: bankLabels };
    const mined = fusedloss.mine({ ...batch, miner: { type: 'multi-similarity' } });
    expect(out.pairs.positiveAnchors.length).toBeGreaterThan(0);
    for (const key of ['positiveAnchors', 'positives', 'negativeAnchors', 'negatives'] as const) {
      expect(out.pairs[key].length === mined[key].length && out.pairs[key].every((v, i) => v === mined[key][i]), key).toBe(true);
    }
    expect(Number.isFinite(out.loss)).toBe(true);
    expect(out.gradEmbeddings).toHaveLength(512 * 128);
    expect(out.gradRef).toHaveLength(4096 * 128);
  });

  it.skipIf(!tfOrNull)('TensorFlow.js: the optimizer step moves the class centers and the model through marginSoftmaxLoss', () => {
    const tf = tfOrNull as typeof TF;
    const numClasses = 4;
    const model = tf.layers.dense({ units: 512, activation: 'relu' });
    const images = tf.randomNormal([12, 8], 0, 1, 'float32', 7);
    const labels = tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3], 'int32');
    // A training loop's later steps: the model's kernel exists (a dense layer builds it on its first
    // call), so minimize() trains it with W.
    tf.dispose(model.apply(images) as TF.Tensor);
    const kernelBefore = (model.getWeights()[0].dataSync() as Float32Array).slice();
    // tf as the example sees it, with tf.variable recording each variable's initial values.
    const created: { variable: TF.Variable; initial: Float32Array }[] = [];
    const recordingTf = Object.create(tf, {
      variable: {
        value: (...args: Parameters<typeof tf.variable>) => {
          const variable = tf.variable(...args);
          created.push({ variable, initial: (variable.dataSync() as Float32Array).slice() });
          return variable;
        },
      },
    });
    const { W } = runBlock<{ W: TF.Variable }>(HEADINGS.tfjs, { model, images, labels, numClasses }, ['W'], recordingTf);

    expect(W.shape).toEqual([512, numClasses]);
    expect(created.map((c) => c.variable)).toEqual([W]);
    const moved = (before: Float32Array, after: ArrayLike<number>) => before.some((v, i) => v !== after[i]);
    expect(moved(created[0].initial, W.dataSync()), 'W').toBe(true);
    expect(moved(kernelBefore, model.getWeights()[0].dataSync()), 'the model').toBe(true);
    tf.dispose([W, images, labels]);
    model.dispose();
  });
});
