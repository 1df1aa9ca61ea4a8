// The README's TensorFlow.js example, run as written: the code block is read from README.md (so the
// two cannot drift), compiled from TypeScript to CommonJS and run with the names it leaves to the
// reader (model, images, labels, numClasses, ensembleTensor, observationTensor) bound to small real
// ones. Issue 10, point 10: the example once trained two losses with one Adam optimizer; tfjs keys
// an optimizer's state by the position of each variable in the list it updates, so with a model
// whose variables are created on its first call (after W) the second minimize applied W's moments
// to the model's kernel and threw "Operands could not be broadcast together".
import * as fs from 'node:fs';
import * as path from 'node:path';

import type * as TF from '@tensorflow/tfjs';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

import { crps } from './api';
import { loadTf } from './load-tf';
import * as fusedlossTfjs from '../lib/tfjs';

const tfOrNull = loadTf();

/** The first ```ts block under the heading that starts with `heading`. */
function readmeBlock(heading: string): string {
  const readme = fs.readFileSync(path.join(process.cwd(), 'README.md'), 'utf8');
  const at = readme.split('\n').findIndex((line) => line.startsWith(heading));
  if (at < 0) throw new Error(`README.md has no heading ${heading}`);
  const rest = readme.split('\n').slice(at + 1).join('\n');
  const block = /^```ts\n([\s\S]*?)^```/m.exec(rest);
  if (!block) throw new Error(`README.md has no ts block under ${heading}`);
  return block[1];
}

describe.skipIf(!tfOrNull)("README's TensorFlow.js example", () => {
  const tf = tfOrNull as typeof TF;

  it('runs as written: the optimizers train the model, the CRPS loss is the mean of crps()', () => {
    const source = readmeBlock('## TensorFlow.js');
    // What the example leaves to the reader, and a line that hands back what it made.
    const given = ['model', 'images', 'labels', 'numClasses', 'ensembleTensor', 'observationTensor'];
    const { outputText } = ts.transpileModule(`${source}\nreturn { W, loss };\n`, {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 },
    });
    const modules: Record<string, unknown> = { '@tensorflow/tfjs': tf, 'fusedloss/tfjs': fusedlossTfjs };
    const requireShim = (name: string): unknown => {
      if (!(name in modules)) throw new Error(`the README example imports ${name}, which this test does not provide`);
      return modules[name];
    };

    const numClasses = 4;
    // A dense layer builds its kernel on its first call, as many models do: after W exists.
    const model = tf.layers.dense({ units: 512, activation: 'relu' });
    const images = tf.randomNormal([12, 8], 0, 1, 'float32', 7);
    const labels = tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3], 'int32');
    const ensembleTensor = tf.randomNormal([6, 5], 0, 1, 'float32', 8);
    const observationTensor = tf.randomNormal([6], 0, 1, 'float32', 9);
    const values = { model, images, labels, numClasses, ensembleTensor, observationTensor };

    const run = new Function('require', 'exports', ...given, outputText) as (...args: unknown[]) => { W: TF.Variable; loss: TF.Scalar };
    let kernelBefore: Float32Array | undefined;
    const apply = model.apply.bind(model);
    // Record the kernel as the example's first call creates it, to see the second optimizer move it.
    model.apply = ((inputs: TF.Tensor) => {
      const out = apply(inputs);
      kernelBefore ??= (model.getWeights()[0].dataSync() as Float32Array).slice();
      return out;
    }) as typeof model.apply;
    const { W, loss } = run(requireShim, {}, ...given.map((name) => values[name as keyof typeof values]));

    expect(W.shape).toEqual([512, numClasses]);
    expect(kernelBefore).toBeDefined();
    const kernelAfter = model.getWeights()[0].dataSync();
    expect(kernelAfter.some((v, i) => v !== kernelBefore![i])).toBe(true);
    const reference = crps({ ensemble: ensembleTensor, observations: observationTensor, estimator: 'fair' });
    expect(loss.dataSync()[0]).toBe(Math.fround(reference.mean));
    tf.dispose([W, loss, images, labels, ensembleTensor, observationTensor]);
    model.dispose();
  });
});
