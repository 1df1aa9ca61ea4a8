// Fused margin softmax, native CPU backend.  See margin.h for the interface and
// ../math/margin_math.h for the per-element formulas.
//
// Work plan (N rows, C·K center rows, D features; never an N×C matrix):
//  1. (margin_prepass.cc) A normalized copy x̂ [N, Dp] (Dp = D rounded up to 16, zero padded), the norms, and per row the target's margined logit (prepass, float64; CurricularFace's t is
//     updated here, before use, as the reference does).  The weights are used in place when
//     they are rows of a multiple of 16 floats (the normalization folds into the epilogues: cosines
//     and G are scaled by 1/‖w‖); otherwise (columns layout, Partial FC, other D) a normalized
//     copy ŵ [C·K, Dp] is made.
//  2. Rows are processed in blocks of R, equal sizes, as large as the work budget (options.workBytes;
//     the API's default grows with the weights, marginCpuDefaultWorkBytes) lets the cosines be stored:
//     every block streams the weights and gŵ once more.  For each block:
//     pass 1 — the centers are cut into tiles of T, the tiles into a fixed number of chunks (a
//       function of the sizes only, never of the thread count); each chunk computes its tiles'
//       cosines [T, R] with the GEMM micro-kernel and, in the epilogue (margin_epilogue.cc), each
//       row's running max, Σ exp, Σ z, Σ exp·z and the best unmargined cosine.  Chunk partials are combined in
//       chunk order → LSE, loss, prediction per row.
//     pass 2 — each chunk turns its tiles' cosines into G = ∂loss/∂c (in place, the arg-max
//       center of each class gets it, its other centers 0) and runs two more GEMMs:
//       gŵ[tile] += Gᵀ·x̂[block] (each chunk owns its centers' rows) and
//       gx̂_chunk[block] += G·ŵ[tile] (a partial per chunk, summed in chunk order).
//     The cosine tiles of pass 1 are kept for pass 2 when C·K·R floats fit the work budget
//     (6·N·C·D flops in all); otherwise pass 2 recomputes them (8·N·C·D).
//  3. Through the normalization: ∂x = (g − (g·x̂)x̂)/‖x‖ (+ the feature-norm scale term), same for
//     each center row.
// precision tf32 / bf16: x̂, ŵ (always a copy then) and G are rounded where they are written, so
// the three GEMMs multiply rounded operands exactly; the backward's unit vectors are re-derived
// unrounded (docs/spec/precision.md).  bf16 where gemm() multiplies bf16: ŵ is kept only as bf16
// pairs in the two layouts the cosine and gx̂ products read (margin_prepass.cc, packCenterPairs).
// Every sum has a fixed order, so the bits do not depend on the thread count.
#include "margin.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <new>
#include <vector>

#include "../math/margin_math.h"
#include "../runtime/gemm.h"
#include "../runtime/memory.h"
#include "../runtime/thread_pool.h"
#include "../runtime/vector_math.h"
#include "margin_cpu.h"

