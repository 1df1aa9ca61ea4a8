// CRPS, CUDA backend.  Same contract and arithmetic as the CPU reference (../native/kernels/crps.cc):
// the per-point formulas come from ../native/math/crps_math.h, every sum is float64, and the mean
// is reduced over a fixed partition in a fixed order, so a device gives the same bits every run.
//
// Two kernels score the points:
// - members ≤ kTileMaxMembers: a block takes a tile of T points (one thread each).  The tile's
//   members are staged in shared memory with coalesced loads whatever the member axis is, each
//   thread copies its point's non-NaN members into its own row, insertion-sorts it and runs the
//   CPU's scalar path on it; gradients go back through the tile, again coalesced.
// - larger ensembles: a block per point, bitonic sort in shared memory (or, past kSharedSortMax,
//   in a global scratch slice per block), block-wide float64 sums of the same terms.
// Σw of the counted points, needed for gradients of the mean before the scoring pass, comes from
// a first small pass, as on the CPU.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "../native/kernels/crps.h"
#include "../native/kernels/cuda_info.h"
#include "../native/math/crps_math.h"
#include "device_memory.cuh"

// Overridable so the kernels can also run under a host emulator when developing without a GPU.
#ifndef FL_LAUNCH
#define FL_LAUNCH(kernel, grid, block, sharedBytes, stream) kernel<<<(grid), (block), (sharedBytes), (stream)>>>
__device__ __forceinline__ float* dynamicSharedFloats() {
  extern __shared__ float sharedFloats[];
  return sharedFloats;
}
#endif

