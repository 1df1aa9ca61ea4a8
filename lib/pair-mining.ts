// mine() / mineAsync() and pairLoss() / pairLossAsync(): pair and triplet mining and the pair
// losses of metric learning (the project's spec: pair-mining.md).  Validation happens here, once,
// for every backend; the backends receive a MinePlan / PairLossPlan (lib/pair-types.ts, the
// fields of native/kernels/pairs.h).
import { backendError, invalidArg, labelError, optionError, shapeError } from './errors';
import type { Exact } from './exact';
import { mineFallback, pairLossFallback } from './fallback/pair-mining';
import { toLabels } from './labels';
import { addon, resolveBackend, type ResolvedBackend } from './native';
import {
  MINER_TYPES,
  PAIR_DISTANCES,
  PAIR_LOSS_TYPES,
  TRIPLET_SELECTS,
  type MineArgs,
  type MinedPairs,
  type MinedTriplets,
  type MineOutputs,
  type MinePlan,
  type MineResultOf,
  type MinerPlan,
  type MinerType,
  type PairDistance,
  type PairInputsPlan,
  type PairLossArgs,
  type PairLossOutputs,
  type PairLossPlan,
  type PairLossResult,
  type PairLossResultOf,
  type PairLossType,
} from './pair-types';
import { stillAttached, toTensor } from './tensor';
import { backendOption, booleanOption, checkArgsObject, checkKnownKeys, enumOption, readOptions, type Backend } from './validate';

export type {
  MineArgs,
  MinedPairs,
  MinedTriplets,
  MineResultOf,
  MinerSpec,
  MinerType,
  PairArgs,
  PairDistance,
  PairLossArgs,
  PairLossResult,
  PairLossResultOf,
  PairLossSpec,
  PairLossType,
} from './pair-types';

const SHARED_KEYS = ['embeddings', 'labels', 'ref', 'refLabels', 'selfIndex', 'distance', 'normalize', 'backend'] as const;
const MINE_KEYS = [...SHARED_KEYS, 'miner', 'maxOutputs'] as const;
export const PAIR_LOSS_KEYS = [...SHARED_KEYS, 'loss', 'miner', 'gradients'] as const;

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

type NumberRule = 'finite' | 'positive' | 'nonNegative';
const RULE_TEXT: Record<NumberRule, string> = { finite: 'finite', positive: 'finite and > 0', nonNegative: 'finite and >= 0' };

function objectOption(value: unknown, name: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || ArrayBuffer.isView(value)) {
    throw invalidArg(`${name} must be an object`);
  }
  return value as Record<string, unknown>;
}

function numberParam(value: unknown, name: string, fallback: number, rule: NumberRule): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw invalidArg(`${name} must be a number`);
  const ok = Number.isFinite(value) && (rule === 'finite' || (rule === 'positive' ? value > 0 : value >= 0));
  if (!ok) throw optionError(`${name} = ${value} must be ${RULE_TEXT[rule]}`);
  return value;
}

/** The `type` of a miner or loss object, its known keys checked. */
function specType<T extends string>(value: unknown, name: string, types: readonly T[], keys: Record<T, readonly string[]>): { spec: Record<string, unknown>; type: T } {
  const spec = readOptions(objectOption(value, name), [...new Set(Object.values<readonly string[]>(keys).flat())], name);
  if (spec.type === undefined) throw invalidArg(`${name}.type is required`);
  const type = enumOption(spec.type, `${name}.type`, types, types[0]);
  checkKnownKeys(spec, keys[type], name);
  return { spec, type };
}

/** MinerOptions with the PML defaults; minerType 0 (no miner) keeps them unused. */
const NO_MINER: Omit<MinerPlan, 'minerDistance'> = {
  minerType: 0,
  epsilon: 0.1,
  minerMargin: 0.2,
  triplets: 0,
  minerPosMargin: 0.2,
  minerNegMargin: 0.8,
};

