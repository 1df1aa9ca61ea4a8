// Device code of the near-duplicate pairs' gradients (pairs::directGradientPair): after a block's
// gradient GEMMs, which left those pairs out, gx̂_i += Σ_j w_ij (x̂_i − ŷ_j) and gŷ_j += Σ_i w_ij
// (ŷ_j − x̂_i), from the differences in float64, rounded once onto the GEMMs' sums — as the CPU's
// pairs_direct.h, in the same order (a line's pairs ascending).  Included by pairs.cu after
// pairs_mine.cuh (blockExclusiveScan).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "pairs_mine.cuh"

namespace fusedloss {
namespace pair_cuda {
namespace {

constexpr int kDirectThreads = kRowThreads;
constexpr int kDirectFeatures = 4;  // float64 sums per thread: a pass covers 4·kDirectThreads features

// One block per line — a row of the block (weights along it, step 1) or a reference column (step
// ld) — with lineCounts[line] > 0: target[line] += Σ_k w_k (self[line] − other_k), w_k =
// weights[line·lineStride + k·step] (0: not a near-duplicate pair; gradTransformKernel wrote them),
// the line's pairs found a chunk at a time by a block scan and summed in ascending k.
__global__ void __launch_bounds__(kDirectThreads) directSumsKernel(const float* weights, int64_t lineStride, int64_t step,
                                                                   int64_t count, const int32_t* lineCounts,
                                                                   const float* selfRows, const float* otherRows,
                                                                   int64_t dimPad, int64_t dim, float* target) {
  __shared__ int64_t scan[2 * kDirectThreads];
  __shared__ int64_t found[kDirectThreads];
  __shared__ float foundWeights[kDirectThreads];
  const int64_t line = blockIdx.x;
  if (lineCounts[line] == 0) return;  // uniform: the whole block leaves
  const float* w = weights + line * lineStride;
  const float* self = selfRows + line * dimPad;
  float* out = target + line * dimPad;
  for (int64_t d0 = 0; d0 < dim; d0 += kDirectFeatures * blockDim.x) {
    double sum[kDirectFeatures] = {};
    for (int64_t k0 = 0; k0 < count; k0 += blockDim.x) {
      const int64_t k = k0 + threadIdx.x;
      const float wk = k < count ? w[k * step] : 0.0f;
      int64_t chunk;
      const int64_t at = blockExclusiveScan(wk != 0.0f ? 1 : 0, scan, &chunk);
      if (wk != 0.0f) found[at] = k, foundWeights[at] = wk;
      __syncthreads();
      for (int64_t q = 0; q < chunk; ++q) {
        const float* other = otherRows + found[q] * dimPad;
        const double wq = foundWeights[q];
        for (int t = 0; t < kDirectFeatures; ++t) {
          const int64_t d = d0 + t * blockDim.x + threadIdx.x;
          if (d < dim) sum[t] += wq * (static_cast<double>(self[d]) - static_cast<double>(other[d]));
        }
      }
      __syncthreads();  // the next chunk overwrites found
    }
    for (int t = 0; t < kDirectFeatures; ++t) {
      const int64_t d = d0 + t * blockDim.x + threadIdx.x;
      if (d < dim) out[d] = static_cast<float>(static_cast<double>(out[d]) + sum[t]);
    }
  }
}

}  // namespace
}  // namespace pair_cuda
}  // namespace fusedloss
