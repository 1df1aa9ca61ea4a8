// The margin softmax CPU kernel's epilogues (margin.cc runs them on each tile of cosines): the
// margin transform, the online log-sum-exp of pass 1 and ∂loss/∂c of pass 2, a 16-row group at a
// time in slices of the build's lane width (FL_SIMD_FUNCTION's kWidth: 16 rows per vector for
// AVX-512, 8 for AVX2, 4 for SSE2).  Every row's values are its own lane's, so the width changes
// no bit of them; only the product-norm scale term sums across rows (one slice's lanes at a time).
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

// The per-row values of a slice of a row group, loaded once per slice and tile: the tile's stores
// may alias them as far as the compiler knows, so per class they would be loaded again.
// logSumExp, coef, targetGrad and centerFactor are pass 2's (pass 1 reads them before combineRows
// sets them, unused).
template <int Width>
struct RowLanes {
  using Floats = typename LaneVectors<Width>::Floats;
  using Ints = typename LaneVectors<Width>::Ints;
  Ints target, active;
  Floats targetCenter;  // the target's arg-max center k, as a float (Lanes::center)
  Floats scale, threshold, targetValue, targetDerivative;
  Floats logSumExp, coef, targetGrad, centerFactor;
};

template <int Width>
FL_VECTOR_INLINE RowLanes<Width> rowLanes(const RowData& rows, int64_t row0) {
  using Floats = typename LaneVectors<Width>::Floats;
  using Ints = typename LaneVectors<Width>::Ints;
  RowLanes<Width> r;
  r.target = loadVector<Ints>(rows.target.data() + row0);
  r.active = r.target >= 0;
  r.targetCenter = __builtin_convertvector(loadVector<Ints>(rows.targetCenter.data() + row0), Floats);
  r.scale = loadVector<Floats>(rows.scale.data() + row0);
  r.threshold = loadVector<Floats>(rows.threshold.data() + row0);
  r.targetValue = loadVector<Floats>(rows.targetValue.data() + row0);
  r.targetDerivative = loadVector<Floats>(rows.targetDerivative.data() + row0);
  r.logSumExp = loadVector<Floats>(rows.logSumExp.data() + row0);
  r.coef = loadVector<Floats>(rows.coef.data() + row0);
  r.targetGrad = loadVector<Floats>(rows.targetGrad.data() + row0);
  r.centerFactor = loadVector<Floats>(rows.centerFactor.data() + row0);
  return r;
}

// Past float32's range a logit is NaN (margin::float32OrNaN's rule): S·ψ with a large scale.  Two
// tests: GCC lowers their | as a select mask to sixteen scalar comparisons.
template <typename Floats>
FL_VECTOR_INLINE Floats float32OrNaN(Floats logit) {
  const Floats nan = Floats{} + __builtin_nanf("");
  logit = logit > 3.402823466e38f ? nan : logit;
  return logit < -3.402823466e38f ? nan : logit;
}

// Logits of class j for a slice's rows: the unmargined clamped cosine, z, the scale S, dv/dc and
// the arg-max center.  Targets take the prepass' ψ; ignored rows (target −1) the plain S·c.
template <int Width>
struct Lanes {
  using Floats = typename LaneVectors<Width>::Floats;
  using Ints = typename LaneVectors<Width>::Ints;
  Floats cosine, logit, scale, derivative;
  // As a float (exact: K < 2^24), chosen and compared by float selects on single comparisons: GCC 12
  // lowered the | and & of float comparison masks and the int32 selects here lane by lane
  // (docs/performance-margin.md, "Sub-centers").
  Floats center;
  Ints isTarget;
};

