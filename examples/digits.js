#!/usr/bin/env node
// End-to-end example: train a small embedding network with TensorFlow.js on the UCI handwritten
// digits (examples/data/digits.csv.gz, 1,797 8×8 images) three ways, with the same body, batches,
// optimizer and epochs:
//   (a) ArcFace            marginSoftmaxLoss from fusedloss/tfjs, class centres as a tf.Variable
//   (b) multi-similarity   pairwiseLoss from fusedloss/tfjs (multi-similarity miner + loss)
//   (c) softmax baseline   the same body + a dense 10-way head, tf.losses.softmaxCrossEntropy
// (plus the untrained body as a reference row) and report held-out accuracy of the embeddings
// (nearest class centre and 5-NN, cosine) and of the classifier heads, then
// time the ArcFace loss alone (forward + backward) against the same loss written with tf ops.
//
//   node examples/digits.js [--quick] [--epochs N] [--seed N] [--json FILE] [--min-accuracy X]
//
// Everything is seeded (split, batches, initializers), so the same seed gives the same figures.
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const zlib = require('node:zlib');

const tf = require('@tensorflow/tfjs');
const { marginSoftmaxLoss, pairwiseLoss } = require('fusedloss/tfjs');
const { backendInfo, marginSoftmax, setThreads } = require('fusedloss');

const CLASSES = 10;
const PIXELS = 64;
const EMBEDDING_DIM = 64;
const HIDDEN_UNITS = 128;
const SAMPLES_PER_CLASS_PER_BATCH = 8; // batches of 10 × 8 = 80: every class in every batch
const BATCH_SIZE = SAMPLES_PER_CLASS_PER_BATCH * CLASSES;
const LEARNING_RATE = 2e-3;
const KNN_K = 5;
// ArcFace on 10 classes.  The usual s = 64 is sized for ~10^5 classes: the target logit must
// outweigh C − 1 negatives, and with C = 10 a target cosine of cos(θ + m) ≈ 0.8 against negatives
// near 0 already gives p(target) ≈ 1 − 9·e^(−0.8·s), i.e. > 0.999 at s = 16.  A larger s only makes
// the loss saturate sooner and the gradients spikier.  m = 0.4 rad (23°) is between ArcFace's 0.5
// and the smaller margins that suit a tiny 64-d network, leaving 10 classes room on the sphere.
const ARCFACE = { scale: 16, margin: { type: 'arcface', m: 0.4 } };
const MULTI_SIMILARITY = { loss: { type: 'multi-similarity' }, miner: { type: 'multi-similarity', epsilon: 0.1 } };
const AGREEMENT_TOLERANCE = 1e-4; // fused vs pure-tfjs: max |a − b| / max |b|, per output

// ---------------------------------------------------------------------------------- arguments

// node's own parser (strict: unknown flags are errors); numbers are checked here.
function parseOptions(argv) {
  const { values } = parseArgs({ args: argv, strict: true, options: {
    quick: { type: 'boolean', default: false }, epochs: { type: 'string' }, seed: { type: 'string', default: '7' },
    json: { type: 'string' }, 'min-accuracy': { type: 'string' } } });
  const usageError = (message) => Object.assign(new Error(message), { code: 'ERR_PARSE_ARGS_USAGE' });
  const integer = (text, flag) => {
    if (text === undefined) return null;
    if (!/^\d+$/.test(text)) throw usageError(`--${flag} takes a non-negative integer, got ${text}`);
    return Number(text);
  };
  const minAccuracy = values['min-accuracy'] === undefined ? null : Number(values['min-accuracy']);
  if (minAccuracy !== null && !(minAccuracy >= 0 && minAccuracy <= 1)) throw usageError('--min-accuracy takes a fraction in [0, 1], e.g. 0.95');
  return { quick: values.quick, epochs: integer(values.epochs, 'epochs'), seed: integer(values.seed, 'seed'), json: values.json ?? null, minAccuracy };
}

// The run's sizes: --quick (CI) trains fewer epochs and times a smaller "large" loss.
function runConfig({ quick, epochs }) {
  return { epochs: epochs ?? (quick ? 12 : 40), timing: [
    { name: 'training size', rows: BATCH_SIZE, dim: EMBEDDING_DIM, classes: CLASSES, repeats: quick ? 30 : 100 },
    { name: 'large', rows: 256, dim: 128, classes: quick ? 2000 : 10000, repeats: 5 }] };
}

