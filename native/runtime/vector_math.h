// 16-lane float vectors (GCC/Clang vector extensions) and the elementwise math the CPU kernels'
// epilogues need.  Included by files whose functions are compiled once per instruction set
// (FL_SIMD_CLONES), so the same source becomes AVX-512, AVX2 or SSE2 code.
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

inline float sumLanes(Floats v) {
  float total = 0.0f;
  for (int lane = 0; lane < kLanes; ++lane) total += v[lane];
  return total;
}

// e^x to about 2 ulp (Cephes expf): 2^n · p(r) with x = n·ln2 + r, |r| ≤ ln2/2.  Inputs below
// −87.3 give ~1e-38 (callers only exponentiate x − max ≤ 0 terms of sums, where that is 0 for all
// purposes); NaN propagates.
inline Floats expFloats(Floats x) {
  x = x > 88.37f ? splat(88.37f) : x;
  x = x < -87.33f ? splat(-87.33f) : x;
  const Floats t = x * 1.44269504088896341f + 0.5f;
  Ints n = __builtin_convertvector(t, Ints);
  n = __builtin_convertvector(n, Floats) > t ? n - 1 : n;  // floor
  const Floats nf = __builtin_convertvector(n, Floats);
  const Floats r = x - nf * 0.693359375f + nf * 2.12194440e-4f;
  Floats p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  Ints bits = (n + 127) << 23;
  Floats scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

}  // namespace fusedloss
