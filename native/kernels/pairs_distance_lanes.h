// A row's distances from its dot products, four float64 lanes at a time (CPU and WebAssembly):
// the bits of pairs::narrowPairValue for every column (../math/pairs_values.h), whose scalar loop
// in pairblocks::rowValues was a sixth of the all-triplets loss at D = 128.
#pragma once

#include <cstdint>

#include "pairs_types.h"

namespace fusedloss {
namespace pairs_cpu {

// values[j]: the dot x̂·ŷ_j in, the distance out (refs columns), for a row meeting no wide row
// (pairs::wideRow).  A pair whose dot form cancels (pairs::distanceCancels) is recomputed from x
// and y + j·stride (dim entries each) directly, as narrowPairValue does.
void narrowDistances(PairDistance distance, float xSquared, const float* ySquared, const float* x, const float* y,
                     int64_t stride, int64_t dim, int64_t refs, float* values);

}  // namespace pairs_cpu
}  // namespace fusedloss