namespace fusedloss {
namespace {

using namespace margin_cpu;  // the plan, the per-row values and the prepass (margin_cpu.h)

constexpr int64_t kMaxChunks = 16;
constexpr int64_t kTileBytes = 192 << 10;  // one ŵ tile, with its gŵ tile and the block's x̂, in L2
constexpr int64_t kMaxTileClasses = 512;
constexpr int64_t kRecomputeRowBlock = 512;
constexpr int64_t kMinSliceRows = 32;

Plan makePlan(const MarginSoftmaxShape& shape, const MarginSoftmaxOptions& options) {
  Plan p{};
  p.rows = shape.rows;
  p.dim = shape.dim;
  p.dimPad = roundUp(shape.dim, kGemmColumnAlign);
  p.classes = shape.classes;
  p.subCenters = shape.subCenters;
  p.centers = shape.classes * shape.subCenters;
  p.weightRows = shape.weightRows;
  p.precision = options.precision;
  const int64_t bytesPerClass = p.subCenters * p.dimPad * 4;
  p.tileClasses = std::max<int64_t>(1, std::min<int64_t>({kMaxTileClasses, kTileBytes / bytesPerClass, p.classes}));
  // Whole register tiles of centers: a partial one computes its full height anyway.
  const int64_t step = gemmRowTile() / std::gcd<int64_t>(gemmRowTile(), p.subCenters);
  if (p.tileClasses > step) p.tileClasses -= p.tileClasses % step;
  p.tiles = (p.classes + p.tileClasses - 1) / p.tileClasses;
  p.chunks = std::min(kMaxChunks, p.tiles);
  const int64_t budget = std::max<int64_t>(options.workBytes, 1 << 20);
  const int64_t rowsPad = roundUp(p.rows, kLanes);
  // Per row of a block: the chunks' gx̂ partials and statistics, the tile maxima, and x̂ᵀ.
  const int64_t perRowBytes = 4 * (p.chunks * p.dimPad + p.chunks * 8 + p.tiles + p.dimPad);
  // Blocks of whole 32-row panels where possible: the GEMM's register tile is 32 columns wide.
  int64_t storeRows = (budget - budget / 16) / (4 * p.centers + perRowBytes);
  const int64_t panel = storeRows >= 2 * kLanes ? 2 * kLanes : kLanes;
  storeRows = storeRows / panel * panel;
  p.storeCosines = storeRows >= std::min<int64_t>(rowsPad, 64);
  if (p.storeCosines) {
    // Blocks of equal size (whole panels, never above storeRows): the last one is no sliver that
    // streams the weights once more for a few rows.
    const int64_t blocks = (p.rows + storeRows - 1) / storeRows;
    p.rowBlock = std::min(rowsPad, roundUp((p.rows + blocks - 1) / blocks, panel));
  } else {
    // Recomputing: each chunk holds one tile of cosines [T, R] besides the per-row buffers.
    const int64_t perRowRecompute = perRowBytes + 4 * p.chunks * p.tileClasses * p.subCenters;
    const int64_t fit = std::max<int64_t>(kLanes, budget / perRowRecompute / kLanes * kLanes);
    p.rowBlock = std::min({rowsPad, kRecomputeRowBlock, fit});
  }
  p.plainLogits = p.subCenters == 1 && !options.interclassFilter && !options.curricular && options.scaleMode != ScaleMode::ProductNorm;
  p.logitsInPlace = p.storeCosines && p.plainLogits;
  p.rowBlock = std::min(p.rowBlock, p.rows);
  p.rowBlockPad = roundUp(p.rowBlock, kLanes);
  // Tasks per pass: the chunks, times row slices until there are kMaxChunks of them, or four per
  // thread on machines with more than four threads.  Slicing keeps every row's sums whole, so the
  // thread count changes no bit — except product-norm's per-center scale term, summed per slice,
  // which therefore slices by the sizes alone.
  const int64_t tasksWanted = options.scaleMode == ScaleMode::ProductNorm ? kMaxChunks : std::max<int64_t>(kMaxChunks, 4 * threadCount());
  p.slices = 1;
  if (p.storeCosines && p.chunks < tasksWanted) {
    p.slices = std::max<int64_t>(1, std::min((tasksWanted + p.chunks - 1) / p.chunks, p.rowBlockPad / kMinSliceRows));
  }
  p.sliceRows = roundUp((p.rowBlockPad + p.slices - 1) / p.slices, 2 * kLanes);  // whole packed panels
  p.slices = (p.rowBlockPad + p.sliceRows - 1) / p.sliceRows;
  return p;
}

struct Workspace {
  FloatBuffer embeddingsT;     // x̂ᵀ of the block [Dp, Rp], packed for gemm (packB layout)
  FloatBuffer embeddingRows;   // x̂ of the block [R, Dp], packed for gemm
  // With precision bf16 on a CPU whose gemm() multiplies bf16 (gemmBf16Level()): both as bf16 pairs
  // (repackBf16), so the GEMMs of every tile do not convert them again; else empty.
  std::vector<uint32_t> embeddingsTBf16, embeddingRowsBf16;
  FloatBuffer cosines;         // all tiles [C·K, Rp] (stored) or one tile per chunk
  FloatBuffer tileMaxima;      // [tiles, Rp]: each row's max logit per tile (TileContext::tileMax)
  FloatBuffer gradientParts;   // [chunks, Rp, Dp]
  FloatBuffer gradCenters;     // [C·K, Dp], unless the output takes the sums directly
  std::vector<ChunkStats> stats;
  std::vector<float> logitScratch;     // [chunks, tileClasses, 16]
  std::vector<double> centerScaleTerm;  // Σ ∂loss/∂z·z per center (product-norm), per slice
  std::vector<double> rowScaleTerm;     // Σ_j ∂loss/∂z·z per row (feature/product-norm)

