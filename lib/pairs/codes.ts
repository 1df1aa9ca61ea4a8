// The pair family's native enums (native/kernels/pairs_types.h), keyed as in addon.codes, names in
// code order (see lib/enum-codes.ts).  A plan field missing from a kernel's plan (mine has no loss) is skipped.
export const PAIR_ENUMS = {
  pairDistance: { fields: ['minerDistance', 'lossDistance'], names: ['cosine', 'dot', 'euclidean', 'squared-euclidean'] },
  minerType: { fields: ['minerType'], names: ['none', 'multi-similarity', 'triplet-margin', 'batch-hard', 'pair-margin'] },
  tripletSelect: { fields: ['triplets'], names: ['all', 'hard', 'semihard', 'easy'] },
  pairLossType: {
    fields: ['lossType'],
    names: ['multi-similarity', 'contrastive', 'triplet-margin', 'circle', 'ntxent', 'threshold-consistent'],
  },
} as const;
