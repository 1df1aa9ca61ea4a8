// Device code of the CUDA margin softmax: the GEMM, the per-element epilogue and the row, column and
// reduction kernels.  Included by margin.cu only (one translation unit, no device linking);
// the plan is described there.
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "../native/kernels/margin.h"
#include "../native/math/margin_math.h"
#include "../native/math/precision_math.h"
#include "gemm_tile.cuh"

namespace fusedloss {
namespace {


constexpr int kThreads = 256;       // stats, gradient and reduction kernels
constexpr int kRowThreads = 128;    // one block per row: normalization, prepass
constexpr int kGradRows = 32;       // rows per thread in the G kernel
constexpr int kColumnRows = 64;     // rows per partial of the product-norm column sums
constexpr int64_t kTargetBlocks = 264;  // enough blocks to fill a large GPU twice
constexpr float kInf = INFINITY;

// Running softmax statistics of one row over some classes.
struct Stats {
  float maxLogit;      // m = max z
  float bestCosine;    // best unmargined cosine (NaN never wins)
  double expSum;       // Σ exp(z − m)
  double logitSum;     // Σ z
  double expLogitSum;  // Σ exp(z − m)·z
  int bestClass;       // bestCosine's class position (first on ties)
};

struct Globals {
  double counted;      // rows with a target
  double curricularT;  // CurricularFace's t after this call's update
  double loss;
  float curricularTFloat;
  int badTarget, badClass;  // set by validateKernel (plain stores of 1: no race on the outcome)
  int shiftMax;             // largest margin::coefficientShift of the row weights (validateKernel)
};

// Per-row values (device arrays).  The target's: its logit ψ·S, ψ', CurricularFace threshold, scale
// S, cosine and arg-max center; the row's: logit scale, log Σexp(z − m), gradient coefficient.
struct RowArrays {
  float *scale, *targetLogit, *targetDerivative, *curricularThreshold, *targetScale, *logExpSum, *coefficient;
  int* targetCenter;
  // embeddingNorm in double: huge rows' norms pass float32's range.
  double *embeddingNorm, *targetCosine, *logSumExp, *normTerm, *weighted;
  Stats* running;  // the row's statistics over the classes folded so far
};

struct Problem {
  MarginSoftmaxInputs in;    // device pointers
  MarginSoftmaxOutputs out;  // device pointers
  MarginSoftmaxOptions o;
  int64_t rows, dim, dimPad, classes, K, centers, weightRows;
  float *xh, *wh;  // x̂, ŵ
  double* wNorm;    // ‖w‖
  double* colTerm;         // Σ_i ∂loss/∂z·z per center (product-norm)
  RowArrays r;
  Globals* g;
};

__device__ __forceinline__ bool pnMode(const Problem& p) { return p.o.scaleMode == ScaleMode::ProductNorm; }



// --- normalization and prepass -------------------------------------------------------------------

__global__ void validateKernel(Problem p) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < p.rows && (p.in.targets[i] < -1 || p.in.targets[i] >= p.classes)) p.g->badTarget = 1;
  if (i < p.rows && p.in.rowWeights) atomicMax(&p.g->shiftMax, margin::coefficientShift(p.in.rowWeights[i]));
  if (p.in.classIds && i < p.classes && (p.in.classIds[i] < 0 || p.in.classIds[i] >= p.weightRows / p.K)) p.g->badClass = 1;
}