  Workspace(const Plan& p, bool gradients, bool gradDirect)
      : embeddingsT(packedSize(p.dimPad, p.rowBlockPad)),
        embeddingRows(gradients ? packedSize(p.rowBlockPad, p.dimPad) : 0),
        cosines((p.storeCosines ? p.centers : p.chunks * p.tileClasses * p.subCenters) * p.rowBlockPad),
        tileMaxima(p.tiles * p.rowBlockPad),
        gradientParts(gradients ? p.chunks * p.rowBlockPad * p.dimPad : 0),
        gradCenters(gradients && !gradDirect ? p.centers * p.dimPad : 0),
        stats(p.chunks, ChunkStats(p.rowBlockPad)),
        logitScratch(p.chunks * p.slices * p.tileClasses * kLanes),
        centerScaleTerm(gradients ? p.slices * p.centers : 0, 0.0),
        rowScaleTerm(p.rows, 0.0) {
    if (p.precision != Precision::Bf16 || std::strcmp(gemmBf16Level(), "avx512bf16") != 0) return;
    embeddingsTBf16.resize(packedBf16Size(p.dimPad, p.rowBlockPad));
    if (gradients) embeddingRowsBf16.resize(packedBf16Size(p.rowBlockPad, p.dimPad));
  }
};

int64_t firstTile(const Plan& p, int64_t chunk) { return chunk * p.tiles / p.chunks; }

// The cosine tile of `tile` for this block: stored tiles live at their class offset, otherwise
// each chunk reuses one slot.  Computes it (C·K-tile × Rp GEMM) when `compute`.
// The 16-row lane groups [first, end) of slice `slice` of a block.
struct RowSlice {
  int64_t firstGroup, endGroup;
  int64_t firstRow() const { return firstGroup * kLanes; }
  int64_t paddedRows() const { return (endGroup - firstGroup) * kLanes; }
};

RowSlice rowSlice(const Plan& p, int64_t slice) {
  const int64_t first = slice * p.sliceRows;
  return {first / kLanes, std::min(first + p.sliceRows, p.rowBlockPad) / kLanes};
}

// The cosine tile of `tile` for this block: stored tiles live at their class offset, otherwise
// each chunk reuses one slot.  Computes the slice's columns of it when `compute`.
float* cosineTile(const Plan& p, Workspace& ws, const Normalized& n, int64_t chunk, int64_t tile, const RowSlice& slice,
                  bool compute) {
  const int64_t firstClass = tile * p.tileClasses;
  const int64_t centers = std::min(p.tileClasses, p.classes - firstClass) * p.subCenters;
  float* out = ws.cosines.data() + (p.storeCosines ? firstClass * p.subCenters : chunk * p.tileClasses * p.subCenters) * p.rowBlockPad;
  if (compute) {
    GemmOperands op;
    op.m = centers, op.n = slice.paddedRows(), op.k = p.dimPad;
    if (n.bf16Pairs) {
      op.aBf16 = n.centerRowPairs + firstClass * p.subCenters * (p.dimPad / 2), op.aBf16RowStride = p.dimPad / 2;
    } else {
      op.a = n.centers + firstClass * p.subCenters * p.dimPad, op.aRowStride = p.dimPad, op.aDepthStride = 1;
    }
    op.b = ws.embeddingsT.data() + slice.firstRow() * p.dimPad, op.bPacked = true;
    if (!ws.embeddingsTBf16.empty()) op.bBf16 = ws.embeddingsTBf16.data() + slice.firstRow() * (p.dimPad / 2);
    op.bf16Operands = p.precision == Precision::Bf16;
    op.c = out + slice.firstRow(), op.ldc = p.rowBlockPad;
    if (tile + 1 < p.tiles) {  // the next tile's centers, while this one computes
      const int64_t next = (firstClass + p.tileClasses) * p.subCenters, nextCenters = std::min(p.tileClasses, p.classes - firstClass - p.tileClasses) * p.subCenters;
      op.prefetch = n.bf16Pairs ? static_cast<const void*>(n.centerRowPairs + next * (p.dimPad / 2)) : n.centers + next * p.dimPad;
      op.prefetchBytes = nextCenters * p.dimPad * (n.bf16Pairs ? 2 : 4);
    }
    gemm(op);
  }
  return out;
}

TileContext tileContext(const Plan& p, const MarginSoftmaxOptions& options, const RowData& rows, const Normalized& n,
                        Workspace& ws, int64_t blockStart, int64_t tile, const RowSlice& slice, float* cosines) {
  const int64_t firstClass = tile * p.tileClasses;
  return TileContext{&p, &options, &rows, n.centerNorm.data(), n.centerInverse.data(), blockStart, firstClass,
                     std::min(p.tileClasses, p.classes - firstClass), slice.firstGroup, slice.endGroup, cosines,
                     ws.tileMaxima.data() + tile * p.rowBlockPad};
}

// gŵ[tile] (+)= Gᵀ·x̂[block]: each tile's centers belong to one chunk, blocks run in order.
void tileCenterGradient(const Plan& p, const Normalized& n, const TileContext& ctx, int64_t blockRows, bool direct,
                        const Workspace& ws, float* gradCenters) {
  GemmOperands op;
  op.m = ctx.classCount * p.subCenters, op.n = p.dimPad, op.k = blockRows;
  op.a = ctx.tile, op.aRowStride = p.rowBlockPad, op.aDepthStride = 1;
  op.b = ws.embeddingRows.data(), op.bPacked = true;
  op.bf16Operands = p.precision == Precision::Bf16;
  if (!ws.embeddingRowsBf16.empty()) op.bBf16 = ws.embeddingRowsBf16.data();
  const int64_t stride = direct ? p.dim : p.dimPad;
  op.c = gradCenters + ctx.firstClass * p.subCenters * stride, op.ldc = stride;
  op.accumulate = ctx.blockStart > 0;
  // The gx̂ product reads the tile's ŵ next.
  if (n.bf16Pairs) {
    op.prefetch = n.centerTilePairs + ctx.firstClass / p.tileClasses * n.tilePairsStride;
    op.prefetchBytes = packedBf16Size(op.m, p.dimPad) * 4;
  } else {
    op.prefetch = n.centers + ctx.firstClass * p.subCenters * p.dimPad;
    op.prefetchBytes = op.m * p.dimPad * 4;
  }
  gemm(op);
}

// The block's x̂ packed for the GEMMs: x̂ᵀ (k = Dp, n = rows) for the cosines and, with
// gradients, x̂ (k = rows, n = Dp) for gŵ.  Once per block instead of once per tile.
void packBlock(const Plan& p, const Normalized& n, const RowData& rowData, int64_t blockStart, int64_t blockRows, Workspace& ws) {
  const float* rows = n.embeddings.data() + blockStart * p.dimPad;
  float* transposed = ws.embeddingsT.data();
  std::fill(transposed, transposed + packedSize(p.dimPad, p.rowBlockPad), 0.0f);
  for (int64_t r = 0; r < blockRows; ++r) {
    float* column = transposed + (r / 32) * 32 * p.dimPad + r % 32;
    for (int64_t d = 0; d < p.dimPad; ++d) column[d * 32] = rows[r * p.dimPad + d];
  }
  if (!ws.embeddingsTBf16.empty()) repackBf16(transposed, p.dimPad, p.rowBlockPad, ws.embeddingsTBf16.data());
  if (ws.embeddingRows.size() == 0) return;
  FloatBuffer scaled(rowData.shiftMax > 0 ? blockRows * p.dimPad : 0);
  if (rowData.shiftMax > 0) {  // gŵ = Gᵀ·x̂ sums the rows' terms at the centers' common scale
    for (int64_t r = 0; r < blockRows; ++r) {
      for (int64_t d = 0; d < p.dimPad; ++d) scaled.data()[r * p.dimPad + d] = rows[r * p.dimPad + d] * rowData.centerFactor[blockStart + r];
      roundRow(p, scaled.data() + r * p.dimPad);  // the power of two can take an operand below the normal range
    }
    rows = scaled.data();
  }
  packB(rows, p.dimPad, blockRows, p.dimPad, ws.embeddingRows.data());
  // gŵ = Gᵀ·x̂ reads every row of the block: an ignored row's G is 0, and its x̂ must be too, or a
  // NaN there turns every gŵ entry NaN (0·NaN).
  for (int64_t r = 0; r < blockRows; ++r) {
    if (rowData.target[blockStart + r] < 0) zeroPackedRow(ws.embeddingRows.data(), blockRows, p.dimPad, r);
  }
  if (!ws.embeddingRowsBf16.empty()) repackBf16(ws.embeddingRows.data(), blockRows, p.dimPad, ws.embeddingRowsBf16.data());
}

// Chunk partials → LSE, loss, prediction of each row of the block; coefficients for pass 2.
void combineRows(const Plan& p, const MarginSoftmaxOptions& options, const MarginSoftmaxInputs& in, int64_t blockStart,
                 int64_t blockRows, double countScale, RowData& rows, Workspace& ws, MarginSoftmaxOutputs& out, double& lossSum) {
  const double smoothing = options.labelSmoothing;
  for (int64_t r = 0; r < blockRows; ++r) {
    const int64_t i = blockStart + r;
    double max = -std::numeric_limits<double>::infinity();
    for (const ChunkStats& s : ws.stats) {
      const double chunkMax = s.max[r];
      if (chunkMax > max || chunkMax != chunkMax) max = max != max ? max : chunkMax;  // NaN sticks
    }
    double others = 0.0, othersLogit = 0.0, sumLogit = 0.0;
    float best = ws.stats[0].bestCosine[r];
    int32_t bestClass = ws.stats[0].bestClass[r];
    for (const ChunkStats& s : ws.stats) {
      sumLogit += s.sumLogit[r];
      if (s.bestCosine[r] > best) best = s.bestCosine[r], bestClass = s.bestClass[r];
      if (s.max[r] == -std::numeric_limits<float>::infinity()) continue;
      const double weight = std::exp(static_cast<double>(s.max[r]) - max);
      others += s.sumExp[r] * weight;
      othersLogit += s.sumExpLogit[r] * weight;
    }
    const bool hasTarget = rows.target[i] >= 0;
    const double targetLogit = rows.targetLogit[i];
    const margin::RowResult result =
        margin::rowResult(max, others, hasTarget, targetLogit, sumLogit, static_cast<double>(p.classes), smoothing);
    out.logSumExp[i] = static_cast<float>(result.logSumExp);
    rows.logSumExp[i] = static_cast<float>(result.logSumExp);
    out.predictions[i] = in.classIds ? in.classIds[bestClass] : bestClass;
    out.losses[i] = static_cast<float>(result.loss);
    if (!hasTarget) continue;
    const double rowWeight = in.rowWeights ? in.rowWeights[i] : 1.0;
    lossSum += rowWeight * result.loss;
    const double coef = ldexp(rowWeight * countScale, in.rowWeights ? -margin::coefficientShift(in.rowWeights[i]) : 0);
    rows.coef[i] = static_cast<float>(coef);
    rows.targetGrad[i] = static_cast<float>(coef * margin::targetLogitGradient(result.otherProbability, static_cast<double>(p.classes), smoothing));
    // Σ_j ∂loss/∂z_ij·z_ij, for the norm-based scales' own gradient.
    if (options.scaleMode != ScaleMode::Fixed) {
      const double expectedLogit = (othersLogit + std::exp(targetLogit - max) * targetLogit) / std::exp(result.logSumExp - max);
      ws.rowScaleTerm[i] = coef * (expectedLogit - (1.0 - smoothing) * targetLogit - smoothing / p.classes * sumLogit);
    }
  }
}

// ∂/∂v of the normalization v̂ = v/‖v‖ applied to g: (g − (g·v̂)v̂)·gradFactor (gradFactor = 1/‖v‖,
// or 1 when g already carries it) plus a scale-norm term along v̂; `step` apart in the output.
void unnormalize(const float* grad, const float* unit, double gradFactor, double alongUnit, int64_t dim, float* out, int64_t step) {
  const double along = productSum(grad, unit, dim, 1);
  for (int64_t d = 0; d < dim; ++d) out[d * step] = static_cast<float>((grad[d] - along * unit[d]) * gradFactor + alongUnit * unit[d]);
}

void embeddingGradients(const Plan& p, const MarginSoftmaxInputs& in, const Normalized& n, const RowData& rowData, int64_t blockStart,
                        int64_t blockRows, Workspace& ws, float* gradEmbeddings) {
  const int64_t groups = (blockRows + kNormChunkRows - 1) / kNormChunkRows;
  parallelFor(groups, [&](int64_t group) {
    std::vector<float> sum(p.dimPad), unit(p.dimPad);
    for (int64_t r = group * kNormChunkRows; r < std::min(blockRows, (group + 1) * kNormChunkRows); ++r) {
      const int64_t i = blockStart + r;
      if (rowData.target[i] < 0) {  // no gradient, even through a NaN x̂ or norm
        std::fill(gradEmbeddings + i * p.dim, gradEmbeddings + (i + 1) * p.dim, 0.0f);
        continue;
      }
      std::fill(sum.begin(), sum.end(), 0.0f);
      for (int64_t c = 0; c < p.chunks; ++c) {
        const float* part = ws.gradientParts.data() + (c * p.rowBlockPad + r) * p.dimPad;
        for (int64_t d = 0; d < p.dimPad; ++d) sum[d] += part[d];
      }
      // 2^shift_i undoes the row's coefficient scale (margin::coefficientShift).
      const double inverse = ldexp(1.0, rowData.shiftMax) * rowData.centerFactor[i] / n.embeddingNorm[i];
      const float* unitRow = exactUnitRow(p, n.embeddings.data() + i * p.dimPad, in.embeddings + i * p.dim, 1, n.embeddingNorm[i], unit.data());
      unnormalize(sum.data(), unitRow, inverse, ws.rowScaleTerm[i] * inverse, p.dim,
                  gradEmbeddings + i * p.dim, 1);
    }
  });
}

// gradWeights rows [firstCenter, endCenter) from their finished gŵ sums, through the normalization.
// Run on each tile as the last row block finishes it (its gŵ rows are still in cache), not as
// one more pass over the whole array.
void centerGradients(const Plan& p, const MarginSoftmaxOptions& options, const MarginSoftmaxInputs& in, const Normalized& n, const Workspace& ws,
                     bool direct, int shiftMax, int64_t firstCenter, int64_t endCenter, float* gradWeights) {
  float* copy = threadScratchArray<float>(Scratch::MarginCenterSum, p.dimPad);
  float* unit = threadScratchArray<float>(Scratch::MarginCenterUnit, p.dimPad);
  for (int64_t r = firstCenter; r < endCenter; ++r) {
    const float* sum = direct ? gradWeights + r * p.dim : ws.gradCenters.data() + r * p.dimPad;
    std::copy(sum, sum + p.dim, copy);  // in place when direct
    if (p.precision == Precision::Float32) {
      const float* row = n.centers + r * p.dimPad;
      for (int64_t d = 0; d < p.dim; ++d) unit[d] = row[d] * n.centerInverse[r];
    } else {
      exactUnitRow(p, nullptr, centerSource(p, options, in, r), centerStep(p, options), n.centerNorm[r], unit);
    }
    const double unscale = ldexp(1.0, shiftMax);  // margin::coefficientShift
    const double inverse = unscale / n.centerNorm[r];
    double scaleTerm = 0.0;
    for (int64_t slice = 0; slice < p.slices && !ws.centerScaleTerm.empty(); ++slice) scaleTerm += ws.centerScaleTerm[slice * p.centers + r];
    scaleTerm *= inverse;
    float* out = options.weightsColumns ? gradWeights + r : gradWeights + r * p.dim;
    // With raw weights G was scaled by 1/‖w‖ already.
    unnormalize(copy, unit, n.centersRaw ? unscale : inverse, scaleTerm, p.dim, out, options.weightsColumns ? p.centers : 1);
  }
}

void runBlocks(const Plan& p, const MarginSoftmaxOptions& options, const MarginSoftmaxInputs& in, const Normalized& n,
               RowData& rows, int64_t counted, MarginSoftmaxOutputs& out) {
  const bool gradients = options.gradients;
  const bool direct = !options.weightsColumns && p.dimPad == p.dim;
  Workspace ws(p, gradients, direct);
  float* gradCenters = direct ? out.gradWeights : ws.gradCenters.data();
  const double countScale = options.reduction == Reduction::Sum ? 1.0 : (counted > 0 ? 1.0 / counted : 0.0);
  for (int64_t i = 0; in.rowWeights && i < p.rows; ++i) rows.shiftMax = std::max(rows.shiftMax, margin::coefficientShift(in.rowWeights[i]));
  for (int64_t i = 0; rows.shiftMax > 0 && i < p.rows; ++i) {
    rows.centerFactor[i] = static_cast<float>(ldexp(1.0, margin::coefficientShift(in.rowWeights[i]) - rows.shiftMax));
  }
  double lossSum = 0.0;
  for (int64_t blockStart = 0; blockStart < p.rows; blockStart += p.rowBlock) {
    const int64_t blockRows = std::min(p.rowBlock, p.rows - blockStart);
    const bool lastBlock = blockStart + p.rowBlock >= p.rows;
    // gŵ of a tile's centers for this block; after the last block, their gradWeights rows.
    auto finishCenterTile = [&](const TileContext& ctx) {
      tileCenterGradient(p, n, ctx, blockRows, direct, ws, gradCenters);
      if (lastBlock) centerGradients(p, options, in, n, ws, direct, rows.shiftMax, ctx.firstClass * p.subCenters,
                                     (ctx.firstClass + ctx.classCount) * p.subCenters, out.gradWeights);
    };
    packBlock(p, n, rows, blockStart, blockRows, ws);
    for (ChunkStats& s : ws.stats) s = ChunkStats(p.rowBlockPad);
    // Pass 1 over (chunk, slice) tasks.
    parallelFor(p.chunks * p.slices, [&](int64_t task) {
      const int64_t chunk = task / p.slices;
      const RowSlice slice = rowSlice(p, task % p.slices);
      float* logits = ws.logitScratch.data() + task * p.tileClasses * kLanes;
      for (int64_t tile = firstTile(p, chunk); tile < firstTile(p, chunk + 1); ++tile) {
        float* cosines = cosineTile(p, ws, n, chunk, tile, slice, true);
        foldTileStatistics(tileContext(p, options, rows, n, ws, blockStart, tile, slice, cosines), ws.stats[chunk], logits);
      }
    });
    combineRows(p, options, in, blockStart, blockRows, countScale, rows, ws, out, lossSum);
    if (!gradients) continue;
    // Pass 2: G in place, gx̂ partials per chunk (rows of a slice), and gŵ here when unsliced.
    parallelFor(p.chunks * p.slices, [&](int64_t task) {
      const int64_t chunk = task / p.slices, sliceIndex = task % p.slices;
      const RowSlice slice = rowSlice(p, sliceIndex);
      const int64_t sliceRows = std::min(slice.firstRow() + slice.paddedRows(), blockRows) - slice.firstRow();
      for (int64_t tile = firstTile(p, chunk); tile < firstTile(p, chunk + 1); ++tile) {
        float* g = cosineTile(p, ws, n, chunk, tile, slice, !p.storeCosines);
        const TileContext ctx = tileContext(p, options, rows, n, ws, blockStart, tile, slice, g);
        tileGradient(ctx, ws.centerScaleTerm.data() + (ws.centerScaleTerm.empty() ? 0 : sliceIndex * p.centers));
        if (p.slices == 1) finishCenterTile(ctx);
        if (sliceRows <= 0) continue;
        GemmOperands rowsOp;  // gx̂_chunk (+)= G·ŵ[tile]
        rowsOp.m = sliceRows, rowsOp.n = p.dimPad, rowsOp.k = ctx.classCount * p.subCenters;
        rowsOp.a = g + slice.firstRow(), rowsOp.aRowStride = 1, rowsOp.aDepthStride = p.rowBlockPad;
        if (n.bf16Pairs) {
          rowsOp.bBf16 = n.centerTilePairs + tile * n.tilePairsStride;
        } else {
          rowsOp.b = n.centers + ctx.firstClass * p.subCenters * p.dimPad, rowsOp.ldb = p.dimPad;
        }
        rowsOp.bf16Operands = p.precision == Precision::Bf16;
        rowsOp.c = ws.gradientParts.data() + (chunk * p.rowBlockPad + slice.firstRow()) * p.dimPad, rowsOp.ldc = p.dimPad;
        rowsOp.accumulate = tile > firstTile(p, chunk);
        if (p.slices == 1 && tile + 1 < p.tiles) {  // the next tile's gŵ rows, read and written next
          const int64_t stride = direct ? p.dim : p.dimPad;
          rowsOp.prefetch = gradCenters + (ctx.firstClass + p.tileClasses) * p.subCenters * stride;
          rowsOp.prefetchBytes = std::min(p.tileClasses, p.classes - ctx.firstClass - p.tileClasses) * p.subCenters * stride * 4;
        }
        gemm(rowsOp);
      }
    });
    if (p.slices > 1) {
      parallelFor(p.tiles, [&](int64_t tile) {
        const RowSlice all{0, p.rowBlockPad / kLanes};
        float* g = cosineTile(p, ws, n, 0, tile, all, false);
        finishCenterTile(tileContext(p, options, rows, n, ws, blockStart, tile, all, g));
      });
    }
    embeddingGradients(p, in, n, rows, blockStart, blockRows, ws, out.gradEmbeddings);
  }
  out.loss = lossSum * (options.reduction == Reduction::Sum ? 1.0 : countScale);
  if (!gradients) return;
  // A NaN loss makes every gradWeights entry NaN on every backend.  Left alone, which centers get
  // NaN would be an accident of the arithmetic: a NaN row reaches every center through 0·NaN in
  // the gŵ product, a NaN center only the arg-max centers of the rows it spoils.
  if (std::isnan(out.loss)) std::fill(out.gradWeights, out.gradWeights + p.centers * p.dim, std::numeric_limits<float>::quiet_NaN());
}

}  // namespace

int64_t marginCpuDefaultWorkBytes(const MarginSoftmaxShape& shape) {
  constexpr int64_t kMin = int64_t(64) << 20, kMax = int64_t(1) << 30;
  return std::clamp(4 * shape.classes * shape.subCenters * shape.dim, kMin, kMax);
}

KernelStatus marginSoftmaxCpu(const MarginSoftmaxShape& shape, const MarginSoftmaxOptions& options,
                              const MarginSoftmaxInputs& inputs, MarginSoftmaxOutputs& outputs) {
  const KernelStatus check = checkMarginSoftmaxCall(shape, options, inputs, outputs);
  if (!check.ok) return check;
  try {
    const Plan plan = makePlan(shape, options);
    Normalized normalized(plan);
    normalizeInputs(plan, options, inputs, normalized);
    RowData rows(plan.rows + plan.rowBlockPad);
    double curricularT = options.curricularT;
    const int64_t counted = prepareRows(plan, options, inputs, normalized, rows, curricularT);
    MarginSoftmaxOptions effective = options;
    effective.curricularT = curricularT;
    runBlocks(plan, effective, inputs, normalized, rows, counted, outputs);
    outputs.curricularT = curricularT;
    return KernelStatus::success();
  } catch (const std::bad_alloc&) {
    return KernelStatus::memoryFailure("marginSoftmax: not enough memory for the normalized copies and work buffers");
  }
}

}  // namespace fusedloss
