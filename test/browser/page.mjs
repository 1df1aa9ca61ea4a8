// Runs in the page (test/browser/page.html): every kernel on every backend the browser build
// offers, the backends it must refuse, backendInfo(), and one TensorFlow.js training step through
// fusedloss/tfjs.  The outcome goes to window.fusedlossTest for test/browser/run.mjs.
import * as fusedloss from 'fusedloss';
import { KERNELS, inputs, runAll } from './cases.mjs';

async function refusal(backend) {
  const refused = {};
  for (const kernel of KERNELS) {
    for (const mode of ['sync', 'async']) {
      try {
        const args = { ...inputs()[kernel], backend };
        await (mode === 'sync' ? fusedloss[kernel](args) : fusedloss[`${kernel}Async`](args));
        refused[`${kernel} ${mode}`] = null;
      } catch (error) {
        refused[`${kernel} ${mode}`] = { code: error.code, message: error.message };
      }
    }
  }
  return refused;
}

// One Adam step on a dense layer's embeddings under the ArcFace loss: the loss after must be lower.
async function tfjsStep() {
  const tf = await import('@tensorflow/tfjs');
  const { marginSoftmaxLoss } = await import('fusedloss/tfjs');
  await tf.setBackend('cpu');
  const { marginSoftmax } = inputs();
  const [rows, dim] = marginSoftmax.embeddings.shape;
  const x = tf.tensor2d(marginSoftmax.embeddings.data, [rows, dim]);
  const dense = tf.variable(tf.eye(dim));
  const centers = tf.variable(tf.tensor2d(marginSoftmax.weights.data, marginSoftmax.weights.shape));
  const labels = Array.from(marginSoftmax.labels);
  let backend = null;
  const options = { margin: { type: 'arcface', m: 0.2 }, scale: 16, onResult: (r) => (backend = r.backend) };
  const lossOf = () => marginSoftmaxLoss(tf.matMul(x, dense), centers, labels, options);
  const before = lossOf().dataSync()[0];
  tf.train.adam(0.05).minimize(lossOf, false, [dense, centers]);
  const after = lossOf().dataSync()[0];
  return { before, after, backend, tfBackend: tf.getBackend() };
}

async function main() {
  const info = fusedloss.backendInfo();
  const backends = ['js', ...(info.wasm?.available ? ['wasm'] : [])];
  const results = {};
  for (const backend of backends) results[backend] = await runAll(fusedloss, backend);
  results.auto = await runAll(fusedloss, 'auto');
  return { info, backends, results, refused: { cpu: await refusal('cpu'), cuda: await refusal('cuda') }, tfjs: await tfjsStep() };
}

main().then(
  (outcome) => (window.fusedlossTest = { outcome }),
  (error) => (window.fusedlossTest = { error: `${error?.stack ?? error}` }),
);
