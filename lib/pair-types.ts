// Types of mine() / pairLoss() (the project's spec: pair-mining.md): the public arguments and
// results, and the validated plan every backend receives (the fields of
// native/kernels/pair_mining.h).
import type { ResolvedBackend } from './native';
import type { LabelsLike } from './margin-softmax';
import type { TensorLike } from './tensor';
import type { Backend } from './validate';

export type PairDistance = 'cosine' | 'dot' | 'euclidean' | 'squared-euclidean';

export type MinerSpec =
  /** Default distance cosine. ε ≥ 0, default 0.1. */
  | { type: 'multi-similarity'; epsilon?: number }
  /** Default distance euclidean. margin default 0.2, triplets default 'all'. */
  | { type: 'triplet-margin'; margin?: number; triplets?: 'all' | 'hard' | 'semihard' | 'easy' }
  /** Default distance euclidean: the farthest positive and closest negative per anchor (ties: lowest index). */
  | { type: 'batch-hard' }
  /** Default distance euclidean. posMargin default 0.2, negMargin default 0.8. */
  | { type: 'pair-margin'; posMargin?: number; negMargin?: number };

export type MinerType = MinerSpec['type'];

export type PairLossSpec =
  /** Default distance cosine. alpha 2, beta 50, base 0.5. */
  | { type: 'multi-similarity'; alpha?: number; beta?: number; base?: number }
  /** Default distance euclidean. posMargin 0, negMargin 1 (with cosine use 1 and 0). */
  | { type: 'contrastive'; posMargin?: number; negMargin?: number }
  /** Default distance euclidean. margin 0.05; all triplets without a miner. */
  | { type: 'triplet-margin'; margin?: number }
  /** Cosine only. m 0.4, gamma 80. */
  | { type: 'circle'; m?: number; gamma?: number }
  /** Default distance cosine. temperature 0.07. */
  | { type: 'ntxent'; temperature?: number }
  /** Cosine only. lambdaPlus 1, lambdaMinus 1, marginPlus 0.9, marginMinus 0.5. */
  | { type: 'threshold-consistent'; lambdaPlus?: number; lambdaMinus?: number; marginPlus?: number; marginMinus?: number };

export type PairLossType = PairLossSpec['type'];

/** Arguments shared by mine() and pairLoss(). */
export interface PairArgs {
  /** Queries [N, D]. */
  embeddings: TensorLike;
  /** Class of each query (any int32). */
  labels: LabelsLike;
  /** Reference set [M, D] (default: the batch itself, pair (i, i) never formed). */
  ref?: TensorLike;
  /** Class of each reference row; required with ref. */
  refLabels?: LabelsLike;
  /** With ref only: index in ref of each query's own copy (−1: none); that pair is never formed. */
  selfIndex?: LabelsLike;
  /** Default: the miner's / loss's own default (each its own when both are given). */
  distance?: PairDistance;
  /** L2-normalize rows first. Default true (false for 'dot'); 'cosine' always normalizes. */
  normalize?: boolean;
  /** Default 'auto'. */
  backend?: Backend;
}

export interface MineArgs extends PairArgs {
  miner: MinerSpec;
  /** Cap on pairs (positives + negatives) or triplets; more throws ERR_FUSEDLOSS_TOO_LARGE. Default 2^26. */
  maxOutputs?: number;
}

export interface MinedPairs {
  positiveAnchors: Int32Array;
  positives: Int32Array;
  negativeAnchors: Int32Array;
  negatives: Int32Array;
  backend: ResolvedBackend;
}

export interface MinedTriplets {
  anchors: Int32Array;
  positives: Int32Array;
  negatives: Int32Array;
  backend: ResolvedBackend;
}

/** Pairs for multi-similarity and pair-margin, triplets for triplet-margin and batch-hard. */
export type MineResultOf<A extends MineArgs> = A['miner']['type'] extends 'triplet-margin' | 'batch-hard'
  ? MinedTriplets
  : A['miner']['type'] extends 'multi-similarity' | 'pair-margin'
    ? MinedPairs
    : MinedPairs | MinedTriplets;