function planMiner(value: unknown): { fields: Omit<MinerPlan, 'minerDistance'>; type: MinerType } {
  const { spec, type } = specType(value, 'miner', MINER_TYPES, MINER_KEYS);
  const fields = { ...NO_MINER, minerType: (MINER_TYPES.indexOf(type) + 1) as MinerPlan['minerType'] };
  switch (type) {
    case 'multi-similarity':
      fields.epsilon = numberParam(spec.epsilon, 'miner.epsilon', 0.1, 'nonNegative');
      break;
    case 'triplet-margin':
      fields.minerMargin = numberParam(spec.margin, 'miner.margin', 0.2, 'finite');
      fields.triplets = TRIPLET_SELECTS.indexOf(enumOption(spec.triplets, 'miner.triplets', TRIPLET_SELECTS, 'all')) as MinerPlan['triplets'];
      break;
    case 'pair-margin':
      fields.minerPosMargin = numberParam(spec.posMargin, 'miner.posMargin', 0.2, 'finite');
      fields.minerNegMargin = numberParam(spec.negMargin, 'miner.negMargin', 0.8, 'finite');
      break;
    default:
      break; // batch-hard has no parameters
  }
  return { fields, type };
}

type LossFields = Omit<PairLossPlan, keyof PairInputsPlan | keyof MinerPlan | 'lossDistance' | 'gradients'>;

function planLoss(value: unknown): { fields: LossFields; type: PairLossType } {
  const { spec, type } = specType(value, 'loss', PAIR_LOSS_TYPES, LOSS_KEYS);
  // PairLossOptions' defaults (native/kernels/pairs.h); only the chosen loss's are read.
  const fields: LossFields = {
    lossType: PAIR_LOSS_TYPES.indexOf(type) as PairLossPlan['lossType'],
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
      fields.alpha = numberParam(spec.alpha, 'loss.alpha', 2, 'positive');
      fields.beta = numberParam(spec.beta, 'loss.beta', 50, 'positive');
      fields.base = numberParam(spec.base, 'loss.base', 0.5, 'finite');
      break;
    case 'contrastive':
      fields.posMargin = numberParam(spec.posMargin, 'loss.posMargin', 0, 'finite');
      fields.negMargin = numberParam(spec.negMargin, 'loss.negMargin', 1, 'finite');
      break;
    case 'triplet-margin':
      fields.margin = numberParam(spec.margin, 'loss.margin', 0.05, 'finite');
      break;
    case 'circle':
      fields.circleM = numberParam(spec.m, 'loss.m', 0.4, 'finite');
      fields.gamma = numberParam(spec.gamma, 'loss.gamma', 80, 'positive');
      break;
    case 'ntxent':
      fields.temperature = numberParam(spec.temperature, 'loss.temperature', 0.07, 'positive');
      break;
    default:
      fields.lambdaPlus = numberParam(spec.lambdaPlus, 'loss.lambdaPlus', 1, 'finite');
      fields.lambdaMinus = numberParam(spec.lambdaMinus, 'loss.lambdaMinus', 1, 'finite');
      fields.marginPlus = numberParam(spec.marginPlus, 'loss.marginPlus', 0.9, 'finite');
      fields.marginMinus = numberParam(spec.marginMinus, 'loss.marginMinus', 0.5, 'finite');
      break;
  }
  return { fields, type };
}

