// planMine / planPairLoss: the validation of mine() and pairLoss() (docs/spec/pairs.md) every
// backend shares, done once, ending in a MinePlan / PairLossPlan
// (lib/pairs/types.ts: the fields of native/kernels/pairs.h and pairs_types.h, enums by name).
import { invalidArg, labelError, optionError, shapeError } from '../errors';
import { toRowLabels } from '../labels';
import { readOut, type OutputSpec } from '../outputs';
import { stillAttached, toMatrix } from '../tensor';
import {
  backendOption,
  booleanOption,
  checkArgsObject,
  checkKnownKeys,
  enumOption,
  FINITE,
  NON_NEGATIVE,
  numberOption,
  objectOption,
  POSITIVE,
  readOptions,
  requireKeys,
  type Planned,
} from '../validate';
import { precisionOption } from '../precision';
import { PAIR_ENUMS } from './codes';
import type {
  MinePlan,
  MinerPlan,
  MinerSelection,
  MinerType,
  PairDistance,
  PairInputsPlan,
  PairLossPlan,
  PairLossType,
  TripletSelect,
} from './types';

/** Whether the miner yields triplets (else pairs). */
export function minesTriplets(minerType: MinerSelection): boolean {
  return minerType === 'triplet-margin' || minerType === 'batch-hard';
}

const SHARED_KEYS = ['embeddings', 'labels', 'ref', 'refLabels', 'selfIndex', 'distance', 'normalize', 'precision', 'backend'] as const;
// mine's 'out' is known only to be refused with its reason (planMine).
const MINE_KEYS = [...SHARED_KEYS, 'miner', 'maxOutputs', 'out'] as const;
export const PAIR_LOSS_KEYS = [...SHARED_KEYS, 'loss', 'miner', 'gradients', 'out'] as const;

const withGradients = (plan: PairLossPlan) => plan.gradients;
/** The result arrays of pairLoss(), for `out`. */
export const PAIR_LOSS_OUTPUTS: readonly OutputSpec<PairLossPlan>[] = [
  { name: 'gradEmbeddings', type: 'Float32Array', length: (plan) => plan.rows * plan.dim, returned: withGradients, requires: 'gradients: true' },
  {
    name: 'gradRef',
    type: 'Float32Array',
    length: (plan) => plan.refs * plan.dim,
    returned: (plan) => plan.gradients && plan.ref !== null,
    requires: 'ref and gradients: true',
  },
];

const MINER_KEYS: Record<MinerType, readonly string[]> = {
  'multi-similarity': ['type', 'epsilon'],
  'triplet-margin': ['type', 'margin', 'triplets'],
  'batch-hard': ['type'],
  'pair-margin': ['type', 'posMargin', 'negMargin'],
};
const LOSS_KEYS: Record<PairLossType, readonly string[]> = {
  'multi-similarity': ['type', 'alpha', 'beta', 'base'],
  contrastive: ['type', 'posMargin', 'negMargin'],
  'triplet-margin': ['type', 'margin'],
  circle: ['type', 'm', 'gamma'],
  ntxent: ['type', 'temperature'],
  'threshold-consistent': ['type', 'lambdaPlus', 'lambdaMinus', 'marginPlus', 'marginMinus'],
};
// Each miner's and loss's distance when the call gives none (PML's defaults).
const MINER_DISTANCE: Record<MinerType, PairDistance> = {
  'multi-similarity': 'cosine',
  'triplet-margin': 'euclidean',
  'batch-hard': 'euclidean',
  'pair-margin': 'euclidean',
};
const LOSS_DISTANCE: Record<PairLossType, PairDistance> = {
  'multi-similarity': 'cosine',
  contrastive: 'euclidean',
  'triplet-margin': 'euclidean',
  circle: 'cosine',
  ntxent: 'cosine',
  'threshold-consistent': 'cosine',
};
// Losses defined on cosine similarities only.
const COSINE_ONLY_LOSSES: readonly PairLossType[] = ['circle', 'threshold-consistent'];

/** maxOutputs default (2^26) and bound (int32 indices). */
const DEFAULT_MAX_OUTPUTS = 2 ** 26;
const INT32_MAX = 0x7fffffff;

const PAIR_DISTANCES: readonly PairDistance[] = PAIR_ENUMS.pairDistance.names;
/** The miners a call names (the table's names but 'none', which is no miner). */
const MINER_TYPES = PAIR_ENUMS.minerType.names.filter((name): name is MinerType => name !== 'none');
const TRIPLET_SELECTS: readonly TripletSelect[] = PAIR_ENUMS.tripletSelect.names;
const PAIR_LOSS_TYPES: readonly PairLossType[] = PAIR_ENUMS.pairLossType.names;

/** The `type` of a miner or loss object, its known keys checked. */
function specType<T extends string>(value: unknown, name: string, types: readonly T[], keys: Record<T, readonly string[]>): { spec: Record<string, unknown>; type: T } {
  const spec = readOptions(objectOption(value, name), [...new Set(Object.values<readonly string[]>(keys).flat())], name);
  if (spec.type === undefined) throw invalidArg(`${name}.type is required`);
  const type = enumOption(spec.type, `${name}.type`, types, types[0]);
  checkKnownKeys(spec, keys[type], name);
  return { spec, type };
}

