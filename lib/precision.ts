// The `precision` option of the GEMM-based kernels (marginSoftmax, mine, pairLoss; docs/spec/precision.md): the
// names, their native codes, and the rounding of GEMM operands, a bit-for-bit mirror of
// native/math/precision_math.h (test/precision.rounding.test.ts holds the two against each other).
//   bf16: 8 significant bits, round to nearest, ties to even (__float2bfloat16, vcvtne2ps2bf16).
//   tf32: 11 significant bits, round to nearest, ties away from zero (cvt.rna.tf32.f32).
// NaN stays NaN (quiet bit set, low bits dropped); overflow past FLT_MAX's rounding gives ±Inf.
import { enumOption } from './validate';

/** The precision table, keyed as in addon.codes (native/kernels/enum_names.h), names in code order. */
export const PRECISION_CODES = {
  precision: { fields: ['precision'], names: ['fp32', 'tf32', 'bf16'] },
} as const;

/**
 * Operand precision of the GEMM products: 'fp32' (default), or 'tf32' / 'bf16', where both
 * operands of every product are rounded to TensorFloat-32 / bfloat16 first and the products and
 * sums stay float32. See docs/spec/precision.md for what is rounded and the error bounds.
 */
export type Precision = (typeof PRECISION_CODES)['precision']['names'][number];

/** The `precision` option, validated: OPTION for an unknown name, INVALID_ARG for a non-string. */
export function precisionOption(value: unknown): Precision {
  return enumOption(value, 'precision', PRECISION_CODES.precision.names, 'fp32');
}

/** The bits of a float32 rounded to bfloat16 (as float32 bits): precision_math.h's roundToBf16. */
export function bf16Bits(bits: number): number {
  const b = bits >>> 0;
  if ((b & 0x7fffffff) >>> 0 > 0x7f800000) return ((b | 0x00400000) & 0xffff0000) >>> 0;
  return ((b + 0x7fff + ((b >>> 16) & 1)) & 0xffff0000) >>> 0;
}

/** The bits of a float32 rounded to TensorFloat-32 (as float32 bits): precision_math.h's roundToTf32. */
export function tf32Bits(bits: number): number {
  const b = bits >>> 0;
  if ((b & 0x7fffffff) >>> 0 > 0x7f800000) return ((b | 0x00400000) & 0xffffe000) >>> 0;
  return ((b + 0x1000) & 0xffffe000) >>> 0;
}

const scratchFloat = new Float32Array(1);
const scratchBits = new Uint32Array(scratchFloat.buffer);

/**
 * A rounding function for `precision`: x → float32(x) rounded to the precision (the identity on
 * float32 for 'fp32'). Applied to a float64, it first rounds to float32, as the native kernels
 * hold every operand in float32 first.
 */
export function operandRounding(precision: Precision): (x: number) => number {
  if (precision === 'fp32') return Math.fround;
  const round = precision === 'bf16' ? bf16Bits : tf32Bits;
  return (x: number) => {
    scratchFloat[0] = x;
    scratchBits[0] = round(scratchBits[0]);
    return scratchFloat[0];
  };
}

/** Rounds every element of `values` in place (see operandRounding); returns it. */
export function roundOperands(values: Float64Array, precision: Precision): Float64Array {
  const round = operandRounding(precision);
  for (let i = 0; i < values.length; i++) values[i] = round(values[i]);
  return values;
}
