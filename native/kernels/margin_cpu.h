// The margin softmax CPU kernel's shared parts (margin.cc, margin_prepass.cc, margin_epilogue.cc):
// the work plan, the per-row values, the normalized copies, the prepass and the tile epilogues.
// Internal to the kernel, not an interface.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "../math/margin_math.h"
#include "../runtime/memory.h"
#include "margin.h"

namespace fusedloss {
namespace margin_cpu {

constexpr int64_t kNormChunkRows = 256;  // rows per normalization (and unnormalization) task

inline int64_t roundUp(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

// Σ_d a[d·step]·b[d·step] in float64, in eight partial sums (entry d in sum d mod 8, added
// pairwise): a single running sum is a chain of dependent adds, which was half the time of the
// centers' norms and of their gradients' normalization over 100k rows.
inline double productSum(const float* a, const float* b, int64_t dim, int64_t step) {
  double partial[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
  const int64_t whole = dim / 8 * 8;
  for (int64_t d = 0; d < whole; d += 8) {
    for (int64_t lane = 0; lane < 8; ++lane) partial[lane] += static_cast<double>(a[(d + lane) * step]) * b[(d + lane) * step];
  }
  for (int64_t d = whole; d < dim; ++d) partial[d - whole] += static_cast<double>(a[d * step]) * b[d * step];
  return ((partial[0] + partial[1]) + (partial[2] + partial[3])) + ((partial[4] + partial[5]) + (partial[6] + partial[7]));
}

struct Plan {
  int64_t rows, dim, dimPad, classes, subCenters, centers, weightRows;
  Precision precision;  // of the GEMM operands: x̂, ŵ and G are rounded to it where they are written
  int64_t tileClasses, tiles, chunks;
  int64_t rowBlock, rowBlockPad;  // rows per block; padded to the lane width
  bool storeCosines;
  // K = 1, no interclass filter, no CurricularFace, a row scale (not product-norm): a non-target
  // logit is S·c with ψ' = 1, and the epilogues are compiled for that case alone.
  bool plainLogits;
  // Pass 1 writes e^{z − m} over each stored cosine (m: the tile's max logit of the row, kept in
  // tileMaxima) and pass 2 takes p = e^{z − m}·e^{m − LSE} from it, one e^x per row and tile instead
  // of one per logit (plainLogits with stored cosines: p is all pass 2 needs besides the row's
  // values).  The other paths evaluate the same product, so the bits are the same either way.
  bool logitsInPlace;
  // With few class chunks (small C) the block's rows are also cut into slices that run in
  // parallel (stored cosines only); slicing never changes an operation's order, only who runs it.
  int64_t slices, sliceRows;
};

// Product-norm: the row's scale times the center's norm (margin::logitScale's range rule).
inline float productScale(float rowScale, double centerNorm) { return margin::logitScale(rowScale * centerNorm); }

// Per-row values every tile's epilogue reads, padded to whole lane groups.
struct RowData {
  std::vector<float> scale, targetValue, targetDerivative, targetLogit, threshold, coef, logSumExp;
  std::vector<float> targetGrad;  // ∂loss/∂z of the target, from Σ_{j≠y} p_j (no 1 − p cancellation)
  std::vector<int32_t> target, targetCenter;  // target class position or −1; its arg-max center k
  // Huge row weights (margin::coefficientShift): coef and targetGrad carry 2^−shift_i; centerFactor
  // 2^(shift_i − shiftMax) brings a row's terms to the centers' common scale.  All 1 / 0 normally.
  std::vector<float> centerFactor;
  int shiftMax = 0;
  explicit RowData(int64_t rowsPad)
      : scale(rowsPad, 0.0f), targetValue(rowsPad), targetDerivative(rowsPad), targetLogit(rowsPad),
        threshold(rowsPad), coef(rowsPad, 0.0f), logSumExp(rowsPad), targetGrad(rowsPad, 0.0f), target(rowsPad, -1), targetCenter(rowsPad, 0),
        centerFactor(rowsPad, 1.0f) {}
};

// x̂ [N, Dp] and ŵ [C·K, Dp] as the GEMMs read them (rounded to the plan's precision), or the raw
// weights in place; the norms.  With precision bf16 where gemm() multiplies bf16 (bf16Pairs), ŵ is
// kept only as the two bf16 layouts the products read, never as floats.
struct Normalized {
  FloatBuffer embeddings;  // x̂ [N, Dp]
  FloatBuffer centerCopy;  // ŵ [C·K, Dp], unless the weights are used in place or kept as bf16 pairs
  const float* centers = nullptr;  // the rows the GEMMs read (ŵ, or raw w with stride D); null with bf16Pairs
  bool centersRaw = false;
  // bf16Pairs: ŵ as pairs along D for the cosine product (packRowsBf16: [C·K, Dp/2]) and, per tile of
  // the plan, along the tile's centers for gx̂ += G·ŵ (packBBf16: tile t at t·tilePairsStride).
  // FloatBuffers hold the uint32 pairs for their recycled, huge-page memory (runtime/memory.h).
  bool bf16Pairs = false;
  FloatBuffer centerRowPairsStore{0}, centerTilePairsStore{0};
  const uint32_t* centerRowPairs = nullptr;
  const uint32_t* centerTilePairs = nullptr;
  int64_t tilePairsStride = 0;
  std::vector<double> embeddingNorm, centerNorm;
  std::vector<float> centerInverse;
  explicit Normalized(const Plan& p)
      : embeddings(p.rows * p.dimPad), centerCopy(0), embeddingNorm(p.rows), centerNorm(p.centers), centerInverse(p.centers, 1.0f) {}
};

// The normalized copies and their norms (normalizeInputs); then per row the scale, the target's
// cosine, margin, logit and CurricularFace threshold, t updated first (prepareRows, which returns
// the number of non-ignored rows).
void normalizeInputs(const Plan& p, const MarginSoftmaxOptions& options, const MarginSoftmaxInputs& in, Normalized& out);
int64_t prepareRows(const Plan& p, const MarginSoftmaxOptions& options, const MarginSoftmaxInputs& in, const Normalized& n,
                    RowData& rows, double& curricularT);

// Center row r of the computed classes in the caller's weights, its entries centerStep apart.
const float* centerSource(const Plan& p, const MarginSoftmaxOptions& options, const MarginSoftmaxInputs& in, int64_t r);
int64_t centerStep(const Plan& p, const MarginSoftmaxOptions& options);
// A normalized row rounded in place to the GEMM operands' precision.
void roundRow(const Plan& p, float* row);
// Center row r of ŵ as floats: the copy's row, or with bf16Pairs its pairs decoded into `scratch`
// (Dp floats; exact, ŵ holds bf16 values).
const float* centerRow(const Plan& p, const Normalized& n, int64_t r, float* scratch);
// The exact unit vector of a row for the normalization's backward: `copy`, or with rounded
// operands `source` scaled by 1/norm (its prepass norm) into `scratch` (Dp floats).
const float* exactUnitRow(const Plan& p, const float* copy, const float* source, int64_t step, double norm, float* scratch);

// The per-tile context of the epilogues.
struct TileContext {
  const Plan* plan;
  const MarginSoftmaxOptions* options;
  const RowData* rowData;
  const double* centerNorm;    // [C·K]
  const float* centerInverse;  // [C·K]: 1/‖w‖ when the GEMMs read raw weights, else 1
  int64_t blockStart;       // first row of the block
  int64_t firstClass, classCount;
  int64_t firstGroup, endGroup;  // the 16-row lane groups of the block this task handles
  float* tile;  // [classCount·K, rowBlockPad]: cosines in, G out (pass 2)
  float* tileMax;  // [rowBlockPad]: each row's max logit over the tile's classes (pass 1 out, pass 2 in)
};

// Row statistics of one chunk, structure of arrays over the block's rows.
struct ChunkStats {
  std::vector<float> max, sumExp, sumLogit, sumExpLogit, bestCosine;
  std::vector<int32_t> bestClass;
  explicit ChunkStats(int64_t rowsPad)
      : max(rowsPad, -std::numeric_limits<float>::infinity()), sumExp(rowsPad, 0.0f), sumLogit(rowsPad, 0.0f),
        sumExpLogit(rowsPad, 0.0f), bestCosine(rowsPad, -std::numeric_limits<float>::infinity()), bestClass(rowsPad, 0) {}
};

// Pass 1 epilogue: fold one tile of cosines into the chunk's running row statistics (`logits`:
// classCount·16 floats of scratch).
void foldTileStatistics(const TileContext& ctx, ChunkStats& stats, float* logits);
// Pass 2 epilogue: the tile's cosines become G = ∂loss/∂c in place; with product-norm scales the
// per-center term Σ_i ∂loss/∂z·z is added to centerScaleTerm [C·K].
void tileGradient(const TileContext& ctx, double* centerScaleTerm);

}  // namespace margin_cpu
}  // namespace fusedloss
