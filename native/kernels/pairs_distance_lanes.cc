// See pairs_distance_lanes.h.  Each lane does pairs::distanceCancels' and pairs::pairValue's
// float64 operations in their order (no FMA contraction), so the values keep their bits.
#include "pairs_distance_lanes.h"

#include <cmath>
#include <cstring>

#include "../math/pairs_values.h"
#include "../runtime/simd.h"
#include "pairs_exp.h"

namespace fusedloss {
namespace pairs_cpu {
namespace {

typedef float Floats4 __attribute__((vector_size(16)));

FL_PAIR_LANES Doubles lanesAt(const float* p, int64_t j, int64_t count) {
  float lanes[kDoubleLanes] = {};
  if (j + kDoubleLanes <= count) {
    std::memcpy(lanes, p + j, sizeof lanes);
  } else {
    for (int l = 0; j + l < count; ++l) lanes[l] = p[j + l];
  }
  Floats4 v;
  std::memcpy(&v, lanes, sizeof v);
  return __builtin_convertvector(v, Doubles);
}

FL_SIMD_FUNCTION(void, distances,
                 (PairDistance distance, float xSquared, const float* ySquared, const float* x, const float* y,
                  int64_t stride, int64_t dim, int64_t refs, float* values),
                 (distance, xSquared, ySquared, x, y, stride, dim, refs, values)) {
  const bool squaredDistance = distance == PairDistance::SquaredEuclidean;
  const double xs = xSquared;
  for (int64_t j = 0; j < refs; j += kDoubleLanes) {
    const Doubles dot = lanesAt(values, j, refs);
    const Doubles lengths = xs + lanesAt(ySquared, j, refs);
    const Doubles twoDot = 2.0 * dot;
    const Longs cancels = lengths - twoDot < lengths * 0.0625;
    Doubles squared = lengths - twoDot;
    squared = (((squared > 0.0) == 0) & (squared == squared)) ? splatDouble(0.0) : squared;  // clamp, NaN stays
    const int64_t count = refs - j < kDoubleLanes ? refs - j : kDoubleLanes;
    for (int l = 0; l < count; ++l) {
      values[j + l] = cancels[l] ? pairs::directPairValue(distance, x, y + (j + l) * stride, dim)
                                 : squaredDistance ? (float)squared[l] : (float)std::sqrt(squared[l]);
    }
  }
}

}  // namespace

void narrowDistances(PairDistance distance, float xSquared, const float* ySquared, const float* x, const float* y,
                     int64_t stride, int64_t dim, int64_t refs, float* values) {
  distances(distance, xSquared, ySquared, x, y, stride, dim, refs, values);
}

}  // namespace pairs_cpu
}  // namespace fusedloss
