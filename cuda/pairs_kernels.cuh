// Device code of the CUDA pair mining / pair losses: the GEMM, normalization, the value and
// gradient transforms and the reductions the engine owns, and the loss' thread-per-row kernel
// (pairs_math.h's lossRow as it is) for the one case pairs_loss.cuh's block rows leave.  The
// block-per-row rows are in pairs_mine.cuh and pairs_loss.cuh.  Included by pairs.cu only (one
// translation unit, no device linking); the plan is described there.
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "../native/kernels/pairs.h"
#include "../native/math/pairs_math.h"
#include "../native/math/precision_math.h"
#include "gemm_tile.cuh"

namespace fusedloss {
namespace pair_cuda {
namespace {

constexpr int kThreads = 256;     // element-wise and column kernels
constexpr int kRowThreads = 128;  // one block per row: normalization, H row sums, un-normalization
constexpr int kRowKernelThreads = 64;  // thread-per-row kernels (each thread works a whole row)
constexpr int64_t kTargetBlocks = 264;  // enough blocks to fill a large GPU twice



// Σ_s parts[s] (in split order) into out, or added to it.
__global__ void splitSumKernel(const float* parts, int splits, int64_t stride, float* out, int accumulate) {
  const int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= stride) return;
  float sum = parts[e];
  for (int s = 1; s < splits; ++s) sum += parts[s * stride + e];
  out[e] = accumulate ? out[e] + sum : sum;
}

// --- vectors -------------------------------------------------------------------------------------

// One block per row: v̂ = normalize ? v / max(‖v‖, 1e-12) : v (norm in float64, NaN kept), rounded to
// `precision` (the GEMM operands; docs/spec/precision.md), zero padding to dimPad, ‖v‖ (float64,
// unfloored, for the backward) and ‖v̂‖² of the rounded v̂ (float32, for the distances).
__global__ void __launch_bounds__(kRowThreads) normalizeKernel(const float* src, int64_t dim, float* dst,
                                                               int64_t dimPad, int normalize, double* norms,
                                                               float* squares, Precision precision) {
  __shared__ double scratch[kRowThreads];
  const int64_t r = blockIdx.x;
  const float* s = src + r * dim;
  float* d = dst + r * dimPad;
  double sum = 0.0;
  for (int64_t e = threadIdx.x; e < dim; e += blockDim.x) sum += static_cast<double>(s[e]) * s[e];
  const double length = sqrt(blockSum(sum, scratch));
  const double inverse = 1.0 / (length < 1e-12 ? 1e-12 : length);  // NaN stays NaN; ×inverse as the CPU
  double squared = 0.0;
  for (int64_t e = threadIdx.x; e < dimPad; e += blockDim.x) {
    const float v = e < dim ? precision::roundOperand(normalize ? static_cast<float>(s[e] * inverse) : s[e], precision) : 0.0f;
    d[e] = v;
    squared += static_cast<double>(v) * v;
  }
  squared = blockSum(squared, scratch);
  if (threadIdx.x == 0) {
    norms[r] = length;
    squares[r] = static_cast<float>(squared);
  }
}

// Block values from the dot products [rows, ld] (pairs::guardedPairValue, as the CPU: near pairs
// of distances recomputed from the rows xRows [rows, dimPad], yRows [cols, dimPad]): `values` in place
// with `distance`; `second` (when not null) gets those of `secondDistance` (the miner's, when it
// differs from the loss').  Padding columns [cols, ld) become 0.
__global__ void valuesKernel(float* values, int64_t ld, int rows, int cols, const float* xSquares,
                             const float* ySquares, const float* xRows, const float* yRows, int64_t dim, int64_t dimPad,
                             PairDistance distance, float* second, PairDistance secondDistance) {
  const int64_t total = static_cast<int64_t>(rows) * ld;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int r = static_cast<int>(e / ld), j = static_cast<int>(e % ld);
    if (j >= cols) {
      values[e] = 0.0f;
      if (second) second[e] = 0.0f;
      continue;
    }
    const float dot = values[e];
    const float* x = xRows + r * dimPad;
    const float* y = yRows + j * dimPad;
    if (second) second[e] = pairs::guardedPairValue(secondDistance, dot, xSquares[r], ySquares[j], x, y, dim);
    values[e] = pairs::guardedPairValue(distance, dot, xSquares[r], ySquares[j], x, y, dim);
  }
}

// --- gradient through the values ---------------------------------------------------------------
// coef = ∂loss/∂v → pairs::valueGradient's G (dot weight) and H (squared-norm weight):
// gx̂_i = Σ_j G_ij ŷ_j + (Σ_j H_ij) x̂_i and gŷ_j = Σ_i G_ij x̂_i + (Σ_i H_ij) ŷ_j — except for the
// near-duplicate pairs of a distance (pairs::directGradientPair), which are left out of G and H
// and summed from their differences by pairs_direct.cuh.  xSquares: the block's rows'.

// G and H of a pair, G rounded to `precision` (an operand of both gradient GEMMs) and H = −G then:
// the pair's one coefficient (as the CPU engine, pairs_loss.cc).
__device__ __forceinline__ void gradientOf(PairDistance distance, float value, float coef, Precision precision, float* g,
                                           float* h) {
  pairs::valueGradient(distance, value, coef, g, h);
  if (precision != Precision::Float32) *g = precision::roundOperand(*g, precision), *h = *h != 0.0f ? -*g : 0.0f;
}

// The pair's H, or 0 with *direct set for a near-duplicate pair.
__device__ __forceinline__ float hOf(PairDistance distance, float value, float coef, Precision precision, float xSquare,
                                     float ySquare, bool* direct) {
  float g, h;
  gradientOf(distance, value, coef, precision, &g, &h);
  *direct = pairs::directGradientPair(distance, value, h, xSquare, ySquare);
  return *direct ? 0.0f : h;
}

// One block per row of the block: H row sums (fixed tree), written to hRows[row], and the row's
// near-duplicate pairs counted into directRows[row].  Runs before gradTransformKernel overwrites
// the coefficients.
__global__ void __launch_bounds__(kRowThreads) hRowKernel(const float* coef, const float* values, int64_t ld, int cols,
                                                          PairDistance distance, Precision precision, const float* xSquares,
                                                          const float* ySquares, double* hRows, int32_t* directRows) {
  __shared__ double scratch[kRowThreads];
  const int64_t r = blockIdx.x;
  double sum = 0.0, direct = 0.0;
  for (int j = threadIdx.x; j < cols; j += blockDim.x) {
    bool isDirect;
    sum += hOf(distance, values[r * ld + j], coef[r * ld + j], precision, xSquares[r], ySquares[j], &isDirect);
    direct += isDirect ? 1.0 : 0.0;
  }
  sum = blockSum(sum, scratch);
  direct = blockSum(direct, scratch);
  if (threadIdx.x == 0) hRows[r] = sum, directRows[r] = static_cast<int32_t>(direct);
}

// Thread per column: H column sums over the block's rows in order, added to the running sums
// (first block: assigned), and the column's near-duplicate pairs in the block counted into
// directColumns[j].  Runs before gradTransformKernel.
__global__ void hColumnKernel(const float* coef, const float* values, int64_t ld, int rows, int cols,
                              PairDistance distance, Precision precision, const float* xSquares, const float* ySquares,
                              double* hColumns, int32_t* directColumns, int first) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= cols) return;
  double sum = 0.0;
  int32_t direct = 0;
  for (int r = 0; r < rows; ++r) {
    bool isDirect;
    sum += hOf(distance, values[r * ld + j], coef[r * ld + j], precision, xSquares[r], ySquares[j], &isDirect);
    direct += isDirect ? 1 : 0;
  }
  hColumns[j] = first ? sum : hColumns[j] + sum;
  directColumns[j] = direct;
}

