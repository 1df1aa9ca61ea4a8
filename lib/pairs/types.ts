// Types of mine() / pairLoss() (docs/spec/pairs.md): the public arguments and
// results, and the validated plan every backend receives (the fields of
// native/kernels/pairs.h and pairs_types.h).
import type { EnumName } from '../enum-codes';
import type { LabelsLike } from '../labels';
import type { ResolvedBackend } from '../native';
import type { Precision } from '../precision';
import type { TensorLike } from '../tensor';
import type { Backend } from '../validate';
import type { PAIR_ENUMS } from './codes';

/** 'cosine' and 'dot' are similarities (larger = closer); 'euclidean' and 'squared-euclidean' are distances. */
export type PairDistance = EnumName<typeof PAIR_ENUMS, 'pairDistance'>;

/**
 * A miner (pytorch-metric-learning's defaults): which pairs or triplets to keep. Margins are in the
 * unit of the distance in use (for similarities the inequalities flip). See docs/spec/pairs.md.
 */
export type MinerSpec =
  | {
      /** Multi-similarity miner (default distance cosine); yields pairs. */
      type: 'multi-similarity';
      /** ε ≥ 0: keeps a positive with d_ip + ε > the closest negative, a negative with d_in − ε < the farthest positive. Default 0.1. */
      epsilon?: number;
    }
  | {
      /** Triplet-margin miner (default distance euclidean); yields triplets, by t = d_an − d_ap. */
      type: 'triplet-margin';
      /** The margin on t, finite. Default 0.2. */
      margin?: number;
      /** Which triplets: 'all' (t ≤ margin; default), 'hard' (t ≤ 0), 'semihard' (0 < t ≤ margin), 'easy' (t > margin). */
      triplets?: 'all' | 'hard' | 'semihard' | 'easy';
    }
  | {
      /** Batch-hard miner (default distance euclidean): per anchor the farthest positive and closest negative (ties: lowest index); yields triplets. */
      type: 'batch-hard';
    }
  | {
      /** Pair-margin miner (default distance euclidean); yields pairs. */
      type: 'pair-margin';
      /** Keeps positives with d > posMargin (strict), finite. Default 0.2. */
      posMargin?: number;
      /** Keeps negatives with d < negMargin (strict), finite. Default 0.8. */
      negMargin?: number;
    };

/** The `type` of a MinerSpec. */
export type MinerType = MinerSpec['type'];
/** A plan's miner: a MinerType, or 'none' (every pair). */
export type MinerSelection = EnumName<typeof PAIR_ENUMS, 'minerType'>;
/** Which triplets the triplet-margin miner keeps. */
export type TripletSelect = EnumName<typeof PAIR_ENUMS, 'tripletSelect'>;

/**
 * A pair loss (pytorch-metric-learning's defaults and reducers). Margins are in the unit of the
 * distance in use; s below is a similarity, d a distance. See docs/spec/pairs.md.
 */
export type PairLossSpec =
  | {
      /** Multi-similarity loss (default distance cosine); mean over all N rows. */
      type: 'multi-similarity';
      /** α > 0, the positive pairs' weight. Default 2. */
      alpha?: number;
      /** β > 0, the negative pairs' weight. Default 50. */
      beta?: number;
      /** λ, the similarity threshold (finite). Default 0.5. */
      base?: number;
    }
  | {
      /** Contrastive loss (default distance euclidean): relu(d − posMargin) per positive, relu(negMargin − d) per negative pair. */
      type: 'contrastive';
      /** m_pos, finite. Default 0 (with cosine use 1). */
      posMargin?: number;
      /** m_neg, finite. Default 1 (with cosine use 0). */
      negMargin?: number;
    }
  | {
      /** Triplet-margin loss (default distance euclidean): relu(d_ap − d_an + margin), over all triplets without a miner. */
      type: 'triplet-margin';
      /** The margin, finite. Default 0.05. */
      margin?: number;
    }
  | {
      /** Circle loss (cosine only). */
      type: 'circle';
      /** Relaxation margin m, finite. Default 0.4. */
      m?: number;
      /** Scale γ > 0. Default 80. */
      gamma?: number;
    }
  | {
      /** NT-Xent (InfoNCE) loss (default distance cosine); mean over positive pairs. */
      type: 'ntxent';
      /** Temperature τ > 0. Default 0.07. */
      temperature?: number;
    }
  | {
      /** Threshold-consistent margin (TCM) regularizer (cosine only). */
      type: 'threshold-consistent';
      /** λ⁺, weight of the positive term, finite. Default 1. */
      lambdaPlus?: number;
      /** λ⁻, weight of the negative term, finite. Default 1. */
      lambdaMinus?: number;
      /** m⁺: positives with s ≤ m⁺ cost m⁺ − s (finite). Default 0.9. */
      marginPlus?: number;
      /** m⁻: negatives with s ≥ m⁻ cost s − m⁻ (finite). Default 0.5. */
      marginMinus?: number;
    };

