'use strict';
// The mining step of `npm run demo`: a batch of query embeddings against a cross-batch memory
// bank (XBM-style queue that already holds the batch, so each query passes its own slot as
// selfIndex): multi-similarity pairs mined and their loss with gradients, batch-hard triplets,
// and the all-triplets margin loss, which no one could enumerate at this size.  Seeded.

const common = require('../bench/common');

const BANK = { rows: 512, refs: 65536, dim: 128, classes: 2048, seed: 5 };
/** The TypeScript fallback gets the first rows against the first bank slots. */
const BANK_JS = { rows: 64, refs: 4096 };
const MiB = 2 ** 20;

/**
 * Class centers are random unit directions; every bank slot and query is its class center plus
 * Gaussian noise (cos to its center ≈ 0.6).  The batch occupies bank slots [0, rows): query i is
 * slot i, the rest of the bank holds earlier batches.
 */
function makeBank({ rows, refs, dim, classes, seed }) {
  const normal = common.seededNormal(seed);
  const uniform = common.seededRandom(seed + 1);
  const centers = Float32Array.from({ length: classes * dim }, () => normal() / Math.sqrt(dim));
  const bank = new Float32Array(refs * dim);
  const bankLabels = new Int32Array(refs);
  for (let j = 0; j < refs; j++) {
    // The batch: 4 samples per class (a class-balanced sampler), the rest of the bank uniform.
    const label = j < rows ? (j >> 2) % classes : Math.floor(uniform() * classes);
    bankLabels[j] = label;
    for (let k = 0; k < dim; k++) bank[j * dim + k] = centers[label * dim + k] + (1.33 / Math.sqrt(dim)) * normal();
  }
  const queries = bank.slice(0, rows * dim);
  const labels = bankLabels.slice(0, rows);
  const selfIndex = Int32Array.from({ length: rows }, (_, i) => i);
  return { queries, labels, bank, bankLabels, selfIndex };
}

function norm2(values) {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i] * values[i];
  return Math.sqrt(sum);
}

function timed(fn) {
  const start = common.nowSeconds();
  const result = fn();
  return { result, ms: (common.nowSeconds() - start) * 1e3 };
}

async function memoryBankStep(fusedloss, info) {
  const { rows, refs, dim, classes } = BANK;
  console.log(`\nPair mining against a memory bank: N = ${rows} queries, M = ${refs.toLocaleString('en-US')} bank entries (XBM-style queue holding the batch), ` +
    `D = ${dim}, ${classes} classes, selfIndex = each query's own slot`);
  const data = makeBank(BANK);
  const base = {
    embeddings: { data: data.queries, shape: [rows, dim] }, labels: data.labels,
    ref: { data: data.bank, shape: [refs, dim] }, refLabels: data.bankLabels, selfIndex: data.selfIndex,
  };
  const native = info.cuda.available ? 'cuda' : info.native ? 'cpu' : null;
  const backend = native || 'js';
  if (!native) console.log('No native backend here: running on the TypeScript fallback (slow at this size).');

  const steps = [];
  const pairs = timed(() => fusedloss.mine({ ...base, miner: { type: 'multi-similarity', epsilon: 0.1 }, backend }));
  steps.push(['mine multi-similarity (cosine, ε 0.1)', `${pairs.result.positives.length.toLocaleString('en-US')} positive + ${pairs.result.negatives.length.toLocaleString('en-US')} negative pairs`, pairs.ms]);
  const ms = timed(() => fusedloss.pairLoss({ ...base, miner: { type: 'multi-similarity' }, loss: { type: 'multi-similarity' }, backend }));
  steps.push(['multi-similarity loss on those pairs + gradients', `loss ${ms.result.loss.toFixed(6)}, ‖gradEmbeddings‖ ${norm2(ms.result.gradEmbeddings).toExponential(3)}, ‖gradRef‖ ${norm2(ms.result.gradRef).toExponential(3)}`, ms.ms]);
  const hard = timed(() => fusedloss.mine({ ...base, miner: { type: 'batch-hard' }, backend }));
  steps.push(['mine batch-hard (euclidean)', `${hard.result.anchors.length} triplets`, hard.ms]);
  let tripletCount = 0; // Σ_i positives_i · negatives_i
  for (let i = 0; i < rows; i++) {
    let same = 0;
    for (let j = 0; j < refs; j++) same += data.bankLabels[j] === data.labels[i] ? 1 : 0;
    tripletCount += (same - 1) * (refs - same); // the query's own slot is neither
  }
  const triplets = timed(() => fusedloss.pairLoss({ ...base, loss: { type: 'triplet-margin', margin: 0.05 }, backend }));
  steps.push([`triplet-margin loss over all ≈${common.si(tripletCount)} triplets + gradients`, `loss ${triplets.result.loss.toFixed(6)} (sorted + binary search, never enumerated)`, triplets.ms]);
  console.log(common.table(['step', 'result', `time ms (${backend})`], steps.map(([a, b, t]) => [a, b, t.toFixed(1)]), ['l', 'l']));
  console.log(`An unfused implementation materializes the ${rows}×${refs} similarity matrix (${((4 * rows * refs) / MiB).toFixed(0)} MiB per copy; ` +
    `PML's miner holds several) and, for all triplets, an N×M×M mask (${((rows * refs * refs) / 2 ** 40).toFixed(1)} TiB of booleans).`);

  if (native) {
    const small = {
      embeddings: { data: data.queries.subarray(0, BANK_JS.rows * dim), shape: [BANK_JS.rows, dim] }, labels: data.labels.subarray(0, BANK_JS.rows),
      ref: { data: data.bank.subarray(0, BANK_JS.refs * dim), shape: [BANK_JS.refs, dim] }, refLabels: data.bankLabels.subarray(0, BANK_JS.refs),
      selfIndex: data.selfIndex.subarray(0, BANK_JS.rows), miner: { type: 'multi-similarity' }, loss: { type: 'multi-similarity' },
    };
    const results = [native, 'js'].map((b) => timed(() => fusedloss.pairLoss({ ...small, backend: b })));
    console.log(`Smaller problem on both backends (N = ${BANK_JS.rows}, M = ${BANK_JS.refs}): multi-similarity loss ${native} ${results[0].result.loss.toFixed(7)} ` +
      `(${results[0].ms.toFixed(1)} ms), js ${results[1].result.loss.toFixed(7)} (${results[1].ms.toFixed(1)} ms); ` +
      `|Δ loss| ${Math.abs(results[0].result.loss - results[1].result.loss).toExponential(2)}.`);
  }
}

module.exports = { memoryBankStep };
