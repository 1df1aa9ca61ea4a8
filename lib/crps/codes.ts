// The CRPS family's native enums (native/kernels/crps_types.h), keyed as in addon.codes, names in
// code order (see lib/enum-codes.ts).
export const CRPS_ENUMS = {
  nanPolicy: { fields: ['nanPolicy'], names: ['propagate', 'omit', 'zero'] },
} as const;
