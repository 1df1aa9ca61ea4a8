// The margin softmax CPU kernel's epilogues (margin.cc runs them on each tile of cosines): the
// margin transform, the online log-sum-exp of pass 1 and ∂loss/∂c of pass 2, 16 rows at a time.
#include <cstring>
#include <limits>

#include "../math/margin_math.h"
#include "../math/precision_math.h"
#include "../runtime/simd.h"
#include "../runtime/vector_math.h"
#include "margin_cpu.h"

namespace fusedloss {
namespace margin_cpu {
namespace {

// Logits of class j for 16 rows: the unmargined clamped cosine, z, the scale S, dv/dc and the
// arg-max center.  Targets take the prepass' ψ; ignored rows (target −1) the plain S·c.
struct Lanes {
  Floats cosine, logit, scale, derivative;
  Ints center;
  Ints isTarget;
};

FL_SIMD_CLONES inline Lanes laneLogits(const TileContext& ctx, int64_t localClass, int64_t group) {
  const Plan& plan = *ctx.plan;
  const MarginSoftmaxOptions& options = *ctx.options;
  const RowData& rows = *ctx.rowData;
  const int64_t row0 = ctx.blockStart + group * kLanes;
  const int64_t K = plan.subCenters;
  const float* base = ctx.tile + localClass * K * plan.rowBlockPad + group * kLanes;
  Lanes l;
  const float* inverse = ctx.centerInverse + (ctx.firstClass + localClass) * K;
  l.cosine = loadFloats(base) * inverse[0];
  l.center = splatInt(0);
  for (int64_t k = 1; k < K; ++k) {
    const Floats c = loadFloats(base + k * plan.rowBlockPad) * inverse[k];
    // A NaN center makes the class NaN (the first NaN sticks), as in margin_math's rule.
    const Ints better = (c > l.cosine) | ((c != c) & (l.cosine == l.cosine));
    l.cosine = select(better, c, l.cosine);
    l.center = better ? splatInt(static_cast<int32_t>(k)) : l.center;
  }
  l.cosine = l.cosine > 1.0f ? splat(1.0f) : l.cosine;
  l.cosine = l.cosine < -1.0f ? splat(-1.0f) : l.cosine;
  const Ints target = loadInts(rows.target.data() + row0);
  const int32_t classPosition = static_cast<int32_t>(ctx.firstClass + localClass);
  l.isTarget = target == classPosition;
  const Ints active = target >= 0;
  // Non-targets: interclass filter, then CurricularFace (margin_math.h's nonTargetCosine).
  Floats value = l.cosine;
  Floats derivative = splat(1.0f);
  Ints filtered = splatInt(0);
  if (options.interclassFilter) {
    filtered = active & (l.cosine > static_cast<float>(options.filterThreshold));
    value = select(filtered, splat(0.0f), value);
    derivative = select(filtered, splat(0.0f), derivative);
  }
  if (options.curricular) {
    const float t = static_cast<float>(options.curricularT);
    const Ints hard = active & ~filtered & (l.cosine > loadFloats(rows.threshold.data() + row0));
    value = select(hard, l.cosine * (t + l.cosine), value);
    derivative = select(hard, t + 2.0f * l.cosine, derivative);
  }
  value = select(l.isTarget, loadFloats(rows.targetValue.data() + row0), value);
  l.derivative = select(l.isTarget, loadFloats(rows.targetDerivative.data() + row0), derivative);
  l.center = l.isTarget ? loadInts(rows.targetCenter.data() + row0) : l.center;
  l.scale = loadFloats(rows.scale.data() + row0);
  if (options.scaleMode == ScaleMode::ProductNorm) {
    const int64_t center0 = (ctx.firstClass + localClass) * K;
    for (int lane = 0; lane < kLanes; ++lane) l.scale[lane] = productScale(l.scale[lane], ctx.centerNorm[center0 + l.center[lane]]);
  }
  l.logit = l.scale * value;
  // Past float32's range a logit is NaN (margin::float32OrNaN's rule): S·ψ with a large scale.
  l.logit = select((l.logit > 3.402823466e38f) | (l.logit < -3.402823466e38f), splat(__builtin_nanf("")), l.logit);
  return l;
}


// precision::roundOperand on 16 lanes, with the same bit operations.
inline Floats roundOperands(Floats x, Precision precision) {
  typedef uint32_t Bits __attribute__((vector_size(64)));
  Bits bits;
  std::memcpy(&bits, &x, sizeof bits);
  bits = precision == Precision::Bf16 ? precision::bf16Bits(bits) : precision == Precision::Tf32 ? precision::tf32Bits(bits) : bits;
  std::memcpy(&x, &bits, sizeof bits);
  return x;
}

}  // namespace

// Pass 1 epilogue: fold one tile into the chunk's running statistics.  Per 16-row group, the
// tile's logits are computed once into `logits`, their max taken, then Σ exp(z − max) and merged
// with the running sums (one rescale per tile, not per element).
FL_SIMD_CLONES void foldTileStatistics(const TileContext& ctx, ChunkStats& stats, float* logits) {
  for (int64_t group = ctx.firstGroup; group < ctx.endGroup; ++group) {
    const int64_t r = group * kLanes;
    Floats tileMax = splat(-std::numeric_limits<float>::infinity());
    Floats sumLogit = splat(0.0f);
    Floats best = loadFloats(stats.bestCosine.data() + r);
    Ints bestClass = loadInts(stats.bestClass.data() + r);
    for (int64_t j = 0; j < ctx.classCount; ++j) {
      const Lanes l = laneLogits(ctx, j, group);
      storeFloats(logits + j * kLanes, l.logit);
      tileMax = maxFloatsNaN(l.logit, tileMax);  // a NaN logit must reach the row's LSE, not be skipped
      sumLogit += l.logit;
      const Ints better = l.cosine > best;
      best = select(better, l.cosine, best);
      bestClass = better ? splatInt(static_cast<int32_t>(ctx.firstClass + j)) : bestClass;
    }
    // The sums leave the target out: combineRows adds it in float64, so a confidently right row's
    // loss log(1 + Σ_{j≠y} e^{z_j − z_y}) keeps its digits instead of vanishing into 1 + ε.
    Floats sumExp = splat(0.0f), sumExpLogit = splat(0.0f);
    const Ints target = loadInts(ctx.rowData->target.data() + ctx.blockStart + r);
    for (int64_t j = 0; j < ctx.classCount; ++j) {
      const Floats z = loadFloats(logits + j * kLanes);
      const Ints isTarget = target == static_cast<int32_t>(ctx.firstClass + j);
      const Floats e = select(isTarget, splat(0.0f), expFloats(z - tileMax));
      sumExp += e;
      sumExpLogit += e * z;
    }
    const Floats oldMax = loadFloats(stats.max.data() + r);
    const Floats newMax = maxFloatsNaN(tileMax, oldMax);
    // exp(−inf − −inf) is NaN: an empty running sum (first tile) contributes 0, not NaN.
    const Floats oldScale = select(oldMax == -std::numeric_limits<float>::infinity(), splat(0.0f), expFloats(oldMax - newMax));
    const Floats tileScale = expFloats(tileMax - newMax);
    storeFloats(stats.max.data() + r, newMax);
    storeFloats(stats.sumExp.data() + r, loadFloats(stats.sumExp.data() + r) * oldScale + sumExp * tileScale);
    storeFloats(stats.sumExpLogit.data() + r, loadFloats(stats.sumExpLogit.data() + r) * oldScale + sumExpLogit * tileScale);
    storeFloats(stats.sumLogit.data() + r, loadFloats(stats.sumLogit.data() + r) + sumLogit);
    storeFloats(stats.bestCosine.data() + r, best);
    storeInts(stats.bestClass.data() + r, bestClass);
  }
}

// Pass 2 epilogue: the tile's cosines become G = ∂loss/∂c in place (arg-max center only), and
// the product-norm scale term Σ_i ∂loss/∂z·z is added per center.
FL_SIMD_CLONES void tileGradient(const TileContext& ctx, double* centerScaleTerm) {
  const Plan& plan = *ctx.plan;
  const MarginSoftmaxOptions& options = *ctx.options;
  const RowData& rows = *ctx.rowData;
  const int64_t K = plan.subCenters;
  const float smoothing = static_cast<float>(options.labelSmoothing);
  const float uniform = smoothing / static_cast<float>(plan.classes);
  const bool productNorm = options.scaleMode == ScaleMode::ProductNorm;
  for (int64_t j = 0; j < ctx.classCount; ++j) {
    float* classTile = ctx.tile + j * K * plan.rowBlockPad;
    for (int64_t group = ctx.firstGroup; group < ctx.endGroup; ++group) {
      const int64_t row0 = ctx.blockStart + group * kLanes;
      const Lanes l = laneLogits(ctx, j, group);
      const Floats p = expFloats(l.logit - loadFloats(rows.logSumExp.data() + row0));
      // Ignored rows give exact zeros: 0·NaN would carry a NaN in their features into every gŵ.
      const Ints active = loadInts(rows.target.data() + row0) >= 0;
      const Floats dLogit = select(active, select(l.isTarget, loadFloats(rows.targetGrad.data() + row0), loadFloats(rows.coef.data() + row0) * (p - uniform)),
                                   splat(0.0f));
      const Floats g = select(active, dLogit * l.scale * l.derivative, splat(0.0f));
      const float* inverse = ctx.centerInverse + (ctx.firstClass + j) * K;
      for (int64_t k = 0; k < K; ++k) {
        const Ints mine = l.center == static_cast<int32_t>(k);
        float* out = classTile + k * plan.rowBlockPad + group * kLanes;
        storeFloats(out, select(mine, g * inverse[k], splat(0.0f)));
        // G is an operand of both gradient products (docs/spec/precision.md).
        if (plan.precision != Precision::Float32) storeFloats(out, roundOperands(loadFloats(out), plan.precision));
        if (productNorm) {
          const Floats term = dLogit * l.logit * loadFloats(rows.centerFactor.data() + row0);
          centerScaleTerm[(ctx.firstClass + j) * K + k] += sumLanes(select(mine & active, term, splat(0.0f)));
        }
      }
    }
  }
}

}  // namespace margin_cpu
}  // namespace fusedloss