// ------------------------------------------------------------------------- randomness and data

// mulberry32: a tiny seeded generator, uniform in [0, 1).  Math.random cannot be seeded.
function mulberry32(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffled(items, random) {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

// digits.csv.gz: no header, 64 pixel values 0..16 then the label.  Pixels scaled to 0..1.
function loadDigits(file) {
  const rows = zlib.gunzipSync(fs.readFileSync(file)).toString('utf8').trim().split('\n');
  const pixels = new Float32Array(rows.length * PIXELS);
  const labels = new Int32Array(rows.length);
  rows.forEach((row, i) => {
    const values = row.split(',').map(Number);
    if (values.length !== PIXELS + 1) throw new Error(`${file}: row ${i + 1} has ${values.length} values, expected 65`);
    for (let p = 0; p < PIXELS; p++) pixels[i * PIXELS + p] = values[p] / 16;
    labels[i] = values[PIXELS];
  });
  return { pixels, labels, count: rows.length };
}

function indicesByClass(labels) {
  const byClass = Array.from({ length: CLASSES }, () => []);
  labels.forEach((label, i) => byClass[label].push(i));
  return byClass;
}

// Stratified split: the same fraction of every class goes to training.
function stratifiedSplit(labels, trainFraction, random) {
  const [train, test] = [[], []];
  for (const members of indicesByClass(labels)) {
    const order = shuffled(members, random);
    const cut = Math.round(order.length * trainFraction);
    train.push(...order.slice(0, cut));
    test.push(...order.slice(cut));
  }
  return { train: shuffled(train, random), test };
}

function subset(data, indices) {
  const pixels = new Float32Array(indices.length * PIXELS);
  const labels = new Int32Array(indices.length);
  indices.forEach((from, to) => {
    pixels.set(data.pixels.subarray(from * PIXELS, (from + 1) * PIXELS), to * PIXELS);
    labels[to] = data.labels[from];
  });
  return { pixels, labels, count: indices.length };
}

// One epoch of class-balanced batches: each batch holds `perClass` samples of every class, drawn
// from a fresh shuffle of that class (cycling when a class runs out).  Pair losses need positives
// in every batch; the other two losses get the very same batches, so only the loss differs.
function balancedEpoch(labels, perClass, random) {
  const byClass = indicesByClass(labels).map((members) => shuffled(members, random));
  const batches = Math.floor(labels.length / (perClass * CLASSES)); // about one pass over the data
  return Array.from({ length: batches }, (_, b) => shuffled(
    byClass.flatMap((members) => Array.from({ length: perClass }, (_, k) => members[(b * perClass + k) % members.length])),
    random,
  ));
}

// ------------------------------------------------------------------------------------ models

// The body every run shares: 64 → 128 relu → 64 (linear) embedding.  Seeded initializers, the
// same seeds for every run, so all three start from identical weights.
function buildBody(seed) {
  return tf.sequential({ layers: [
    tf.layers.dense({ inputShape: [PIXELS], units: HIDDEN_UNITS, activation: 'relu',
      kernelInitializer: tf.initializers.glorotUniform({ seed: seed * 101 + 1 }) }),
    tf.layers.dense({ units: EMBEDDING_DIM, kernelInitializer: tf.initializers.glorotUniform({ seed: seed * 101 + 2 }) }),
  ] });
}

function trainableVariables(model) {
  return model.trainableWeights.map((weight) => weight.read());
}

// Each method: the variables to train, a loss of one batch, and what to dispose afterwards.
function makeArcFace(seed) {
  const body = buildBody(seed);
  // Class centres [C, D] (weightsLayout 'rows', the default).
  const centres = tf.variable(tf.initializers.glorotUniform({ seed: seed * 101 + 3 }).apply([CLASSES, EMBEDDING_DIM]));
  return {
    name: 'ArcFace (fusedloss/tfjs)', body, centres,
    variables: [...trainableVariables(body), centres],
    batchLoss: (x, labels) => marginSoftmaxLoss(body.apply(x), centres, labels, ARCFACE),
    // The head: the class whose centre has the largest cosine (no margin), from the kernel itself.
    classify: (x, labels) => tf.tensor1d(marginSoftmax({ embeddings: body.predict(x), weights: centres, labels,
      ...ARCFACE, gradients: false }).predictions, 'int32'),
    dispose: () => { body.dispose(); centres.dispose(); },
  };
}

function makeMultiSimilarity(seed) {
  const body = buildBody(seed);
  return {
    name: 'multi-similarity (fusedloss/tfjs)', body,
    variables: trainableVariables(body),
    batchLoss: (x, labels) => pairwiseLoss(body.apply(x), labels, MULTI_SIMILARITY),
    dispose: () => body.dispose(),
  };
}

function makeSoftmax(seed) {
  const body = buildBody(seed);
  const classifier = tf.sequential({ layers: [tf.layers.dense({ inputShape: [EMBEDDING_DIM], units: CLASSES,
    kernelInitializer: tf.initializers.glorotUniform({ seed: seed * 101 + 3 }) })] });
  return {
    name: 'softmax cross-entropy (tf)', body,
    variables: [...trainableVariables(body), ...trainableVariables(classifier)],
    batchLoss: (x, labels) => tf.losses.softmaxCrossEntropy(tf.oneHot(labels, CLASSES), classifier.apply(body.apply(x))),
    classify: (x) => classifier.predict(body.predict(x)).argMax(1),
    dispose: () => { body.dispose(); classifier.dispose(); },
  };
}

// Reference: the same body at its initial weights.  Digits are easy enough that even random
// features separate them fairly well; the gap to this row is what training adds.
function makeUntrained(seed) {
  const body = buildBody(seed);
  return { name: 'untrained body (reference)', body, dispose: () => body.dispose() };
}

// Adam over the seeded balanced batches; returns the wall time and the last epoch's mean loss.
function train(method, data, epochs, seed) {
  const random = mulberry32(seed ^ 0x5eed);
  const optimizer = tf.train.adam(LEARNING_RATE);
  const started = process.hrtime.bigint();
  let lastEpochLoss = NaN;
  for (let epoch = 0; epoch < epochs; epoch++) {
    let sum = 0;
    const batches = balancedEpoch(data.labels, SAMPLES_PER_CLASS_PER_BATCH, random);
    for (const batch of batches) {
      const { pixels, labels } = subset(data, batch);
      const x = tf.tensor2d(pixels, [batch.length, PIXELS]);
      const y = tf.tensor1d(labels, 'int32');
      const loss = optimizer.minimize(() => method.batchLoss(x, y), true, method.variables);
      sum += loss.dataSync()[0];
      tf.dispose([x, y, loss]);
    }
    lastEpochLoss = sum / batches.length;
  }
  optimizer.dispose();
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, lastEpochLoss };
}

// ---------------------------------------------------------------------------------- evaluation

function normalizeRows(values, dim) {
  const out = new Float32Array(values.length);
  for (let row = 0; row < values.length / dim; row++) {
    let norm = 0;
    for (let d = 0; d < dim; d++) norm += values[row * dim + d] ** 2;
    const inverse = 1 / Math.max(Math.sqrt(norm), 1e-12);
    for (let d = 0; d < dim; d++) out[row * dim + d] = values[row * dim + d] * inverse;
  }
  return out;
}

function dot(a, aRow, b, bRow, dim) {
  let sum = 0;
  for (let d = 0; d < dim; d++) sum += a[aRow * dim + d] * b[bRow * dim + d];
  return sum;
}

function embed(body, data) {
  return tf.tidy(() => normalizeRows(body.predict(tf.tensor2d(data.pixels, [data.count, PIXELS])).dataSync(), EMBEDDING_DIM));
}

// Nearest class centre: centre = mean of the class's normalized training embeddings; a test
// embedding gets the class of the centre with the largest cosine.
function nearestCentreAccuracy(train, trainLabels, test, testLabels, dim) {
  const sums = new Float32Array(CLASSES * dim);
  trainLabels.forEach((label, i) => { for (let d = 0; d < dim; d++) sums[label * dim + d] += train[i * dim + d]; });
  const centres = normalizeRows(sums, dim);
  let correct = 0;
  testLabels.forEach((label, i) => {
    let best = 0;
    for (let c = 1; c < CLASSES; c++) if (dot(test, i, centres, c, dim) > dot(test, i, centres, best, dim)) best = c;
    if (best === label) correct++;
  });
  return correct / testLabels.length;
}

// k-NN, cosine, majority vote; a tie goes to the tied class with the nearest neighbour.
function knnAccuracy(train, trainLabels, test, testLabels, dim, k) {
  let correct = 0;
  testLabels.forEach((label, i) => {
    const neighbours = []; // the k most similar so far, most similar first
    for (let j = 0; j < trainLabels.length; j++) {
      const similarity = dot(test, i, train, j, dim);
      if (neighbours.length < k || similarity > neighbours[neighbours.length - 1].similarity) {
        neighbours.push({ similarity, label: trainLabels[j] });
        neighbours.sort((a, b) => b.similarity - a.similarity);
        if (neighbours.length > k) neighbours.pop();
      }
    }
    const votes = new Array(CLASSES).fill(0);
    let winner = neighbours[0].label;
    for (const n of neighbours) votes[n.label]++;
    for (const n of neighbours) if (votes[n.label] > votes[winner]) winner = n.label; // in nearest-first order
    if (winner === label) correct++;
  });
  return correct / testLabels.length;
}

function evaluate(method, trainData, testData) {
  const train = embed(method.body, trainData);
  const test = embed(method.body, testData);
  const result = {
    nearestCentre: nearestCentreAccuracy(train, trainData.labels, test, testData.labels, EMBEDDING_DIM),
    knn: knnAccuracy(train, trainData.labels, test, testData.labels, EMBEDDING_DIM, KNN_K),
  };
  if (method.classify) {
    const predictions = tf.tidy(() => method.classify(tf.tensor2d(testData.pixels, [testData.count, PIXELS]), testData.labels));
    result.head = predictions.dataSync().filter((p, i) => p === testData.labels[i]).length / testData.count;
    predictions.dispose();
  }
  return result;
}

// ------------------------------------------------------------------------------- loss timing

// ArcFace written with tf ops, following docs/spec/margin.md and native/math/
// margin_math.h: c = x̂·ŵ (norms floored at 1e-12) clamped to [−1, 1]; on the target column
// ψ(c) = cos(θ + m) = c·cos m − sin θ·sin m with sin θ = sqrt(max(1 − c², 1e-12)) while θ + m ≤ π
// (i.e. c ≥ −cos m), else c − m·sin m (no easy margin); logits s·c; mean softmax cross-entropy.
// Autodiff of cos m − … gives ψ' = sin(θ + m)/sin θ, the spec's exact gradient.  (tf's clamp has
// zero gradient past ±1 where the kernel passes it through; only rounding gets there.)
function pureTfArcFaceLoss(embeddings, weights, labels, { scale, margin: { m } }) {
  return tf.tidy(() => {
    const unit = (t) => t.div(tf.maximum(t.square().sum(1, true).sqrt(), 1e-12));
    const cosines = tf.clipByValue(tf.matMul(unit(embeddings), unit(weights), false, true), -1, 1);
    const oneHot = tf.oneHot(labels, weights.shape[0]);
    const target = cosines.mul(oneHot).sum(1, true);
    const sinTheta = tf.maximum(tf.sub(1, target.square()), 1e-12).sqrt();
    const arc = target.mul(Math.cos(m)).sub(sinTheta.mul(Math.sin(m)));
    const margined = tf.where(target.greaterEqual(-Math.cos(m)), arc, target.sub(m * Math.sin(m)));
    const logits = cosines.add(oneHot.mul(margined.sub(target))).mul(scale);
    return tf.losses.softmaxCrossEntropy(oneHot, logits);
  });
}

// Loss value and gradients wrt embeddings and weights, all read back (forces the computation).
function lossAndGradients(lossFn, embeddings, weights, labels) {
  const { value, grads } = tf.valueAndGrads((e, w) => lossFn(e, w, labels, ARCFACE))([embeddings, weights]);
  const out = { loss: value.dataSync()[0], gradEmbeddings: grads[0].dataSync(), gradWeights: grads[1].dataSync() };
  tf.dispose([value, ...grads]);
  return out;
}

// max |a − b| / max |b| (b the pure-tfjs reference): one figure per output, scale-free.
function relativeMaxDifference(a, b) {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) { diff = Math.max(diff, Math.abs(a[i] - b[i])); scale = Math.max(scale, Math.abs(b[i])); }
  return diff / Math.max(scale, 1e-30);
}