namespace fusedloss {
namespace {

constexpr int kTileMaxMembers = 128;
constexpr int kTileMaxThreads = 256;
constexpr int kTileBudgetBytes = 24 * 1024;  // keeps several tiles resident per multiprocessor
constexpr int kLargeThreads = 256;
constexpr int64_t kSharedSortMax = 8192;     // 32 KB of floats: under the 48 KB default limit
constexpr int kLargeSharedBlocks = 4096;
constexpr int64_t kScratchFloats = int64_t{1} << 26;  // global sort scratch cap, 256 MB
constexpr int kReduceThreads = 256;

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

// --- tile kernel: one thread per point ---------------------------------------------------------

// Outputs of a point that has no score of its own (NaN policy).  Member gradients go to
// grads[k·stride] for k = first, first + step, ... (a tile column, or the block's share of them);
// the per-point outputs only where writePoint.
__device__ void writeUnscored(const Params& p, int64_t point, float* grads, int64_t stride, int64_t first,
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
__device__ void writeScore(const Params& p, int64_t point, double skill, double spread, double score) {
  p.out.scores[point] = static_cast<float>(score);
  if (p.options.components) {
    p.out.skill[point] = static_cast<float>(skill);
    p.out.spread[point] = static_cast<float>(spread);
  }
}

// One member's gradient times the point's factor, adding its sign to signSum; 0 for a NaN member
// (dropped under 'omit').  sorted holds the `used` non-NaN members in ascending order.
__device__ float memberGrad(float v, float observation, const float* sorted, int used,
                            const crps::GradientWeights& weights, double factor, double& signSum) {
  if (isNan(v)) return 0.0f;
  const int below = crps::countBelow(sorted, used, v);
  const int above = used - crps::countAtMost(sorted, used, v);
  signSum += crps::compareSign(v, observation);
  return static_cast<float>(factor * crps::memberGradient(v, observation, below, above, weights));
}

// The CPU's scorePoint on a tile column (members at column[k·stride], overwritten by their
// gradients) with a private row for the sorted members.  Returns the point's (w·s, w) terms.
__device__ void scoreTilePoint(const Params& p, int64_t point, float* column, int stride, float* sorted,
                               double& weighted, double& weight) {
  const int members = p.members;
  const float observation = p.in.observations[point];
  const double w = pointWeight(p, point);

  bool anyNan = isNan(observation);
  int used = 0;
  for (int k = 0; k < members; ++k) {
    const float v = column[k * stride];
    if (isNan(v)) anyNan = true; else sorted[used++] = v;
  }
  float fill, gradFill;
  if (anyNan && unscored(p, point, isNan(observation), used, w, fill, gradFill, weighted, weight)) {
    writeUnscored(p, point, column, stride, 0, 1, true, fill, gradFill);
    return;
  }

  crps::insertionSort(sorted, used);
  const crps::PointValues values = crps::scoreSorted(sorted, used, observation, p.options.alpha);
  const crps::ScoreLimit limit = values.limit;

  writeScore(p, point, values.skill, values.spread, values.score);
  if (p.options.gradients && limit == crps::ScoreLimit::Undefined) {
    writeUnscored(p, point, column, stride, 0, 1, false, 0.0f, undefinedGradient(p, point));
    p.out.gradObservations[point] = undefinedGradient(p, point);
  } else if (p.options.gradients) {
    const double factor = gradientFactor(p, point);
    double signSum = 0.0;
    for (int k = 0; k < members; ++k) {
      column[k * stride] = memberGrad(column[k * stride], observation, sorted, used, crps::gradientWeights(used, p.options.alpha), factor, signSum);
    }
    p.out.gradObservations[point] = static_cast<float>(-factor * (signSum / used));
  }
  meanTerms(w, values.score, weighted, weight);
}

// Shared memory: tile [members][T + 1] (the +1 keeps the transposing load free of bank conflicts)
// and T sorted rows of members|1 floats (odd, so a warp's rows start in distinct banks).
__host__ __device__ inline int tileStride(int threads) { return threads + 1; }
__host__ __device__ inline int sortedRowStride(int members) { return members | 1; }
inline size_t tileSharedBytes(int members, int threads) {
  return sizeof(float) * (static_cast<size_t>(members) * tileStride(threads) +
                          static_cast<size_t>(threads) * sortedRowStride(members));
}

// Copies the tile's points between device memory and the tile, coalesced: with the member axis
// last the tile is one contiguous run, otherwise member k of consecutive points is contiguous
// (except across an outer boundary).
template <bool kLoad>
__device__ void moveTile(const Params& p, float* global, float* tile, int64_t first, int count) {
  const int threads = blockDim.x, t = threadIdx.x, members = p.members, stride = tileStride(threads);
  if (p.inner == 1) {
    float* run = global + first * members;
#pragma unroll 4
    for (int e = t; e < count * members; e += threads) {
      float& slot = tile[(e % members) * stride + e / members];
      if (kLoad) slot = run[e]; else run[e] = slot;
    }
  } else if (t < count) {
    float* column = global + memberBase(p, first + t);
#pragma unroll 4
    for (int k = 0; k < members; ++k) {
      if (kLoad) tile[k * stride + t] = column[k * p.inner]; else column[k * p.inner] = tile[k * stride + t];
    }
  }
}

__global__ void __launch_bounds__(kTileMaxThreads) crpsTileKernel(Params p, double2* partials) {
  __shared__ double reduceScratch[2 * kTileMaxThreads];
  const int threads = blockDim.x, t = threadIdx.x, members = p.members;
  const int stride = tileStride(threads);
  float* tile = dynamicSharedFloats();
  float* sorted = tile + members * stride + t * sortedRowStride(members);
  const int64_t first = static_cast<int64_t>(blockIdx.x) * threads;
  const int count = static_cast<int>(min(static_cast<int64_t>(threads), p.points - first));

  moveTile<true>(p, const_cast<float*>(p.in.ensemble), tile, first, count);
  __syncthreads();

  double weighted = 0.0, weight = 0.0;
  if (t < count) scoreTilePoint(p, first + t, tile + t, stride, sorted, weighted, weight);
  __syncthreads();

  if (p.options.gradients) moveTile<false>(p, p.out.gradEnsemble, tile, first, count);
  blockSum2(weighted, weight, reduceScratch);
  if (t == 0) partials[blockIdx.x] = make_double2(weighted, weight);
}

// --- large-ensemble kernel: one block per point -------------------------------------------------

// Ascending bitonic sort of n (a power of two) floats by the whole block; ends synchronized.
__device__ void bitonicSort(float* v, int64_t n) {
  for (int64_t size = 2; size <= n; size <<= 1) {
    for (int64_t stride = size >> 1; stride > 0; stride >>= 1) {
      for (int64_t i = threadIdx.x; i < n / 2; i += blockDim.x) {
        const int64_t lo = 2 * i - (i & (stride - 1));
        const int64_t hi = lo + stride;
        const float a = v[lo], b = v[hi];
        if ((a > b) == ((lo & size) == 0)) v[lo] = b, v[hi] = a;
      }
      __syncthreads();
    }
  }
}

// Points blockIdx.x, blockIdx.x + gridDim.x, ... in order; sortSize = next power of two ≥ members.
// NaN members enter the sort as +inf, so the first `used` sorted values are the non-NaN members.
__global__ void __launch_bounds__(kLargeThreads) crpsLargeKernel(Params p, double2* partials, float* scratch,
                                                                 int64_t sortSize) {
  __shared__ double reduceScratch[2 * kLargeThreads];
  float* sorted = scratch ? scratch + static_cast<int64_t>(blockIdx.x) * sortSize : dynamicSharedFloats();
  const int t = threadIdx.x, threads = blockDim.x, members = p.members;
  double blockWeighted = 0.0, blockWeight = 0.0;

  for (int64_t point = blockIdx.x; point < p.points; point += gridDim.x) {
    const int64_t base = memberBase(p, point);
    float* grads = p.options.gradients ? p.out.gradEnsemble + base : nullptr;
    const float observation = p.in.observations[point];
    const double w = pointWeight(p, point);
    double absoluteErrors = 0.0, nanCount = 0.0;
    __syncthreads();  // the previous point is done with `sorted`
    for (int64_t k = t; k < sortSize; k += threads) {
      float v = infFloat();
      if (k < members) {
        const float x = p.in.ensemble[base + k * p.inner];
        if (isNan(x)) nanCount += 1.0; else v = x, absoluteErrors += fabs(static_cast<double>(x) - observation);
      }
      sorted[k] = v;
    }
    blockSum2(absoluteErrors, nanCount, reduceScratch);
    const int used = members - static_cast<int>(nanCount);
    float fill, gradFill;
    double weighted, weight;
    if ((isNan(observation) || used < members) &&
        unscored(p, point, isNan(observation), used, w, fill, gradFill, weighted, weight)) {
      writeUnscored(p, point, grads, p.inner, t, threads, t == 0, fill, gradFill);
      blockWeight += weight, blockWeighted += weighted;
      continue;  // block-uniform: every thread saw the same sums
    }

    bitonicSort(sorted, sortSize);
    // H for the spread, and the score from the gaps: crps::scoreFromGaps's terms (all ≥ 0), each
    // thread summing a strided share of the gaps.
    const double y = observation;
    double halfPairs = 0.0, unused = 0.0;
    double gapScore = t == 0 ? (crps::greater(sorted[0], y) - y) + (y - crps::lesser(sorted[used - 1], y)) : 0.0;
    for (int k = 1 + t; k < used; k += threads) {
      const double lo = sorted[k - 1], hi = sorted[k];
      halfPairs += static_cast<double>(k) * static_cast<double>(used - k) * (hi - lo);
      gapScore += crps::gapWeight(k, used, p.options.alpha) * (crps::lesser(hi, y) - crps::lesser(lo, y)) +
                  crps::gapWeight(used - k, used, p.options.alpha) * (crps::greater(hi, y) - crps::greater(lo, y));
    }
    blockSum2(halfPairs, gapScore, reduceScratch);
    // Every thread sees the same sorted values, so the limit case is block-uniform.
    const crps::Infinities infinities = crps::countInfinities(sorted, used);
    const crps::ScoreLimit limit = crps::scoreLimit(used, infinities, observation, p.options.alpha);
    double skill = absoluteErrors / used, spread = halfPairs / (static_cast<double>(used) * used);
    double score = gapScore;
    if (limit != crps::ScoreLimit::Finite) {
      // Rare: one thread, serially (scoreFromGaps is O(M) over the sorted values).
      if (t == 0) {
        const crps::LimitValues values = crps::limitValues(sorted, used, infinities, limit, observation);
        skill = values.skill, spread = values.spread, score = values.score;
      }
    }
    if (t == 0) writeScore(p, point, skill, spread, score);
    if (p.options.gradients && limit == crps::ScoreLimit::Undefined) {
      writeUnscored(p, point, grads, p.inner, t, threads, false, 0.0f, undefinedGradient(p, point));
      if (t == 0) p.out.gradObservations[point] = undefinedGradient(p, point);
    } else if (p.options.gradients) {
      const double factor = gradientFactor(p, point);
      double signSum = 0.0;
      for (int64_t k = t; k < members; k += threads) {
        const float v = p.in.ensemble[base + k * p.inner];
        grads[k * p.inner] = memberGrad(v, observation, sorted, used, crps::gradientWeights(used, p.options.alpha), factor, signSum);
      }
      blockSum2(signSum, unused, reduceScratch);
      if (t == 0) p.out.gradObservations[point] = static_cast<float>(-factor * (signSum / used));
    }
    meanTerms(w, score, weighted, weight);
    blockWeight += weight;
    blockWeighted += weighted;  // thread 0's sums are the ones kept
  }
  if (t == 0) partials[blockIdx.x] = make_double2(blockWeighted, blockWeight);
}

// --- Σw and the final reduction ----------------------------------------------------------------

// Per block of kReduceThreads points: Σw over the points the mean counts (only 'omit' drops any).
__global__ void __launch_bounds__(kReduceThreads) countedWeightKernel(Params p, double2* partials) {
  __shared__ double reduceScratch[2 * kReduceThreads];
  const int64_t point = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  double weight = 0.0, unused = 0.0;
  if (point < p.points) {
    bool counted = true;
    if (p.options.nanPolicy == NanPolicy::Omit) {
      int used = 0;  // stays 0 for a NaN observation
      if (!isNan(p.in.observations[point])) {
        const float* src = p.in.ensemble + memberBase(p, point);
        for (int k = 0; k < p.members; ++k) used += !isNan(src[k * p.inner]);
      }
      counted = used >= p.minMembers;
    }
    if (counted) weight = pointWeight(p, point);
  }
  blockSum2(unused, weight, reduceScratch);
  if (threadIdx.x == 0) partials[blockIdx.x] = make_double2(unused, weight);
}

// Σw = 0: the mean is undefined, and so is every entry of its gradient (the CPU's runCrpsCpu).
__global__ void __launch_bounds__(kReduceThreads) undefinedMeanGradientKernel(const double* weightSum, float* values,
                                                                             int64_t count) {
  if (*weightSum > 0.0) return;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    values[i] = nanFloat();
  }
}

// One block: each thread adds a fixed strided subset in order, then the fixed tree.
__global__ void __launch_bounds__(kReduceThreads) sumPartialsKernel(const double2* partials, int64_t count,
                                                                   double2* total) {
  __shared__ double reduceScratch[2 * kReduceThreads];
  double a = 0.0, b = 0.0;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) {
    a += partials[i].x;
    b += partials[i].y;
  }
  blockSum2(a, b, reduceScratch);
  if (threadIdx.x == 0) *total = make_double2(a, b);
}

// --- host side ----------------------------------------------------------------------------------

constexpr const char* kKernelName = "crps (CUDA)";

// The shared argument checks, plus the CUDA kernels' own member limit.
KernelStatus validate(const CrpsShape& shape, const CrpsOptions& options, const CrpsInputs& inputs,
                      const CrpsOutputs& outputs) {
  const KernelStatus status = checkCrpsCall(shape, options, inputs, outputs);
  if (!status.ok) return status;
  if (shape.members > (int64_t{1} << 30)) return KernelStatus::failure("crps (CUDA): too many members");
  return KernelStatus::success();
}

}  // namespace