// Columns layout: ŵ rows gathered from weights [D, weightRows] through a 32×32 tile (coalesced both
// ways); normalizeKernel then normalizes them in place.
__global__ void gatherColumnsKernel(Problem p) {
  __shared__ float tile[32][33];
  const int64_t tilesR = (p.centers + 31) / 32;
  const int64_t r0 = (blockIdx.x % tilesR) * 32, d0 = (blockIdx.x / tilesR) * 32;
  const int tx = threadIdx.x & 31, ty = threadIdx.x >> 5;
  for (int k = ty; k < 32; k += 8) {
    const int64_t r = r0 + tx, d = d0 + k;
    if (r < p.centers && d < p.dim) {
      const int64_t source = p.in.classIds ? p.in.classIds[r / p.K] * p.K + r % p.K : r;
      tile[k][tx] = p.in.weights[d * p.weightRows + source];
    }
  }
  __syncthreads();
  for (int k = ty; k < 32; k += 8) {
    const int64_t r = r0 + k, d = d0 + tx;
    if (r < p.centers && d < p.dim) p.wh[r * p.dimPad + d] = tile[tx][k];
  }
}

// One block per row: v/max(‖v‖, 1e-12) (NaN kept), zero padding, the norm.  which = 0: the
// embeddings (also the row scale); 1: centers from rows-layout weights; 2: ŵ in place (columns).
// The unit vector is written rounded to `precision` (the GEMM operands of the precision option).
__global__ void __launch_bounds__(kRowThreads) normalizeKernel(Problem p, int which, Precision precision) {
  __shared__ double scratch[kRowThreads];
  const int64_t r = blockIdx.x;
  const float* src;
  float* dst;
  if (which == 0) {
    src = p.in.embeddings + r * p.dim, dst = p.xh + r * p.dimPad;
  } else if (which == 1) {
    const int64_t source = p.in.classIds ? p.in.classIds[r / p.K] * p.K + r % p.K : r;
    src = p.in.weights + source * p.dim, dst = p.wh + r * p.dimPad;
  } else {
    src = dst = p.wh + r * p.dimPad;
  }
  double sum = 0.0;
  for (int64_t d = threadIdx.x; d < p.dim; d += blockDim.x) sum += static_cast<double>(src[d]) * src[d];
  const double length = sqrt(blockSum(sum, scratch));
  const double norm = length < 1e-12 ? 1e-12 : length;  // NaN stays NaN
  const double inverse = 1.0 / norm;
  for (int64_t d = threadIdx.x; d < p.dimPad; d += blockDim.x) {
    dst[d] = d < p.dim ? precision::roundOperand(static_cast<float>(src[d] * inverse), precision) : 0.0f;
  }
  if (threadIdx.x == 0) {
    if (which == 0) {
      p.r.embeddingNorm[r] = norm;
      p.r.scale[r] = margin::logitScale(p.o.scale * (p.o.scaleMode == ScaleMode::Fixed ? 1.0 : norm));
    } else {
      p.wNorm[r] = norm;
    }
  }
}

// One block per row: the target cosine (max over its centers, first on ties) and margin::Target.
__global__ void __launch_bounds__(kRowThreads) prepassKernel(Problem p) {
  __shared__ double scratch[kRowThreads];
  const int64_t i = blockIdx.x;
  const int y = p.in.targets[i];
  if (y < 0) return;  // block-uniform
  const float* x = p.xh + i * p.dimPad;
  double best = 0.0;
  int bestK = 0;
  for (int k = 0; k < p.K; ++k) {
    const float* w = p.wh + (y * p.K + k) * p.dimPad;
    double sum = 0.0;
    for (int64_t d = threadIdx.x; d < p.dimPad; d += blockDim.x) sum += static_cast<double>(x[d]) * w[d];
    const double c = blockSum(sum, scratch);
    if (k == 0 || c > best || (c != c && best == best)) best = c, bestK = k;  // a NaN center sticks
  }
  if (threadIdx.x != 0) return;
  const double c = best > 1.0 ? 1.0 : best < -1.0 ? -1.0 : best;
  const double m2 = p.in.rowAngular ? p.in.rowAngular[i] : p.o.m2;
  const double m3 = p.in.rowAdditive ? p.in.rowAdditive[i] : p.o.m3;
  const margin::Target t =
      margin::targetMargin(p.o.margin, c, p.o.m1, m2, m3, p.o.easyMargin, p.o.straightThrough);
  double scale = p.r.scale[i];
  if (pnMode(p)) scale = margin::logitScale(scale * p.wNorm[y * p.K + bestK]);
  p.r.targetCosine[i] = c;
  p.r.targetCenter[i] = bestK;
  p.r.targetLogit[i] = margin::float32OrNaN(scale * t.value);
  p.r.targetDerivative[i] = static_cast<float>(t.derivative);
  p.r.curricularThreshold[i] = static_cast<float>(t.threshold);
  p.r.targetScale[i] = static_cast<float>(scale);
}

