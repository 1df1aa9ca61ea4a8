// The CRPS family's native enums (native/kernels/crps.h), names in C++ order (see lib/enum-codes.ts).
export const CRPS_ENUMS = {
  NanPolicy: { fields: ['nanPolicy'], names: ['propagate', 'omit', 'zero'] },
} as const;
