// The CRPS CPU kernel's call plan and per-point helpers, shared by its lane-block path (crps.cc)
// and its scalar reference path (crps_scalar.cc).  Internal to those two files.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "crps.h"

namespace fusedloss {
namespace crps_cpu {

// Points per work item: fixed, so the partial sums and hence the bits do not depend on the thread count.
constexpr int64_t kChunkPoints = 2048;

using Comparator = std::pair<int, int>;

struct Plan {
  CrpsShape shape;
  CrpsOptions options;
  CrpsInputs in;
  CrpsOutputs out;
  int minMembers = 1;
  double weightSum = 0.0;  // Σw over counted points: gradients of the mean are w_p/Σw·∂s_p
  std::vector<Comparator> network;
  std::vector<double> gapWeights;  // crps::gapWeight(n, members, α) for n = 0..members (lane blocks)
  std::vector<float> rankProducts;  // rank weight·(2k − (M − 1)) for k < M: a tie-free lane block's rank terms (gradients)
  // gradEnsemble is too large to stay in cache: the lane blocks write it with non-temporal stores.
  bool streamGradients = false;
};

// From this size of gradEnsemble (bytes) on, the lane blocks stream it to memory (Plan::streamGradients):
// written once and read back later, if at all, it would not be in cache by then anyway, and plain
// stores read each line in before writing it (a third of the memory traffic at M = 51).
constexpr int64_t kStreamGradientBytes = int64_t{16} << 20;

struct Accumulator {
  double weightedScores = 0.0;
  double weights = 0.0;
};

inline int64_t memberBase(const CrpsShape& shape, int64_t point) {
  if (shape.inner == 1) return point * shape.members;
  return (point / shape.inner) * shape.members * shape.inner + point % shape.inner;
}

inline double pointWeight(const Plan& plan, int64_t point) {
  return plan.in.weights ? static_cast<double>(plan.in.weights[point]) : 1.0;
}

// Multiplier of ∂s_p: the caller's gradOutput, or the point's share of the weighted mean.
inline double gradientFactor(const Plan& plan, int64_t point) {
  if (plan.in.gradOutput) return plan.in.gradOutput[point];
  return pointWeight(plan, point) / plan.weightSum;
}

// Gradient of a point whose own derivative is undefined: NaN, except that a factor of exactly 0
// (weight 0, gradOutput 0) leaves the point out: 0 whatever it holds.
inline float undefinedGradient(const Plan& plan, int64_t point) {
  return gradientFactor(plan, point) == 0.0 ? 0.0f : std::numeric_limits<float>::quiet_NaN();
}

// Adds a point's terms to the mean; weight 0 leaves the point out even when its score is NaN/Inf.
inline void addToMean(Accumulator& acc, double weight, double score) {
  acc.weights += weight;
  if (weight != 0.0) acc.weightedScores += weight * score;
}

struct PointScratch {
  std::vector<float> members;
  std::vector<float> sorted;
  explicit PointScratch(int64_t m) : members(m), sorted(m) {}
};

// The scalar reference path (crps_scalar.cc): any member count, any NaN policy.
void scorePoint(const Plan& plan, int64_t point, PointScratch& scratch, Accumulator& acc);

// Σw over the points the mean counts (crps_scalar.cc).
double countedWeightSum(const Plan& plan, int64_t chunks);

}  // namespace crps_cpu
}  // namespace fusedloss