// One block: the non-ignored count and CurricularFace's t, updated before use.
__global__ void __launch_bounds__(kThreads) countKernel(Problem p) {
  __shared__ double scratch[kThreads];
  double count = 0.0, cosines = 0.0;
  for (int64_t i = threadIdx.x; i < p.rows; i += blockDim.x) {
    if (p.in.targets[i] >= 0) count += 1.0, cosines += p.r.targetCosine[i];
  }
  count = blockSum(count, scratch);
  cosines = blockSum(cosines, scratch);
  if (threadIdx.x == 0) {
    double t = p.o.curricularT;
    if (p.o.curricular && count > 0) t = margin::curricularUpdate(t, p.o.curricularMomentum, cosines / count);
    p.g->counted = count, p.g->curricularT = t, p.g->curricularTFloat = static_cast<float>(t);
  }
}

// --- per-element epilogue (shared by the forward and backward kernels: identical bits) --------------

// One row's values as the per-element epilogue reads them (see RowArrays).
struct RowCtx {
  int target, targetCenter;
  float scale, curricularThreshold, targetLogit, targetScale, targetDerivative, maxLogit, logExpSum, coefficient, curricularT;
};

__device__ __forceinline__ RowCtx rowCtx(const Problem& p, int64_t i, bool backward) {
  RowCtx r;
  r.target = p.in.targets[i];
  r.scale = p.r.scale[i];
  r.curricularT = p.g->curricularTFloat;
  if (r.target >= 0) {
    r.targetCenter = p.r.targetCenter[i], r.curricularThreshold = p.r.curricularThreshold[i];
    r.targetLogit = p.r.targetLogit[i], r.targetScale = p.r.targetScale[i], r.targetDerivative = p.r.targetDerivative[i];
  }
  if (backward) r.maxLogit = p.r.running[i].maxLogit, r.logExpSum = p.r.logExpSum[i], r.coefficient = p.r.coefficient[i];
  return r;
}

// A class's cosine: the max over its K centers (first on ties; a NaN center makes it NaN, the first
// NaN sticks), clamped with NaN kept; k receives the arg-max center.
__device__ __forceinline__ float classCosine(const float* row, int64_t j, int K, int& k) {
  float best = row[j * K];
  k = 0;
  for (int c = 1; c < K; ++c) {
    const float v = row[j * K + c];
    if (v > best || (v != v && best == best)) best = v, k = c;
  }
  return best > 1.0f ? 1.0f : best < -1.0f ? -1.0f : best;
}

// z_ij for class position pos with cosine c: ψ's logit on the target (k becomes the prepass' center),
// the filtered / curricular cosine elsewhere, plain S·c on ignored rows.  S and dv/dc returned.
__device__ __forceinline__ float logitOf(const Problem& p, const RowCtx& r, int64_t pos, float c, int& k, float& S,
                                         float& dv) {
  if (r.target >= 0 && pos == r.target) {
    k = r.targetCenter, S = r.targetScale, dv = r.targetDerivative;
    return r.targetLogit;
  }
  S = pnMode(p) ? margin::logitScale(static_cast<double>(r.scale) * p.wNorm[pos * p.K + k]) : r.scale;
  float v = c;
  dv = 1.0f;
  if (r.target >= 0) {
    v = margin::nonTargetCosine(c, p.o.interclassFilter, static_cast<float>(p.o.filterThreshold), p.o.curricular, r.curricularT,
                                r.curricularThreshold, &dv);
  }
  return margin::float32OrNaN(S * v);
}

