// Runs in the page (test/browser/page.html): every kernel on every backend the browser build
// offers, in the page and in a module worker, the backends it must refuse, backendInfo(), and one
// TensorFlow.js training step through each loss of fusedloss/tfjs.  The outcome goes to window.fusedlossTest for test/browser/run.mjs.
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

// One Adam step through each loss of fusedloss/tfjs: each loss must be lower after it.
async function tfjsSteps() {
  const tf = await import('@tensorflow/tfjs');
  const { crpsLoss, marginSoftmaxLoss, pairwiseLoss } = await import('fusedloss/tfjs');
  await tf.setBackend('cpu');
  const cases = inputs();
  const backends = new Set();
  const onResult = (result) => backends.add(result.backend);
  const step = (lossOf, variables) => {
    const before = lossOf().dataSync()[0];
    tf.train.adam(0.05).minimize(lossOf, false, variables);
    return { before, after: lossOf().dataSync()[0] };
  };

  // ArcFace on the output of a dense layer, with trainable class centers.
  const { marginSoftmax } = cases;
  const [rows, dim] = marginSoftmax.embeddings.shape;
  const x = tf.tensor2d(marginSoftmax.embeddings.data, [rows, dim]);
  const dense = tf.variable(tf.eye(dim));
  const centers = tf.variable(tf.tensor2d(marginSoftmax.weights.data, marginSoftmax.weights.shape));
  const labels = Array.from(marginSoftmax.labels);
  const margin = { margin: { type: 'arcface', m: 0.2 }, scale: 16, onResult };
  const steps = { marginSoftmaxLoss: step(() => marginSoftmaxLoss(tf.matMul(x, dense), centers, labels, margin), [dense, centers]) };

  // Multi-similarity on the same embeddings.
  const { pairLoss } = cases;
  const pairDense = tf.variable(tf.eye(dim));
  const pairX = tf.tensor2d(pairLoss.embeddings.data, pairLoss.embeddings.shape);
  steps.pairwiseLoss = step(() => pairwiseLoss(tf.matMul(pairX, pairDense), Array.from(pairLoss.labels), { loss: pairLoss.loss, onResult }), [pairDense]);

  // CRPS of an ensemble that is itself the variable.
  const { crps } = cases;
  const ensemble = tf.variable(tf.tensor2d(crps.ensemble.data, crps.ensemble.shape));
  const observations = tf.tensor1d(crps.observations);
  steps.crpsLoss = step(() => crpsLoss(ensemble, observations, { estimator: 'fair', onResult }), [ensemble]);

  return { steps, backends: [...backends], tfBackend: tf.getBackend() };
}

/** The same calls in a module worker (test/browser/worker.mjs). */
function inWorker() {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./worker.mjs', import.meta.url), { type: 'module' });
    const settle = (outcome) => {
      worker.terminate();
      if (outcome.error) reject(new Error(`in the worker: ${outcome.error}`));
      else resolve(outcome.results);
    };
    worker.onmessage = ({ data }) => settle(data);
    worker.onerror = (event) => settle({ error: event.message || 'the worker failed to load' });
  });
}

/**
 * The WebAssembly threads once they are up: a first call starts the threaded module's workers
 * (on a cross-origin isolated page; elsewhere it is single-threaded and this stays 1).
 */
async function wasmThreads() {
  fusedloss.crps({ ...inputs().crps, backend: 'wasm' });
  const deadline = performance.now() + 10000;
  while (crossOriginIsolated && fusedloss.backendInfo().wasm.threads === 1 && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return fusedloss.backendInfo().wasm.threads;
}

async function main() {
  const info = fusedloss.backendInfo();
  const threads = info.wasm?.available ? await wasmThreads() : null;
  const backends = ['js', ...(info.wasm?.available ? ['wasm'] : [])];
  const results = {};
  for (const backend of backends) results[backend] = await runAll(fusedloss, backend);
  results.auto = await runAll(fusedloss, 'auto');
  const worker = await inWorker();
  return { info, isolated: crossOriginIsolated, wasmThreads: threads, backends, results, worker, refused: { cpu: await refusal('cpu'), cuda: await refusal('cuda') }, tfjs: await tfjsSteps() };
}

main().then(
  (outcome) => (window.fusedlossTest = { outcome }),
  (error) => (window.fusedlossTest = { error: `${error?.stack ?? error}` }),
);
