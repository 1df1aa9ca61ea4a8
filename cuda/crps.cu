// CRPS, CUDA backend.  Same contract and arithmetic as the CPU reference (../native/kernels/crps.cc):
// the per-point formulas come from ../native/math/crps_math.h, every sum is float64, and the mean
// is reduced over a fixed partition in a fixed order, so a device gives the same bits every run.
//
// Three kernels score the points, by ensemble size M (S = next power of two ≥ M):
// - S ≤ 64, row kernel: a thread per point, 256 points a block (128 at S = 32, 64 at S = 64).  The
//   block's members are staged in a shared tile with coalesced loads whatever the member axis is
//   (member-last: one contiguous run; member-first: consecutive threads read consecutive points of
//   one member), each thread sorts its point with a bitonic network in registers
//   (S·log2 S·(log2 S + 1)/4 compare-exchanges, no barrier), stores it to a private shared row and
//   runs the CPU's scalar path on it (crps::scoreSorted, rank counts by binary search): the same
//   terms in the same order as the CPU.  Gradients go back through the tile, coalesced.
// - S = 128..512, group kernel: `group` threads per point, ≥ 32 points a block (8 past S = 128) so
//   member-first rows are ≥ 128 (32) contiguous bytes; a bitonic network over the block's shared
//   sort rows, then each lane sums a strided share of the gap terms and a fixed tree adds them.
// - larger: a block per point, bitonic sort in shared memory (or, past kSharedSortMax, in a global
//   scratch slice per block), block-wide float64 sums of the same terms.  Member-first reads are
//   strided here (a point's members are `inner` apart); neighbouring blocks take neighbouring
//   points at the same time, so the 32-byte sectors are shared through L2 rather than DRAM.
// Σw of the counted points, needed for gradients of the mean before the scoring pass, comes from
// a first small pass, as on the CPU.  No atomics: partials per block, added in a fixed order.
//
// Expected cost (design figures for an H200; docs/performance-cuda.md records what a GPU measured):
// - Bytes per point, as gpu-check counts them against its device-to-device copy: 4M + 4 read
//   (ensemble, observation; +4 with weights), 4 written (score; +8 with components), and with
//   gradients 4M + 4 more written.  M = 16: 72 B (140 B with gradients); M = 51: 212 B (420 B).
// - Row kernel, S ≤ 16: 48 registers (ptxas -v, sm_90), ≤ 37 KB of shared memory a block: 4-5
//   blocks (1024-1280 threads) per SM, each with 16 KB of loads in flight.  The network is 80
//   compare-exchanges at M = 16 (~250 FP32 instructions a point, ~15 % of the SM's issue rate at
//   the full copy rate) and the float64 terms ~10 flops a member: memory-bound, target ≥ 70 % of
//   the copy rate.
// - Row kernel, S = 64 (M = 33..64): 128 registers, no spill, ~34 KB shared: 6 blocks of 64 threads
//   per SM, 78 KB of loads in flight.  672 compare-exchanges (~2000 instructions) a point, in
//   registers: ~1.6·10¹⁰ points/s of issue rate against 7.5·10⁹ needed for 40 % of a ~4 TB/s copy
//   at M = 51 (212 B a point) — the target, with the low occupancy as the risk a GPU run will show.
//   (A shared-memory network at M = 51 moves ~2700 words a point, which bounds it near 3·10⁹
//   points/s: why S = 64 stays in registers.)
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
#include "crps_device.cuh"
#include "device_memory.cuh"

// Overridable so the kernels can also run under a host emulator when developing without a GPU.
#ifndef FL_LAUNCH
#define FL_LAUNCH(kernel, grid, block, sharedBytes, stream) kernel<<<(grid), (block), (sharedBytes), (stream)>>>
__device__ __forceinline__ float* dynamicSharedFloats() {
  extern __shared__ __align__(16) float sharedFloats[];  // int64 offsets come first
  return sharedFloats;
}
#endif