// ∂loss/∂z_ij from the row's forward statistics (expm1 on the target keeps p − 1 accurate).
__device__ __forceinline__ float gradLogit(const Problem& p, const RowCtx& r, bool target, float z) {
  const float arg = (z - r.maxLogit) - r.logExpSum;
  const float eps = static_cast<float>(p.o.labelSmoothing);
  const float uniform = static_cast<float>(p.o.labelSmoothing / static_cast<double>(p.classes));
  return target ? r.coefficient * ((expm1f(arg) + eps) - uniform) : r.coefficient * (expf(arg) - uniform);
}

__device__ __forceinline__ bool better(float c, int j, float bestC, int bestJ) {
  return c > bestC || (c == bestC && j < bestJ);
}

__device__ __forceinline__ void mergeStats(Stats& a, const Stats& b) {
  const float m = fmaxf(a.maxLogit, b.maxLogit);
  const double ra = a.maxLogit == m ? 1.0 : exp(static_cast<double>(a.maxLogit) - m);
  const double rb = b.maxLogit == m ? 1.0 : exp(static_cast<double>(b.maxLogit) - m);
  a.expSum = a.expSum * ra + b.expSum * rb;
  a.expLogitSum = a.expLogitSum * ra + b.expLogitSum * rb;
  a.logitSum += b.logitSum;
  a.maxLogit = m;
  if (better(b.bestCosine, b.bestClass, a.bestCosine, a.bestClass)) a.bestCosine = b.bestCosine, a.bestClass = b.bestClass;
}

struct Slab {
  int64_t firstRow, firstClass;
  int rows, classes, ld;   // rows and classes in the slab; ld of the cosine buffer (≥ classes·K, ×4)
  int parts, partLen;      // stats kernel: class parts per row
};

// Forward: block (row, part) folds its classes of the slab into Stats (per thread in order, then a
// fixed tree); written to partials[row·parts + part].
__global__ void __launch_bounds__(kThreads) statsKernel(Problem p, const float* cos, Slab slab, Stats* partials) {
  __shared__ Stats sh[kThreads];
  const int local = blockIdx.x / slab.parts, part = blockIdx.x % slab.parts;
  const int64_t i = slab.firstRow + local;
  const RowCtx r = rowCtx(p, i, false);
  const float* row = cos + static_cast<int64_t>(local) * slab.ld;
  Stats st{-kInf, -kInf, 0.0, 0.0, 0.0, 0};
  const int end = min(slab.classes, (part + 1) * slab.partLen);
  for (int j = part * slab.partLen + threadIdx.x; j < end; j += blockDim.x) {
    int k;
    const float c = classCosine(row, j, p.K, k);
    const int64_t pos = slab.firstClass + j;
    if (better(c, static_cast<int>(pos), st.bestCosine, st.bestClass)) st.bestCosine = c, st.bestClass = static_cast<int>(pos);
    float S, dv;
    const float z = logitOf(p, r, pos, c, k, S, dv);
    if (z > st.maxLogit) {
      const float scale = expf(st.maxLogit - z);
      st.expSum = st.expSum * scale + 1.0, st.expLogitSum = st.expLogitSum * scale + z, st.maxLogit = z;
    } else {
      const float e = expf(z - st.maxLogit);
      st.expSum += e, st.expLogitSum += static_cast<double>(e) * z;
    }
    st.logitSum += z;
  }
  sh[threadIdx.x] = st;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) mergeStats(sh[threadIdx.x], sh[threadIdx.x + s]);
    __syncthreads();
  }
  if (threadIdx.x == 0) partials[blockIdx.x] = sh[0];
}