function distanceCode(distance: PairDistance): MinerPlan['minerDistance'] {
  return PAIR_DISTANCES.indexOf(distance) as MinerPlan['minerDistance'];
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
  const embeddings = toTensor(args.embeddings, 'embeddings');
  if (embeddings.shape.length !== 2) throw shapeError(`embeddings must be [N, D], got shape [${embeddings.shape.join(', ')}]`);
  const [rows, dim] = embeddings.shape;
  const hasRef = args.ref !== undefined;
  if (!hasRef && args.refLabels !== undefined) throw invalidArg('refLabels is given without ref; it applies only with a reference set');
  if (!hasRef && args.selfIndex !== undefined) throw invalidArg('selfIndex is given without ref; it applies only with a reference set');
  if (hasRef && args.refLabels === undefined) throw invalidArg('refLabels is required with ref');
  const ref = hasRef ? toTensor(args.ref, 'ref') : null;
  if (ref && ref.shape.length !== 2) throw shapeError(`ref must be [M, D], got shape [${ref.shape.join(', ')}]`);
  const refs = ref ? ref.shape[0] : rows;
  if (ref && ref.shape[1] !== dim) {
    throw shapeError(`ref has shape [${ref.shape.join(', ')}], expected [M, ${dim}] to match embeddings [${rows}, ${dim}]`);
  }

  const labels = toLabels(args.labels, 'labels');
  if (labels.length !== rows) throw shapeError(`labels has ${labels.length} values, expected one per embeddings row (${rows})`);
  let refLabels: Int32Array | null = null;
  let selfIndex: Int32Array | null = null;
  if (ref) {
    refLabels = toLabels(args.refLabels, 'refLabels');
    if (refLabels.length !== refs) throw shapeError(`refLabels has ${refLabels.length} values, expected one per ref row (${refs})`);
    if (args.selfIndex !== undefined) {
      selfIndex = toLabels(args.selfIndex, 'selfIndex');
      if (selfIndex.length !== rows) throw shapeError(`selfIndex has ${selfIndex.length} values, expected one per embeddings row (${rows})`);
      for (let i = 0; i < rows; i++) {
        const j = selfIndex[i];
        if (j < -1 || j >= refs) throw labelError(`selfIndex[${i}] = ${j} is outside [-1, ${refs}) (ref rows; -1: none)`);
      }
    }
  }
  // Checked once every argument has been read: a later getter may have detached one.
  const embeddingData = stillAttached(embeddings.data, 'embeddings');
  const refData = ref ? stillAttached(ref.data, 'ref') : null;
  return { embeddings: embeddingData, rows, dim, labels, ref: refData, refs, refLabels, selfIndex, normalize };
}

function requireKeys(args: Record<string, unknown>, keys: readonly string[]): void {
  for (const key of keys) {
    if (args[key] === undefined) throw invalidArg(`${key} is required`);
  }
}

export function planMine(rawArgs: unknown): { plan: MinePlan; backend: Backend } {
  const args = readOptions(checkArgsObject(rawArgs, 'mine'), MINE_KEYS, 'mine');
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
  return { plan: { ...inputs, ...minerFields, minerDistance: distanceCode(minerDistance), maxOutputs }, backend };
}

export function planPairLoss(rawArgs: unknown): { plan: PairLossPlan; backend: Backend } {
  const args = readOptions(checkArgsObject(rawArgs, 'pairLoss'), PAIR_LOSS_KEYS, 'pairLoss');
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
      minerDistance: distanceCode(minerDistance),
      ...lossFields,
      lossDistance: distanceCode(lossDistance),
      gradients,
    },
    backend,
  };
}

type Device = { device: 0 | 1 };
type NativeMine = (plan: MinePlan & Device) => MineOutputs;
type NativeMineAsync = (plan: MinePlan & Device) => Promise<MineOutputs>;
type NativePairLoss = (plan: PairLossPlan & Device) => PairLossOutputs;
type NativePairLossAsync = (plan: PairLossPlan & Device) => Promise<PairLossOutputs>;

function nativeFunction<T>(name: string): T {
  const fn = addon()[name];
  if (typeof fn !== 'function') throw backendError(`the loaded native addon has no ${name}(); rebuild fusedloss`);
  return fn as T;
}

function device(backend: ResolvedBackend): Device {
  return { device: backend === 'cuda' ? 1 : 0 };
}

/** The plan with private copies of its arrays (the async js path: the caller may reuse or transfer its buffers). */
function copyPlanInputs<P extends PairInputsPlan>(plan: P): P {
  return {
    ...plan,
    embeddings: plan.embeddings.slice(),
    labels: plan.labels.slice(),
    ref: plan.ref ? plan.ref.slice() : null,
    refLabels: plan.refLabels ? plan.refLabels.slice() : null,
    selfIndex: plan.selfIndex ? plan.selfIndex.slice() : null,
  };
}