export interface PairLossArgs extends PairArgs {
  loss: PairLossSpec;
  /** Restricts the pairs / triplets first (as PML's indices_tuple). */
  miner?: MinerSpec;
  /** Return gradEmbeddings (and gradRef with ref). Default true. */
  gradients?: boolean;
}

export interface PairLossResult {
  loss: number;
  /** ∂loss/∂embeddings [N, D]; without ref it sums the query and reference roles. */
  gradEmbeddings?: Float32Array;
  /** ∂loss/∂ref [M, D], with ref. */
  gradRef?: Float32Array;
  backend: ResolvedBackend;
}

export type PairLossResultOf<A extends PairLossArgs> = PairLossResult &
  (A extends { gradients: false }
    ? unknown
    : A extends { ref: TensorLike }
      ? { gradEmbeddings: Float32Array; gradRef: Float32Array }
      : { gradEmbeddings: Float32Array });

/** Distances in the order of native/kernels/pair_mining.h (PairDistance). */
export const PAIR_DISTANCES: readonly PairDistance[] = ['cosine', 'dot', 'euclidean', 'squared-euclidean'];
/** Miner types by native code (MinerType; 0 = none). */
export const MINER_TYPES: readonly MinerType[] = ['multi-similarity', 'triplet-margin', 'batch-hard', 'pair-margin'];
export const TRIPLET_SELECTS = ['all', 'hard', 'semihard', 'easy'] as const;
/** Loss types by native code (PairLossType). */
export const PAIR_LOSS_TYPES: readonly PairLossType[] = [
  'multi-similarity', 'contrastive', 'triplet-margin', 'circle', 'ntxent', 'threshold-consistent',
];

/** The validated inputs both kernels share (PairShape, PairInputs, PairSimilarityOptions). */
export interface PairInputsPlan {
  embeddings: Float32Array;
  rows: number;
  dim: number;
  labels: Int32Array;
  /** Null: the batch itself (refs = rows). */
  ref: Float32Array | null;
  refs: number;
  refLabels: Int32Array | null;
  selfIndex: Int32Array | null;
  normalize: boolean;
}

/** MinerOptions; minerType 0 = none (all pairs), else 1 + MINER_TYPES index. */
export interface MinerPlan {
  minerType: 0 | 1 | 2 | 3 | 4;
  /** PairDistance code of the miner (0 cosine, 1 dot, 2 euclidean, 3 squared-euclidean). */
  minerDistance: 0 | 1 | 2 | 3;
  epsilon: number;
  minerMargin: number;
  /** TripletSelect: 0 all, 1 hard, 2 semihard, 3 easy. */
  triplets: 0 | 1 | 2 | 3;
  minerPosMargin: number;
  minerNegMargin: number;
}

export interface MinePlan extends PairInputsPlan, MinerPlan {
  maxOutputs: number;
}

/** PairLossOptions (with the miner's fields; minerType 0 without one). */
export interface PairLossPlan extends PairInputsPlan, MinerPlan {
  /** PairLossType code: index in PAIR_LOSS_TYPES. */
  lossType: 0 | 1 | 2 | 3 | 4 | 5;
  lossDistance: 0 | 1 | 2 | 3;
  alpha: number;
  beta: number;
  base: number;
  posMargin: number;
  negMargin: number;
  margin: number;
  circleM: number;
  gamma: number;
  temperature: number;
  lambdaPlus: number;
  lambdaMinus: number;
  marginPlus: number;
  marginMinus: number;
  gradients: boolean;
}

/** What a backend returns from mine (pairs or triplets by miner type), before `backend` is added. */
export type MineOutputs = Omit<MinedPairs, 'backend'> | Omit<MinedTriplets, 'backend'>;
export type PairLossOutputs = Omit<PairLossResult, 'backend'>;