// Thread per row of the slab: merge the parts in order into the running statistics.
__global__ void mergeKernel(Problem p, const Stats* partials, Slab slab, int first) {
  const int local = blockIdx.x * blockDim.x + threadIdx.x;
  if (local >= slab.rows) return;
  Stats st = partials[static_cast<int64_t>(local) * slab.parts];
  for (int part = 1; part < slab.parts; ++part) mergeStats(st, partials[static_cast<int64_t>(local) * slab.parts + part]);
  Stats& run = p.r.running[slab.firstRow + local];
  if (first) run = st; else mergeStats(run, st);
}

// Before the backward pass: x̂ of ignored rows becomes 0.  Their G is 0, but gŵ = Gᵀ·x̂ reads every
// row, and 0·NaN from a NaN in an ignored row would turn every gŵ entry NaN.
__global__ void zeroIgnoredKernel(Problem p) {
  const int64_t i = blockIdx.x;
  if (p.in.targets[i] >= 0) return;  // block-uniform
  for (int64_t d = threadIdx.x; d < p.dimPad; d += blockDim.x) p.xh[i * p.dimPad + d] = 0.0f;
}

// Thread per row: LSE, loss, prediction, the backward's coefficients.
__global__ void finalizeKernel(Problem p) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= p.rows) return;
  const Stats st = p.r.running[i];
  const double logS = log(st.expSum), lse = st.maxLogit + logS;
  p.out.logSumExp[i] = static_cast<float>(lse);
  p.out.predictions[i] = p.in.classIds ? p.in.classIds[st.bestClass] : st.bestClass;
  p.r.logExpSum[i] = static_cast<float>(logS);
  p.r.logSumExp[i] = lse;
  const int y = p.in.targets[i];
  double loss = 0.0, coef = 0.0, term = 0.0, w = 0.0;
  if (y >= 0) {
    const double eps = p.o.labelSmoothing, zt = p.r.targetLogit[i];
    // st.expSum is a float64 sum, so removing the target's term from it keeps the non-target mass
    // (~1e-8 for a confident row) to about 1e-8 relative; rowResult then avoids LSE − z_y.
    loss = margin::rowResult(st.maxLogit, fmax(st.expSum - exp(zt - st.maxLogit), 0.0), true, zt, st.logitSum, static_cast<double>(p.classes), eps).loss;
    w = p.in.rowWeights ? p.in.rowWeights[i] : 1.0;
    const double countScale = p.o.reduction == Reduction::Sum ? 1.0 : (p.g->counted > 0 ? 1.0 / p.g->counted : 0.0);
    coef = ldexp(w * countScale, p.in.rowWeights ? -margin::coefficientShift(p.in.rowWeights[i]) : 0);
    if (p.o.scaleMode != ScaleMode::Fixed) term = coef * (st.expLogitSum / st.expSum - (1.0 - eps) * zt - eps / p.classes * st.logitSum);
  }
  p.out.losses[i] = static_cast<float>(loss);
  p.r.coefficient[i] = static_cast<float>(coef);
  p.r.normTerm[i] = term;
  p.r.weighted[i] = w * loss;
}

__global__ void __launch_bounds__(kThreads) lossKernel(Problem p) {
  __shared__ double scratch[kThreads];
  double sum = 0.0;
  for (int64_t i = threadIdx.x; i < p.rows; i += blockDim.x) sum += p.r.weighted[i];
  sum = blockSum(sum, scratch);
  if (threadIdx.x == 0) {
    const double countScale = p.o.reduction == Reduction::Sum ? 1.0 : (p.g->counted > 0 ? 1.0 / p.g->counted : 0.0);
    p.g->loss = sum * countScale;
  }
}

