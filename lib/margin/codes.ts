// The margin family's native enums (native/kernels/margin_types.h), keyed as in addon.codes, names
// in code order (see lib/enum-codes.ts).  MarginType names the formula the kernel runs: 'arcface' is planned as
// 'combined' (m1 = 1, m3 = 0), so it has no code of its own.
export const MARGIN_ENUMS = {
  marginType: { fields: ['marginType'], names: ['none', 'cosface', 'combined', 'sphereface'] },
  scaleMode: { fields: ['scaleMode'], names: ['fixed', 'feature-norm', 'product-norm'] },
  reduction: { fields: ['reduction'], names: ['mean', 'sum'] },
} as const;