// G in place of the coefficients; padding columns [cols, ld) become 0 (the GEMMs read them).  The
// values become the direct weights: w = H for a near-duplicate pair (its G 0), else 0.
__global__ void gradTransformKernel(float* coef, float* values, int64_t ld, int rows, int cols, PairDistance distance,
                                    Precision precision, const float* xSquares, const float* ySquares) {
  const int64_t total = static_cast<int64_t>(rows) * ld;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = e / ld, j = e % ld;
    float g = 0.0f, h = 0.0f;
    if (j < cols) gradientOf(distance, values[e], coef[e], precision, &g, &h);
    const bool direct = j < cols && pairs::directGradientPair(distance, values[e], h, xSquares[r], ySquares[j]);
    coef[e] = direct ? 0.0f : g;
    values[e] = direct ? h : 0.0f;
  }
}

// One block per row r of a unit-vector gradient: g = grad[r] + hSum[r]·unit[r], then through the
// normalization, (g − (g·v̂)v̂)/‖v‖ (‖v‖ < 1e-12: g/1e-12; norms hold ‖v‖ unfloored), or g as
// is without it.  Written to out[r] (ld dim), or added to it when `add`.  With `rounded` (the
// precision option: unit holds the rounded operands) the projection's v̂ is recomputed unrounded
// from the input rows `raw` (ld dim), as normalizeKernel computes it.
__global__ void __launch_bounds__(kRowThreads) unnormalizeKernel(const float* grad, const double* hSums,
                                                                 const float* unit, int64_t dimPad, const double* norms,
                                                                 int normalize, int dim, const float* raw, int rounded,
                                                                 float* out, int add) {
  __shared__ double scratch[kRowThreads];
  const int64_t r = blockIdx.x;
  const float *g = grad + r * dimPad, *u = unit + r * dimPad, *x = raw + r * dim;
  float* o = out + r * dim;
  const double h = hSums ? hSums[r] : 0.0;
  double radial = 0.0;
  const double length = norms[r];
  const bool projected = normalize && !(length < 1e-12);  // NaN: projected, NaN out
  const double inverse = normalize ? 1.0 / (length < 1e-12 ? 1e-12 : length) : 1.0;
  auto exact = [&](int d) { return rounded ? static_cast<float>(x[d] * inverse) : u[d]; };
  if (projected) {
    for (int d = threadIdx.x; d < dim; d += blockDim.x) {
      const double gd = static_cast<double>(g[d]) + h * u[d];
      radial += gd * exact(d);
    }
  }
  radial = blockSum(radial, scratch);  // uniform: every thread reaches it
  for (int d = threadIdx.x; d < dim; d += blockDim.x) {
    const double gd = static_cast<double>(g[d]) + h * u[d];
    const float v = static_cast<float>((gd - radial * exact(d)) * inverse);
    o[d] = add ? o[d] + v : v;
  }
}