namespace fusedloss {
namespace {

constexpr int kRowMaxSort = 64;  // the row kernel's largest register network
constexpr int kTileMaxMembers = 512;
constexpr int kTileThreads = 256;
constexpr int kTileElements = 1024;  // sort slots per block when the minimum point count allows
constexpr int kLargeThreads = 256;
constexpr int64_t kSharedSortMax = 8192;     // 32 KB of floats: under the 48 KB default limit
constexpr int kLargeSharedBlocks = 4096;
constexpr int64_t kScratchFloats = int64_t{1} << 26;  // global sort scratch cap, 256 MB
constexpr int kReduceThreads = 256;

using namespace crps_cuda;

// --- tile kernel: several points per block, a sorting network per point ------------------------

// The tile kernel's launch shape for an ensemble size: sort rows of sortSize floats (the next
// power of two ≥ members, padded with +Inf), `points` points per block of kTileThreads and
// `group` = kTileThreads / points threads per point.  At least 32 points (8 past 128 members) so
// that a member-first tile reads runs of ≥ 128 (32) contiguous bytes per member; at most
// kTileElements sort slots per block below that.
struct TileShape {
  int sortSize, points, group;
};
inline TileShape tileShape(int members) {
  int sortSize = 1;
  while (sortSize < members) sortSize <<= 1;
  const int fewest = sortSize <= 128 ? 32 : 8;
  const int points = std::max(fewest, std::min(kTileThreads, kTileElements / sortSize));
  return {sortSize, points, kTileThreads / points};
}
// Row stride of the tile of original members (odd: the member-first load's column writes and the
// per-point reads fall in distinct banks).
__host__ __device__ inline int tileRowStride(int members) { return members | 1; }
// Dynamic shared memory: the points' member offsets (int64, member-first layouts), their sort rows,
// then the tile of their members in [point][member] order (overwritten by the gradients).
inline size_t tileSharedBytes(int members, const TileShape& shape) {
  return sizeof(int64_t) * shape.points +
         sizeof(float) * static_cast<size_t>(shape.points) * (shape.sortSize + tileRowStride(members));
}

// Copies the block's points between device memory and the tile, coalesced: with the member axis
// last the block's points are one contiguous run; otherwise consecutive threads take consecutive
// points of one member (contiguous except across an outer boundary), whose offsets are in bases.
template <bool kLoad>
__device__ void moveTile(const Params& p, float* global, float* tile, const int64_t* bases, int64_t first, int count) {
  const int members = p.members, rowStride = tileRowStride(members), n = count * members;
  if (p.inner == 1) {
    float* run = global + first * members;
    for (int e = threadIdx.x; e < n; e += blockDim.x) {
      float& slot = tile[(e / members) * rowStride + e % members];
      if (kLoad) slot = run[e]; else run[e] = slot;
    }
  } else {
    for (int e = threadIdx.x; e < n; e += blockDim.x) {
      const int k = e / count, point = e % count;
      float& slot = tile[point * rowStride + k];
      float* address = global + bases[point] + k * p.inner;
      if (kLoad) slot = *address; else *address = slot;
    }
  }
}

// --- row kernel (up to kRowMaxSort members): one thread per point, a sorting network in registers --

// Ascending bitonic network on S registers (S a power of two), fully unrolled so every index is a
// compile-time constant.  Swaps by comparison (no NaN here), so ±0 keep their bits as on the CPU.
template <int S>
__device__ __forceinline__ void sortRegisters(float (&v)[S]) {
#pragma unroll
  for (int size = 2; size <= S; size <<= 1) {
#pragma unroll
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
#pragma unroll
      for (int lo = 0; lo < S; ++lo) {
        if (lo & stride) continue;
        const float a = v[lo], b = v[lo + stride];
        const bool swap = (a > b) == ((lo & size) == 0);
        v[lo] = swap ? b : a;
        v[lo + stride] = swap ? a : b;
      }
    }
  }
}

// Row kernel block: threads (= points) per block, and its dynamic shared memory: member offsets,
// the tile of members ([point][member]) and a private row per thread for its sorted members.
inline int rowThreads(int sortSize) { return sortSize <= 16 ? kTileThreads : sortSize == 32 ? kTileThreads / 2 : kTileThreads / 4; }
inline size_t rowSharedBytes(int members, int sortSize) {
  const size_t threads = rowThreads(sortSize);
  return sizeof(int64_t) * threads + sizeof(float) * threads * (tileRowStride(members) + (sortSize | 1));
}

// The CPU's scorePoint on one point: its members in row[0, members) (overwritten by their
// gradients), sorted by the register network into `sorted` (the thread's own row), then
// crps::scoreSorted and the rank counts by binary search, as the CPU's scalar path.
template <int S>
__device__ void scoreRowPoint(const Params& p, int64_t point, float* row, float* sorted, double& weighted,
                              double& weight) {
  const int members = p.members;
  const float observation = p.in.observations[point];
  const double w = pointWeight(p, point);
  float keys[S];
  int nanMembers = 0;
#pragma unroll
  for (int k = 0; k < S; ++k) {
    const float x = k < members ? row[k] : infFloat();
    nanMembers += isNan(x);
    keys[k] = isNan(x) ? infFloat() : x;  // the first `used` sorted keys are the non-NaN members
  }
  const int used = members - nanMembers;
  float fill, gradFill;
  if ((nanMembers > 0 || isNan(observation)) &&
      unscored(p, point, isNan(observation), used, w, fill, gradFill, weighted, weight)) {
    writeUnscored(p, point, row, 1, 0, 1, true, fill, gradFill);
    return;
  }
  sortRegisters(keys);
#pragma unroll
  for (int k = 0; k < S; ++k) sorted[k] = keys[k];

  const crps::PointValues values = crps::scoreSorted(sorted, used, observation, p.options.alpha);
  writeScore(p, point, values.skill, values.spread, values.score);
  if (p.options.gradients && values.limit == crps::ScoreLimit::Undefined) {
    writeUnscored(p, point, row, 1, 0, 1, false, 0.0f, undefinedGradient(p, point));
    p.out.gradObservations[point] = undefinedGradient(p, point);
  } else if (p.options.gradients) {
    const double factor = gradientFactor(p, point);
    const crps::GradientWeights gradientWeights = crps::gradientWeights(used, p.options.alpha);
    double signSum = 0.0;
    for (int k = 0; k < members; ++k) {
      row[k] = memberGrad(row[k], observation, sorted, used, gradientWeights, factor, signSum);
    }
    p.out.gradObservations[point] = static_cast<float>(-factor * (signSum / used));
  }
  meanTerms(w, values.score, weighted, weight);
}

template <int S>
__global__ void __launch_bounds__(kTileThreads) crpsRowKernel(Params p, double2* partials) {
  __shared__ double reduceScratch[2 * kTileThreads];
  const int t = threadIdx.x, threads = blockDim.x, rowStride = tileRowStride(p.members);
  int64_t* bases = reinterpret_cast<int64_t*>(dynamicSharedFloats());
  float* tile = reinterpret_cast<float*>(bases + threads);
  float* sorted = tile + threads * rowStride + t * (S | 1);  // odd stride: lockstep reads hit distinct banks
  const int64_t first = static_cast<int64_t>(blockIdx.x) * threads;
  const int count = static_cast<int>(min(static_cast<int64_t>(threads), p.points - first));

  if (p.inner != 1) {  // block-uniform
    if (t < count) bases[t] = memberBase(p, first + t);
    __syncthreads();
  }
  moveTile<true>(p, const_cast<float*>(p.in.ensemble), tile, bases, first, count);
  __syncthreads();
  double weighted = 0.0, weight = 0.0;
  if (t < count) scoreRowPoint<S>(p, first + t, tile + t * rowStride, sorted, weighted, weight);
  __syncthreads();
  if (p.options.gradients) moveTile<false>(p, p.out.gradEnsemble, tile, bases, first, count);
  blockSum2(weighted, weight, reduceScratch);
  if (t == 0) partials[blockIdx.x] = make_double2(weighted, weight);
}

// --- group kernel (up to kTileMaxMembers): a group of threads per point, a network in shared memory

__global__ void __launch_bounds__(kTileThreads) crpsTileKernel(Params p, double2* partials, TileShape shape) {
  __shared__ double reduceScratch[2 * kTileThreads];
  const int t = threadIdx.x, members = p.members, sortSize = shape.sortSize, group = shape.group;
  const int local = t / group, lane = t % group;  // this thread's point in the block, its share of it
  int64_t* bases = reinterpret_cast<int64_t*>(dynamicSharedFloats());
  float* sorted = reinterpret_cast<float*>(bases + shape.points);
  float* tile = sorted + shape.points * sortSize;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * shape.points;
  const int count = static_cast<int>(min(static_cast<int64_t>(shape.points), p.points - first));

  if (p.inner != 1) {  // block-uniform
    for (int i = t; i < count; i += blockDim.x) bases[i] = memberBase(p, first + i);
    __syncthreads();
  }
  moveTile<true>(p, const_cast<float*>(p.in.ensemble), tile, bases, first, count);
  __syncthreads();

  // The point's sort row (NaN members as +Inf, then +Inf padding: the first `used` sorted values
  // are the non-NaN members), and its Σ|x − y| over non-NaN members and NaN count.
  const bool active = local < count;
  const int64_t point = first + local;
  const float observation = active ? p.in.observations[point] : 0.0f;
  float* row = tile + local * tileRowStride(members);
  float* keys = sorted + local * sortSize;
  double absoluteErrors = 0.0, nanCount = 0.0;
  for (int k = lane; k < sortSize; k += group) {
    float key = infFloat();
    if (active && k < members) {
      const float x = row[k];
      if (isNan(x)) nanCount += 1.0; else key = x, absoluteErrors += fabs(static_cast<double>(x) - observation);
    }
    keys[k] = key;
  }
  __syncthreads();  // every row is in place
  sortRuns(sorted, shape.points * sortSize, sortSize);
  groupSum2(absoluteErrors, nanCount, reduceScratch, group);

  const int used = members - static_cast<int>(nanCount);
  const double w = active ? pointWeight(p, point) : 0.0;
  float fill = 0.0f, gradFill = 0.0f;
  double weighted = 0.0, weight = 0.0;
  const bool skip = !active || ((isNan(observation) || used < members) &&
                                unscored(p, point, isNan(observation), used, w, fill, gradFill, weighted, weight));
  if (active && skip) writeUnscored(p, point, row, 1, lane, group, lane == 0, fill, gradFill);

  // Each lane's share of the gap terms; the group's tree adds the shares in a fixed order.
  double halfPairs = 0.0, gapScore = 0.0;
  if (!skip) gapTerms(keys, used, observation, p.options.alpha, lane, group, halfPairs, gapScore);
  groupSum2(halfPairs, gapScore, reduceScratch, group);

  crps::ScoreLimit limit = crps::ScoreLimit::Finite;
  if (!skip) {
    const crps::Infinities infinities = crps::countInfinities(keys, used);
    limit = crps::scoreLimit(used, infinities, observation, p.options.alpha);
    if (lane == 0) {
      double skill = absoluteErrors / used, spread = halfPairs / (static_cast<double>(used) * used), score = gapScore;
      if (limit != crps::ScoreLimit::Finite) {  // rare: the serial limit values
        const crps::LimitValues values = crps::limitValues(keys, used, infinities, limit, observation);
        skill = values.skill, spread = values.spread, score = values.score;
      }
      writeScore(p, point, skill, spread, score);
      meanTerms(w, score, weighted, weight);
    }
  }
  if (lane != 0) weighted = weight = 0.0;  // the group's lane 0 holds the point's terms

  if (p.options.gradients) {  // block-uniform
    double signSum = 0.0, unused = 0.0, factor = 0.0;
    if (!skip && limit == crps::ScoreLimit::Undefined) {
      writeUnscored(p, point, row, 1, lane, group, false, 0.0f, undefinedGradient(p, point));
      if (lane == 0) p.out.gradObservations[point] = undefinedGradient(p, point);
    } else if (!skip) {
      factor = gradientFactor(p, point);
      const crps::GradientWeights gradientWeights = crps::gradientWeights(used, p.options.alpha);
      for (int k = lane; k < members; k += group) {
        row[k] = memberGrad(row[k], observation, keys, used, gradientWeights, factor, signSum);
      }
    }
    groupSum2(signSum, unused, reduceScratch, group);
    if (!skip && limit != crps::ScoreLimit::Undefined && lane == 0) {
      p.out.gradObservations[point] = static_cast<float>(-factor * (signSum / used));
    }
    __syncthreads();  // every row's gradients are in the tile
    moveTile<false>(p, p.out.gradEnsemble, tile, bases, first, count);
  }
  blockSum2(weighted, weight, reduceScratch);
  if (t == 0) partials[blockIdx.x] = make_double2(weighted, weight);
}

// --- large-ensemble kernel: one block per point -------------------------------------------------

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

