// Rounding of GEMM operands to the reduced precisions of the `precision` option (see
// ../kernels/enum_names.h), one definition for the CPU, WebAssembly and CUDA kernels; the
// TypeScript fallback mirrors it bit for bit (lib/precision.ts).
//
//   bf16: 8 significant bits, round to nearest, ties to even — what __float2bfloat16 and
//         AVX512_BF16's vcvtne2ps2bf16 do.
//   tf32: 11 significant bits, round to nearest, ties away from zero — what cvt.rna.tf32.f32
//         (wmma::__float_to_tf32) does.
// Both keep float32's exponent range, so only overflow past the largest finite value rounds to
// ±Inf; NaN stays NaN (its quiet bit is set so dropping low payload bits cannot make it Inf).
#pragma once

#include <cstdint>
#include <cstring>

#include "../kernels/enum_names.h"
#include "common.h"

namespace fusedloss {
namespace precision {

FL_HD uint32_t floatBits(float x) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(x);
#else
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return bits;
#endif
}

FL_HD float bitsFloat(uint32_t bits) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(bits);
#else
  float x;
  std::memcpy(&x, &bits, sizeof x);
  return x;
#endif
}

// The roundings on the bits, branch-free, for a uint32_t or a vector of them (the CPU epilogues
// round 16 lanes at once with the same code).  Both sides of ?: are computed; unsigned, they wrap.
template <typename Bits>
FL_HD Bits bf16Bits(Bits bits) {
  return (bits & 0x7fffffffu) > 0x7f800000u ? (bits | 0x00400000u) & 0xffff0000u
                                             : (bits + 0x7fffu + ((bits >> 16) & 1u)) & 0xffff0000u;
}

template <typename Bits>
FL_HD Bits tf32Bits(Bits bits) {
  return (bits & 0x7fffffffu) > 0x7f800000u ? (bits | 0x00400000u) & 0xffffe000u : (bits + 0x1000u) & 0xffffe000u;
}

FL_HD float roundToBf16(float x) { return bitsFloat(bf16Bits(floatBits(x))); }

FL_HD float roundToTf32(float x) { return bitsFloat(tf32Bits(floatBits(x))); }

// x rounded to `p` (the identity for fp32): how every kernel rounds a GEMM operand.
FL_HD float roundOperand(float x, Precision p) {
  return p == Precision::Bf16 ? roundToBf16(x) : p == Precision::Tf32 ? roundToTf32(x) : x;
}

}  // namespace precision
}  // namespace fusedloss