function minesTriplets(plan: MinePlan): boolean {
  const type = MINER_TYPES[plan.minerType - 1];
  return type === 'triplet-margin' || type === 'batch-hard';
}

/** Exactly the result fields of the miner's kind, whatever else a backend returned. */
function finishMine<A extends MineArgs>(outputs: MineOutputs, plan: MinePlan, backend: ResolvedBackend): MineResultOf<A> {
  if (minesTriplets(plan)) {
    const { anchors, positives, negatives } = outputs as Omit<MinedTriplets, 'backend'>;
    const result: MinedTriplets = { anchors, positives, negatives, backend };
    return result as MineResultOf<A>;
  }
  const { positiveAnchors, positives, negativeAnchors, negatives } = outputs as Omit<MinedPairs, 'backend'>;
  const result: MinedPairs = { positiveAnchors, positives, negativeAnchors, negatives, backend };
  return result as MineResultOf<A>;
}

function finishPairLoss<A extends PairLossArgs>(outputs: PairLossOutputs, plan: PairLossPlan, backend: ResolvedBackend): PairLossResultOf<A> {
  const result: PairLossResult = { loss: outputs.loss, backend };
  if (plan.gradients) {
    result.gradEmbeddings = outputs.gradEmbeddings;
    if (plan.ref) result.gradRef = outputs.gradRef;
  }
  return result as PairLossResultOf<A>;
}

/** Mined pairs or triplets (canonical order). See the README's mine section. */
export function mine<A extends MineArgs>(args: Exact<A, MineArgs, 'miner'>): MineResultOf<A> {
  const { plan, backend: requested } = planMine(args);
  const backend = resolveBackend(requested, 'pairs');
  const outputs = backend === 'js' ? mineFallback(plan) : nativeFunction<NativeMine>('mine')({ ...plan, ...device(backend) });
  return finishMine<A>(outputs, plan, backend);
}

/** mine() off the JavaScript thread (libuv pool). Never throws: invalid arguments reject. */
export async function mineAsync<A extends MineArgs>(args: Exact<A, MineArgs, 'miner'>): Promise<MineResultOf<A>> {
  const { plan, backend: requested } = planMine(args);
  const backend = resolveBackend(requested, 'pairs');
  if (backend === 'js') {
    // Like the native async path it works on copies, so the caller may reuse or transfer buffers.
    const owned = copyPlanInputs(plan);
    await new Promise((resolve) => setImmediate(resolve));
    return finishMine<A>(mineFallback(owned), plan, backend);
  }
  const outputs = await nativeFunction<NativeMineAsync>('mineAsync')({ ...plan, ...device(backend) });
  return finishMine<A>(outputs, plan, backend);
}

/** A pair loss (over the pairs/triplets `miner` keeps, or all) and its gradients. See the README's pairLoss section. */
export function pairLoss<A extends PairLossArgs>(args: Exact<A, PairLossArgs, 'miner' | 'loss'>): PairLossResultOf<A> {
  const { plan, backend: requested } = planPairLoss(args);
  const backend = resolveBackend(requested, 'pairs');
  const outputs =
    backend === 'js' ? pairLossFallback(plan) : nativeFunction<NativePairLoss>('pairLoss')({ ...plan, ...device(backend) });
  return finishPairLoss<A>(outputs, plan, backend);
}

/** pairLoss() off the JavaScript thread (libuv pool). Never throws: invalid arguments reject. */
export async function pairLossAsync<A extends PairLossArgs>(args: Exact<A, PairLossArgs, 'miner' | 'loss'>): Promise<PairLossResultOf<A>> {
  const { plan, backend: requested } = planPairLoss(args);
  const backend = resolveBackend(requested, 'pairs');
  if (backend === 'js') {
    const owned = copyPlanInputs(plan);
    await new Promise((resolve) => setImmediate(resolve));
    return finishPairLoss<A>(pairLossFallback(owned), plan, backend);
  }
  const outputs = await nativeFunction<NativePairLossAsync>('pairLossAsync')({ ...plan, ...device(backend) });
  return finishPairLoss<A>(outputs, plan, backend);
}