// Backward, thread per (class, chunk of kGradRows rows): cosines → G = ∂loss/∂c in place (the arg-max
// center gets it, the class's other centers 0); zeroes the padding up to a multiple of 4.
__global__ void __launch_bounds__(kThreads) gradKernel(Problem p, float* cos, Slab slab, int classBlocks) {
  const int j = (blockIdx.x % classBlocks) * blockDim.x + threadIdx.x;
  const int firstRow = (blockIdx.x / classBlocks) * kGradRows;
  const int lastRow = min(slab.rows, firstRow + kGradRows);
  const int centers = slab.classes * static_cast<int>(p.K), centersPad = (centers + 3) & ~3;  // what the GEMMs read
  for (int local = firstRow; local < lastRow; ++local) {
    const RowCtx r = rowCtx(p, slab.firstRow + local, true);
    float* row = cos + static_cast<int64_t>(local) * slab.ld;
    if (j == 0) for (int e = centers; e < centersPad; ++e) row[e] = 0.0f;
    if (j >= slab.classes) continue;
    int k;
    const float c = classCosine(row, j, p.K, k);
    float g = 0.0f;
    if (r.target >= 0) {
      const int64_t pos = slab.firstClass + j;
      float S, dv;
      const float z = logitOf(p, r, pos, c, k, S, dv);
      g = gradLogit(p, r, pos == r.target, z) * S * dv;
    }
    // G is an operand of both gradient GEMMs: rounded as the precision option says.
    for (int e = 0; e < p.K; ++e) row[j * p.K + e] = e == k ? precision::roundOperand(g, p.o.precision) : 0.0f;
  }
}

// 2^(shift_i − shiftMax): brings row i's coefficient-scaled terms to the centers' common scale.
__device__ __forceinline__ double toCenterScale(const Problem& p, int64_t i) {
  return p.in.rowWeights ? ldexp(1.0, margin::coefficientShift(p.in.rowWeights[i]) - p.g->shiftMax) : 1.0;
}

// Huge row weights only (shiftMax > 0): G's rows, scaled for the rows GEMM, brought to the centers'
// common scale before the centers GEMM.  Thread per (row, center).
__global__ void __launch_bounds__(kThreads) centerScaleKernel(Problem p, float* cos, Slab slab, int centersPad) {
  if (p.g->shiftMax == 0) return;
  const int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= int64_t{slab.rows} * centersPad) return;
  const int local = static_cast<int>(e / centersPad), center = static_cast<int>(e % centersPad);
  float& g = cos[static_cast<int64_t>(local) * slab.ld + center];
  g = precision::roundOperand(static_cast<float>(g * toCenterScale(p, slab.firstRow + local)), p.o.precision);
}

// Product-norm: thread per (center, chunk of kColumnRows rows): Σ ∂loss/∂z·z over the chunk's rows
// whose arg-max center it is.  Reads the cosines, so it runs before gradKernel.
__global__ void __launch_bounds__(kThreads) columnTermKernel(Problem p, const float* cos, Slab slab, int centerBlocks,
                                                            double* partials) {
  const int center = (blockIdx.x % centerBlocks) * blockDim.x + threadIdx.x;
  const int chunk = blockIdx.x / centerBlocks;
  const int centers = slab.classes * static_cast<int>(p.K);
  if (center >= centers) return;
  const int j = center / static_cast<int>(p.K), mine = center % static_cast<int>(p.K);
  double sum = 0.0;
  for (int local = chunk * kColumnRows; local < min(slab.rows, (chunk + 1) * kColumnRows); ++local) {
    const RowCtx r = rowCtx(p, slab.firstRow + local, true);
    if (r.target < 0) continue;
    int k;
    const float c = classCosine(cos + static_cast<int64_t>(local) * slab.ld, j, p.K, k);
    const int64_t pos = slab.firstClass + j;
    float S, dv;
    const float z = logitOf(p, r, pos, c, k, S, dv);
    if (k == mine) sum += static_cast<double>(gradLogit(p, r, pos == r.target, z)) * z * toCenterScale(p, slab.firstRow + local);
  }
  partials[static_cast<int64_t>(chunk) * slab.ld + center] = sum;
}