// --- loss rows, one thread per row: pairs_loss.cuh's blockLossRows leaves it one case ------------

// What a row kernel needs to build a row's PairRow; device pointers.
struct RowSource {
  const int32_t *labels, *refLabels, *selfIndex;  // refLabels null: the batch itself
  int64_t refs, ld;
};

__device__ __forceinline__ pairs::PairRow makeRow(const RowSource& src, int64_t i, const float* minerValues,
                                                  const float* lossValues) {
  pairs::PairRow row;
  row.minerValues = minerValues, row.lossValues = lossValues;
  row.refLabels = src.refLabels ? src.refLabels : src.labels;
  row.refs = src.refs;
  row.label = src.labels[i];
  row.excluded = src.refLabels ? (src.selfIndex ? src.selfIndex[i] : -1) : i;
  return row;
}

// Rows [first, first + count) of a block that starts at query row `row0` (a wave: each thread
// of a row kernel, or each thread block of a mining kernel, has its own scratch slot).
struct Wave {
  int64_t row0;
  int first, count;
  char* scratch;
  int64_t scratchStride;
};

// Losses: the forward pass writes partials[i]; the backward pass (scale given) writes the row's
// coefficients ∂loss/∂v_ij into coef[local·ld + j].  minerValues == lossValues when the miner
// uses the loss' distance (pairs_math relies on that identity).
__global__ void __launch_bounds__(kRowKernelThreads) lossRowKernel(RowSource src, MinerOptions miner, PairLossOptions loss,
                                                                   const float* minerValues, const float* lossValues,
                                                                   Wave w, pairs::LossPartial* partials,
                                                                   pairs::LossScale scale, float* coef) {
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= w.count) return;
  const int local = w.first + t;
  const int64_t i = w.row0 + local;
  const pairs::PairRow row = makeRow(src, i, minerValues + local * src.ld, lossValues + local * src.ld);
  char* scratch = w.scratch + t * w.scratchStride;
  if (coef) {
    pairs::lossRowBackward(row, miner, loss, scale, scratch, coef + local * src.ld);
  } else {
    partials[i] = pairs::lossRowForward(row, miner, loss, scratch);
  }
}

}  // namespace
}  // namespace pair_cuda
}  // namespace fusedloss
