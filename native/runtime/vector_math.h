// Float vectors of a build's lane width (GCC/Clang vector extensions) and the elementwise math the
// CPU kernels' epilogues need.  Included by files whose functions are built once per instruction
// set (FL_SIMD_FUNCTION, FL_SIMD_BUILDS), each with the vectors of its width — 16 floats for
// AVX-512, 8 for AVX2, 4 for SSE2: GCC 12 lowers a comparison or `?:` of vectors wider than the
// instruction set's registers lane by lane.  The helpers are always inlined, so each is built
// for the target of the function it is used in (an out-of-line copy would be the baseline's).
#pragma once

#include <cstdint>
#include <cstring>

namespace fusedloss {

// The rows (margin) of one row group, whatever the lane width: a group is 16 / width vectors.
constexpr int kLanes = 16;

template <int Width>
struct LaneVectors {
  static_assert(Width == 4 || Width == 8 || Width == 16, "4, 8 or 16 lanes");
  typedef float Floats __attribute__((vector_size(4 * Width)));
  typedef int32_t Ints __attribute__((vector_size(4 * Width)));
  typedef uint32_t Bits __attribute__((vector_size(4 * Width)));
  typedef float HalfFloats __attribute__((vector_size(2 * Width)));
  typedef double Doubles __attribute__((vector_size(4 * Width)));  // Width / 2 doubles
};

#define FL_VECTOR_INLINE static inline __attribute__((always_inline))

// The int32 vector of a float vector's width.
template <typename Floats>
using IntsOf = typename LaneVectors<sizeof(Floats) / 4>::Ints;

template <typename Vector>
FL_VECTOR_INLINE Vector loadVector(const void* p) {
  Vector v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <typename Vector>
FL_VECTOR_INLINE void storeVector(void* p, Vector v) {
  std::memcpy(p, &v, sizeof v);
}
template <typename Floats, typename Mask>
FL_VECTOR_INLINE Floats select(Mask mask, Floats ifTrue, Floats ifFalse) { return mask ? ifTrue : ifFalse; }
// max that is NaN when either operand is, so a running max keeps a NaN once it has seen one.
template <typename Floats>
FL_VECTOR_INLINE Floats maxFloatsNaN(Floats a, Floats b) { return select((a != a) | (b != b), a + b, a > b ? a : b); }

// The lanes' sum, in lane order.
template <typename Floats>
FL_VECTOR_INLINE float sumLanes(Floats v) {
  float total = 0.0f;
  for (unsigned lane = 0; lane < sizeof(Floats) / 4; ++lane) total += v[lane];
  return total;
}

// e^x to about 2 ulp (Cephes expf): 2^n · p(r) with x = n·ln2 + r, |r| ≤ ln2/2.  The whole float
// range: 2^n is applied as two normal halves, so results down to the smallest denormal come out
// right (a row's non-target mass of 1e-40 is not inflated to 1e-38), e^x < 2^-150 is 0, and x past
// ln(FLT_MAX) is +Inf.  NaN propagates, and no NaN or out-of-range value reaches the float → int
// conversion (that is undefined behaviour).
template <typename Floats>
FL_VECTOR_INLINE Floats expFloats(Floats x) {
  using Ints = IntsOf<Floats>;
  const Floats zero = {};
  const Ints isNan = x != x;
  const Ints underflow = x < -103.98f;  // e^x < 2^-150: rounds to 0
  const Ints overflow = x > 88.7228394f;  // e^x > FLT_MAX
  Floats y = select(isNan, zero, x);
  y = y > 88.7228394f ? zero + 88.7228394f : y;
  y = y < -103.98f ? zero - 103.98f : y;
  const Floats t = y * 1.44269504088896341f + 0.5f;  // in [−150, 128.5]
  Ints n = __builtin_convertvector(t, Ints);
  n = __builtin_convertvector(n, Floats) > t ? n - 1 : n;  // floor
  const Floats nf = __builtin_convertvector(n, Floats);
  const Floats r = y - nf * 0.693359375f + nf * 2.12194440e-4f;
  Floats p = zero + 1.9875691500e-4f;
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
  e = select(underflow, zero, e);
  e = select(overflow, zero + __builtin_inff(), e);
  return select(isNan, x, e);
}

}  // namespace fusedloss
