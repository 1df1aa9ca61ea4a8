// CRPS, native CPU backend: the scalar reference path, which scores one point at a time with any
// member count and implements every NaN policy (crps.cc sends it the points its lane blocks do not
// score), and the Σw pass for gradients of the mean.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "../math/crps_math.h"
#include "../runtime/thread_pool.h"
#include "crps_plan.h"

namespace fusedloss {
namespace crps_cpu {
namespace {

constexpr int kInsertionSortMembers = 32;

// Writes a point that has no score of its own (NaN policy): every output of the point is `fill`
// and the gradients `gradFill`.
void writeUnscoredPoint(const Plan& plan, int64_t point, int64_t base, float fill, float gradFill) {
  const CrpsOutputs& out = plan.out;
  out.scores[point] = fill;
  if (plan.options.components) {
    out.skill[point] = fill;
    out.spread[point] = fill;
  }
  if (plan.options.gradients) {
    for (int64_t k = 0; k < plan.shape.members; ++k) out.gradEnsemble[base + k * plan.shape.inner] = gradFill;
    out.gradObservations[point] = gradFill;
  }
}

}  // namespace

// The scalar reference path: any member count, any NaN policy.
void scorePoint(const Plan& plan, int64_t point, PointScratch& scratch, Accumulator& acc) {
  const int64_t members = plan.shape.members;
  const int64_t inner = plan.shape.inner;
  const int64_t base = memberBase(plan.shape, point);
  const float observation = plan.in.observations[point];
  const double weight = pointWeight(plan, point);
  constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

  bool anyNan = std::isnan(observation);
  int used = 0;
  for (int64_t k = 0; k < members; ++k) {
    const float v = plan.in.ensemble[base + k * inner];
    scratch.members[k] = v;
    if (std::isnan(v)) anyNan = true; else scratch.sorted[used++] = v;
  }
  if (anyNan) {
    switch (plan.options.nanPolicy) {
      case NanPolicy::Propagate:
        writeUnscoredPoint(plan, point, base, kNaN, plan.options.gradients ? undefinedGradient(plan, point) : kNaN);
        addToMean(acc, weight, std::numeric_limits<double>::quiet_NaN());
        return;
      case NanPolicy::Zero:
        writeUnscoredPoint(plan, point, base, 0.0f, 0.0f);
        acc.weights += weight;
        return;
      case NanPolicy::Omit:
        if (std::isnan(observation) || used < plan.minMembers) {
          writeUnscoredPoint(plan, point, base, kNaN, 0.0f);
          return;
        }
        break;  // score the members that are left
    }
  }

  float* sorted = scratch.sorted.data();
  if (used <= kInsertionSortMembers) crps::insertionSort(sorted, used); else std::sort(sorted, sorted + used);
  const crps::PointValues values = crps::scoreSorted(sorted, used, observation, plan.options.alpha);
  const crps::ScoreLimit limit = values.limit;
  const double score = values.score;

  const CrpsOutputs& out = plan.out;
  out.scores[point] = static_cast<float>(score);
  if (plan.options.components) {
    out.skill[point] = static_cast<float>(values.skill);
    out.spread[point] = static_cast<float>(values.spread);
  }
  if (plan.options.gradients && limit == crps::ScoreLimit::Undefined) {
    const float fill = undefinedGradient(plan, point);
    for (int64_t k = 0; k < members; ++k) out.gradEnsemble[base + k * inner] = fill;
    out.gradObservations[point] = fill;
  } else if (plan.options.gradients) {
    const double factor = gradientFactor(plan, point);
    const crps::GradientWeights gradientWeights = crps::gradientWeights(used, plan.options.alpha);
    double signSum = 0.0;
    for (int64_t k = 0; k < members; ++k) {
      const float v = scratch.members[k];
      float grad = 0.0f;  // dropped (NaN) members under 'omit'
      if (!std::isnan(v)) {
        const int below = crps::countBelow(sorted, used, v);
        const int above = used - crps::countAtMost(sorted, used, v);
        grad = static_cast<float>(factor * crps::memberGradient(v, observation, below, above, gradientWeights));
        signSum += crps::compareSign(v, observation);
      }
      out.gradEnsemble[base + k * inner] = grad;
    }
    out.gradObservations[point] = static_cast<float>(-factor * (signSum / used));
  }
  addToMean(acc, weight, score);
}
// Σw over the points the mean counts; needed before the main pass when it yields gradients of
// the mean.  Only 'omit' excludes points, and only it has to look at the ensemble.
double countedWeightSum(const Plan& plan, int64_t chunks) {
  const int64_t points = plan.shape.points();
  // Every point counts with weight 1: the sum below would be exactly the point count (a sum of
  // ones is exact to 2^53), without a pass over the points.
  if (!plan.in.weights && plan.options.nanPolicy != NanPolicy::Omit) return static_cast<double>(points);
  std::vector<double> partial(chunks, 0.0);
  parallelFor(chunks, [&](int64_t chunk) {
    const int64_t first = chunk * kChunkPoints;
    const int64_t last = std::min(points, first + kChunkPoints);
    double sum = 0.0;
    for (int64_t point = first; point < last; ++point) {
      if (plan.options.nanPolicy == NanPolicy::Omit) {
        if (std::isnan(plan.in.observations[point])) continue;
        const int64_t base = memberBase(plan.shape, point);
        int64_t used = 0;
        for (int64_t k = 0; k < plan.shape.members; ++k) {
          used += !std::isnan(plan.in.ensemble[base + k * plan.shape.inner]);
        }
        if (used < plan.minMembers) continue;
      }
      sum += pointWeight(plan, point);
    }
    partial[chunk] = sum;
  });
  double total = 0.0;
  for (double v : partial) total += v;
  return total;
}

}  // namespace crps_cpu
}  // namespace fusedloss