/** The `type` of a PairLossSpec. */
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
  /**
   * Operand precision of the dot products x̂·ŷ and of the gradient products: 'fp32' (default),
   * or 'tf32' / 'bf16', where x̂ and ŷ (the normalized rows, or the rows as given without
   * normalization) and ∂loss/∂dot are rounded to TensorFloat-32 / bfloat16 first and products and
   * sums stay float32. Distances are those of the rounded vectors; mining follows the rounded
   * values. Error bounds: docs/spec/precision.md.
   */
  precision?: Precision;
  /** Backend to run on. Default 'auto'. */
  backend?: Backend;
}

/** Arguments of mine() / mineAsync() (docs/spec/pairs.md). */
export interface MineArgs extends PairArgs {
  /** The miner and its parameters (required). */
  miner: MinerSpec;
  /** Cap on pairs (positives + negatives) or triplets, an integer in [0, 2^31 − 1]; more throws ERR_FUSEDLOSS_TOO_LARGE. Default 2^26. */
  maxOutputs?: number;
}

/** Mined pairs (multi-similarity, pair-margin), in canonical order: anchor ascending, then partner ascending. */
export interface MinedPairs {
  /** Row in `embeddings` of each positive pair's anchor. */
  positiveAnchors: Int32Array;
  /** Row in `ref` (or the batch) of each positive pair's partner; as long as positiveAnchors. */
  positives: Int32Array;
  /** Row in `embeddings` of each negative pair's anchor. */
  negativeAnchors: Int32Array;
  /** Row in `ref` (or the batch) of each negative pair's partner; as long as negativeAnchors. */
  negatives: Int32Array;
  /** The backend that ran: 'cuda', 'cpu' or 'js'. */
  backend: ResolvedBackend;
}

/** Mined triplets (triplet-margin, batch-hard), in canonical order: sorted by (anchor, positive, negative). */
export interface MinedTriplets {
  /** Row in `embeddings` of each triplet's anchor. */
  anchors: Int32Array;
  /** Row in `ref` (or the batch) of each triplet's positive; one per anchor entry. */
  positives: Int32Array;
  /** Row in `ref` (or the batch) of each triplet's negative; one per anchor entry. */
  negatives: Int32Array;
  /** The backend that ran: 'cuda', 'cpu' or 'js'. */
  backend: ResolvedBackend;
}

/** Pairs for multi-similarity and pair-margin, triplets for triplet-margin and batch-hard. */
export type MineResultOf<A extends MineArgs> = A['miner']['type'] extends 'triplet-margin' | 'batch-hard'
  ? MinedTriplets
  : A['miner']['type'] extends 'multi-similarity' | 'pair-margin'
    ? MinedPairs
    : MinedPairs | MinedTriplets;

/** Arguments of pairLoss() / pairLossAsync() (docs/spec/pairs.md). */
export interface PairLossArgs extends PairArgs {
  /** The loss and its parameters (required). */
  loss: PairLossSpec;
  /** Restricts the pairs / triplets first (as PML's indices_tuple). */
  miner?: MinerSpec;
  /** Return gradEmbeddings (and gradRef with ref). Default true. */
  gradients?: boolean;
  /**
   * Arrays to write the results into instead of new ones, each of the result's exact type and
   * length; the result returns these very arrays, with the same bits. Recommended in loops: a
   * dropped result's memory is reused only when the event loop turns, so a synchronous loop
   * without `out` maps fresh pages on every call. An async call writes them until its promise
   * settles: do not read, write or transfer them before (see the guide's "Caller-owned outputs").
   */
  out?: PairLossOut;
}

/** Caller-owned outputs of pairLoss() (PairLossArgs.out): any subset of the arrays the call returns. */
export interface PairLossOut {
  /** Float32Array(N·D) for gradEmbeddings (unless `gradients: false`). */
  gradEmbeddings?: Float32Array;
  /** Float32Array(M·D) for gradRef (with ref, unless `gradients: false`). */
  gradRef?: Float32Array;
}

/** Result of pairLoss() / pairLossAsync(). */
export interface PairLossResult {
  /** The reduced loss (as the loss type's reduction says); the gradients are of this number. */
  loss: number;
  /** ∂loss/∂embeddings [N, D]; without ref it sums the query and reference roles. */
  gradEmbeddings?: Float32Array;
  /** ∂loss/∂ref [M, D], with ref. */
  gradRef?: Float32Array;
  /** The backend that ran: 'cuda', 'cpu' or 'js'. */
  backend: ResolvedBackend;
}

/** The result for given arguments: gradEmbeddings typed as present unless `gradients: false`, gradRef too with `ref`. */
export type PairLossResultOf<A extends PairLossArgs> = PairLossResult &
  (A extends { gradients: false }
    ? unknown
    : A extends { ref: TensorLike }
      ? { gradEmbeddings: Float32Array; gradRef: Float32Array }
      : { gradEmbeddings: Float32Array });

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
  precision: Precision;
}

/** MinerOptions; minerType 'none': all pairs. */
export interface MinerPlan {
  minerType: MinerSelection;
  minerDistance: PairDistance;
  epsilon: number;
  minerMargin: number;
  triplets: TripletSelect;
  minerPosMargin: number;
  minerNegMargin: number;
}

export interface MinePlan extends PairInputsPlan, MinerPlan {
  maxOutputs: number;
}

/** PairLossOptions (with the miner's fields; minerType 0 without one). */
export interface PairLossPlan extends PairInputsPlan, MinerPlan {
  lossType: PairLossType;
  lossDistance: PairDistance;
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