function medianSeconds(run, repeats) {
  run(); // warm-up
  const times = Array.from({ length: repeats }, () => {
    const started = process.hrtime.bigint();
    run();
    return Number(process.hrtime.bigint() - started) / 1e9;
  }).sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

// Box–Muller: a standard normal from two uniforms.
const gaussian = (random) => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());

// Fixed random inputs.  Random vectors are nearly orthogonal (c ≈ 0), so the first eighth of the
// rows are set near the negated target centre (c ≈ −0.95 < −cos m): the past-π branch is checked too.
function lossInputs(size, random) {
  const weights = Float32Array.from({ length: size.classes * size.dim }, () => gaussian(random));
  const embeddings = Float32Array.from({ length: size.rows * size.dim }, () => gaussian(random));
  const labels = Int32Array.from({ length: size.rows }, () => Math.floor(random() * size.classes));
  for (let i = 0; i < size.rows / 8; i++) {
    for (let d = 0; d < size.dim; d++) embeddings[i * size.dim + d] = -weights[labels[i] * size.dim + d] + 0.3 * embeddings[i * size.dim + d];
  }
  return { embeddings: tf.tensor2d(embeddings, [size.rows, size.dim]), weights: tf.tensor2d(weights, [size.classes, size.dim]),
    labels: tf.tensor1d(labels, 'int32') };
}