// Always inlined into the multiversioned epilogues: a call per element would return its six
// vectors through memory.  Plain (Plan::plainLogits) compiles out what those options leave
// unused (the sub-center loop, the filter, CurricularFace, product-norm), the same arithmetic.
// `row` is the slice's first row in the block.
template <bool Plain, int Width>
FL_VECTOR_INLINE Lanes<Width> laneLogits(const TileContext& ctx, const RowLanes<Width>& rows, int64_t localClass, int64_t row) {
  using Floats = typename LaneVectors<Width>::Floats;
  using Ints = typename LaneVectors<Width>::Ints;
  const Floats zero = {}, one = zero + 1.0f;
  const Plan& plan = *ctx.plan;
  const MarginSoftmaxOptions& options = *ctx.options;
  const int64_t K = Plain ? 1 : plan.subCenters;
  const float* base = ctx.tile + localClass * K * plan.rowBlockPad + row;
  Lanes<Width> l;
  const float* inverse = ctx.centerInverse + (ctx.firstClass + localClass) * K;
  l.cosine = loadVector<Floats>(base) * inverse[0];
  l.center = zero;
  for (int64_t k = 1; k < K; ++k) {
    const Floats c = loadVector<Floats>(base + k * plan.rowBlockPad) * inverse[k];
    // A NaN center makes the class NaN (the first NaN sticks), as in margin_math's rule: take c
    // when c > cosine, or when c is NaN and the cosine is not (never both).
    Floats take = c > l.cosine ? one : zero;
    const Floats nanTake = c != c ? one : zero;
    take = l.cosine == l.cosine ? take + nanTake : take;
    l.cosine = take > 0.0f ? c : l.cosine;
    l.center = take > 0.0f ? zero + static_cast<float>(k) : l.center;
  }
  l.cosine = l.cosine > 1.0f ? one : l.cosine;
  l.cosine = l.cosine < -1.0f ? -one : l.cosine;
  const int32_t classPosition = static_cast<int32_t>(ctx.firstClass + localClass);
  l.isTarget = rows.target == classPosition;
  const Ints active = rows.active;
  // Non-targets: interclass filter, then CurricularFace (margin_math.h's nonTargetCosine).
  Floats value = l.cosine;
  Floats derivative = one;
  Ints filtered = {};
  if (!Plain && options.interclassFilter) {
    filtered = active & (l.cosine > static_cast<float>(options.filterThreshold));
    value = select(filtered, zero, value);
    derivative = select(filtered, zero, derivative);
  }
  if (!Plain && options.curricular) {
    const float t = static_cast<float>(options.curricularT);
    const Ints hard = active & ~filtered & (l.cosine > rows.threshold);
    value = select(hard, l.cosine * (t + l.cosine), value);
    derivative = select(hard, t + 2.0f * l.cosine, derivative);
  }
  value = select(l.isTarget, rows.targetValue, value);
  l.derivative = select(l.isTarget, rows.targetDerivative, derivative);
  if (!Plain) l.center = l.isTarget ? rows.targetCenter : l.center;  // K = 1: always center 0
  l.scale = rows.scale;
  if (!Plain && options.scaleMode == ScaleMode::ProductNorm) {
    const int64_t center0 = (ctx.firstClass + localClass) * K;
    for (int lane = 0; lane < Width; ++lane) l.scale[lane] = productScale(l.scale[lane], ctx.centerNorm[center0 + static_cast<int64_t>(l.center[lane])]);
  }
  l.logit = float32OrNaN(l.scale * value);
  return l;
}

// precision::roundOperand lane by lane, with the same bit operations.
template <typename Floats>
FL_VECTOR_INLINE Floats roundOperands(Floats x, Precision precision) {
  using Bits = typename LaneVectors<sizeof(Floats) / 4>::Bits;
  Bits bits;
  std::memcpy(&bits, &x, sizeof bits);
  bits = precision == Precision::Bf16 ? precision::bf16Bits(bits) : precision == Precision::Tf32 ? precision::tf32Bits(bits) : bits;
  std::memcpy(&x, &bits, sizeof bits);
  return x;
}

