// Lane arithmetic of the CRPS CPU kernel (crps.cc, its only includer): Width points at a time,
// their members in [member][lane] vectors of Width floats.  The width follows the instruction set
// the caller is built for (crps.cc): 16 lanes (one zmm) for AVX-512, 8 (one ymm) for AVX2, 4 (one
// xmm) for the SSE2 baseline, 16 elsewhere (NEON and wasm split them into 128-bit pieces
// themselves).  A narrower vector is not a different computation: every lane is one point's, in
// the same operations, so every width gives the same bits.  (GCC 12 lowers a 16-lane comparison
// or `?:` lane by lane for AVX2 and SSE2, which is why the width is not fixed at 16.)
#pragma once

#include <cstdint>
#include <cstring>
#include <utility>

#include "../runtime/simd.h"
#include "../runtime/vector_math.h"

namespace fusedloss {
namespace crps_lanes {

#define FL_LANE_INLINE static inline __attribute__((always_inline))

template <int Width>
using Vectors = LaneVectors<Width>;

template <int Width>
FL_LANE_INLINE typename Vectors<Width>::Floats loadLanes(const float* p) {
  return loadVector<typename Vectors<Width>::Floats>(p);
}

// Lanes [0, Width/2) and [Width/2, Width) in float64.
template <typename Floats, int Width = sizeof(Floats) / 4>
FL_LANE_INLINE typename Vectors<Width>::Doubles halfLanes(Floats v, int half) {
  typename Vectors<Width>::HalfFloats part;
  std::memcpy(&part, reinterpret_cast<const char*>(&v) + half * sizeof part, sizeof part);
  return __builtin_convertvector(part, typename Vectors<Width>::Doubles);
}
template <typename Doubles>
FL_LANE_INLINE Doubles absolute(Doubles v) { return v < 0.0 ? -v : v; }
// crps::lesser/greater lane by lane (one min/max instruction each).
template <typename Doubles>
FL_LANE_INLINE Doubles lesser(Doubles a, Doubles b) { return a < b ? a : b; }
template <typename Doubles>
FL_LANE_INLINE Doubles greater(Doubles a, Doubles b) { return a < b ? b : a; }

// The scores of Width points from their members sorted ascending, in float64, as two halves:
// crps::scoreFromGaps's terms in its order (gapWeight[n] = crps::gapWeight(n, members, α)), so
// the same bits as the scalar path and the js backend.  A NaN or ±Inf input makes the lane's score
// NaN, for the caller to redo the lane on the scalar path: the gap terms alone would not show it
// (min/max drop a NaN, and M = 1 has no gap).
template <typename Floats, typename Doubles>
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

// Skill and spread of Width points from their sorted members, in float64, as crps::scoreSorted
// (the same sums and divisions, so the same bits as the scalar path).
template <typename Floats, int Width = sizeof(Floats) / 4>
FL_LANE_INLINE void storeLaneComponents(float* skillOut, float* spreadOut, const Floats* sorted, int members,
                                        Floats observation) {
  using Doubles = typename Vectors<Width>::Doubles;
  using HalfFloats = typename Vectors<Width>::HalfFloats;
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
    storeVector(skillOut + half * Width / 2, __builtin_convertvector(skill, HalfFloats));
    storeVector(spreadOut + half * Width / 2, __builtin_convertvector(spread, HalfFloats));
  }
}

template <typename Doubles, int Width = sizeof(Doubles) / 4>
FL_LANE_INLINE void storeScores(float* scores, const Doubles score[2]) {
  for (int half = 0; half < 2; ++half) {
    storeVector(scores + half * Width / 2, __builtin_convertvector(score[half], typename Vectors<Width>::HalfFloats));
  }
}

// De-interleaving and re-interleaving of 2 or 4 members stored member-last (the shuffle path).
template <typename Floats, std::size_t... I>
FL_LANE_INLINE Floats evenLanes(Floats a, Floats b, std::index_sequence<I...>) {
  return __builtin_shufflevector(a, b, (2 * I)...);
}
template <typename Floats, std::size_t... I>
FL_LANE_INLINE Floats oddLanes(Floats a, Floats b, std::index_sequence<I...>) {
  return __builtin_shufflevector(a, b, (2 * I + 1)...);
}
// Lane j of the result: a[j/2] for even j, b[j/2] for odd j; from the upper halves for High.
constexpr int interleavedLane(int width, bool high, int j) { return (j % 2) * width + (high ? width / 2 : 0) + j / 2; }
template <typename Floats, std::size_t... J>
FL_LANE_INLINE Floats interleaveLow(Floats a, Floats b, std::index_sequence<J...>) {
  return __builtin_shufflevector(a, b, interleavedLane(sizeof(Floats) / 4, false, J)...);
}
template <typename Floats, std::size_t... J>
FL_LANE_INLINE Floats interleaveHigh(Floats a, Floats b, std::index_sequence<J...>) {
  return __builtin_shufflevector(a, b, interleavedLane(sizeof(Floats) / 4, true, J)...);
}
template <typename Floats>
FL_LANE_INLINE Floats signOf(Floats v) {
  const Floats one = Floats{} + 1.0f, zero = Floats{};
  return (v > 0.0f ? one : zero) - (v < 0.0f ? one : zero);
}

}  // namespace crps_lanes
}  // namespace fusedloss