KernelStatus crpsCudaDevice(const CrpsShape& shape, const CrpsOptions& options, const CrpsInputs& inputs,
                            CrpsOutputs& outputs, void* streamHandle) {
  const CudaErrorScope errorScope;
  KernelStatus status = validate(shape, options, inputs, outputs);
  if (!status.ok) return status;
  cudaStream_t stream = static_cast<cudaStream_t>(streamHandle);
  const int64_t points = shape.points();
  const int members = static_cast<int>(shape.members);

  Params p{inputs, outputs, options, nullptr, shape.inner, points, members, crps::minimumMembers(options.alpha)};

  // Launch plan; depends on the shape only, so the reduction order is fixed for a shape.
  const bool tiled = members <= kTileMaxMembers;
  int threads = kTileMaxThreads;
  int64_t blocks = 0, sortSize = 1, scratchFloats = 0;
  size_t sharedBytes = 0;
  if (tiled) {
    while (threads > 32 && tileSharedBytes(members, threads) > kTileBudgetBytes) threads /= 2;
    sharedBytes = tileSharedBytes(members, threads);
    blocks = (points + threads - 1) / threads;
  } else {
    threads = kLargeThreads;
    while (sortSize < members) sortSize <<= 1;
    if (sortSize <= kSharedSortMax) {
      blocks = std::min<int64_t>(points, kLargeSharedBlocks);
      sharedBytes = sizeof(float) * sortSize;
    } else {
      blocks = std::min<int64_t>(points, std::max<int64_t>(1, std::min<int64_t>(128, kScratchFloats / sortSize)));
      scratchFloats = blocks * sortSize;
    }
  }
  const bool needWeightSum = options.gradients && !inputs.gradOutput;
  const int64_t weightBlocks = needWeightSum ? (points + kReduceThreads - 1) / kReduceThreads : 0;
  if (std::max(blocks, weightBlocks) > 0x7fffffff) return KernelStatus::failure("crps (CUDA): too many points");

  // Scratch: two totals (Σw, then Σw·s and Σw), the per-block partials, the large path's sort slices.
  const int64_t partialCount = std::max(blocks, weightBlocks);
  const size_t totalsBytes = alignedBytes(2 * sizeof(double2));
  const size_t partialBytes = alignedBytes(sizeof(double2) * partialCount);
  DeviceBuffer scratch(stream);
  FL_CUDA_TRY("allocating scratch", scratch.allocate(totalsBytes + partialBytes + sizeof(float) * scratchFloats));
  double2* totals = reinterpret_cast<double2*>(scratch.get());
  double2* partials = reinterpret_cast<double2*>(scratch.get() + totalsBytes);
  float* sortScratch = scratchFloats ? reinterpret_cast<float*>(scratch.get() + totalsBytes + partialBytes) : nullptr;

  if (needWeightSum) {
    FL_LAUNCH(countedWeightKernel, static_cast<unsigned>(weightBlocks), kReduceThreads, 0, stream)(p, partials);
    FL_CUDA_TRY("launching the weight pass", cudaGetLastError());
    FL_LAUNCH(sumPartialsKernel, 1, kReduceThreads, 0, stream)(partials, weightBlocks, totals);
    FL_CUDA_TRY("launching the weight sum", cudaGetLastError());
    p.weightSum = reinterpret_cast<const double*>(totals) + 1;  // totals[0].y
  }
  if (tiled) {
    FL_LAUNCH(crpsTileKernel, static_cast<unsigned>(blocks), threads, sharedBytes, stream)(p, partials);
  } else {
    FL_LAUNCH(crpsLargeKernel, static_cast<unsigned>(blocks), threads, sharedBytes, stream)(p, partials, sortScratch,
                                                                                             sortSize);
  }
  FL_CUDA_TRY("launching the scoring pass", cudaGetLastError());
  if (needWeightSum) {
    const unsigned fillBlocks = static_cast<unsigned>(std::min<int64_t>(1024, (shape.elements() + kReduceThreads - 1) / kReduceThreads));
    FL_LAUNCH(undefinedMeanGradientKernel, fillBlocks, kReduceThreads, 0, stream)(p.weightSum, outputs.gradEnsemble, shape.elements());
    FL_LAUNCH(undefinedMeanGradientKernel, fillBlocks, kReduceThreads, 0, stream)(p.weightSum, outputs.gradObservations, points);
    FL_CUDA_TRY("launching the undefined-mean fill", cudaGetLastError());
  }
  FL_LAUNCH(sumPartialsKernel, 1, kReduceThreads, 0, stream)(partials, blocks, totals + 1);
  FL_CUDA_TRY("launching the mean", cudaGetLastError());

  double2 total{};
  FL_CUDA_TRY("reading the mean", cudaMemcpyAsync(&total, totals + 1, sizeof(total), cudaMemcpyDeviceToHost, stream));
  FL_CUDA_TRY("running the kernels", cudaStreamSynchronize(stream));
  outputs.mean = total.x / total.y;
  return KernelStatus::success();
}

