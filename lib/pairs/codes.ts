// The pair family's native enums (native/kernels/pairs.h), names in C++ order (see
// lib/enum-codes.ts).  A plan field missing from a kernel's plan (mine has no loss) is skipped.
export const PAIR_ENUMS = {
  PairDistance: { fields: ['minerDistance', 'lossDistance'], names: ['cosine', 'dot', 'euclidean', 'squared-euclidean'] },
  MinerType: { fields: ['minerType'], names: ['none', 'multi-similarity', 'triplet-margin', 'batch-hard', 'pair-margin'] },
  TripletSelect: { fields: ['triplets'], names: ['all', 'hard', 'semihard', 'easy'] },
  PairLossType: {
    fields: ['lossType'],
    names: ['multi-similarity', 'contrastive', 'triplet-margin', 'circle', 'ntxent', 'threshold-consistent'],
  },
} as const;
