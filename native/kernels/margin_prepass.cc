// The margin softmax CPU kernel's prepass (margin.cc's work plan, step 1): the normalized copies x̂
// and ŵ (rounded for the precision option), their norms, and each row's target logit.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "../math/precision_math.h"
#include "../runtime/gemm.h"
#include "../runtime/thread_pool.h"
#include "margin_cpu.h"

namespace fusedloss {
namespace margin_cpu {

// x̂ and norms of `count` rows of `stride` floats (or gathered through `source`).
// The norm stays double: a float32 row of huge entries has a norm past float32's range (and its
// square past it long before), and 1/‖x‖ is taken of it for the gradient.
double rowLength(const float* row, int64_t dim, int64_t step) {
  const double sum = productSum(row, row, dim, step);
  return std::max(std::sqrt(sum), 1e-12);  // NaN stays NaN
}

void normalizeRow(const float* row, int64_t dim, int64_t step, float* out, int64_t dimPad, double* norm) {
  const double length = rowLength(row, dim, step);
  *norm = length;
  const double inverse = 1.0 / length;
  for (int64_t d = 0; d < dim; ++d) out[d] = static_cast<float>(row[d * step] * inverse);
  std::fill(out + dim, out + dimPad, 0.0f);
}

// The weights can serve the GEMMs in place when they are exactly the computed centers' rows, D
// floats apart with D a multiple of the GEMM's column alignment.
// Rounded operands always need the copy: the raw weights are not rounded.
bool layoutInPlace(const Plan& p, const MarginSoftmaxOptions& options, const MarginSoftmaxInputs& in) {
  return !options.weightsColumns && !in.classIds && p.dimPad == p.dim && p.precision == Precision::Float32;
}

// Center row r of the computed classes in the caller's weights; its entries are
// centerStep(…) floats apart.
const float* centerSource(const Plan& p, const MarginSoftmaxOptions& options, const MarginSoftmaxInputs& in, int64_t r) {
  const int64_t classId = in.classIds ? in.classIds[r / p.subCenters] : r / p.subCenters;
  const int64_t source = classId * p.subCenters + r % p.subCenters;
  return options.weightsColumns ? in.weights + source : in.weights + source * p.dim;
}
int64_t centerStep(const Plan& p, const MarginSoftmaxOptions& options) { return options.weightsColumns ? p.weightRows : 1; }

// A normalized row rounded in place to the GEMM operands' precision.
void roundRow(const Plan& p, float* row) {
  if (p.precision == Precision::Float32) return;
  for (int64_t d = 0; d < p.dim; ++d) row[d] = precision::roundOperand(row[d], p.precision);
}

// Raw weights are read in place only while their norms keep the float32 dot products x̂·w far from
// overflow and 1/‖w‖ a normal float; other magnitudes (up to 3.4e38 per entry) go through the
// float64-normalized copy, so they cost a copy, never accuracy.
constexpr double kRawNormMin = 1e-15, kRawNormMax = 1e15;

// With bf16 operands where gemm() multiplies them: ŵ straight into the two bf16 layouts the products
// read (margin_cpu.h, Normalized::bf16Pairs), a tile at a time, so no row block converts it again and
// no float copy of it exists beyond one tile per thread.
bool keepsBf16Pairs(const Plan& p) { return p.precision == Precision::Bf16 && std::strcmp(gemmBf16Level(), "avx512bf16") == 0; }

void packCenterPairs(const Plan& p, const MarginSoftmaxOptions& options, const MarginSoftmaxInputs& in, Normalized& out) {
  const int64_t rowPairs = p.dimPad / 2, tileCenters = p.tileClasses * p.subCenters;
  out.bf16Pairs = true;
  out.tilePairsStride = packedBf16Size(tileCenters, p.dimPad);
  // uint32 in float storage (same size): the buffers' recycling is what matters here.
  out.centerRowPairsStore = FloatBuffer(p.centers * rowPairs);
  out.centerTilePairsStore = FloatBuffer(p.tiles * out.tilePairsStride);
  uint32_t* rowsOut = reinterpret_cast<uint32_t*>(out.centerRowPairsStore.data());
  uint32_t* tilesOut = reinterpret_cast<uint32_t*>(out.centerTilePairsStore.data());
  out.centerRowPairs = rowsOut, out.centerTilePairs = tilesOut;
  // Runs of whole tiles, a few per thread, each with one tile of float scratch.
  const int64_t tasks = std::min<int64_t>(p.tiles, 8 * threadCount());
  parallelFor(tasks, [&](int64_t task) {
    std::vector<float> rows(tileCenters * p.dimPad);
    for (int64_t tile = task * p.tiles / tasks; tile < (task + 1) * p.tiles / tasks; ++tile) {
      const int64_t first = tile * tileCenters, count = std::min(tileCenters, p.centers - first);
      for (int64_t r = 0; r < count; ++r) {
        float* row = rows.data() + r * p.dimPad;
        normalizeRow(centerSource(p, options, in, first + r), p.dim, centerStep(p, options), row, p.dimPad, &out.centerNorm[first + r]);
        roundRow(p, row);
      }
      packRowsBf16(rows.data(), p.dimPad, count, p.dimPad, rowsOut + first * rowPairs, rowPairs);
      packBBf16(rows.data(), p.dimPad, count, p.dimPad, tilesOut + tile * out.tilePairsStride);
    }
  });
}

const float* centerRow(const Plan& p, const Normalized& n, int64_t r, float* scratch) {
  if (!n.bf16Pairs) return n.centers + r * p.dimPad;
  const uint32_t* pairs = n.centerRowPairs + r * (p.dimPad / 2);
  for (int64_t q = 0; q < p.dimPad / 2; ++q) {
    const uint32_t even = pairs[q] << 16, odd = pairs[q] & 0xffff0000u;
    std::memcpy(scratch + 2 * q, &even, sizeof even);
    std::memcpy(scratch + 2 * q + 1, &odd, sizeof odd);
  }
  return scratch;
}

void normalizeInputs(const Plan& p, const MarginSoftmaxOptions& options,
                     const MarginSoftmaxInputs& in, Normalized& out) {
  const int64_t rowChunks = (p.rows + kNormChunkRows - 1) / kNormChunkRows;
  const int64_t centerChunks = (p.centers + kNormChunkRows - 1) / kNormChunkRows;
  const bool inPlace = layoutInPlace(p, options, in);
  auto sourceRow = [&](int64_t r) { return centerSource(p, options, in, r); };
  parallelFor(rowChunks + (inPlace ? centerChunks : 0), [&](int64_t chunk) {
    if (chunk < rowChunks) {
      for (int64_t i = chunk * kNormChunkRows; i < std::min(p.rows, (chunk + 1) * kNormChunkRows); ++i) {
        normalizeRow(in.embeddings + i * p.dim, p.dim, 1, out.embeddings.data() + i * p.dimPad, p.dimPad, &out.embeddingNorm[i]);
        roundRow(p, out.embeddings.data() + i * p.dimPad);
      }
      return;
    }
    const int64_t first = (chunk - rowChunks) * kNormChunkRows;
    for (int64_t r = first; r < std::min(p.centers, first + kNormChunkRows); ++r) out.centerNorm[r] = rowLength(sourceRow(r), p.dim, 1);
  });
  out.centersRaw = inPlace && std::all_of(out.centerNorm.begin(), out.centerNorm.end(),
                                          [](double norm) { return norm >= kRawNormMin && norm <= kRawNormMax; });
  if (out.centersRaw) {
    for (int64_t r = 0; r < p.centers; ++r) out.centerInverse[r] = static_cast<float>(1.0 / out.centerNorm[r]);
    out.centers = in.weights;
    return;
  }
  if (keepsBf16Pairs(p)) return packCenterPairs(p, options, in, out);
  out.centerCopy = FloatBuffer(p.centers * p.dimPad);
  out.centers = out.centerCopy.data();
  parallelFor(centerChunks, [&](int64_t chunk) {
    for (int64_t r = chunk * kNormChunkRows; r < std::min(p.centers, (chunk + 1) * kNormChunkRows); ++r) {
      normalizeRow(sourceRow(r), p.dim, centerStep(p, options), out.centerCopy.data() + r * p.dimPad, p.dimPad, &out.centerNorm[r]);
      roundRow(p, out.centerCopy.data() + r * p.dimPad);
    }
  });
}

double dotPadded(const float* a, const float* b, int64_t dimPad) {
  double sum = 0.0;
  for (int64_t d = 0; d < dimPad; ++d) sum += static_cast<double>(a[d]) * b[d];
  return sum;
}

// Prepass: each row's target cosine (max over its centers), margined logit, derivative and
// CurricularFace threshold; t updated first.  Returns the number of non-ignored rows.
int64_t prepareRows(const Plan& p, const MarginSoftmaxOptions& options, const MarginSoftmaxInputs& in, const Normalized& n,
                    RowData& rows, double& curricularT) {
  std::vector<double> targetCosine(p.rows, 0.0);
  std::vector<float> centerScratch(p.dimPad);
  int64_t counted = 0;
  double cosineSum = 0.0;
  for (int64_t i = 0; i < p.rows; ++i) {
    const int32_t target = in.targets[i];
    rows.target[i] = target;
    rows.scale[i] = margin::logitScale(options.scale * (options.scaleMode == ScaleMode::Fixed ? 1.0 : n.embeddingNorm[i]));
    if (target < 0) continue;
    double best = -std::numeric_limits<double>::infinity();
    int32_t bestCenter = 0;
    for (int64_t k = 0; k < p.subCenters; ++k) {
      const int64_t center = target * p.subCenters + k;
      const double c = dotPadded(n.embeddings.data() + i * p.dimPad, centerRow(p, n, center, centerScratch.data()), p.dimPad) * n.centerInverse[center];
      if (k == 0 || c > best || (c != c && best == best)) best = c, bestCenter = static_cast<int32_t>(k);  // a NaN center sticks
    }
    rows.targetCenter[i] = bestCenter;
    targetCosine[i] = margin::clampCosine(best);
    cosineSum += targetCosine[i];
    ++counted;
  }
  if (options.curricular && counted > 0) curricularT = margin::curricularUpdate(options.curricularT, options.curricularMomentum, cosineSum / counted);
  for (int64_t i = 0; i < p.rows; ++i) {
    const int32_t target = in.targets[i];
    if (target < 0) continue;
    const double m2 = in.rowAngular ? in.rowAngular[i] : options.m2;
    const double m3 = in.rowAdditive ? in.rowAdditive[i] : options.m3;
    const margin::Target t = margin::targetMargin(options.margin, targetCosine[i], options.m1, m2, m3,
                                                  options.easyMargin, options.straightThrough);
    double scale = rows.scale[i];
    if (options.scaleMode == ScaleMode::ProductNorm) scale = productScale(rows.scale[i], n.centerNorm[target * p.subCenters + rows.targetCenter[i]]);
    rows.targetValue[i] = static_cast<float>(t.value);
    rows.targetDerivative[i] = static_cast<float>(t.derivative);
    rows.threshold[i] = static_cast<float>(t.threshold);
    rows.targetLogit[i] = margin::float32OrNaN(scale * t.value);
  }
  return counted;
}

// The normalization's backward takes the exact unit vector: with rounded operands the copy the
// GEMMs read is not it, so the row is scaled again by the 1/‖v‖ of the prepass' norm (normalizeRow's
// arithmetic on the same double norm: the same bits, without summing the squares again).
const float* exactUnitRow(const Plan& p, const float* copy, const float* source, int64_t step, double norm, float* scratch) {
  if (p.precision == Precision::Float32) return copy;
  const double inverse = 1.0 / norm;
  for (int64_t d = 0; d < p.dim; ++d) scratch[d] = static_cast<float>(source[d * step] * inverse);
  std::fill(scratch + p.dim, scratch + p.dimPad, 0.0f);
  return scratch;
}

}  // namespace margin_cpu
}  // namespace fusedloss