function timeLoss(size, seed) {
  const { embeddings, weights, labels } = lossInputs(size, mulberry32(seed + size.classes));
  const fused = lossAndGradients(marginSoftmaxLoss, embeddings, weights, labels);
  const pure = lossAndGradients(pureTfArcFaceLoss, embeddings, weights, labels);
  const differences = {
    loss: Math.abs(fused.loss - pure.loss) / Math.abs(pure.loss),
    gradEmbeddings: relativeMaxDifference(fused.gradEmbeddings, pure.gradEmbeddings),
    gradWeights: relativeMaxDifference(fused.gradWeights, pure.gradWeights),
  };
  const time = (fn) => medianSeconds(() => lossAndGradients(fn, embeddings, weights, labels), size.repeats);
  const pureSeconds = time(pureTfArcFaceLoss);
  const fusedSeconds = time(marginSoftmaxLoss);
  // tfjs's cpu backend runs on one thread: time the native kernel on one thread too, for reference.
  const { native, threads } = backendInfo();
  let fusedOneThreadSeconds = null;
  if (native) {
    setThreads(1);
    fusedOneThreadSeconds = time(marginSoftmaxLoss);
    setThreads(threads);
  }
  tf.dispose([embeddings, weights, labels]);
  return { ...size, differences, pureSeconds, fusedSeconds, fusedOneThreadSeconds, threads,
    ratio: pureSeconds / fusedSeconds, ratioOneThread: fusedOneThreadSeconds && pureSeconds / fusedOneThreadSeconds };
}