// Pass 1 epilogue: fold one tile into the chunk's running statistics.  Per slice of a 16-row
// group, the tile's logits are computed once into `logits` (or over the cosines,
// Plan::logitsInPlace), their max m taken and kept for pass 2, then Σ e^{z − m} and merged with the
// running sums (one rescale per tile, not per element).  In place, e^{z − m} replaces z: pass 2's
// p = e^{z − m}·e^{m − LSE}.
template <bool Plain, int Width>
FL_VECTOR_INLINE void foldTile(const TileContext& ctx, ChunkStats& stats, float* logits) {
  using Floats = typename LaneVectors<Width>::Floats;
  using Ints = typename LaneVectors<Width>::Ints;
  const Floats zero = {}, one = zero + 1.0f, infinity = zero + std::numeric_limits<float>::infinity();
  const bool inPlace = ctx.plan->logitsInPlace;
  const int64_t logitStride = inPlace ? ctx.plan->rowBlockPad : kLanes;
  for (int64_t slice = ctx.firstGroup * kLanes; slice < ctx.endGroup * kLanes; slice += Width) {
    const int64_t r = slice;  // the slice's first row in the block
    const RowLanes<Width> rows = rowLanes<Width>(*ctx.rowData, ctx.blockStart + r);
    float* groupLogits = inPlace ? ctx.tile + r : logits + r % kLanes;
    // The tile's max, NaN if any logit is (then the last NaN logit, as a + b of the running
    // maxFloatsNaN would give): the NaN kept apart, since GCC lowers maxFloatsNaN's two NaN tests
    // inside this loop to scalar comparisons.
    Floats tileMax = -infinity, lastNaN = zero;
    Floats sumLogit = zero;
    Floats best = loadVector<Floats>(stats.bestCosine.data() + r);
    Ints bestClass = loadVector<Ints>(stats.bestClass.data() + r);
    // Plain logits: laneLogits' arithmetic with the tile's values in locals (the logit stores
    // would make the compiler reload them per class) and the float32-range test on the target's
    // S·ψ alone: |S·c| ≤ |S| for |c| ≤ 1, and S is finite or NaN (margin::logitScale).
    const float* cosines = ctx.tile + r;
    const float* inverse = ctx.centerInverse + ctx.firstClass;
    const int64_t cosineStride = ctx.plan->rowBlockPad;
    const int32_t firstClass = static_cast<int32_t>(ctx.firstClass);
    const Floats targetLogit = float32OrNaN(rows.scale * rows.targetValue);
    Floats tileBest = -one, classInTile = zero;
    for (int64_t j = 0; j < ctx.classCount; ++j) {
      Floats cosine, logit;
      if (Plain) {
        cosine = loadVector<Floats>(cosines + j * cosineStride) * inverse[j];
        cosine = cosine > 1.0f ? one : cosine;
        cosine = cosine < -1.0f ? -one : cosine;
        logit = select(rows.target == firstClass + static_cast<int32_t>(j), targetLogit, rows.scale * cosine);
      } else {
        const Lanes<Width> l = laneLogits<Plain>(ctx, rows, j, r);
        cosine = l.cosine, logit = l.logit;
      }
      storeVector(groupLogits + j * logitStride, logit);
      tileMax = logit > tileMax ? logit : tileMax;
      lastNaN = logit != logit ? logit : lastNaN;  // a NaN logit must reach the row's LSE, not be skipped
      sumLogit += logit;
      // The tile's arg-max as a float (exact below 2^24; a tile has at most 512 classes): GCC
      // lowers an int32 select on a float comparison's mask here lane by lane.
      tileBest = cosine > best ? classInTile : tileBest;
      best = cosine > best ? cosine : best;
      classInTile += 1.0f;
    }
    const Ints improved = tileBest >= 0.0f;
    bestClass = improved ? firstClass + __builtin_convertvector(tileBest, Ints) : bestClass;
    tileMax = lastNaN != lastNaN ? lastNaN : tileMax;
    // The sums leave the target out: combineRows adds it in float64, so a confidently right row's
    // loss log(1 + Σ_{j≠y} e^{z_j − z_y}) keeps its digits instead of vanishing into 1 + ε.
    Floats sumExp = zero, sumExpLogit = zero;
    for (int64_t j = 0; j < ctx.classCount; ++j) {
      const Floats z = loadVector<Floats>(groupLogits + j * logitStride);
      const Ints isTarget = rows.target == static_cast<int32_t>(ctx.firstClass + j);
      const Floats relative = expFloats(z - tileMax);
      if (inPlace) storeVector(groupLogits + j * logitStride, relative);
      const Floats e = select(isTarget, zero, relative);
      sumExp += e;
      sumExpLogit += e * z;
    }
    storeVector(ctx.tileMax + r, tileMax);
    const Floats oldMax = loadVector<Floats>(stats.max.data() + r);
    const Floats newMax = maxFloatsNaN(tileMax, oldMax);
    // exp(−inf − −inf) is NaN: an empty running sum (first tile) contributes 0, not NaN.
    const Floats oldScale = select(oldMax == -infinity, zero, expFloats(oldMax - newMax));
    const Floats tileScale = expFloats(tileMax - newMax);
    storeVector(stats.max.data() + r, newMax);
    storeVector(stats.sumExp.data() + r, loadVector<Floats>(stats.sumExp.data() + r) * oldScale + sumExp * tileScale);
    storeVector(stats.sumExpLogit.data() + r, loadVector<Floats>(stats.sumExpLogit.data() + r) * oldScale + sumExpLogit * tileScale);
    storeVector(stats.sumLogit.data() + r, loadVector<Floats>(stats.sumLogit.data() + r) + sumLogit);
    storeVector(stats.bestCosine.data() + r, best);
    storeVector(stats.bestClass.data() + r, bestClass);
  }
}

