// 16-lane float vectors (GCC/Clang vector extensions) and the elementwise math the CPU kernels'
// epilogues need.  Included by files whose functions are compiled once per instruction set
// (FL_SIMD_FUNCTION), so the same source becomes AVX-512, AVX2 or SSE2 code (16 lanes in each:
// GCC 12 lowers their comparisons lane by lane for AVX2 and SSE2; CRPS has its own widths,
// crps_lanes.h).
#pragma once

#include <cstdint>
#include <cstring>

namespace fusedloss {

typedef float Floats __attribute__((vector_size(64)));
typedef int32_t Ints __attribute__((vector_size(64)));
constexpr int kLanes = 16;

inline Floats loadFloats(const float* p) {
  Floats v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void storeFloats(float* p, Floats v) { std::memcpy(p, &v, sizeof v); }
inline Ints loadInts(const int32_t* p) {
  Ints v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void storeInts(int32_t* p, Ints v) { std::memcpy(p, &v, sizeof v); }
inline Floats splat(float x) { return Floats{} + x; }
inline Ints splatInt(int32_t x) { return Ints{} + x; }
inline Floats select(Ints mask, Floats ifTrue, Floats ifFalse) { return mask ? ifTrue : ifFalse; }
inline Floats maxFloats(Floats a, Floats b) { return a > b ? a : b; }  // NaN in b propagates
// max that is NaN when either operand is, so a running max keeps a NaN once it has seen one.
inline Floats maxFloatsNaN(Floats a, Floats b) { return select((a != a) | (b != b), a + b, a > b ? a : b); }

inline float sumLanes(Floats v) {
  float total = 0.0f;
  for (int lane = 0; lane < kLanes; ++lane) total += v[lane];
  return total;
}

// e^x to about 2 ulp (Cephes expf): 2^n · p(r) with x = n·ln2 + r, |r| ≤ ln2/2.  The whole float
// range: 2^n is applied as two normal halves, so results down to the smallest denormal come out
// right (a row's non-target mass of 1e-40 is not inflated to 1e-38), e^x < 2^-150 is 0, and x past
// ln(FLT_MAX) is +Inf.  NaN propagates, and no NaN or out-of-range value reaches the float → int
// conversion (that is undefined behaviour).
inline Floats expFloats(Floats x) {
  const Ints isNan = x != x;
  const Ints underflow = x < -103.98f;  // e^x < 2^-150: rounds to 0
  const Ints overflow = x > 88.7228394f;  // e^x > FLT_MAX
  Floats y = select(isNan, splat(0.0f), x);
  y = y > 88.7228394f ? splat(88.7228394f) : y;
  y = y < -103.98f ? splat(-103.98f) : y;
  const Floats t = y * 1.44269504088896341f + 0.5f;  // in [−150, 128.5]
  Ints n = __builtin_convertvector(t, Ints);
  n = __builtin_convertvector(n, Floats) > t ? n - 1 : n;  // floor
  const Floats nf = __builtin_convertvector(n, Floats);
  const Floats r = y - nf * 0.693359375f + nf * 2.12194440e-4f;
  Floats p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const Ints low = n >> 1;  // n = low + high, both in [−75, 64]: normal powers of two
  const Ints lowBits = (low + 127) << 23, highBits = (n - low + 127) << 23;
  Floats lowScale, highScale;
  std::memcpy(&lowScale, &lowBits, sizeof lowScale);
  std::memcpy(&highScale, &highBits, sizeof highScale);
  Floats e = p * lowScale * highScale;
  e = select(underflow, splat(0.0f), e);
  e = select(overflow, splat(__builtin_inff()), e);
  return select(isNan, x, e);
}

}  // namespace fusedloss
