// CRPS, native CPU backend.  See crps.h for the interface and ../math/crps_math.h for the
// per-point formulas and their derivation.
//
// Work plan: the points are cut into fixed chunks of kChunkPoints (independent of the thread
// count); each chunk writes its points' outputs and a float64 partial of Σw·s and Σw, and the
// partials are added in chunk order, so every thread count gives the same bits.
//
// Within a chunk, ensembles of up to kMaxNetworkMembers members go through a lane block: kLanes
// points are transposed into [member][lane] registers and sorted together by a Batcher
// odd-even merge network (min/max across lanes, the member index carried along for the
// gradient), which the compiler vectorizes once per instruction set (FL_SIMD_CLONES).  Points
// whose score comes out non-finite (NaN or Inf in the input), partial blocks, and larger
// ensembles go through scorePoint, the scalar reference path that implements every NaN policy.
#include "crps.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "../math/crps_math.h"
#include "../runtime/simd.h"
#include "../runtime/thread_pool.h"

namespace fusedloss {
namespace {

constexpr int64_t kChunkPoints = 2048;
constexpr int kLanes = 16;
constexpr int kMaxNetworkMembers = 64;
constexpr int kInsertionSortMembers = 32;

using Comparator = std::pair<int, int>;

// Batcher's odd-even merge sort for `members` inputs: built for the next power of two and
// trimmed of comparators that touch the padding (padding would hold +inf at the top and never
// move, so those comparators are no-ops).
std::vector<Comparator> sortingNetwork(int members) {
  int size = 1;
  while (size < members) size <<= 1;
  std::vector<Comparator> network;
  for (int p = 1; p < size; p <<= 1) {
    for (int k = p; k >= 1; k >>= 1) {
      for (int j = k % p; j + k < size; j += 2 * k) {
        for (int i = 0; i < k && i + j + k < size; ++i) {
          if ((i + j) / (2 * p) == (i + j + k) / (2 * p) && i + j + k < members) {
            network.emplace_back(i + j, i + j + k);
          }
        }
      }
    }
  }
  return network;
}

struct Plan {
  CrpsShape shape;
  CrpsOptions options;
  CrpsInputs in;
  CrpsOutputs out;
  int minMembers = 1;
  double weightSum = 0.0;  // Σw over counted points: gradients of the mean are w_p/Σw·∂s_p
  std::vector<Comparator> network;
};

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

struct PointScratch {
  std::vector<float> members;
  std::vector<float> sorted;
  explicit PointScratch(int64_t m) : members(m), sorted(m) {}
};

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
        writeUnscoredPoint(plan, point, base, kNaN, kNaN);
        acc.weights += weight;
        acc.weightedScores += weight * std::numeric_limits<double>::quiet_NaN();
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
  double absoluteErrors = 0.0;
  for (int64_t k = 0; k < members; ++k) {
    const float v = scratch.members[k];
    if (!std::isnan(v)) absoluteErrors += std::fabs(static_cast<double>(v) - observation);
  }
  const double skill = absoluteErrors / used;
  const double halfPairs = crps::halfPairSumSorted(sorted, used);
  const double coefficient = crps::pairCoefficient(used, plan.options.alpha);
  const double score = skill - coefficient * halfPairs;

