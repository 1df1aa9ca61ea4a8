// Lane arithmetic of the CRPS CPU kernel (crps.cc, its only includer): kLanes points at a time,
// their members in [member][lane] vectors.  GCC/Clang vector extensions, inlined into functions
// compiled once per instruction set (FL_SIMD_CLONES): one zmm for 16 floats with AVX-512, two ymm
// with AVX2, four xmm at baseline.
#pragma once

#include <cstdint>

#include "../runtime/vector_math.h"

namespace fusedloss {

typedef float HalfFloats __attribute__((vector_size(2 * kLanes)));
typedef double Doubles __attribute__((vector_size(4 * kLanes)));  // kLanes / 2 doubles

#define FL_LANE_INLINE static inline __attribute__((always_inline))

static_assert(kLanes == 16, "the lane shuffles below and transposeTile16 work on 16 lanes");

FL_LANE_INLINE Doubles lowLanes(Floats v) {
  return __builtin_convertvector(__builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7), Doubles);
}
FL_LANE_INLINE Doubles highLanes(Floats v) {
  return __builtin_convertvector(__builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15), Doubles);
}
FL_LANE_INLINE Doubles halfLanes(Floats v, int half) { return half == 0 ? lowLanes(v) : highLanes(v); }
FL_LANE_INLINE Doubles absolute(Doubles v) { return v < 0.0 ? -v : v; }
// crps::lesser/greater lane by lane (one min/max instruction each).
FL_LANE_INLINE Doubles lesser(Doubles a, Doubles b) { return a < b ? a : b; }
FL_LANE_INLINE Doubles greater(Doubles a, Doubles b) { return a < b ? b : a; }

// The scores of kLanes points from their members sorted ascending, in float64:
// crps::scoreFromGaps's terms in its order (gapWeight[n] = crps::gapWeight(n, members, α)), so
// the same bits as the scalar path and the js backend.  A NaN or ±Inf input makes the lane's score
// NaN, for the caller to redo the lane on the scalar path: the gap terms alone would not show it
// (min/max drop a NaN, and M = 1 has no gap).
FL_LANE_INLINE void laneScores(const double* gapWeight, const Floats* sorted, int members, Floats observation,
                               Doubles score[2]) {
  Floats nonFinite = observation * 0.0f;  // ±0, or NaN where an input is NaN or ±Inf
  for (int k = 0; k < members; ++k) nonFinite += sorted[k] * 0.0f;
  Doubles y[2], below[2], above[2];  // below/above: min/max(x_(k−1), y)
  for (int half = 0; half < 2; ++half) {
    y[half] = halfLanes(observation, half);
    const Doubles first = halfLanes(sorted[0], half), last = halfLanes(sorted[members - 1], half);
    below[half] = lesser(first, y[half]);
    above[half] = greater(first, y[half]);
    score[half] = (above[half] - y[half]) + (y[half] - lesser(last, y[half]));
  }
  for (int k = 1; k < members; ++k) {
    for (int half = 0; half < 2; ++half) {  // two independent chains of additions
      const Doubles x = halfLanes(sorted[k], half);
      const Doubles nextBelow = lesser(x, y[half]), nextAbove = greater(x, y[half]);
      score[half] += gapWeight[k] * (nextBelow - below[half]) + gapWeight[members - k] * (nextAbove - above[half]);
      below[half] = nextBelow;
      above[half] = nextAbove;
    }
  }
  for (int half = 0; half < 2; ++half) score[half] += halfLanes(nonFinite, half);
}

// Skill and spread of kLanes points from their sorted members, in float64, as crps::scoreSorted
// (the same sums and divisions, so the same bits as the scalar path).
FL_LANE_INLINE void storeLaneComponents(float* skillOut, float* spreadOut, const Floats* sorted, int members,
                                        Floats observation) {
  Doubles errors[2] = {}, halfPairs[2] = {};
  for (int k = 0; k < members; ++k) {
    for (int half = 0; half < 2; ++half) {
      const Doubles x = halfLanes(sorted[k], half);
      errors[half] += absolute(x - halfLanes(observation, half));
      if (k > 0) halfPairs[half] += static_cast<double>(k) * static_cast<double>(members - k) * (x - halfLanes(sorted[k - 1], half));
    }
  }
  const double squaredMembers = static_cast<double>(members) * members;
  for (int half = 0; half < 2; ++half) {
    const Doubles skill = errors[half] / static_cast<double>(members), spread = halfPairs[half] / squaredMembers;
    for (int lane = 0; lane < kLanes / 2; ++lane) {
      skillOut[half * kLanes / 2 + lane] = static_cast<float>(skill[lane]);
      spreadOut[half * kLanes / 2 + lane] = static_cast<float>(spread[lane]);
    }
  }
}

FL_LANE_INLINE void storeScores(float* scores, const Doubles score[2]) {
  storeFloats(scores, __builtin_shufflevector(__builtin_convertvector(score[0], HalfFloats),
                                              __builtin_convertvector(score[1], HalfFloats), 0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
                                              10, 11, 12, 13, 14, 15));
}

// De-interleaving and re-interleaving of 2 or 4 members stored member-last (the shuffle path).
FL_LANE_INLINE Floats evenLanes(Floats a, Floats b) {
  return __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
}
FL_LANE_INLINE Floats oddLanes(Floats a, Floats b) {
  return __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
}
FL_LANE_INLINE Floats interleaveLow(Floats a, Floats b) {
  return __builtin_shufflevector(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
}
FL_LANE_INLINE Floats interleaveHigh(Floats a, Floats b) {
  return __builtin_shufflevector(a, b, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
}
FL_LANE_INLINE Floats signOf(Floats v) {
  const Floats one = Floats{} + 1.0f, zero = Floats{};
  return (v > 0.0f ? one : zero) - (v < 0.0f ? one : zero);
}

}  // namespace fusedloss