/** MinerOptions with the PML defaults; minerType 'none' (no miner) keeps them unused. */
const NO_MINER: Omit<MinerPlan, 'minerDistance'> = {
  minerType: 'none',
  epsilon: 0.1,
  minerMargin: 0.2,
  triplets: 'all',
  minerPosMargin: 0.2,
  minerNegMargin: 0.8,
};

function planMiner(value: unknown): { fields: Omit<MinerPlan, 'minerDistance'>; type: MinerType } {
  const { spec, type } = specType(value, 'miner', MINER_TYPES, MINER_KEYS);
  const fields = { ...NO_MINER, minerType: type };
  switch (type) {
    case 'multi-similarity':
      fields.epsilon = numberOption(spec.epsilon, 'miner.epsilon', 0.1, NON_NEGATIVE);
      break;
    case 'triplet-margin':
      fields.minerMargin = numberOption(spec.margin, 'miner.margin', 0.2, FINITE);
      fields.triplets = enumOption(spec.triplets, 'miner.triplets', TRIPLET_SELECTS, 'all');
      break;
    case 'pair-margin':
      fields.minerPosMargin = numberOption(spec.posMargin, 'miner.posMargin', 0.2, FINITE);
      fields.minerNegMargin = numberOption(spec.negMargin, 'miner.negMargin', 0.8, FINITE);
      break;
    default:
      break; // batch-hard has no parameters
  }
  return { fields, type };
}

type LossFields = Omit<PairLossPlan, keyof PairInputsPlan | keyof MinerPlan | 'lossDistance' | 'gradients'>;

function planLoss(value: unknown): { fields: LossFields; type: PairLossType } {
  const { spec, type } = specType(value, 'loss', PAIR_LOSS_TYPES, LOSS_KEYS);
  // PairLossOptions' defaults (native/kernels/pairs_types.h); only the chosen loss's are read.
  const fields: LossFields = {
    lossType: type,
    alpha: 2,
    beta: 50,
    base: 0.5,
    posMargin: 0,
    negMargin: 1,
    margin: 0.05,
    circleM: 0.4,
    gamma: 80,
    temperature: 0.07,
    lambdaPlus: 1,
    lambdaMinus: 1,
    marginPlus: 0.9,
    marginMinus: 0.5,
  };
  switch (type) {
    case 'multi-similarity':
      fields.alpha = numberOption(spec.alpha, 'loss.alpha', 2, POSITIVE);
      fields.beta = numberOption(spec.beta, 'loss.beta', 50, POSITIVE);
      fields.base = numberOption(spec.base, 'loss.base', 0.5, FINITE);
      break;
    case 'contrastive':
      fields.posMargin = numberOption(spec.posMargin, 'loss.posMargin', 0, FINITE);
      fields.negMargin = numberOption(spec.negMargin, 'loss.negMargin', 1, FINITE);
      break;
    case 'triplet-margin':
      fields.margin = numberOption(spec.margin, 'loss.margin', 0.05, FINITE);
      break;
    case 'circle':
      fields.circleM = numberOption(spec.m, 'loss.m', 0.4, FINITE);
      fields.gamma = numberOption(spec.gamma, 'loss.gamma', 80, POSITIVE);
      break;
    case 'ntxent':
      fields.temperature = numberOption(spec.temperature, 'loss.temperature', 0.07, POSITIVE);
      break;
    default:
      fields.lambdaPlus = numberOption(spec.lambdaPlus, 'loss.lambdaPlus', 1, FINITE);
      fields.lambdaMinus = numberOption(spec.lambdaMinus, 'loss.lambdaMinus', 1, FINITE);
      fields.marginPlus = numberOption(spec.marginPlus, 'loss.marginPlus', 0.9, FINITE);
      fields.marginMinus = numberOption(spec.marginMinus, 'loss.marginMinus', 0.5, FINITE);
      break;
  }
  return { fields, type };
}

/**
 * The `normalize` of a call whose miner and loss use `distances`: default true, false when the
 * caller's `distance` is 'dot' (no default is 'dot'); 'cosine' always normalizes, so an explicit
 * false with it is an error.
 */
function normalizeOption(value: unknown, given: PairDistance | null, distances: readonly PairDistance[]): boolean {
  const normalize = booleanOption(value, 'normalize', given !== 'dot');
  if (!normalize && distances.includes('cosine')) {
    throw optionError("normalize = false does not apply to distance 'cosine', which always normalizes rows");
  }
  return normalize;
}