  const CrpsOutputs& out = plan.out;
  out.scores[point] = static_cast<float>(score);
  if (plan.options.components) {
    out.skill[point] = static_cast<float>(skill);
    out.spread[point] = static_cast<float>(halfPairs / (static_cast<double>(used) * used));
  }
  if (plan.options.gradients) {
    const double factor = gradientFactor(plan, point);
    double signSum = 0.0;
    for (int64_t k = 0; k < members; ++k) {
      const float v = scratch.members[k];
      float grad = 0.0f;  // dropped (NaN) members under 'omit'
      if (!std::isnan(v)) {
        const int below = crps::countBelow(sorted, used, v);
        const int above = used - crps::countAtMost(sorted, used, v);
        grad = static_cast<float>(factor * crps::memberGradient(v, observation, below, above, used, coefficient));
        signSum += crps::signOf(v - observation);
      }
      out.gradEnsemble[base + k * inner] = grad;
    }
    out.gradObservations[point] = static_cast<float>(-factor * signSum / used);
  }
  acc.weights += weight;
  acc.weightedScores += weight * score;
}

struct alignas(64) LaneScratch {
  float values[kMaxNetworkMembers][kLanes];
  int32_t index[kMaxNetworkMembers][kLanes];
  int32_t tieStart[kMaxNetworkMembers][kLanes];
  int32_t tieEnd[kMaxNetworkMembers][kLanes];
  double score[kLanes];
};

// kLanes consecutive points at once (see the file comment).  Writes every output of those
// points; non-finite lanes are left for the caller to redo with scorePoint.
FL_SIMD_CLONES
void scoreLaneBlock(const Plan& plan, int64_t firstPoint, LaneScratch& lanes) {
  const int members = static_cast<int>(plan.shape.members);
  const int64_t inner = plan.shape.inner;
  float (*values)[kLanes] = lanes.values;
  int32_t (*index)[kLanes] = lanes.index;

  int64_t base[kLanes];
  float observation[kLanes];
  for (int lane = 0; lane < kLanes; ++lane) {
    base[lane] = memberBase(plan.shape, firstPoint + lane);
    observation[lane] = plan.in.observations[firstPoint + lane];
  }
  for (int k = 0; k < members; ++k) {
    for (int lane = 0; lane < kLanes; ++lane) {
      values[k][lane] = plan.in.ensemble[base[lane] + k * inner];
      index[k][lane] = k;
    }
  }

  for (const Comparator& cmp : plan.network) {
    float* lo = values[cmp.first];
    float* hi = values[cmp.second];
    int32_t* loIndex = index[cmp.first];
    int32_t* hiIndex = index[cmp.second];
    for (int lane = 0; lane < kLanes; ++lane) {
      const float a = lo[lane], b = hi[lane];
      const int32_t ia = loIndex[lane], ib = hiIndex[lane];
      const bool swap = b < a;
      lo[lane] = swap ? b : a;
      hi[lane] = swap ? a : b;
      loIndex[lane] = swap ? ib : ia;
      hiIndex[lane] = swap ? ia : ib;
    }
  }

  double absoluteErrors[kLanes] = {};
  double halfPairs[kLanes] = {};
  for (int k = 0; k < members; ++k) {
    for (int lane = 0; lane < kLanes; ++lane) {
      absoluteErrors[lane] += std::fabs(static_cast<double>(values[k][lane]) - observation[lane]);
    }
  }
  for (int k = 1; k < members; ++k) {
    const double pairs = static_cast<double>(k) * static_cast<double>(members - k);
    for (int lane = 0; lane < kLanes; ++lane) {
      halfPairs[lane] += pairs * (static_cast<double>(values[k][lane]) - static_cast<double>(values[k - 1][lane]));
    }
  }
  const double coefficient = crps::pairCoefficient(members, plan.options.alpha);
  const double inverseMembers = 1.0 / members;
  const double spreadScale = 1.0 / (static_cast<double>(members) * members);
  const CrpsOutputs& out = plan.out;
  for (int lane = 0; lane < kLanes; ++lane) {
    const double skill = absoluteErrors[lane] * inverseMembers;
    lanes.score[lane] = skill - coefficient * halfPairs[lane];
    out.scores[firstPoint + lane] = static_cast<float>(lanes.score[lane]);
    if (plan.options.components) {
      out.skill[firstPoint + lane] = static_cast<float>(skill);
      out.spread[firstPoint + lane] = static_cast<float>(halfPairs[lane] * spreadScale);
    }
  }
  if (!plan.options.gradients) return;

  // Ties: members in sorted positions [start, end] are equal, so each has L = start members
  // strictly below and G = members − 1 − end strictly above: L − G = start + end − (members − 1).
  int32_t (*tieStart)[kLanes] = lanes.tieStart;
  int32_t (*tieEnd)[kLanes] = lanes.tieEnd;
  for (int lane = 0; lane < kLanes; ++lane) {
    tieStart[0][lane] = 0;
    tieEnd[members - 1][lane] = members - 1;
  }
  for (int k = 1; k < members; ++k) {
    for (int lane = 0; lane < kLanes; ++lane) {
      tieStart[k][lane] = values[k][lane] == values[k - 1][lane] ? tieStart[k - 1][lane] : k;
    }
  }
  for (int k = members - 2; k >= 0; --k) {
    for (int lane = 0; lane < kLanes; ++lane) {
      tieEnd[k][lane] = values[k][lane] == values[k + 1][lane] ? tieEnd[k + 1][lane] : k;
    }
  }
  double factor[kLanes];
  double signSum[kLanes] = {};
  for (int lane = 0; lane < kLanes; ++lane) factor[lane] = gradientFactor(plan, firstPoint + lane);
  for (int k = 0; k < members; ++k) {
    for (int lane = 0; lane < kLanes; ++lane) {
      const float v = values[k][lane];
      const double sign = crps::signOf(v - observation[lane]);
      const double rankTerm = static_cast<double>(tieStart[k][lane] + tieEnd[k][lane] - (members - 1));
      signSum[lane] += sign;
      const float grad = static_cast<float>(factor[lane] * (sign * inverseMembers - coefficient * rankTerm));
      out.gradEnsemble[base[lane] + index[k][lane] * inner] = grad;
    }
  }
  for (int lane = 0; lane < kLanes; ++lane) {
    out.gradObservations[firstPoint + lane] = static_cast<float>(-factor[lane] * signSum[lane] * inverseMembers);
  }
}

Accumulator scoreChunk(const Plan& plan, int64_t first, int64_t last) {
  Accumulator acc;
  PointScratch scratch(plan.shape.members);
  int64_t point = first;
  if (plan.shape.members <= kMaxNetworkMembers) {
    LaneScratch lanes;
    for (; point + kLanes <= last; point += kLanes) {
      scoreLaneBlock(plan, point, lanes);
      for (int lane = 0; lane < kLanes; ++lane) {
        const double score = lanes.score[lane];
        if (std::isfinite(score)) {
          const double weight = pointWeight(plan, point + lane);
          acc.weights += weight;
          acc.weightedScores += weight * score;
        } else {
          scorePoint(plan, point + lane, scratch, acc);
        }
      }
    }
  }
  for (; point < last; ++point) scorePoint(plan, point, scratch, acc);
  return acc;
}

// Σw over the points the mean counts; needed before the main pass when it yields gradients of
// the mean.  Only 'omit' excludes points, and only it has to look at the ensemble.
double countedWeightSum(const Plan& plan, int64_t chunks) {
  const int64_t points = plan.shape.points();
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

}  // namespace

KernelStatus crpsCpu(const CrpsShape& shape, const CrpsOptions& options, const CrpsInputs& inputs,
                     CrpsOutputs& outputs) {
  if (shape.outer < 1 || shape.members < 1 || shape.inner < 1) return KernelStatus::failure("crps: empty shape");
  if (!inputs.ensemble || !inputs.observations || !outputs.scores) return KernelStatus::failure("crps: missing buffer");
  if (options.gradients && (!outputs.gradEnsemble || !outputs.gradObservations)) {
    return KernelStatus::failure("crps: gradients requested without gradient buffers");
  }
  if (options.components && (!outputs.skill || !outputs.spread)) {
    return KernelStatus::failure("crps: components requested without skill/spread buffers");
  }
  if (!(options.alpha >= 0.0 && options.alpha <= 1.0)) return KernelStatus::failure("crps: alpha outside [0, 1]");

  Plan plan;
  plan.shape = shape;
  plan.options = options;
  plan.in = inputs;
  plan.out = outputs;
  plan.minMembers = crps::minimumMembers(options.alpha);
  if (shape.members < plan.minMembers) return KernelStatus::failure("crps: too few members for the estimator");
  if (shape.members <= kMaxNetworkMembers) plan.network = sortingNetwork(static_cast<int>(shape.members));

  const int64_t points = shape.points();
  const int64_t chunks = (points + kChunkPoints - 1) / kChunkPoints;
  if (options.gradients && !inputs.gradOutput) plan.weightSum = countedWeightSum(plan, chunks);

  std::vector<Accumulator> partial(chunks);
  parallelFor(chunks, [&](int64_t chunk) {
    const int64_t first = chunk * kChunkPoints;
    partial[chunk] = scoreChunk(plan, first, std::min(points, first + kChunkPoints));
  });
  Accumulator total;
  for (const Accumulator& acc : partial) {
    total.weightedScores += acc.weightedScores;
    total.weights += acc.weights;
  }
  outputs.mean = total.weightedScores / total.weights;
  return KernelStatus::success();
}

}  // namespace fusedloss
