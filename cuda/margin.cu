// Fused margin softmax (ArcFace family), CUDA backend.  Same contract and per-element arithmetic as
// the CPU kernel (../native/kernels/margin.cc, ../native/math/margin_math.h).
//
// Plan (N rows, C classes · K centers, D features; never an N×C buffer):
//  1. x̂ [N, Dp] and ŵ [C·K, Dp] (Dp = D rounded up to 4, zero padded; ŵ gathered through classIds,
//     from rows or columns), float norms; per row the target's ψ, ψ', threshold and logit in
//     float64 (prepass), then the non-ignored count and CurricularFace's t (one block, fixed order).
//  2. Classes are cut into slabs of Cs classes (rows into slabs too when N is huge) so that one slab's
//     cosines [rows, Cs·K] fit the work budget (options.workBytes, default 64 MiB).  Per slab:
//     forward  — GEMM x̂·ŵᵀ → cosines; a stats kernel (block per row and class part) folds them into
//                (max, Σexp, Σz, Σexp·z, best cosine); the parts are merged in order per row.
//     backward — slabs in reverse order, the same GEMM again (identical bits) except for the first
//                one, whose cosines the forward's last GEMM left in the buffer; G = ∂loss/∂c in
//                place (arg-max center only),
//                gx̂ (+)= G·ŵ (split over centers into a fixed number of partials when N·D is
//                small), gŵ (+)= Gᵀ·x̂.  Product-norm: Σ_i ∂loss/∂z·z per center, per row chunk.
//  3. Through the normalization: ∂x = (g − (g·x̂)x̂ + term·x̂)/‖x‖, per row and per center row
//     (columns layout through a 32×32 shared-memory transpose).
// The GEMMs: the FP32 SIMT tile (gemm_tile.cuh: 128×128×8 block tile, 8×8 per thread, explicit
// fmaf); with precision 'tf32' or 'bf16' on sm_80+ (unless options.simtGemm) the tensor-core tile
// (mma_tile.cuh: WMMA, one TF32 product on the rounded operands).  Both double-buffer 128×8 slices
// in shared memory.  Determinism: no atomics; every
// sum has a fixed order that depends only on the shape and workBytes (partials reduced in order).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "../native/kernels/cuda_info.h"
#include "../native/kernels/margin.h"

// Overridable so the kernels can also run under a host emulator when developing without a GPU.
#ifndef FL_LAUNCH
#define FL_LAUNCH(kernel, grid, block, sharedBytes, stream) kernel<<<(grid), (block), (sharedBytes), (stream)>>>
#endif

#include "device_memory.cuh"
#include "margin_kernels.cuh"
#include "mma_tile.cuh"