/** embeddings, labels, ref, refLabels, selfIndex: converted and checked against each other. */
function planInputs(args: Record<string, unknown>, normalize: boolean): PairInputsPlan {
  const precision = precisionOption(args.precision);
  const embeddings = toMatrix(args.embeddings, 'embeddings');
  const [rows, dim] = embeddings.shape;
  const hasRef = args.ref !== undefined;
  if (!hasRef && args.refLabels !== undefined) throw invalidArg('refLabels is given without ref; it applies only with a reference set');
  if (!hasRef && args.selfIndex !== undefined) throw invalidArg('selfIndex is given without ref; it applies only with a reference set');
  if (hasRef && args.refLabels === undefined) throw invalidArg('refLabels is required with ref');
  const ref = hasRef ? toMatrix(args.ref, 'ref', '[M, D]') : null;
  const refs = ref ? ref.shape[0] : rows;
  if (ref && ref.shape[1] !== dim) {
    throw shapeError(`ref has shape [${ref.shape.join(', ')}], expected [M, ${dim}] to match embeddings [${rows}, ${dim}]`);
  }

  const labels = toRowLabels(args.labels, 'labels', rows, 'embeddings row');
  let refLabels: Int32Array | null = null;
  let selfIndex: Int32Array | null = null;
  if (ref) {
    refLabels = toRowLabels(args.refLabels, 'refLabels', refs, 'ref row');
    if (args.selfIndex !== undefined) {
      selfIndex = toRowLabels(args.selfIndex, 'selfIndex', rows, 'embeddings row');
      for (let i = 0; i < rows; i++) {
        const j = selfIndex[i];
        if (j < -1 || j >= refs) throw labelError(`selfIndex[${i}] = ${j} is outside [-1, ${refs}) (ref rows; -1: none)`);
      }
    }
  }
  // Checked once every argument has been read: a later getter may have detached one.
  const embeddingData = stillAttached(embeddings.data, 'embeddings');
  const refData = ref ? stillAttached(ref.data, 'ref') : null;
  return { embeddings: embeddingData, rows, dim, labels, ref: refData, refs, refLabels, selfIndex, normalize, precision };
}

export function planMine(rawArgs: unknown): Planned<MinePlan> {
  const args = readOptions(checkArgsObject(rawArgs, 'mine'), MINE_KEYS, 'mine');
  if (args.out !== undefined) {
    throw invalidArg('mine: out is not accepted: how many pairs or triplets a miner finds depends on the data, so mine() sizes its own arrays (maxOutputs bounds them)');
  }
  requireKeys(args, ['embeddings', 'labels', 'miner']);
  const backend = backendOption(args.backend);
  const { fields: minerFields, type: minerType } = planMiner(args.miner);
  const given = args.distance === undefined ? null : enumOption(args.distance, 'distance', PAIR_DISTANCES, 'cosine');
  const minerDistance = given ?? MINER_DISTANCE[minerType];
  const normalize = normalizeOption(args.normalize, given, [minerDistance]);
  let maxOutputs = DEFAULT_MAX_OUTPUTS;
  if (args.maxOutputs !== undefined) {
    if (typeof args.maxOutputs !== 'number') throw invalidArg('maxOutputs must be a number');
    maxOutputs = args.maxOutputs;
    if (!Number.isInteger(maxOutputs) || maxOutputs < 0 || maxOutputs > INT32_MAX) {
      throw optionError(`maxOutputs = ${maxOutputs} must be an integer in [0, ${INT32_MAX}]`);
    }
  }
  const inputs = planInputs(args, normalize);
  return { plan: { ...inputs, ...minerFields, minerDistance, maxOutputs }, backend, out: null };
}

export function planPairLoss(rawArgs: unknown): Planned<PairLossPlan> {
  const args = readOptions(checkArgsObject(rawArgs, 'pairLoss'), PAIR_LOSS_KEYS, 'pairLoss');
  const out = readOut(args.out, PAIR_LOSS_OUTPUTS);
  requireKeys(args, ['embeddings', 'labels', 'loss']);
  const backend = backendOption(args.backend);
  const { fields: lossFields, type: lossType } = planLoss(args.loss);
  const miner = args.miner === undefined ? null : planMiner(args.miner);
  const given = args.distance === undefined ? null : enumOption(args.distance, 'distance', PAIR_DISTANCES, 'cosine');
  const lossDistance = given ?? LOSS_DISTANCE[lossType];
  // Without a miner the plan's miner distance is the loss's (unused, but a valid code).
  const minerDistance = given ?? (miner ? MINER_DISTANCE[miner.type] : lossDistance);
  if (COSINE_ONLY_LOSSES.includes(lossType) && lossDistance !== 'cosine') {
    throw optionError(`distance = '${lossDistance}' does not apply to loss.type '${lossType}', which is defined on 'cosine' only`);
  }
  const normalize = normalizeOption(args.normalize, given, [minerDistance, lossDistance]);
  const gradients = booleanOption(args.gradients, 'gradients', true);
  const inputs = planInputs(args, normalize);
  return {
    plan: {
      ...inputs,
      ...(miner ? miner.fields : NO_MINER),
      minerDistance,
      ...lossFields,
      lossDistance,
      gradients,
    },
    backend,
    out,
  };
}
