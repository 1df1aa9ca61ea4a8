// Four float64 lanes (GCC/Clang vector extensions) and e^x on them, for the pair kernels' CPU
// rows (pairs_ms_row.cc, compiled once per instruction set).
//
// e^x is fdlibm's e_exp.c as V8 ships it for Math.exp (src/base/ieee754.cc): x = k·ln2 + r with
// ln2 in two parts, e^r = 1 + r + r·c/(2 − c) from a degree-5 polynomial c, scaled by 2^k — under
// 1 ulp.  Every branch of the scalar code is taken lane by lane as a select, each lane doing the
// very operations the scalar code does (no fused multiply-add: -ffp-contract=off), so each lane
// has the bits of the js fallback's Math.exp and a row's work runs in vector divides instead of
// one libm call a pair.
//
// fdlibm's notice, which its e_exp.c asks derived code to keep:
//   Copyright (C) 1993 by Sun Microsystems, Inc. All rights reserved.
//   Developed at SunSoft, a Sun Microsystems, Inc. business.
//   Permission to use, copy, modify, and distribute this software is freely granted, provided
//   that this notice is preserved.
#pragma once

#include <cstdint>
#include <cstring>

namespace fusedloss {
namespace pairs_cpu {

// Four lanes: one ymm register with AVX2 and AVX-512 alike (GCC lowers wider 64-bit-lane
// comparisons and selects lane by lane on AVX2).
typedef double Doubles __attribute__((vector_size(32)));
typedef int64_t Longs __attribute__((vector_size(32)));
typedef int32_t Ints4 __attribute__((vector_size(16)));  // k: AVX2 converts int32, not int64, lanes
constexpr int kDoubleLanes = 4;

// The lane helpers are always inlined into their multiversioned callers: an out-of-line copy is
// the baseline (SSE2) build, where 64-byte vectors go through memory and cost several times more.
#define FL_PAIR_LANES inline __attribute__((always_inline))

FL_PAIR_LANES Doubles splatDouble(double x) { return Doubles{} + x; }
FL_PAIR_LANES Longs splatLong(int64_t x) { return Longs{} + x; }
FL_PAIR_LANES Longs bitsOf(Doubles x) {
  Longs b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}
FL_PAIR_LANES Doubles doublesOf(Longs b) {
  Doubles x;
  std::memcpy(&x, &b, sizeof x);
  return x;
}

FL_PAIR_LANES Doubles expDoubles(Doubles x) {
  const double halfLn2High = 6.93147180369123816490e-01, ln2Low = 1.90821492927058770002e-10;
  const double invLn2 = 1.44269504088896338700e+00;
  const double p1 = 1.66666666666666019037e-01, p2 = -2.77777777770155933842e-03, p3 = 6.61375632143793436117e-05,
               p4 = -1.65339022054652515390e-06, p5 = 4.13813679705723846039e-08;
  const double overflow = 7.09782712893383973096e+02, underflow = -7.45133219101941108420e+02;
  const double twoTo1023 = 8.988465674311579539e307, twoToMinus1000 = 9.33263618503218878990e-302;
  const Longs bits = bitsOf(x);
  const Longs high = (bits >> 32) & 0x7fffffff;  // |x|'s high word, fdlibm's hx
  const Longs negative = bits < 0;
  const Longs isNan = x != x;
  const Longs over = x > overflow, under = x < underflow;  // ±∞ included
  const Longs tiny = high < 0x3e300000;                     // |x| < 2^-28: 1 + x
  const Longs reduced = high > 0x3fd62e42;                  // |x| > ln2/2: k ≠ 0
  const Longs nearOne = high < 0x3ff0a2b2;                  // |x| < 3·ln2/2: k = ±1
  const Doubles safe = (isNan | over | under) ? splatDouble(0.0) : x;  // nothing odd reaches the conversion
  const Doubles rounded = invLn2 * safe + (negative ? splatDouble(-0.5) : splatDouble(0.5));
  const Longs far = __builtin_convertvector(__builtin_convertvector(rounded, Ints4), Longs);  // (int), as fdlibm
  const Longs k = reduced ? (nearOne ? (negative ? splatLong(-1) : splatLong(1)) : far) : splatLong(0);
  // k = ±1: hi = x ∓ ln2_hi, lo = ±ln2_lo — the same operations as the general t·ln2 with t = ±1.
  const Doubles t = __builtin_convertvector(__builtin_convertvector(k, Ints4), Doubles);
  const Doubles hi = safe - t * halfLn2High, lo = t * ln2Low;
  const Doubles r = reduced ? hi - lo : safe;
  const Doubles r2 = r * r;
  const Doubles c = r - r2 * (p1 + r2 * (p2 + r2 * (p3 + r2 * (p4 + r2 * p5))));
  // One division for both of fdlibm's forms: c − 2 is exactly −(2 − c) and a quotient's sign is
  // symmetric, so (r·c)/(c − 2) is bit for bit −(r·c)/(2 − c) (2 − c > 0 here), zeros included.
  const Doubles quotient = (r * c) / (2.0 - c);
  const Doubles atZero = 1.0 - (-quotient - r);
  Doubles y = 1.0 - ((lo - quotient) - hi);
  // y·2^k in two products, (y·first)·second: y·2^k·1 for k ≥ −1021, y·2·2^1023 for k = 1024, and
  // y·2^(k+1000)·2^-1000 below.  The scalar code's own products (a factor 1 changes no bit); no
  // lane computes a branch it does not take, whose subnormal products would each cost a microcode
  // assist.
  const Longs normal = k >= -1021;
  const Longs top = k == 1024;
  const Longs exponent = (normal ? k : k + 1000) + 0x3ff;
  const Doubles first = top ? splatDouble(2.0) : doublesOf(exponent << 52);
  const Doubles second = top ? splatDouble(twoTo1023) : (normal ? splatDouble(1.0) : splatDouble(twoToMinus1000));
  y = reduced ? (y * first) * second : atZero;
  y = tiny ? 1.0 + safe : y;
  y = x == 1.0 ? splatDouble(2.718281828459045) : y;  // V8's special case: e^1 = E exactly
  y = over ? splatDouble(__builtin_inf()) : y;
  y = under ? splatDouble(0.0) : y;
  return isNan ? x + x : y;
}

}  // namespace pairs_cpu
}  // namespace fusedloss
