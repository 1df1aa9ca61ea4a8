// The precision option's rounding written independently of lib/precision.ts and
// native/math/precision_math.h: by arithmetic on the value (its binade, its unit in the last
// place, the tie rule), not by bit manipulation, for the float64 references of the tests.
//   bf16: 8 significant bits, ties to even;  tf32: 11 significant bits, ties away from zero;
//   both with float32's exponent range (subnormals on float32's grid cut to the format's bits).

/** x (first rounded to float32) rounded to `significant` bits with float32's exponent range. */
export function referenceRound(x: number, significant: number, ties: 'even' | 'away'): number {
  const f = Math.fround(x);
  if (!Number.isFinite(f) || f === 0) return f;
  const a = Math.abs(f);
  let e = Math.floor(Math.log2(a));
  while (2 ** e > a) e--;
  while (2 ** (e + 1) <= a) e++;
  const ulp = 2 ** (Math.max(e, -126) - (significant - 1));
  const q = a / ulp; // exact: a has at most 24 significant bits
  const floor = Math.floor(q);
  const fraction = q - floor;
  const up = fraction > 0.5 || (fraction === 0.5 && (ties === 'away' || floor % 2 === 1));
  const r = (up ? floor + 1 : floor) * ulp;
  const largest = (2 - 2 ** (1 - significant)) * 2 ** 127;
  const rounded = r > largest ? Infinity : r;
  return f < 0 ? -rounded : rounded;
}

export type ReducedPrecision = 'tf32' | 'bf16';

/** The reference rounding of a precision option value. */
export function referenceRounding(precision: ReducedPrecision): (x: number) => number {
  return precision === 'bf16' ? (x) => referenceRound(x, 8, 'even') : (x) => referenceRound(x, 11, 'away');
}

/** The unit roundoff u of a precision (|round(x) − x| ≤ u·|x| for normal x): 2^-8 (bf16), 2^-11 (tf32). */
export function unitRoundoff(precision: ReducedPrecision): number {
  return precision === 'bf16' ? 2 ** -8 : 2 ** -11;
}