    sortRuns(sorted, sortSize, sortSize);
    double halfPairs = 0.0, gapScore = 0.0, unused = 0.0;
    gapTerms(sorted, used, observation, p.options.alpha, t, threads, halfPairs, gapScore);
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
  const TileShape tile = tileShape(members);
  const bool rows = tiled && tile.sortSize <= kRowMaxSort;
  int threads = kTileThreads;
  int64_t blocks = 0, sortSize = 1, scratchFloats = 0;
  size_t sharedBytes = 0;
  if (rows) {
    threads = rowThreads(tile.sortSize);
    sharedBytes = rowSharedBytes(members, tile.sortSize);
    blocks = (points + threads - 1) / threads;
  } else if (tiled) {
    sharedBytes = tileSharedBytes(members, tile);
    blocks = (points + tile.points - 1) / tile.points;
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
  const unsigned grid = static_cast<unsigned>(blocks);
  if (rows) {
    switch (tile.sortSize) {
      case 1: FL_LAUNCH(crpsRowKernel<1>, grid, threads, sharedBytes, stream)(p, partials); break;
      case 2: FL_LAUNCH(crpsRowKernel<2>, grid, threads, sharedBytes, stream)(p, partials); break;
      case 4: FL_LAUNCH(crpsRowKernel<4>, grid, threads, sharedBytes, stream)(p, partials); break;
      case 8: FL_LAUNCH(crpsRowKernel<8>, grid, threads, sharedBytes, stream)(p, partials); break;
      case 16: FL_LAUNCH(crpsRowKernel<16>, grid, threads, sharedBytes, stream)(p, partials); break;
      case 32: FL_LAUNCH(crpsRowKernel<32>, grid, threads, sharedBytes, stream)(p, partials); break;
      default: FL_LAUNCH(crpsRowKernel<kRowMaxSort>, grid, threads, sharedBytes, stream)(p, partials); break;
    }
  } else if (tiled) {
    FL_LAUNCH(crpsTileKernel, grid, threads, sharedBytes, stream)(p, partials, tile);
  } else {
    FL_LAUNCH(crpsLargeKernel, grid, threads, sharedBytes, stream)(p, partials, sortScratch, sortSize);
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
