// Device-side pieces of the CRPS CUDA kernels (crps.cu, the only includer): the kernels' parameters,
// the per-point NaN policy and outputs as the CPU's scorePoint has them, and the block-wide
// primitives (fixed-order float64 sums, a bitonic network over runs of shared memory).
// __syncthreads and shared memory only, no warp-synchronous code.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "../native/kernels/crps.h"
#include "../native/math/crps_math.h"

namespace fusedloss {
namespace crps_cuda {

struct Params {
  CrpsInputs in;    // device pointers
  CrpsOutputs out;  // device pointers (mean unused)
  CrpsOptions options;
  const double* weightSum;  // device Σw over counted points (gradients of the mean only)
  int64_t inner, points;
  int members, minMembers;
};

__device__ __forceinline__ float nanFloat() { return __int_as_float(0x7fc00000); }
__device__ __forceinline__ float infFloat() { return __int_as_float(0x7f800000); }
__device__ __forceinline__ bool isNan(float v) { return v != v; }

__device__ __forceinline__ int64_t memberBase(const Params& p, int64_t point) {
  if (p.inner == 1) return point * p.members;
  return (point / p.inner) * p.members * p.inner + point % p.inner;
}

__device__ __forceinline__ double pointWeight(const Params& p, int64_t point) {
  return p.in.weights ? static_cast<double>(p.in.weights[point]) : 1.0;
}

// Multiplier of ∂s_p: the caller's gradOutput, or the point's share of the weighted mean.
__device__ __forceinline__ double gradientFactor(const Params& p, int64_t point) {
  if (p.in.gradOutput) return p.in.gradOutput[point];
  return pointWeight(p, point) / *p.weightSum;
}

// Gradient of a point whose own derivative is undefined: NaN, except that a factor of exactly 0
// (weight 0, gradOutput 0) leaves the point out (the CPU's undefinedGradient).
__device__ __forceinline__ float undefinedGradient(const Params& p, int64_t point) {
  if (!p.options.gradients) return nanFloat();
  return gradientFactor(p, point) == 0.0 ? 0.0f : nanFloat();
}

// A point's (w·s, w) terms of the mean; weight 0 leaves the point out even when s is NaN/Inf.
__device__ __forceinline__ void meanTerms(double w, double score, double& weighted, double& weight) {
  weight = w;
  weighted = w != 0.0 ? w * score : 0.0;
}

// Sums (a, b) over the block in a fixed tree (blockDim.x a power of two); every thread gets the
// result.  scratch holds 2·blockDim.x doubles.  Shared-memory only, so the order never varies.
__device__ __forceinline__ void blockSum2(double& a, double& b, double* scratch) {
  const int n = blockDim.x, t = threadIdx.x;
  scratch[t] = a, scratch[n + t] = b;
  __syncthreads();
  for (int s = n / 2; s > 0; s >>= 1) {
    if (t < s) scratch[t] += scratch[t + s], scratch[n + t] += scratch[n + t + s];
    __syncthreads();
  }
  a = scratch[0], b = scratch[n];
  __syncthreads();
}

// blockSum2 over each aligned group of `group` threads (a power of two dividing blockDim.x): every
// thread gets its group's sums.  Called by the whole block (its barriers are block-wide).
__device__ __forceinline__ void groupSum2(double& a, double& b, double* scratch, int group) {
  if (group == 1) return;  // block-uniform
  const int n = blockDim.x, t = threadIdx.x, lane = t & (group - 1);
  scratch[t] = a, scratch[n + t] = b;
  __syncthreads();
  for (int s = group / 2; s > 0; s >>= 1) {
    if (lane < s) scratch[t] += scratch[t + s], scratch[n + t] += scratch[n + t + s];
    __syncthreads();
  }
  a = scratch[t - lane], b = scratch[n + t - lane];
  __syncthreads();
}

// Ascending bitonic sort of each aligned run of runSize floats (a power of two) in v[0, n), by the
// whole block: log2(runSize)·(log2(runSize) + 1)/2 stages of n/2 compare-exchanges, a barrier after
// each.  No NaN (callers enter it as +Inf), so the comparisons are a total order.  Starts after
// the caller's barrier and ends synchronized.
template <typename Index>
__device__ inline void sortRuns(float* v, Index n, Index runSize) {
  for (Index size = 2; size <= runSize; size <<= 1) {
    for (Index stride = size >> 1; stride > 0; stride >>= 1) {
      for (Index i = threadIdx.x; i < n / 2; i += blockDim.x) {
        const Index lo = 2 * i - (i & (stride - 1)), hi = lo + stride;
        const bool ascending = size == runSize || (lo & size) == 0;  // the last merge sorts every run up
        const float a = v[lo], b = v[hi];
        if ((a > b) == ascending) v[lo] = b, v[hi] = a;
      }
      __syncthreads();
    }
  }
}

// Share `share` of `shares` of H (the spread's half pair sum) and of crps::scoreFromGaps's terms
// (all ≥ 0) over `used` sorted members: gaps share + 1, share + 1 + shares, ..., and the terms of
// y outside the members in share 0; added to halfPairs and gapScore, for a fixed tree to sum.
__device__ inline void gapTerms(const float* sorted, int used, double y, double alpha, int share, int shares,
                                double& halfPairs, double& gapScore) {
  if (share == 0) gapScore += (crps::greater(sorted[0], y) - y) + (y - crps::lesser(sorted[used - 1], y));
  for (int k = 1 + share; k < used; k += shares) {
    const double lo = sorted[k - 1], hi = sorted[k];
    halfPairs += static_cast<double>(k) * static_cast<double>(used - k) * (hi - lo);
    gapScore += crps::gapWeight(k, used, alpha) * (crps::lesser(hi, y) - crps::lesser(lo, y)) +
                crps::gapWeight(used - k, used, alpha) * (crps::greater(hi, y) - crps::greater(lo, y));
  }
}

// A point with a NaN (member or observation), as the CPU's scorePoint treats it: returns false
// when 'omit' leaves enough members to score; else the fill for its outputs and gradients, and
// its (w·s, w) terms of the mean.
__device__ __forceinline__ bool unscored(const Params& p, int64_t point, bool nanObservation, int used, double w,
                                         float& fill, float& gradFill, double& weighted, double& weight) {
  switch (p.options.nanPolicy) {
    case NanPolicy::Propagate:
      fill = nanFloat(), gradFill = undefinedGradient(p, point);
      meanTerms(w, static_cast<double>(nanFloat()), weighted, weight);
      return true;
    case NanPolicy::Zero:
      fill = gradFill = 0.0f;
      weight = w, weighted = 0.0;
      return true;
    default:  // Omit: dropped from the mean, gradients 0
      fill = nanFloat(), gradFill = 0.0f;
      weight = weighted = 0.0;
      return nanObservation || used < p.minMembers;
  }
}

// --- outputs of one point --------------------------------------------------------------------------

// Outputs of a point that has no score of its own (NaN policy).  Member gradients go to
// grads[k·stride] for k = first, first + step, ... (the block's share of them); the per-point
// outputs only where writePoint.
__device__ inline void writeUnscored(const Params& p, int64_t point, float* grads, int64_t stride, int64_t first,
                              int64_t step, bool writePoint, float fill, float gradFill) {
  if (writePoint) {
    p.out.scores[point] = fill;
    if (p.options.components) p.out.skill[point] = p.out.spread[point] = fill;
    if (p.options.gradients) p.out.gradObservations[point] = gradFill;
  }
  if (p.options.gradients) {
    for (int64_t k = first; k < p.members; k += step) grads[k * stride] = gradFill;
  }
}

// The per-point outputs of a scored point.
__device__ inline void writeScore(const Params& p, int64_t point, double skill, double spread, double score) {
  p.out.scores[point] = static_cast<float>(score);
  if (p.options.components) {
    p.out.skill[point] = static_cast<float>(skill);
    p.out.spread[point] = static_cast<float>(spread);
  }
}

// One member's gradient times the point's factor, adding its sign to signSum; 0 for a NaN member
// (dropped under 'omit').  sorted holds the `used` non-NaN members in ascending order.
__device__ inline float memberGrad(float v, float observation, const float* sorted, int used,
                            const crps::GradientWeights& weights, double factor, double& signSum) {
  if (isNan(v)) return 0.0f;
  const int below = crps::countBelow(sorted, used, v);
  const int above = used - crps::countAtMost(sorted, used, v);
  signSum += crps::compareSign(v, observation);
  return static_cast<float>(factor * crps::memberGradient(v, observation, below, above, weights));
}

}  // namespace crps_cuda
}  // namespace fusedloss