// Pass 2 epilogue: the tile's cosines (or pass 1's e^{z − m}, Plan::logitsInPlace) become
// G = ∂loss/∂c in place (arg-max center only), and the product-norm scale term Σ_i ∂loss/∂z·z is
// added per center (a slice's rows at a time, in row order for each center, whatever the loop
// order).  Every path forms p = e^{z − m}·e^{m − LSE} with pass 1's tile max m, so storing the
// cosines or not changes no bit.
template <bool Plain, bool InPlace, int Width>
FL_VECTOR_INLINE void gradientTile(const TileContext& ctx, double* centerScaleTerm) {
  using Floats = typename LaneVectors<Width>::Floats;
  using Ints = typename LaneVectors<Width>::Ints;
  const Floats zero = {};
  const Plan& plan = *ctx.plan;
  const MarginSoftmaxOptions& options = *ctx.options;
  const int64_t K = Plain ? 1 : plan.subCenters;
  const float smoothing = static_cast<float>(options.labelSmoothing);
  const float uniform = smoothing / static_cast<float>(plan.classes);
  const bool productNorm = !Plain && options.scaleMode == ScaleMode::ProductNorm;
  for (int64_t slice = ctx.firstGroup * kLanes; slice < ctx.endGroup * kLanes; slice += Width) {
    const int64_t group = slice / kLanes;  // slice: the slice's first row in the block
    const RowLanes<Width> rows = rowLanes<Width>(*ctx.rowData, ctx.blockStart + slice);
    const Floats tileMax = loadVector<Floats>(ctx.tileMax + slice);
    const Floats toProbability = expFloats(tileMax - rows.logSumExp);  // e^{m − LSE} ≤ 1
    // In place, pass 1 wrote this tile long ago: it comes from memory, one line per class 4·Rp
    // bytes apart, a stride the hardware prefetchers lose at every page.  So each group's lines are
    // prefetched kAhead groups before (the first group asks for the next kAhead), by its first slice.
    constexpr int64_t kAhead = 4;
    const bool groupStart = slice % kLanes == 0;
    for (int64_t j = 0; InPlace && groupStart && group == ctx.firstGroup && j < ctx.classCount; ++j) {
      for (int64_t ahead = 1; ahead <= kAhead && group + ahead < ctx.endGroup; ++ahead) {
        __builtin_prefetch(ctx.tile + j * plan.rowBlockPad + (group + ahead) * kLanes, 1, 3);
      }
    }
    for (int64_t j = 0; j < ctx.classCount; ++j) {
      float* classTile = ctx.tile + j * K * plan.rowBlockPad;
      Lanes<Width> l;
      Floats p;
      if (InPlace) {  // K = 1, ψ' = 1 off target, the row's scale: what laneLogits would give
        if (groupStart && group + kAhead < ctx.endGroup) __builtin_prefetch(classTile + (group + kAhead) * kLanes, 1, 3);
        p = loadVector<Floats>(classTile + slice) * toProbability;
        l.isTarget = rows.target == static_cast<int32_t>(ctx.firstClass + j);
        l.derivative = select(l.isTarget, rows.targetDerivative, zero + 1.0f);
        l.scale = rows.scale;
        l.center = zero;
      } else {
        l = laneLogits<Plain>(ctx, rows, j, slice);
        p = expFloats(l.logit - tileMax) * toProbability;
      }
      // Ignored rows give exact zeros: 0·NaN would carry a NaN in their features into every gŵ.
      const Ints active = rows.active;
      const Floats dLogit = select(active, select(l.isTarget, rows.targetGrad, rows.coef * (p - uniform)), zero);
      const Floats g = select(active, dLogit * l.scale * l.derivative, zero);
      const float* inverse = ctx.centerInverse + (ctx.firstClass + j) * K;
      for (int64_t k = 0; k < K; ++k) {
        const float center = static_cast<float>(k);
        float* out = classTile + k * plan.rowBlockPad + slice;
        // The comparison inside the ?: — through an Ints variable GCC 12 selects lane by lane.
        storeVector(out, l.center == center ? g * inverse[k] : zero);
        // G is an operand of both gradient products (docs/spec/precision.md).
        if (plan.precision != Precision::Float32) storeVector(out, roundOperands(loadVector<Floats>(out), plan.precision));
        if (productNorm) {
          const Floats term = dLogit * l.logit * rows.centerFactor;
          const Floats mine = l.center == center ? term : zero;
          centerScaleTerm[(ctx.firstClass + j) * K + k] += sumLanes(select(active, mine, zero));
        }
      }
    }
  }
}

}  // namespace

FL_SIMD_FUNCTION(void, foldTileStatistics, (const TileContext& ctx, ChunkStats& stats, float* logits), (ctx, stats, logits)) {
  if (ctx.plan->plainLogits) {
    foldTile<true, kWidth>(ctx, stats, logits);
  } else {
    foldTile<false, kWidth>(ctx, stats, logits);
  }
}

FL_SIMD_FUNCTION(void, tileGradient, (const TileContext& ctx, double* centerScaleTerm), (ctx, centerScaleTerm)) {
  if (ctx.plan->logitsInPlace) {
    gradientTile<true, true, kWidth>(ctx, centerScaleTerm);
  } else if (ctx.plan->plainLogits) {
    gradientTile<true, false, kWidth>(ctx, centerScaleTerm);
  } else {
    gradientTile<false, false, kWidth>(ctx, centerScaleTerm);
  }
}

}  // namespace margin_cpu
}  // namespace fusedloss
