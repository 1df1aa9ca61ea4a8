// Engine shared by the CPU pair miner (pairs_mine.cc) and pair losses (pairs_loss.cc): the
// normalized copies, the row blocks' values by the GEMM micro-kernel, per-row work over the
// thread pool, and the gradient GEMMs.  Internal to those two files.
//
// Work plan (N rows, M reference rows, D features; never more than a block of R×M values):
//  • x̂ [N, Dp] and ŷ [M, Dp] (Dp = D rounded up to 16, zero padded; ŷ is x̂ without a reference
//    set), their squared norms for the distances, and ŷᵀ packed once for the GEMM.
//  • Rows in blocks of R, R·M floats (twice that when the miner's and the loss' distances
//    differ) within similarity.workBytes; R depends on the sizes only.  A block's dots are one
//    GEMM cut into column tiles, turned into values row by row.
//  • Gradients per block: G (∂loss/∂dot) in place of the values, then gx̂[block] = G·Ŷ and
//    gŶ += Gᵀ·X̂[block] (Gᵀ copied per column tile), blocks in order; the norm terms H of the
//    distances are −G, summed per row and per column in fixed order.  Near-duplicate pairs of a
//    distance are summed from their differences instead (pairs_direct.h).
// Every sum has an order fixed by the sizes, so the bits do not depend on the thread count.
// precision tf32 / bf16 (docs/spec/precision.md): x̂, ŷ are rounded where they are written (their
// squared norms, the direct distances and the H terms use the rounded vectors: the distances are
// those of the rounded vectors) and G where the loss writes it; the normalization's backward
// recomputes the unrounded unit vectors.  bf16: the GEMMs are told (GemmOperands::bf16Operands).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../math/pairs_math.h"
#include "../math/precision_math.h"
#include "../runtime/gemm.h"
#include "../runtime/memory.h"
#include "../runtime/thread_pool.h"
#include "pairs.h"
#include "pairs_direct.h"
#include "pairs_distance_lanes.h"