namespace fusedloss {
namespace {

// --- host side ----------------------------------------------------------------------------------

constexpr const char* kKernelName = "marginSoftmax (CUDA)";

int64_t roundUp(int64_t a, int64_t b) { return ceilDiv(a, b) * b; }

// The launch plan.  Partitions and reduction orders depend on the shape and options only, so the
// bits are fixed for a call; gxDirect/gwDirect (accumulate the unit gradients in the outputs when
// D is a multiple of 4 and they are 16-byte aligned) change where sums live, not how they are formed.
struct Plan {
  int64_t dimPad, centers, slabRows, slabClasses, ld, rowSlabs, classSlabs;
  int64_t parts, partLen, splits, splitLen;
  bool gradients, productNorm, gxDirect, gwDirect;
  // Byte offsets into the single allocation; `scratch` is the work buffer (cosines and partials).
  size_t xh, wh, wNorm, colTerm, rowFloats, rowInts, rowDoubles, running, globals, gx, gw, along;
  size_t stats, cos, colParts, gxParts, scratch, total;
};

Plan makePlan(const MarginSoftmaxShape& s, const MarginSoftmaxOptions& o, const MarginSoftmaxOutputs& out) {
  Plan p{};
  const int64_t N = s.rows, C = s.classes, K = s.subCenters;
  p.dimPad = roundUp(s.dim, 4);
  p.centers = C * K;
  p.gradients = o.gradients;
  p.productNorm = o.scaleMode == ScaleMode::ProductNorm && o.gradients;
  const bool dimAligned = p.dimPad == s.dim;
  p.gxDirect = o.gradients && dimAligned && reinterpret_cast<uintptr_t>(out.gradEmbeddings) % 16 == 0;
  p.gwDirect = o.gradients && dimAligned && !o.weightsColumns && reinterpret_cast<uintptr_t>(out.gradWeights) % 16 == 0;

  // Slabs: cosines [slabRows, ld] (+ product-norm column partials) within 3/4 of the budget.
  const int64_t budget = std::max<int64_t>(o.workBytes, int64_t{1} << 20);
  const double perElement = p.productNorm ? 4.0 + 8.0 / kColumnRows : 4.0;
  const int64_t maxElements = std::min<int64_t>(static_cast<int64_t>(budget * 0.75 / perElement), int64_t{1} << 30);
  const int64_t minClasses = std::min<int64_t>(C, std::max<int64_t>(1, ceilDiv(kTile, K)));
  if (N * roundUp(minClasses * K, 4) <= maxElements) {
    p.slabRows = N;
    p.slabClasses = std::min(C, std::max(minClasses, (maxElements / N) / 4 * 4 / K));
  } else {
    p.slabClasses = minClasses;
    p.slabRows = std::max<int64_t>(1, maxElements / roundUp(minClasses * K, 4));
    if (p.slabRows >= kTile) p.slabRows -= p.slabRows % kTile;
  }
  p.classSlabs = ceilDiv(C, p.slabClasses);
  p.slabClasses = ceilDiv(C, p.classSlabs);  // even slabs
  p.rowSlabs = ceilDiv(N, p.slabRows);
  p.slabRows = ceilDiv(N, p.rowSlabs);
  p.ld = roundUp(p.slabClasses * K, 4);

  // Stats: class parts per row so that small N still fills the GPU.
  p.parts = std::max<int64_t>(1, std::min(ceilDiv(kTargetBlocks, p.slabRows), ceilDiv(p.slabClasses, 1024)));
  p.partLen = ceilDiv(p.slabClasses, p.parts);
  p.parts = ceilDiv(p.slabClasses, p.partLen);
  // gx̂ = G·ŵ has only N·Dp outputs: split its reduction over centers into partials (≤ budget/4).
  p.splits = 1, p.splitLen = roundUp(p.ld, kStep);
  if (o.gradients) {
    const int64_t tiles = ceilDiv(p.slabRows, kTile) * ceilDiv(p.dimPad, kTile);
    const int64_t byMemory = (budget / 4) / (4 * N * p.dimPad);
    const int64_t splits = std::min({ceilDiv(kTargetBlocks, tiles), byMemory, p.ld / 256});
    if (splits > 1) {
      p.splitLen = roundUp(ceilDiv(p.ld, splits), kStep);
      p.splits = ceilDiv(p.ld, p.splitLen);
    }
  }

  size_t at = 0;
  auto take = [&at](size_t bytes) { const size_t offset = at; at += alignedBytes(bytes); return offset; };
  p.xh = take(4 * N * p.dimPad);
  p.wh = take(4 * p.centers * p.dimPad);
  p.wNorm = take(8 * p.centers);
  p.colTerm = take(p.productNorm ? 8 * p.centers : 0);
  p.rowFloats = take(4 * 7 * N);
  p.rowInts = take(4 * N);
  p.rowDoubles = take(8 * 5 * N);
  p.running = take(sizeof(Stats) * N);
  p.globals = take(sizeof(Globals));
  p.gx = take(o.gradients && !p.gxDirect ? 4 * N * p.dimPad : 0);
  p.gw = take(o.gradients && !p.gwDirect ? 4 * p.centers * p.dimPad : 0);
  p.along = take(o.gradients && o.weightsColumns ? 8 * p.centers : 0);
  p.scratch = at;
  p.stats = take(sizeof(Stats) * p.slabRows * p.parts);
  p.cos = take(4 * p.slabRows * p.ld);
  p.colParts = take(p.productNorm ? 8 * ceilDiv(p.slabRows, kColumnRows) * p.ld : 0);
  p.gxParts = take(p.splits > 1 ? 4 * p.splits * N * p.dimPad : 0);
  p.total = at;
  return p;
}


unsigned blocksFor(int64_t count, int64_t per) { return static_cast<unsigned>(ceilDiv(count, per)); }

// One call on the device: the problem the kernels read, the plan's work arrays resolved in the
// call's single allocation, and the stream.  The steps below read side by side with the CPU
// kernel's (../native/kernels/margin.cc): checkLabels (checkMarginSoftmaxCall's label loops),
// normalizeInputs, prepareRows, forwardStatistics (runBlocks' first pass and combineRows),
// backwardGradients (its second pass), embeddingGradients, centerGradients, then finishLoss.
struct DeviceCall {
  const MarginSoftmaxShape* shape;
  const MarginSoftmaxOptions* options;
  const Plan* plan;
  MarginSoftmaxOutputs* outputs;
  cudaStream_t stream;
  Problem p;
  float* gradUnitEmbeddings;  // ∂loss/∂x̂ [N, Dp] (in gradEmbeddings when plan.gxDirect)
  float* gradUnitCenters;     // ∂loss/∂ŵ [C·K, Dp] (in gradWeights when plan.gwDirect)
  float* gradUnitEmbeddingParts;  // its split partials (plan.splits > 1)
  Stats* statParts;               // statsKernel's per (row, class part) statistics
  float* cosines;                 // one slab's cosines [slabRows, ld]
  double* columnParts;            // product-norm column partials
  double* alongCenters;           // columns layout: (g·ŵ) per center
  bool tensorCores;               // the GEMMs on the tensor-core tile (mma_tile.cuh)
};

// The tensor-core tile for rounded operands (precision 'tf32' or 'bf16') where the current device
// has TF32 tensor cores and the caller did not ask for the SIMT tile.  Float32 always runs the
// SIMT tile: on an H200 it beat the 3xTF32 tensor tile and matched the CPU more closely
// (mma_tile.cuh's top).
bool useTensorCores(const MarginSoftmaxOptions& options) {
  if (options.simtGemm || options.precision == Precision::Float32) return false;
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) {
    cudaGetLastError();  // answered here: the SIMT tile runs anywhere
    return false;
  }
  // The tile's code must also come from sm_80+ source: a build whose only code for this device
  // is older PTX (FUSEDLOSS_CUDA_ARCHITECTURES=75 run on an A100, JIT-compiled) holds the empty
  // kernel of mma_tile.cuh, which would leave every cosine unwritten.
  cudaFuncAttributes tile{};
  if (cudaFuncGetAttributes(&tile, mmaGemmKernel<true, true>) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  if (tile.ptxVersion < 10 * kMmaMinMajor) return false;
  const CudaInfo& info = cudaInfo();
  for (const CudaDevice& d : info.devices) {
    if (d.index == device) return d.computeMajor >= kMmaMinMajor;
  }
  return false;
}

// One GEMM on the call's tile.
template <bool kAKMajor, bool kBKMajor>
void launchGemm(const DeviceCall& call, const Gemm& g) {
  if (call.tensorCores) {
    FL_LAUNCH((mmaGemmKernel<kAKMajor, kBKMajor>), gemmBlocks(g), kGemmThreads, 0, call.stream)(g);
  } else {
    FL_LAUNCH((gemmKernel<kAKMajor, kBKMajor>), gemmBlocks(g), kGemmThreads, 0, call.stream)(g);
  }
}

DeviceCall makeDeviceCall(const MarginSoftmaxShape& shape, const MarginSoftmaxOptions& options, const Plan& plan,
                          const MarginSoftmaxInputs& inputs, MarginSoftmaxOutputs& outputs, char* base, cudaStream_t stream) {
  auto floats = [base](size_t offset) { return reinterpret_cast<float*>(base + offset); };
  auto doubles = [base](size_t offset) { return reinterpret_cast<double*>(base + offset); };
  const int64_t N = shape.rows;
  DeviceCall call{&shape, &options, &plan, &outputs, stream, Problem{}, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                  useTensorCores(options)};
  Problem& p = call.p;
  p.in = inputs, p.out = outputs, p.o = options;
  p.rows = N, p.dim = shape.dim, p.dimPad = plan.dimPad, p.classes = shape.classes, p.K = shape.subCenters;
  p.centers = plan.centers, p.weightRows = shape.weightRows;
  p.xh = floats(plan.xh), p.wh = floats(plan.wh), p.wNorm = doubles(plan.wNorm), p.colTerm = doubles(plan.colTerm);
  float* rowFloats = floats(plan.rowFloats);
  p.r.scale = rowFloats, p.r.targetLogit = rowFloats + N, p.r.targetDerivative = rowFloats + 2 * N;
  p.r.curricularThreshold = rowFloats + 3 * N, p.r.targetScale = rowFloats + 4 * N, p.r.logExpSum = rowFloats + 5 * N;
  p.r.coefficient = rowFloats + 6 * N;
  p.r.targetCenter = reinterpret_cast<int*>(base + plan.rowInts);
  double* rowDoubles = doubles(plan.rowDoubles);
  p.r.targetCosine = rowDoubles, p.r.logSumExp = rowDoubles + N, p.r.normTerm = rowDoubles + 2 * N;
  p.r.weighted = rowDoubles + 3 * N, p.r.embeddingNorm = rowDoubles + 4 * N;
  p.r.running = reinterpret_cast<Stats*>(base + plan.running);
  p.g = reinterpret_cast<Globals*>(base + plan.globals);
  call.gradUnitEmbeddings = plan.gxDirect ? outputs.gradEmbeddings : floats(plan.gx);
  call.gradUnitCenters = plan.gwDirect ? outputs.gradWeights : floats(plan.gw);
  call.gradUnitEmbeddingParts = floats(plan.gxParts);
  call.statParts = reinterpret_cast<Stats*>(base + plan.stats);
  call.cosines = floats(plan.cos);
  call.columnParts = doubles(plan.colParts);
  call.alongCenters = doubles(plan.along);
  return call;
}

// Labels and class ids first, on the device where they live: the kernels index with them.
KernelStatus checkLabels(const DeviceCall& call) {
  const Problem& p = call.p;
  Globals host{};
  FL_CUDA_TRY("clearing", cudaMemsetAsync(p.g, 0, sizeof(Globals), call.stream));
  FL_LAUNCH(validateKernel, blocksFor(std::max(p.rows, p.classes), kThreads), kThreads, 0, call.stream)(p);
  FL_CUDA_TRY("launching the label check", cudaGetLastError());
  FL_CUDA_TRY("reading the label check", cudaMemcpyAsync(&host, p.g, sizeof host, cudaMemcpyDeviceToHost, call.stream));
  FL_CUDA_TRY("checking the labels", cudaStreamSynchronize(call.stream));
  if (host.badTarget) return KernelStatus::labelFailure("marginSoftmax: target out of range");
  if (host.badClass) return KernelStatus::labelFailure("marginSoftmax: class id out of range");
  return KernelStatus::success();
}

// x̂ and ŵ (gathered through classIds, from rows or columns), their norms and the row scales;
// the copies rounded to `precision` (the GEMM operands; docs/spec/precision.md).
void normalizeInputs(const DeviceCall& call, Precision precision) {
  const Problem& p = call.p;
  FL_LAUNCH(normalizeKernel, static_cast<unsigned>(p.rows), kRowThreads, 0, call.stream)(p, 0, precision);
  if (call.options->weightsColumns) {
    FL_LAUNCH(gatherColumnsKernel, static_cast<unsigned>(ceilDiv(p.centers, 32) * ceilDiv(p.dim, 32)), 256, 0, call.stream)(p);
    FL_LAUNCH(normalizeKernel, static_cast<unsigned>(p.centers), kRowThreads, 0, call.stream)(p, 2, precision);
  } else {
    FL_LAUNCH(normalizeKernel, static_cast<unsigned>(p.centers), kRowThreads, 0, call.stream)(p, 1, precision);
  }
}

// Per row the target's ψ, ψ', threshold and logit; then the counted rows and CurricularFace's t.
KernelStatus prepareRows(const DeviceCall& call) {
  FL_LAUNCH(prepassKernel, static_cast<unsigned>(call.p.rows), kRowThreads, 0, call.stream)(call.p);
  FL_LAUNCH(countKernel, 1, kThreads, 0, call.stream)(call.p);
  FL_CUDA_TRY("launching the prepass", cudaGetLastError());
  return KernelStatus::success();
}

// Slab (rowSlab, classSlab) of the plan: its rows, classes and the stats kernel's class parts.
Slab slabAt(const DeviceCall& call, int64_t rowSlab, int64_t classSlab) {
  const Plan& plan = *call.plan;
  Slab slab;
  slab.firstRow = rowSlab * plan.slabRows, slab.firstClass = classSlab * plan.slabClasses;
  slab.rows = static_cast<int>(std::min(plan.slabRows, call.p.rows - slab.firstRow));
  slab.classes = static_cast<int>(std::min(plan.slabClasses, call.p.classes - slab.firstClass));
  slab.ld = static_cast<int>(plan.ld);
  slab.partLen = static_cast<int>(plan.partLen);
  slab.parts = static_cast<int>(ceilDiv(slab.classes, plan.partLen));
  return slab;
}

// cosines[rows, classes·K] = x̂[slab rows]·ŵ[slab centers]ᵀ (the same bits in both passes).
void slabCosines(const DeviceCall& call, const Slab& slab) {
  const Problem& p = call.p;
  const int64_t centers = int64_t{slab.classes} * p.K, Dp = p.dimPad;
  const Gemm g = gemmArgs(p.xh + slab.firstRow * Dp, Dp, p.wh + slab.firstClass * p.K * Dp, Dp, call.cosines, slab.ld,
                          slab.rows, centers, slab.rows, centers, Dp, Dp, Dp, roundUp(Dp, kStep), 0, false);
  launchGemm<true, true>(call, g);
}

// Forward: every slab's cosines folded into each row's running statistics (class slabs in order),
// then per row the LSE, loss and prediction, and the reduced loss.
KernelStatus forwardStatistics(const DeviceCall& call) {
  const Plan& plan = *call.plan;
  for (int64_t classSlab = 0; classSlab < plan.classSlabs; ++classSlab) {
    for (int64_t rowSlab = 0; rowSlab < plan.rowSlabs; ++rowSlab) {
      const Slab slab = slabAt(call, rowSlab, classSlab);
      slabCosines(call, slab);
      FL_LAUNCH(statsKernel, static_cast<unsigned>(int64_t{slab.rows} * slab.parts), kThreads, 0, call.stream)(
          call.p, call.cosines, slab, call.statParts);
      FL_LAUNCH(mergeKernel, blocksFor(slab.rows, kThreads), kThreads, 0, call.stream)(call.p, call.statParts, slab,
                                                                                     classSlab == 0 ? 1 : 0);
      FL_CUDA_TRY("launching the forward pass", cudaGetLastError());
    }
  }
  FL_LAUNCH(finalizeKernel, blocksFor(call.p.rows, kThreads), kThreads, 0, call.stream)(call.p);
  FL_LAUNCH(lossKernel, 1, kThreads, 0, call.stream)(call.p);
  FL_CUDA_TRY("launching the loss", cudaGetLastError());
  return KernelStatus::success();
}

// Backward: per slab the cosines again, G = ∂loss/∂c in place, gx̂ (+)= G·ŵ and gŵ (+)= Gᵀ·x̂
// (product-norm: the column terms first); the gx̂ partials summed last.  Slabs run in the reverse
// of the forward's order, so the first one's cosines are still in the buffer and its GEMM is
// skipped: 2·rows·centers·Dp flops of a slab, i.e. with a single slab (C·K·N·4 bytes within 3/4
// of workBytes: C = 10k at N = 1024, the default 64 MiB) a quarter of the call's 8·N·C·K·Dp GEMM
// flops.  x̂'s ignored rows were zeroed since (zeroIgnoredKernel), so those rows' reused cosines
// differ from recomputed ones, but gradKernel gives ignored rows G = 0 whatever the cosine, and the
// column terms skip them.
KernelStatus backwardGradients(const DeviceCall& call) {
  const Plan& plan = *call.plan;
  const Problem& p = call.p;
  const int64_t N = p.rows, K = p.K, Dp = p.dimPad;
  const int64_t lastClassSlab = plan.classSlabs - 1, lastRowSlab = plan.rowSlabs - 1;
  cudaStream_t stream = call.stream;
  float* cos = call.cosines;
  FL_LAUNCH(zeroIgnoredKernel, static_cast<unsigned>(N), kRowThreads, 0, stream)(p);
  for (int64_t classSlab = lastClassSlab; classSlab >= 0; --classSlab) {
    for (int64_t rowSlab = lastRowSlab; rowSlab >= 0; --rowSlab) {
      const Slab slab = slabAt(call, rowSlab, classSlab);
      const int64_t centers = int64_t{slab.classes} * K, centersPad = roundUp(centers, 4);
      if (classSlab != lastClassSlab || rowSlab != lastRowSlab) slabCosines(call, slab);
      if (plan.productNorm) {
        const int64_t chunks = ceilDiv(slab.rows, kColumnRows), centerBlocks = ceilDiv(centers, kThreads);
        FL_LAUNCH(columnTermKernel, static_cast<unsigned>(centerBlocks * chunks), kThreads, 0, stream)(
            p, cos, slab, static_cast<int>(centerBlocks), call.columnParts);
        FL_LAUNCH(columnReduceKernel, blocksFor(centers, kThreads), kThreads, 0, stream)(
            p, call.columnParts, slab, static_cast<int>(chunks), rowSlab != lastRowSlab ? 1 : 0);
      }
      const int64_t classBlocks = ceilDiv(slab.classes, kThreads);
      FL_LAUNCH(gradKernel, static_cast<unsigned>(classBlocks * ceilDiv(slab.rows, kGradRows)), kThreads, 0, stream)(
          p, cos, slab, static_cast<int>(classBlocks));
      // gx̂[rows] (+)= G·ŵ[centers]: A = G (k = center contiguous), B = ŵ rows (n = feature contiguous).
      const bool split = plan.splits > 1;
      float* gradRows = (split ? call.gradUnitEmbeddingParts : call.gradUnitEmbeddings) + slab.firstRow * Dp;
      const Gemm rowsGemm = gemmArgs(cos, slab.ld, p.wh + slab.firstClass * K * Dp, Dp, gradRows, Dp, slab.rows, Dp,
                                     slab.rows, Dp, centersPad, centers, centersPad,
                                     split ? plan.splitLen : roundUp(centersPad, kStep), N * Dp,
                                     classSlab != lastClassSlab);
      launchGemm<true, false>(call, rowsGemm);
      FL_LAUNCH(centerScaleKernel, blocksFor(int64_t{slab.rows} * centersPad, kThreads), kThreads, 0, stream)(
          p, cos, slab, static_cast<int>(centersPad));
      // gŵ[centers] (+)= Gᵀ·x̂[rows]: A = Gᵀ (m = center contiguous), B = x̂ rows (n contiguous), k = rows.
      const Gemm centersGemm = gemmArgs(cos, slab.ld, p.xh + slab.firstRow * Dp, Dp,
                                        call.gradUnitCenters + slab.firstClass * K * Dp, Dp, centers, Dp, centersPad, Dp,
                                        slab.rows, slab.rows, slab.rows, roundUp(slab.rows, kStep), 0,
                                        rowSlab != lastRowSlab);
      launchGemm<false, false>(call, centersGemm);
      FL_CUDA_TRY("launching the backward pass", cudaGetLastError());
    }
  }
  if (plan.splits > 1) {
    FL_LAUNCH(splitSumKernel, blocksFor(N * Dp, kThreads), kThreads, 0, stream)(
        call.gradUnitEmbeddingParts, static_cast<int>(plan.splits), N * Dp, call.gradUnitEmbeddings);
  }
  return KernelStatus::success();
}

// Through the embeddings' normalization (and the feature-norm scale): gradEmbeddings.
void embeddingGradients(const DeviceCall& call) {
  const Problem& p = call.p;
  const bool normTerm = call.options->scaleMode != ScaleMode::Fixed;
  FL_LAUNCH(unnormalizeKernel, static_cast<unsigned>(p.rows), kRowThreads, 0, call.stream)(
      call.gradUnitEmbeddings, p.dimPad, p.xh, p.dimPad, p.r.embeddingNorm, normTerm ? p.r.normTerm : nullptr, p.in.targets,
      p.in.rowWeights, nullptr, static_cast<int>(p.dim), call.outputs->gradEmbeddings, p.dim, nullptr);
}

// Through the centers' normalization (product-norm: the column terms): gradWeights, in the
// caller's layout.
KernelStatus centerGradients(const DeviceCall& call) {
  const Problem& p = call.p;
  const double* colTerm = call.plan->productNorm ? p.colTerm : nullptr;
  const unsigned centers = static_cast<unsigned>(p.centers);
  if (call.options->weightsColumns) {
    FL_LAUNCH(unnormalizeKernel, centers, kRowThreads, 0, call.stream)(call.gradUnitCenters, p.dimPad, p.wh, p.dimPad,
                                                                       p.wNorm, colTerm, nullptr, nullptr, p.g,
                                                                       static_cast<int>(p.dim), nullptr, 0, call.alongCenters);
    FL_LAUNCH(columnsOutKernel, static_cast<unsigned>(ceilDiv(p.centers, 32) * ceilDiv(p.dim, 32)), 256, 0, call.stream)(
        p, call.gradUnitCenters, p.dimPad, call.alongCenters);
  } else {
    FL_LAUNCH(unnormalizeKernel, centers, kRowThreads, 0, call.stream)(call.gradUnitCenters, p.dimPad, p.wh, p.dimPad, p.wNorm,
                                                                       colTerm, nullptr, nullptr, p.g, static_cast<int>(p.dim),
                                                                       call.outputs->gradWeights, p.dim, nullptr);
  }
  FL_CUDA_TRY("launching the gradients", cudaGetLastError());
  return KernelStatus::success();
}

// The loss and t read back; a NaN loss makes every gradWeights entry NaN, as on the CPU.
KernelStatus finishLoss(const DeviceCall& call) {
  Globals host{};
  FL_CUDA_TRY("reading the loss", cudaMemcpyAsync(&host, call.p.g, sizeof host, cudaMemcpyDeviceToHost, call.stream));
  FL_CUDA_TRY("running the kernels", cudaStreamSynchronize(call.stream));
  if (call.options->gradients && std::isnan(host.loss)) {
    FL_CUDA_TRY("writing NaN gradients",
                fillNaN(call.outputs->gradWeights, static_cast<size_t>(call.p.centers) * call.p.dim, call.stream));
    FL_CUDA_TRY("writing NaN gradients", cudaStreamSynchronize(call.stream));
  }
  call.outputs->loss = host.loss;
  call.outputs->curricularT = call.options->curricular ? host.curricularT : call.options->curricularT;
  return KernelStatus::success();
}

}  // namespace

KernelStatus marginSoftmaxCudaDevice(const MarginSoftmaxShape& shape, const MarginSoftmaxOptions& options,
                                     const MarginSoftmaxInputs& inputs, MarginSoftmaxOutputs& outputs,
                                     void* streamHandle) {
  const CudaErrorScope errorScope;
  // The shared checks; the labels live on the device and are checked there (checkLabels).
  KernelStatus status = checkMarginSoftmaxArguments(shape, options, inputs, outputs);
  if (!status.ok) return status;
  if (shape.rows > (int64_t{1} << 31) - 1) return KernelStatus::failure("marginSoftmax (CUDA): too many rows");
  if (shape.classes > 0x7fffffff || shape.subCenters > 0x7fffffff || shape.dim > (int64_t{1} << 28)) {
    return KernelStatus::failure("marginSoftmax (CUDA): too many classes, centers or features");
  }
  cudaStream_t stream = static_cast<cudaStream_t>(streamHandle);
  const Plan plan = makePlan(shape, options, outputs);
  if (plan.centers > 0x7fffffff || ceilDiv(plan.centers, 32) * ceilDiv(shape.dim, 32) > 0x7fffffff) {
    return KernelStatus::failure("marginSoftmax (CUDA): too many centers");
  }
  DeviceBuffer buffer(stream);
  FL_CUDA_TRY("allocating device memory", buffer.allocate(plan.total));
  const DeviceCall call = makeDeviceCall(shape, options, plan, inputs, outputs, buffer.get(), stream);
  if (!(status = checkLabels(call)).ok) return status;
  normalizeInputs(call, options.precision);
  if (!(status = prepareRows(call)).ok) return status;
  if (!(status = forwardStatistics(call)).ok) return status;
  if (options.gradients) {
    if (!(status = backwardGradients(call)).ok) return status;
    // The normalization's backward takes the exact unit vectors: the rounded copies are done with.
    if (options.precision != Precision::Float32) normalizeInputs(call, Precision::Float32);
    embeddingGradients(call);
    if (!(status = centerGradients(call)).ok) return status;
  }
  return finishLoss(call);
}

// Bytes marginSoftmaxCudaDevice allocates for a call (normalized copies, unit gradients when they
// cannot live in the outputs, per-row arrays, and the work buffer): for benchmarks and reports.
int64_t marginSoftmaxCudaScratchBytes(const MarginSoftmaxShape& shape, const MarginSoftmaxOptions& options,
                                      const MarginSoftmaxOutputs& outputs) {
  return static_cast<int64_t>(makePlan(shape, options, outputs).total);
}

KernelStatus marginSoftmaxCuda(const MarginSoftmaxShape& shape, const MarginSoftmaxOptions& options,
                               const MarginSoftmaxInputs& inputs, MarginSoftmaxOutputs& outputs) {
  const CudaErrorScope errorScope;
  KernelStatus status = checkMarginSoftmaxCall(shape, options, inputs, outputs);
  if (!status.ok) return status;
  const CudaInfo& info = cudaInfo();
  if (!info.available) return KernelStatus::failure("marginSoftmax (CUDA): " + info.reason);

  // One allocation holds every device array; a null host array gets no device twin.
  const size_t N = static_cast<size_t>(shape.rows), D = static_cast<size_t>(shape.dim);
  const size_t centers = static_cast<size_t>(shape.classes * shape.subCenters);
  const bool g = options.gradients;
  HostStaging staging(cudaStreamPerThread);
  MarginSoftmaxInputs in;
  MarginSoftmaxOutputs out;
  const int embeddings = staging.input(inputs.embeddings, 4 * N * D);
  const int weights = staging.input(inputs.weights, 4 * static_cast<size_t>(shape.weightRows) * D);
  const int targets = staging.input(inputs.targets, 4 * N);
  const int classIds = staging.input(inputs.classIds, 4 * static_cast<size_t>(shape.classes));
  const int rowWeights = staging.input(inputs.rowWeights, 4 * N);
  const int rowAngular = staging.input(inputs.rowAngular, 4 * N);
  const int rowAdditive = staging.input(inputs.rowAdditive, 4 * N);
  const int losses = staging.output(outputs.losses, 4 * N);
  const int logSumExp = staging.output(outputs.logSumExp, 4 * N);
  const int predictions = staging.output(outputs.predictions, 4 * N);
  const int gradEmbeddings = staging.output(outputs.gradEmbeddings, g ? 4 * N * D : 0);
  const int gradWeights = staging.output(outputs.gradWeights, g ? 4 * centers * D : 0);
  FL_CUDA_TRY("staging inputs", staging.copyIn());
  in.embeddings = staging.device<const float>(embeddings);
  in.weights = staging.device<const float>(weights);
  in.targets = staging.device<const int32_t>(targets);
  in.classIds = staging.device<const int32_t>(classIds);
  in.rowWeights = staging.device<const float>(rowWeights);
  in.rowAngular = staging.device<const float>(rowAngular);
  in.rowAdditive = staging.device<const float>(rowAdditive);
  out.losses = staging.device<float>(losses);
  out.logSumExp = staging.device<float>(logSumExp);
  out.predictions = staging.device<int32_t>(predictions);
  out.gradEmbeddings = staging.device<float>(gradEmbeddings);
  out.gradWeights = staging.device<float>(gradWeights);
  status = marginSoftmaxCudaDevice(shape, options, in, out, cudaStreamPerThread);
  if (!status.ok) return status;
  FL_CUDA_TRY("copying outputs", staging.copyOut());
  outputs.loss = out.loss;
  outputs.curricularT = out.curricularT;
  return KernelStatus::success();
}

}  // namespace fusedloss
