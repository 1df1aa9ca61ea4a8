// The margin family's native enums (native/kernels/margin.h), names in C++ order (see
// lib/enum-codes.ts).  MarginType names the formula the kernel runs: 'arcface' is planned as
// 'combined' (m1 = 1, m3 = 0), so it has no code of its own.
export const MARGIN_ENUMS = {
  MarginType: { fields: ['marginType'], names: ['none', 'cosface', 'combined', 'sphereface'] },
  ScaleMode: { fields: ['scaleMode'], names: ['fixed', 'feature-norm', 'product-norm'] },
  Reduction: { fields: ['reduction'], names: ['mean', 'sum'] },
} as const;