__global__ void columnReduceKernel(Problem p, const double* partials, Slab slab, int chunks, int accumulate) {
  const int center = blockIdx.x * blockDim.x + threadIdx.x;
  if (center >= slab.classes * p.K) return;
  double sum = 0.0;
  for (int c = 0; c < chunks; ++c) sum += partials[static_cast<int64_t>(c) * slab.ld + center];
  double& out = p.colTerm[slab.firstClass * p.K + center];
  out = accumulate ? out + sum : sum;
}

// gx̂ = Σ_s partial_s, in split order.
__global__ void splitSumKernel(const float* parts, int splits, int64_t stride, float* out) {
  const int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= stride) return;
  float sum = parts[e];
  for (int s = 1; s < splits; ++s) sum += parts[s * stride + e];
  out[e] = sum;
}

// One block per row of a unit-gradient matrix g: ((g − (g·v̂)v̂) + term·v̂)/‖v‖, written to out
// (row-major, ld outLd; may alias g), or for the columns layout only `along` = term − g·v̂.
__global__ void __launch_bounds__(kRowThreads) unnormalizeKernel(const float* grad, int64_t gradLd, const float* unit,
                                                                 int64_t unitLd, const double* norms, const double* term,
                                                                 const int* targets, const float* rowWeights,
                                                                 const Globals* globals, int dim, float* out, int64_t outLd,
                                                                 double* along) {
  __shared__ double scratch[kRowThreads];
  const int64_t r = blockIdx.x;
  const float *g = grad + r * gradLd, *u = unit + r * unitLd;
  float* o = out ? out + r * outLd : nullptr;
  if (targets && targets[r] < 0) {  // ignored rows: exact zeros, even with NaN features
    for (int d = threadIdx.x; d < dim; d += blockDim.x) o[d] = 0.0f;
    return;
  }
  double radial = 0.0;
  for (int d = threadIdx.x; d < dim; d += blockDim.x) radial += static_cast<double>(g[d]) * u[d];
  radial = blockSum(radial, scratch);
  const double t = term ? term[r] : 0.0;
  if (along) {
    if (threadIdx.x == 0) along[r] = t - radial;
    return;
  }
  // Undo the coefficients' scale (margin::coefficientShift): the row's own, or the centers' common one.
  const int shift = rowWeights ? margin::coefficientShift(rowWeights[r]) : (globals ? globals->shiftMax : 0);
  const double inverse = ldexp(1.0, shift) / norms[r];
  for (int d = threadIdx.x; d < dim; d += blockDim.x) {
    o[d] = static_cast<float>(((g[d] - radial * u[d]) + t * u[d]) * inverse);
  }
}

// Columns layout: gradWeights[d, r] from gŵ rows, through a 32×32 tile.
__global__ void columnsOutKernel(Problem p, const float* grad, int64_t gradLd, const double* along) {
  __shared__ float tile[32][33];
  const int64_t tilesR = (p.centers + 31) / 32;
  const int64_t r0 = (blockIdx.x % tilesR) * 32, d0 = (blockIdx.x / tilesR) * 32;
  const int tx = threadIdx.x & 31, ty = threadIdx.x >> 5;
  for (int k = ty; k < 32; k += 8) {
    const int64_t r = r0 + k, d = d0 + tx;
    if (r < p.centers && d < p.dim) {
      const double g = grad[r * gradLd + d], u = p.wh[r * p.dimPad + d], a = along[r];
      const double inverse = ldexp(1.0, p.g->shiftMax) / p.wNorm[r];
      tile[k][tx] = static_cast<float>((g + a * u) * inverse);
    }
  }
  __syncthreads();
  for (int k = ty; k < 32; k += 8) {
    const int64_t r = r0 + tx, d = d0 + k;
    if (r < p.centers && d < p.dim) p.out.gradWeights[d * p.centers + r] = tile[tx][k];
  }
}

}  // namespace
}  // namespace fusedloss