namespace fusedloss {
namespace pairblocks {

constexpr int64_t kColumnTile = 256;      // reference columns per GEMM task (at most)
constexpr int64_t kRowSlice = 64;         // block rows per gx̂ GEMM task
constexpr int64_t kTransposeTile = 16;    // Gᵀ copied in tiles of this many rows and columns
constexpr int64_t kRowChunks = 64;        // per-row work: at most this many tasks per block
constexpr int64_t kNormChunkRows = 256;   // rows per normalization task
constexpr int64_t kMinWorkBytes = 1;  // any budget gives at least one row per block

inline int64_t roundUp(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

struct Plan {
  int64_t rows = 0, refs = 0, dim = 0, dimPad = 0, refsPad = 0;
  int64_t rowBlock = 0;  // R
  int64_t blocks = 0;
  bool hasRef = false, normalize = true;
  bool squaredNorms = false;  // a distance needs ‖x̂‖², ‖ŷ‖²
  Precision precision = Precision::Float32;  // of the GEMM operands x̂, ŷ and G
};

// valueRows: value rows of M floats kept per block row (1, or 2 when the miner's and the loss'
// distances differ).
inline Plan makePlan(const PairShape& shape, const PairSimilarityOptions& similarity, const PairInputs& inputs,
                     int64_t valueRows, bool squaredNorms) {
  Plan p;
  p.rows = shape.rows, p.refs = shape.refs, p.dim = shape.dim;
  p.dimPad = roundUp(shape.dim, kGemmColumnAlign);
  p.refsPad = roundUp(shape.refs, kGemmColumnAlign);
  p.hasRef = inputs.ref != nullptr;
  p.normalize = similarity.normalize;
  p.squaredNorms = squaredNorms;
  p.precision = similarity.precision;
  const int64_t budget = std::max<int64_t>(similarity.workBytes, kMinWorkBytes);
  int64_t r = budget / (4 * p.refsPad * valueRows);
  // Whole multiples of gemm's depth block (256) where possible: gŶ sums a block's rows in one
  // call, and gemm adds partial sums every 256 rows of depth, so such blocks give gŶ the very
  // bits of a single block.  Smaller blocks: whole lane groups.
  if (r >= 256) {
    r = r / 256 * 256;
  } else if (r >= 32) {
    r = r / 16 * 16;
  }
  p.rowBlock = std::max<int64_t>(1, std::min(r, p.rows));
  p.blocks = (p.rows + p.rowBlock - 1) / p.rowBlock;
  return p;
}

inline bool isDistance(PairDistance d) { return !pairs::similarity(d); }

// Normalized (or plain, padded) copies and the packed ŷᵀ.
struct Embeddings {
  FloatBuffer x;        // [N, Dp]
  FloatBuffer yCopy;    // [M, Dp] with a reference set
  const float* y = nullptr;
  FloatBuffer yPacked;  // ŷᵀ [Dp, Mp] in gemm's packed panels
  // ŷᵀ as bf16 pairs (bBf16; uint32 in float storage, recycled as FloatBuffers are) with precision
  // bf16 where gemm() multiplies bf16; empty otherwise.
  FloatBuffer yPackedBf16;
  std::vector<double> xNorm, yNorm;         // ‖x‖, ‖y‖ (the normalization's backward)
  std::vector<float> xSquared, ySquared;    // ‖x̂‖², ‖ŷ‖² (distances, and pairs::wideRow)
  bool anyWideRef = false;                  // some ŷ_j is wide: its pairs are computed directly
  Embeddings(const Plan& p)
      : x(p.rows * p.dimPad), yCopy(p.hasRef ? p.refs * p.dimPad : 0), yPacked(packedSize(p.dimPad, p.refsPad)),
        yPackedBf16(p.precision == Precision::Bf16 && std::strcmp(gemmBf16Level(), "avx512bf16") == 0
                        ? packedBf16Size(p.dimPad, p.refsPad)
                        : 0),
        xNorm(p.rows), yNorm(p.refs), xSquared(p.rows, 0.0f), ySquared(p.refs, 0.0f) {
    y = p.hasRef ? yCopy.data() : x.data();
  }
};

// The unrounded unit vector (or the row as given) of a row whose norm is `length`: the one
// definition the normalization and (with a reduced precision) its backward use.
inline void unitRow(const Plan& p, const float* row, double length, float* out) {
  const double inverse = p.normalize ? 1.0 / std::max(length, 1e-12) : 1.0;
  for (int64_t d = 0; d < p.dim; ++d) out[d] = p.normalize ? static_cast<float>(row[d] * inverse) : row[d];
}

inline void prepareRow(const Plan& p, const float* row, float* out, double* norm, float* squared) {
  double sum = 0.0;
  for (int64_t d = 0; d < p.dim; ++d) sum += static_cast<double>(row[d]) * row[d];
  const double length = std::sqrt(sum);
  *norm = length;
  unitRow(p, row, length, out);
  double outSum = 0.0;
  for (int64_t d = 0; d < p.dim; ++d) {
    if (p.precision != Precision::Float32) out[d] = precision::roundOperand(out[d], p.precision);
    outSum += static_cast<double>(out[d]) * out[d];
  }
  for (int64_t d = p.dim; d < p.dimPad; ++d) out[d] = 0.0f;
  *squared = static_cast<float>(outSum);
}

inline void prepareEmbeddings(const Plan& p, const PairInputs& in, Embeddings& e) {
  const int64_t rowChunks = (p.rows + kNormChunkRows - 1) / kNormChunkRows;
  const int64_t refChunks = p.hasRef ? (p.refs + kNormChunkRows - 1) / kNormChunkRows : 0;
  parallelFor(rowChunks + refChunks, [&](int64_t chunk) {
    const bool isRef = chunk >= rowChunks;
    const int64_t first = (isRef ? chunk - rowChunks : chunk) * kNormChunkRows;
    const int64_t end = std::min(isRef ? p.refs : p.rows, first + kNormChunkRows);
    for (int64_t i = first; i < end; ++i) {
      if (isRef) {
        prepareRow(p, in.ref + i * p.dim, e.yCopy.data() + i * p.dimPad, &e.yNorm[i], &e.ySquared[i]);
      } else {
        prepareRow(p, in.embeddings + i * p.dim, e.x.data() + i * p.dimPad, &e.xNorm[i], &e.xSquared[i]);
      }
    }
  });
  if (!p.hasRef) e.yNorm = e.xNorm, e.ySquared = e.xSquared;
  e.anyWideRef = std::any_of(e.ySquared.begin(), e.ySquared.end(), pairs::wideRow);
  // ŷᵀ as gemm's packed B: panel of 32 columns (reference rows), Dp rows of 32 floats.
  const int64_t panels = (p.refsPad + 31) / 32;
  parallelFor((panels + 7) / 8, [&](int64_t group) {
    for (int64_t panel = group * 8; panel < std::min(panels, group * 8 + 8); ++panel) {
      float* out = e.yPacked.data() + panel * 32 * p.dimPad;
      for (int64_t c = 0; c < 32; ++c) {
        const int64_t j = panel * 32 + c;
        if (j < p.refs) {
          const float* row = e.y + j * p.dimPad;
          for (int64_t d = 0; d < p.dimPad; ++d) out[d * 32 + c] = row[d];
        } else {
          for (int64_t d = 0; d < p.dimPad; ++d) out[d * 32 + c] = 0.0f;
        }
      }
    }
  });
  // Converted once instead of in every block's GEMM calls.
  if (e.yPackedBf16.size() > 0) repackBf16(e.yPacked.data(), p.dimPad, p.refsPad, reinterpret_cast<uint32_t*>(e.yPackedBf16.data()));
}

// Reference columns per GEMM task: kColumnTile, fewer when that would leave threads idle (two
// tasks a thread), whole 32-column panels.  No sum runs across columns, so no bit depends on it.
inline int64_t columnTile(int64_t columns) {
  return std::max<int64_t>(32, std::min(kColumnTile, columns / (2 * int64_t(threadCount())) / 32 * 32));
}

// dots[r, j] = x̂_{blockStart+r}·ŷ_j for the block, rows refsPad apart.
inline void blockDots(const Plan& p, const Embeddings& e, int64_t blockStart, int64_t blockRows, float* dots) {
  const int64_t width = columnTile(p.refsPad);
  const int64_t tiles = (p.refsPad + width - 1) / width;
  parallelFor(tiles, [&](int64_t tile) {
    const int64_t first = tile * width;
    GemmOperands op;
    op.m = blockRows, op.n = std::min(width, p.refsPad - first), op.k = p.dimPad;
    op.a = e.x.data() + blockStart * p.dimPad, op.aRowStride = p.dimPad, op.aDepthStride = 1;
    op.b = e.yPacked.data() + first * p.dimPad, op.bPacked = true;
    op.c = dots + first, op.ldc = p.refsPad;
    op.bf16Operands = p.precision == Precision::Bf16;
    if (e.yPackedBf16.size() > 0) op.bBf16 = reinterpret_cast<const uint32_t*>(e.yPackedBf16.data()) + first * (p.dimPad / 2);
    gemm(op);
  });
}

// Does row i have a pair with a wide row (pairs::wideRow), whose value is computed directly?
inline bool rowMeetsWide(const Embeddings& e, int64_t i) { return e.anyWideRef || pairs::wideRow(e.xSquared[i]); }

// The row's values from its dots: the miner's into minerOut (when given), then the loss' (or
// the only) distance in place.
inline void rowValues(const Plan& p, const Embeddings& e, int64_t i, PairDistance distance, float* row,
                      PairDistance minerDistance, float* minerOut) {
  const float xs = e.xSquared[i];
  const float* x = e.x.data() + i * p.dimPad;
  const bool wide = rowMeetsWide(e, i);
  auto value = [&](PairDistance d, int64_t j) {
    const float* y = e.y + j * p.dimPad;
    return wide ? pairs::guardedPairValue(d, row[j], xs, e.ySquared[j], x, y, p.dim)
                : pairs::narrowPairValue(d, row[j], xs, e.ySquared[j], x, y, p.dim);
  };
  if (minerOut) {
    for (int64_t j = 0; j < p.refs; ++j) minerOut[j] = value(minerDistance, j);
  }
  // Similarities of narrow rows are the GEMM's dots as they stand; their distances in lanes.
  if (!wide && isDistance(distance)) {
    pairs_cpu::narrowDistances(distance, xs, e.ySquared.data(), x, e.y, p.dimPad, p.dim, p.refs, row);
    return;
  }
  if (wide) {
    for (int64_t j = 0; j < p.refs; ++j) row[j] = value(distance, j);
  }
}

// The pair view of row i over the values `lossValues` / `minerValues`.
inline pairs::PairRow pairRow(const Plan& p, const Embeddings& e, const PairInputs& in, int64_t i,
                              const float* minerValues, const float* lossValues) {
  pairs::PairRow row;
  row.minerValues = minerValues;
  row.lossValues = lossValues;
  row.refLabels = in.ref ? in.refLabels : in.labels;
  row.refs = p.refs;
  row.label = in.labels[i];
  row.excluded = in.ref ? (in.selfIndex ? in.selfIndex[i] : -1) : i;
  row.narrow = !rowMeetsWide(e, i);
  return row;
}

// body(r, scratch, coefRow) for each row r of the block, over the pool.  Scratch and the
// coefficient row are per thread; the row functions depend on neither's history.
template <typename Body>
void forRows(const Plan& p, int64_t blockRows, const Body& body) {
  const int64_t chunks = std::min(kRowChunks, blockRows);
  const size_t scratchDoubles = static_cast<size_t>((pairs::rowScratchBytes(p.refs) + 7) / 8);
  parallelFor(chunks, [&](int64_t chunk) {
    double* scratch = threadScratchArray<double>(Scratch::PairRowScratch, scratchDoubles);
    float* coef = threadScratchArray<float>(Scratch::PairRowCoefficients, p.refs);
    for (int64_t r = chunk * blockRows / chunks; r < (chunk + 1) * blockRows / chunks; ++r) {
      body(r, static_cast<void*>(scratch), coef);
    }
  });
}

// Gradient sums of the dot products' operands.  With a reference set whose rows need no padding,
// Σ_i G_ij x̂_i accumulates in the caller's gradRef itself (finishGradients then works row by row
// in place), sparing an M×D buffer.
struct Gradients {
  FloatBuffer gx;                   // [N, Dp]: Σ_j G_ij ŷ_j
  FloatBuffer gyOwned;              // [M, Dp] unless gradRef serves
  float* gy = nullptr;              // [M, Dp]: Σ_i G_ij x̂_i
  FloatBuffer xBlockPacked;         // the block's x̂ as gemm's packed B [R, Dp]
  std::vector<double> hRow, hColumn;  // Σ_j H_ij, Σ_i H_ij (distances)
  Gradients(const Plan& p, float* gradRef)
      : gx(p.rows * p.dimPad),
        gyOwned(p.hasRef && gradRef && p.dim == p.dimPad ? 0 : p.refs * p.dimPad),
        xBlockPacked(packedSize(p.rowBlock, p.dimPad)),
        hRow(p.rows, 0.0),
        hColumn(p.refs, 0.0) {
    gy = gyOwned.size() > 0 ? gyOwned.data() : gradRef;
  }
};

// gx̂[block] = G·Ŷ, gŶ (+)= Gᵀ·X̂[block], Σ_i H_ij += −G_ij (distances): one parallel call.  With
// near-duplicate pairs marked in `direct` (pairs_direct.h), two: the column tiles first (they read
// those pairs' G), then the row slices (which zero it for their GEMM).
inline void blockGradients(const Plan& p, const Embeddings& e, int64_t blockStart, int64_t blockRows, float* g,
                           bool distance, Gradients& out, const DirectPairs* direct = nullptr) {
  packB(e.x.data() + blockStart * p.dimPad, p.dimPad, blockRows, p.dimPad, out.xBlockPacked.data());
  const bool anyDirect = direct && direct->any(blockRows);
  const float* xBlock = e.x.data() + blockStart * p.dimPad;
  // gx̂ in row slices of kRowSlice rows, fewer rows when that would leave threads idle (a slice
  // is half of all the work over 2·threads).  Each row's sums stay whole in any slicing, so the
  // thread count changes no bit; slices of at least two register tiles keep the Ŷ reads shared.
  const int64_t rowTile = gemmRowTile();
  const int64_t sliceRows =
      std::max(2 * rowTile, std::min(kRowSlice, blockRows / (2 * int64_t(threadCount())) / rowTile * rowTile));
  const int64_t slices = (blockRows + sliceRows - 1) / sliceRows;
  const int64_t width = columnTile(p.refs);
  const int64_t tiles = (p.refs + width - 1) / width;
  auto rowSlice = [&](int64_t task) {
    const int64_t first = task * sliceRows;
    const int64_t rows = std::min(sliceRows, blockRows - first);
    double* sums = nullptr;  // the slice's direct row terms, [rows, dim]
    if (anyDirect) {
      sums = threadScratchArray<double>(Scratch::PairSliceSums, rows * p.dim);
      for (int64_t r = first; r < first + rows; ++r) {
        if (direct->rowCount(r) == 0) continue;
        directRowSum(*direct, r, g + r * p.refsPad, xBlock + r * p.dimPad, e.y, p.dimPad, p.dim,
                     sums + (r - first) * p.dim);
      }
    }
    GemmOperands op;
    op.m = rows, op.n = p.dimPad, op.k = p.refs;
    op.a = g + first * p.refsPad, op.aRowStride = p.refsPad, op.aDepthStride = 1;
    op.b = e.y, op.ldb = p.dimPad;
    op.c = out.gx.data() + (blockStart + first) * p.dimPad, op.ldc = p.dimPad;
    op.bf16Operands = p.precision == Precision::Bf16;
    gemm(op);
    for (int64_t r = first; anyDirect && r < first + rows; ++r) {
      if (direct->rowCount(r) > 0) addSum(op.c + (r - first) * p.dimPad, sums + (r - first) * p.dim, p.dim);
    }
  };
  auto columnTask = [&](int64_t tile) {
    const int64_t first = tile * width;
    const int64_t count = std::min(width, p.refs - first);
    // Gᵀ of the tile, copied once: read in place, its rows are refsPad floats apart, and the
    // micro-kernel would walk that stride (one page per step for large M) for every panel of D.
    // Copied in 16×16 register tiles (transposeInto); the H column sums follow, rows ascending
    // for each column (the order a single block would use).  With marked pairs, a value at a time:
    // they are left out of both and summed directly after the GEMM.
    float* transposed = threadScratchArray<float>(Scratch::PairTransposed, count * blockRows);
    char* columnMarked = anyDirect ? threadScratchArray<char>(Scratch::PairColumnMarked, count) : nullptr;
    if (!anyDirect) {
      transposeInto(g + first, p.refsPad, blockRows, count, transposed, blockRows);
      for (int64_t r = 0; distance && r < blockRows; ++r) {
        const float* row = g + r * p.refsPad + first;
        for (int64_t j = 0; j < count; ++j) out.hColumn[first + j] -= row[j];
      }
    } else {
      std::fill_n(columnMarked, count, 0);
      for (int64_t r0 = 0; r0 < blockRows; r0 += kTransposeTile) {
        const int64_t r1 = std::min(blockRows, r0 + kTransposeTile);
        for (int64_t j0 = 0; j0 < count; j0 += kTransposeTile) {
          const int64_t j1 = std::min(count, j0 + kTransposeTile);
          for (int64_t r = r0; r < r1; ++r) {
            const float* row = g + r * p.refsPad + first;
            const bool rowMarked = direct->rowCount(r) > 0;
            for (int64_t j = j0; j < j1; ++j) {
              const bool marked = rowMarked && direct->marked(r, first + j);
              transposed[j * blockRows + r] = marked ? 0.0f : row[j];
              columnMarked[j] |= marked;
              if (distance && !marked) out.hColumn[first + j] -= row[j];
            }
          }
        }
      }
    }
    GemmOperands op;
    op.m = count, op.n = p.dimPad, op.k = blockRows;
    op.a = transposed, op.aRowStride = blockRows, op.aDepthStride = 1;
    op.b = out.xBlockPacked.data(), op.bPacked = true;
    op.c = out.gy + first * p.dimPad, op.ldc = p.dimPad;
    op.accumulate = blockStart > 0;
    op.bf16Operands = p.precision == Precision::Bf16;
    gemm(op);
    if (!anyDirect) return;
    double* sum = threadScratchArray<double>(Scratch::PairColumnSum, p.dim);
    for (int64_t j = 0; j < count; ++j) {
      if (!columnMarked[j]) continue;
      directColumnSum(*direct, first + j, g, p.refsPad, blockRows, xBlock, e.y, p.dimPad, p.dim, sum);
      addSum(op.c + j * p.dimPad, sum, p.dim);
    }
  };
  if (!anyDirect) {
    parallelFor(slices + tiles, [&](int64_t task) { task < slices ? rowSlice(task) : columnTask(task - slices); });
    return;
  }
  parallelFor(tiles, columnTask);
  parallelFor(slices, rowSlice);
}

// g (Dp floats, float64 sums) through v̂ = v/max(‖v‖, 1e-12) into out (D floats).
inline void unnormalize(const Plan& p, const double* g, const float* unit, double norm, float* out) {
  if (!p.normalize) {
    for (int64_t d = 0; d < p.dim; ++d) out[d] = static_cast<float>(g[d]);
    return;
  }
  if (norm < 1e-12) {
    for (int64_t d = 0; d < p.dim; ++d) out[d] = static_cast<float>(g[d] / 1e-12);
    return;
  }
  double along = 0.0;
  for (int64_t d = 0; d < p.dim; ++d) along += g[d] * unit[d];
  for (int64_t d = 0; d < p.dim; ++d) out[d] = static_cast<float>((g[d] - along * unit[d]) / norm);
}

// The H terms and the normalization backward into the outputs; without a reference set the two
// roles of each embedding are summed first.  With a reduced precision the H terms take the rounded
// vectors (the distances' own) and the backward the unrounded unit vectors, recomputed from `in`.
inline void finishGradients(const Plan& p, const Embeddings& e, const Gradients& g, const PairInputs& in,
                            float* gradEmbeddings, float* gradRef) {
  const int64_t rowChunks = (p.rows + kNormChunkRows - 1) / kNormChunkRows;
  const int64_t refChunks = p.hasRef && gradRef ? (p.refs + kNormChunkRows - 1) / kNormChunkRows : 0;
  parallelFor(rowChunks + refChunks, [&](int64_t chunk) {
    std::vector<double> sum(p.dimPad);
    std::vector<float> exact(p.normalize && p.precision != Precision::Float32 ? p.dim : 0);
    // The unit vector the normalization's backward projects on: the operand itself in fp32.
    auto exactUnit = [&](const float* raw, double length, const float* rounded) {
      if (exact.empty()) return rounded;
      unitRow(p, raw, length, exact.data());
      return static_cast<const float*>(exact.data());
    };
    const bool isRef = chunk >= rowChunks;
    const int64_t first = (isRef ? chunk - rowChunks : chunk) * kNormChunkRows;
    const int64_t end = std::min(isRef ? p.refs : p.rows, first + kNormChunkRows);
    for (int64_t i = first; i < end; ++i) {
      if (isRef) {
        const float* gy = g.gy + i * p.dimPad;
        const float* unit = e.y + i * p.dimPad;
        for (int64_t d = 0; d < p.dim; ++d) sum[d] = static_cast<double>(gy[d]) + g.hColumn[i] * unit[d];
        unnormalize(p, sum.data(), exactUnit(in.ref + i * p.dim, e.yNorm[i], unit), e.yNorm[i], gradRef + i * p.dim);
        continue;
      }
      const float* gx = g.gx.data() + i * p.dimPad;
      const float* unit = e.x.data() + i * p.dimPad;
      for (int64_t d = 0; d < p.dim; ++d) sum[d] = static_cast<double>(gx[d]) + g.hRow[i] * unit[d];
      if (!p.hasRef) {
        const float* gy = g.gy + i * p.dimPad;
        for (int64_t d = 0; d < p.dim; ++d) sum[d] += static_cast<double>(gy[d]) + g.hColumn[i] * unit[d];
      }
      unnormalize(p, sum.data(), exactUnit(in.embeddings + i * p.dim, e.xNorm[i], unit), e.xNorm[i], gradEmbeddings + i * p.dim);
    }
  });
}

}  // namespace pairblocks
}  // namespace fusedloss