KernelStatus crpsCuda(const CrpsShape& shape, const CrpsOptions& options, const CrpsInputs& inputs,
                      CrpsOutputs& outputs) {
  const CudaErrorScope errorScope;
  KernelStatus status = validate(shape, options, inputs, outputs);
  if (!status.ok) return status;
  const CudaInfo& info = cudaInfo();
  if (!info.available) return KernelStatus::failure("crps (CUDA): " + info.reason);

  // One allocation holds every device array; a null host array gets no device twin.
  const size_t pointBytes = sizeof(float) * static_cast<size_t>(shape.points());
  const size_t elementBytes = sizeof(float) * static_cast<size_t>(shape.elements());
  HostStaging staging(cudaStreamPerThread);
  const int ensemble = staging.input(inputs.ensemble, elementBytes);
  const int observations = staging.input(inputs.observations, pointBytes);
  const int weights = staging.input(inputs.weights, pointBytes);
  const int gradOutput = staging.input(inputs.gradOutput, pointBytes);
  const int scores = staging.output(outputs.scores, pointBytes);
  const int gradEnsemble = staging.output(outputs.gradEnsemble, options.gradients ? elementBytes : 0);
  const int gradObservations = staging.output(outputs.gradObservations, options.gradients ? pointBytes : 0);
  const int skill = staging.output(outputs.skill, options.components ? pointBytes : 0);
  const int spread = staging.output(outputs.spread, options.components ? pointBytes : 0);
  FL_CUDA_TRY("staging inputs", staging.copyIn());
  CrpsInputs deviceIn{staging.device<float>(ensemble), staging.device<float>(observations), staging.device<float>(weights),
                      staging.device<float>(gradOutput)};
  CrpsOutputs deviceOut{staging.device<float>(scores), staging.device<float>(gradEnsemble), staging.device<float>(gradObservations),
                        staging.device<float>(skill), staging.device<float>(spread)};
  status = crpsCudaDevice(shape, options, deviceIn, deviceOut, cudaStreamPerThread);
  if (!status.ok) return status;
  FL_CUDA_TRY("copying outputs", staging.copyOut());
  outputs.mean = deviceOut.mean;
  return KernelStatus::success();
}

}  // namespace fusedloss