// ------------------------------------------------------------------------------------ output

function table(headers, rows) {
  const widths = headers.map((h, c) => Math.max(h.length, ...rows.map((r) => String(r[c]).length)));
  const line = (cells) => `| ${cells.map((cell, c) => String(cell).padEnd(widths[c])).join(' | ')} |`;
  return [line(headers), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

const percent = (x) => (x === undefined ? '—' : `${(100 * x).toFixed(1)} %`);
const milliseconds = (s) => (s === null ? '—' : `${(1000 * s).toFixed(s < 0.01 ? 2 : 1)} ms`);
const times = (ratio) => (ratio === null ? '—' : `${ratio.toFixed(1)}×`);

function machineLine() {
  const info = backendInfo();
  const fusedBackend = info.native ? `native ${info.simd}, ${info.threads} threads${info.cuda.available ? ', CUDA' : ''}` : 'TypeScript fallback';
  return `machine: ${os.cpus()[0].model}, ${os.cpus().length} cores · Node ${process.version} · tfjs ${tf.version.tfjs} (${tf.getBackend()} backend) · fusedloss ${info.version} (${fusedBackend})`;
}

// ------------------------------------------------------------------------------------- main

async function main() {
  const options = parseOptions(process.argv.slice(2));
  const config = runConfig(options);
  await tf.setBackend('cpu'); // explicit: the pure-JS backend, deterministic and everywhere
  const machine = machineLine();
  console.log(machine);

  const data = loadDigits(path.join(__dirname, 'data', 'digits.csv.gz'));
  const split = stratifiedSplit(data.labels, 0.7, mulberry32(options.seed));
  const trainData = subset(data, split.train);
  const testData = subset(data, split.test);
  console.log(`digits: ${data.count} images, ${trainData.count} train / ${testData.count} held out (stratified 70/30, seed ${options.seed}); ` +
    `${config.epochs} epochs of ${Math.floor(trainData.count / BATCH_SIZE)} balanced batches of ${BATCH_SIZE}, Adam ${LEARNING_RATE}\n`);

  const methods = [];
  for (const make of [makeArcFace, makeMultiSimilarity, makeSoftmax, makeUntrained]) {
    const method = make(options.seed);
    const training = method.batchLoss ? train(method, trainData, config.epochs, options.seed) : null;
    const accuracy = evaluate(method, trainData, testData);
    method.dispose();
    methods.push({ name: method.name, trainSeconds: training?.seconds ?? null, lastEpochLoss: training?.lastEpochLoss ?? null, ...accuracy });
    if (training) console.log(`  trained ${method.name} in ${training.seconds.toFixed(1)} s (last epoch loss ${training.lastEpochLoss.toFixed(4)})`);
  }
  console.log(`\nheld-out accuracy of the ${EMBEDDING_DIM}-d embeddings (chance 10 %):`);
  console.log(table(['method', 'train time', 'nearest centre', `${KNN_K}-NN`, 'head (argmax)'],
    methods.map((m) => [m.name, m.trainSeconds === null ? '—' : `${m.trainSeconds.toFixed(1)} s`, percent(m.nearestCentre), percent(m.knn), percent(m.head)])));

  console.log('\nArcFace loss alone, forward + backward (value and gradients wrt embeddings and centres), median:');
  const timings = config.timing.map((size) => timeLoss(size, options.seed));
  console.log(table(['size (N × D, C)', 'pure tfjs', 'fusedloss/tfjs', 'ratio', 'fused, 1 thread', 'ratio', 'max rel. diff (loss, ∂x, ∂W)'],
    timings.map((t) => [`${t.name}: ${t.rows} × ${t.dim}, ${t.classes}`, milliseconds(t.pureSeconds), milliseconds(t.fusedSeconds),
      times(t.ratio), milliseconds(t.fusedOneThreadSeconds), times(t.ratioOneThread),
      [t.differences.loss, t.differences.gradEmbeddings, t.differences.gradWeights].map((d) => d.toExponential(1)).join(', ')])));

  const failures = [];
  for (const t of timings) {
    for (const [output, difference] of Object.entries(t.differences)) {
      if (!(difference <= AGREEMENT_TOLERANCE)) failures.push(`fused and pure-tfjs ArcFace disagree at ${t.rows} × ${t.dim}, ${t.classes}: ${output} ${difference}`);
    }
  }
  if (options.minAccuracy !== null) {
    for (const m of methods.slice(0, 2)) { // ArcFace and multi-similarity
      if (!(m.nearestCentre >= options.minAccuracy)) failures.push(`${m.name}: nearest-centre accuracy ${m.nearestCentre} < ${options.minAccuracy}`);
      // The ArcFace head (argmax cosine to the learned centres) is at chance untrained, so this
      // also catches centres that did not learn while the embeddings look fine.
      if (m.head !== undefined && !(m.head >= options.minAccuracy)) failures.push(`${m.name}: head accuracy ${m.head} < ${options.minAccuracy}`);
    }
  }
  if (options.json) {
    const report = { machine, seed: options.seed, quick: options.quick, epochs: config.epochs, train: trainData.count, test: testData.count,
      arcface: ARCFACE, methods, lossTiming: timings, failures };
    fs.writeFileSync(options.json, `${JSON.stringify(report, null, 2)}\n`);
  }
  for (const failure of failures) console.error(`FAIL: ${failure}`);
  process.exitCode = failures.length ? 1 : 0;
}

main().catch((error) => {
  // A bad flag: its message and the usage line; anything else: the whole error.
  const usage = String(error.code).startsWith('ERR_PARSE_ARGS');
  console.error(usage ? `${error.message}\nusage: node examples/digits.js [--quick] [--epochs N] [--seed N] [--json FILE] [--min-accuracy X]` : error);
  process.exitCode = usage ? 2 : 1;
});
