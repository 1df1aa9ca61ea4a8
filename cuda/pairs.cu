// Pair mining and pair losses, CUDA backend.  Same contract, passes and per-row arithmetic as the
// CPU kernels (../native/kernels/pairs.h, ../native/math/pairs_math.h).
//
// Plan (N query rows, M reference rows, D features; never an N×M buffer beyond the work budget):
//  1. x̂ [N, Dp] and ŷ [M, Dp] (Dp = D rounded up to 4, zero padded; ŷ is x̂ without a reference
//     set), ‖v‖ in float64 and ‖v̂‖² in float32 per vector.
//  2. Rows in blocks of R: the block's value rows (R × M floats, the loss' distance and the
//     miner's when it differs, plus the coefficients with gradients) take at most half of
//     workBytes.  Per block: GEMM x̂[block]·ŷᵀ → dot products → values in place.  The per-row
//     decisions are pairs_math.h's, a thread block per row (pairs_mine.cuh, pairs_loss.cuh: the
//     design there; one rare loss case a thread per row), in waves of rows whose global scratch
//     (the triplet sorts' only) fits the budget's share.
//  3. Mining: per-row counts → host: row-order offsets, the maxOutputs check, exactly-sized output
//     arrays → filling pass at those offsets → copied back.
//     Losses: per-row LossPartial → host: summed in row order (addPartial) → lossScale (the loss
//     and the global normalizers) → backward pass per block: coefficients, H row and column sums,
//     G in place, gx̂[block] = G·Ŷ, gŶ (+)= Gᵀ·X̂[block] (each split over its k range into
//     partials summed in order when it has few tiles: at most a quarter of the budget); the
//     near-duplicate pairs of a distance left out of G and H and summed from their differences
//     (pairs_direct.cuh).
//  4. gx̂ += (Σ_j H)·x̂, gŷ += (Σ_i H)·ŷ, then back through the normalization; without a reference
//     set both roles land in gradEmbeddings.
// The second pass recomputes the block's values unless one block held every row.  Determinism:
// no atomics; every sum has a fixed order that depends only on the shape and workBytes.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "../native/kernels/cuda_info.h"
#include "../native/kernels/pairs.h"

// Overridable so the kernels can also run under a host emulator when developing without a GPU.
#ifndef FL_LAUNCH
#define FL_LAUNCH(kernel, grid, block, sharedBytes, stream) kernel<<<(grid), (block), (sharedBytes), (stream)>>>
#endif

#include "device_memory.cuh"
#include "pairs_kernels.cuh"
#include "pairs_mine.cuh"
#include "pairs_loss.cuh"
#include "pairs_direct.cuh"

namespace fusedloss {
using namespace pair_cuda;
namespace {

constexpr const char* kKernelName = "pairs (CUDA)";

int64_t roundUp(int64_t a, int64_t b) { return ceilDiv(a, b) * b; }
unsigned blocksFor(int64_t count, int64_t per) { return static_cast<unsigned>(std::max<int64_t>(1, ceilDiv(count, per))); }
unsigned gridFor(int64_t elements) { return static_cast<unsigned>(std::min<int64_t>(ceilDiv(elements, kThreads), 4096)); }

// One k split of a GEMM: how many and how long (a multiple of kStep).
struct Split {
  int64_t count = 1, length = 0;
};

// Splits the k range of an m × n product with kLen terms into partials when it has too few tiles
// to fill the GPU, within `partsFloats` floats of partials and at least 256 terms per split.
Split splitFor(int64_t m, int64_t n, int64_t kLen, int64_t partsFloats) {
  Split s;
  s.length = roundUp(std::max<int64_t>(kLen, 1), kStep);
  const int64_t tiles = ceilDiv(m, kTile) * ceilDiv(n, kTile);
  const int64_t splits = std::min({ceilDiv(kTargetBlocks, tiles), partsFloats / std::max<int64_t>(1, m * n), kLen / 256});
  if (splits > 1) {
    s.length = roundUp(ceilDiv(kLen, splits), kStep);
    s.count = ceilDiv(kLen, s.length);
  }
  return s;
}

// The global scratch of a row in flight: mining's (loss null), the block-per-row loss rows' (none),
// or the thread-per-row loss rows' pairs_math.h scratch.
int64_t rowScratchFor(const MinerOptions& miner, const PairLossOptions* loss, int64_t refs) {
  if (!loss) return mineRowScratchBytes(miner, refs);
  return blockLossRows(miner, *loss) ? blockLossScratchBytes(miner, *loss, refs) : pairs::rowScratchBytes(refs);
}

// The launch plan: block and wave sizes and the byte offsets of every array in the one scratch
// allocation.  Depends only on the shape, the options and workBytes.
struct Plan {
  int64_t dimPad, ld, blockRows, blocks, waveRows, scratchStride;
  bool ref, secondValues, gradients;
  Split gxSplit, gySplit;
  size_t xh, yh, xLen, yLen, xSq, ySq, rowData, values, minerValues, coef, scratch, parts, gx, gy, hRows, hCols,
      directRows, directCols, total;
};

// rowScratch: bytes of global scratch each row in flight needs (rowScratchFor).
Plan makePlan(const PairShape& s, const PairSimilarityOptions& similarity, bool secondValues, bool gradients,
              bool ref, int64_t rowScratch) {
  Plan p{};
  const int64_t N = s.rows, M = s.refs;
  p.dimPad = roundUp(s.dim, 4);
  p.ld = roundUp(M, 4);
  p.ref = ref, p.secondValues = secondValues, p.gradients = gradients;
  const int64_t budget = std::max<int64_t>(similarity.workBytes, 1);
  const int64_t buffers = 1 + (secondValues ? 1 : 0) + (gradients ? 1 : 0);
  p.blockRows = std::max<int64_t>(1, std::min<int64_t>(N, (budget / 2) / (buffers * 4 * p.ld)));
  p.blocks = ceilDiv(N, p.blockRows);
  p.blockRows = ceilDiv(N, p.blocks);  // even blocks
  p.scratchStride = rowScratch;
  const int64_t scratchBudget = gradients ? budget / 4 : budget / 2;
  p.waveRows = p.scratchStride == 0 ? p.blockRows
                                    : std::max<int64_t>(1, std::min<int64_t>(p.blockRows, scratchBudget / p.scratchStride));
  int64_t partsFloats = 0;
  if (gradients) {
    const int64_t capacity = budget / 16;
    p.gxSplit = splitFor(p.blockRows, p.dimPad, p.ld, capacity);
    p.gySplit = splitFor(M, p.dimPad, p.blockRows, capacity);
    if (p.gxSplit.count > 1) partsFloats = p.gxSplit.count * p.blockRows * p.dimPad;
    if (p.gySplit.count > 1) partsFloats = std::max(partsFloats, p.gySplit.count * M * p.dimPad);
  }

  size_t at = 0;
  auto take = [&at](size_t bytes) { const size_t offset = at; at += alignedBytes(bytes); return offset; };
  const size_t blockFloats = static_cast<size_t>(p.blockRows * p.ld);
  p.xh = take(4 * N * p.dimPad);
  p.yh = take(ref ? 4 * M * p.dimPad : 0);
  p.xLen = take(8 * N);
  p.yLen = take(ref ? 8 * M : 0);
  p.xSq = take(4 * N);
  p.ySq = take(ref ? 4 * M : 0);
  p.rowData = take(std::max(sizeof(pairs::LossPartial), 2 * sizeof(int64_t)) * N);  // partials or counts/offsets
  p.values = take(4 * blockFloats);
  p.minerValues = take(secondValues ? 4 * blockFloats : 0);
  p.coef = take(gradients ? 4 * blockFloats : 0);
  p.scratch = take(static_cast<size_t>(p.waveRows * p.scratchStride));
  p.parts = take(4 * static_cast<size_t>(partsFloats));
  p.gx = take(gradients ? 4 * N * p.dimPad : 0);
  p.gy = take(gradients ? 4 * M * p.dimPad : 0);
  p.hRows = take(gradients ? 8 * N : 0);
  p.hCols = take(gradients ? 8 * M : 0);
  p.directRows = take(gradients ? 4 * p.blockRows : 0);
  p.directCols = take(gradients ? 4 * M : 0);
  p.total = at;
  return p;
}


// Device state of one call: the plan's arrays resolved, and the block loop's helpers.
class Engine {
 public:
  Engine(const PairShape& shape, const PairSimilarityOptions& similarity, const PairInputs& in, const Plan& plan,
         char* base, cudaStream_t stream)
      : s_(shape), sim_(similarity), in_(in), p_(plan), base_(base), stream_(stream) {
    xh_ = floats(p_.xh), yh_ = p_.ref ? floats(p_.yh) : xh_;
    xLen_ = doubles(p_.xLen), yLen_ = p_.ref ? doubles(p_.yLen) : xLen_;
    xSq_ = floats(p_.xSq), ySq_ = p_.ref ? floats(p_.ySq) : xSq_;
    values_ = floats(p_.values), minerValues_ = p_.secondValues ? floats(p_.minerValues) : values_;
    src_.labels = in.labels, src_.refLabels = in.ref ? in.refLabels : nullptr, src_.selfIndex = in.selfIndex;
    src_.refs = shape.refs, src_.ld = p_.ld;
  }
  float* floats(size_t offset) const { return reinterpret_cast<float*>(base_ + offset); }
  double* doubles(size_t offset) const { return reinterpret_cast<double*>(base_ + offset); }
  const RowSource& source() const { return src_; }
  int64_t rowsOf(int64_t block) const { return std::min(p_.blockRows, s_.rows - block * p_.blockRows); }
  float* values() const { return values_; }
  float* minerValues() const { return minerValues_; }

  void normalize() {
    const int n = sim_.normalize ? 1 : 0;
    FL_LAUNCH(normalizeKernel, static_cast<unsigned>(s_.rows), kRowThreads, 0, stream_)(in_.embeddings, s_.dim, xh_, p_.dimPad, n,
                                                                                      xLen_, xSq_, sim_.precision);
    if (p_.ref) {
      FL_LAUNCH(normalizeKernel, static_cast<unsigned>(s_.refs), kRowThreads, 0, stream_)(in_.ref, s_.dim, yh_, p_.dimPad, n,
                                                                                        yLen_, ySq_, sim_.precision);
    }
  }

  // The block's values: `distance` in values(), `second` (when the plan has it) in minerValues().
  void blockValues(int64_t block, PairDistance distance, PairDistance second) {
    const int64_t row0 = block * p_.blockRows, rows = rowsOf(block), Dp = p_.dimPad, M = s_.refs;
    const Gemm g = gemmArgs(xh_ + row0 * Dp, Dp, yh_, Dp, values_, p_.ld, rows, M, rows, M, Dp, Dp, Dp,
                            roundUp(Dp, kStep), 0, false);
    FL_LAUNCH((gemmKernel<true, true>), gemmBlocks(g), kGemmThreads, 0, stream_)(g);
    FL_LAUNCH(valuesKernel, gridFor(rows * p_.ld), kThreads, 0, stream_)(values_, p_.ld, static_cast<int>(rows),
                                                                         static_cast<int>(M), xSq_ + row0, ySq_, xh_ + row0 * Dp, yh_,
                                                                         s_.dim, Dp, distance,
                                                                         p_.secondValues ? minerValues_ : nullptr, second);
  }

  // Calls launch(wave, grid) for each wave of the block's rows: a thread block per row (mining),
  // or a thread per row (losses).
  template <typename Launch>
  void waves(int64_t block, Launch launch, bool blockPerRow = false) {
    const int64_t rows = rowsOf(block);
    for (int64_t first = 0; first < rows; first += p_.waveRows) {
      Wave w;
      w.row0 = block * p_.blockRows, w.first = static_cast<int>(first);
      w.count = static_cast<int>(std::min(p_.waveRows, rows - first));
      w.scratch = base_ + p_.scratch, w.scratchStride = p_.scratchStride;
      launch(w, blockPerRow ? static_cast<unsigned>(w.count) : blocksFor(w.count, kRowKernelThreads));
    }
  }

  // Backward of one block whose coefficients are in floats(p.coef): H sums, G, both GEMMs, and the
  // near-duplicate pairs' direct sums (pairs_direct.cuh) onto them.
  void blockGradients(int64_t block, PairDistance distance) {
    const int64_t row0 = block * p_.blockRows, rows = rowsOf(block), Dp = p_.dimPad, M = s_.refs, ld = p_.ld;
    float *coef = floats(p_.coef), *parts = floats(p_.parts), *gx = floats(p_.gx), *gy = floats(p_.gy);
    int32_t* directRows = reinterpret_cast<int32_t*>(base_ + p_.directRows);
    int32_t* directCols = reinterpret_cast<int32_t*>(base_ + p_.directCols);
    const float* xSq = xSq_ + row0;
    FL_LAUNCH(hRowKernel, static_cast<unsigned>(rows), kRowThreads, 0, stream_)(coef, values_, ld, static_cast<int>(M), distance,
                                                                               sim_.precision, xSq, ySq_, doubles(p_.hRows) + row0,
                                                                               directRows);
    FL_LAUNCH(hColumnKernel, blocksFor(M, kThreads), kThreads, 0, stream_)(coef, values_, ld, static_cast<int>(rows),
                                                                           static_cast<int>(M), distance, sim_.precision, xSq, ySq_,
                                                                           doubles(p_.hCols), directCols, block == 0 ? 1 : 0);
    FL_LAUNCH(gradTransformKernel, gridFor(rows * ld), kThreads, 0, stream_)(coef, values_, ld, static_cast<int>(rows),
                                                                             static_cast<int>(M), distance, sim_.precision, xSq, ySq_);
    const bool direct = !pairs::similarity(distance);
    // gx̂[block] = G·Ŷ: A = G (k = column, contiguous), B = ŷ rows (n = feature, contiguous).
    const bool gxSplit = p_.gxSplit.count > 1;
    const Gemm rowsGemm = gemmArgs(coef, ld, yh_, Dp, gxSplit ? parts : gx + row0 * Dp, Dp, rows, Dp, rows, Dp, ld, M, ld,
                                   p_.gxSplit.length, rows * Dp, false);
    FL_LAUNCH((gemmKernel<true, false>), gemmBlocks(rowsGemm), kGemmThreads, 0, stream_)(rowsGemm);
    if (gxSplit) {
      FL_LAUNCH(splitSumKernel, blocksFor(rows * Dp, kThreads), kThreads, 0, stream_)(
          parts, static_cast<int>(ceilDiv(ld, p_.gxSplit.length)), rows * Dp, gx + row0 * Dp, 0);
    }
    if (direct) {
      FL_LAUNCH(directSumsKernel, static_cast<unsigned>(rows), kDirectThreads, 0, stream_)(
          values_, ld, 1, M, directRows, xh_ + row0 * Dp, yh_, Dp, s_.dim, gx + row0 * Dp);
    }
    // gŶ (+)= Gᵀ·X̂[block]: A = Gᵀ (m = column, contiguous), B = x̂ rows (n contiguous), k = rows.
    const bool gySplit = p_.gySplit.count > 1;
    const int64_t gyLength = gySplit ? p_.gySplit.length : roundUp(rows, kStep);
    const Gemm colsGemm = gemmArgs(coef, ld, xh_ + row0 * Dp, Dp, gySplit ? parts : gy, Dp, M, Dp, ld, Dp, rows, rows,
                                   rows, gyLength, M * Dp, !gySplit && block > 0);
    FL_LAUNCH((gemmKernel<false, false>), gemmBlocks(colsGemm), kGemmThreads, 0, stream_)(colsGemm);
    if (gySplit) {
      FL_LAUNCH(splitSumKernel, blocksFor(M * Dp, kThreads), kThreads, 0, stream_)(
          parts, static_cast<int>(ceilDiv(rows, gyLength)), M * Dp, gy, block > 0 ? 1 : 0);
    }
    if (direct) {
      FL_LAUNCH(directSumsKernel, static_cast<unsigned>(M), kDirectThreads, 0, stream_)(
          values_, 1, ld, rows, directCols, yh_, xh_ + row0 * Dp, Dp, s_.dim, gy);
    }
  }

  // gradEmbeddings (and gradRef) from the unit-vector gradients.
  void unnormalize(PairLossOutputs& out) {
    const int n = sim_.normalize ? 1 : 0, D = static_cast<int>(s_.dim);
    const float *gx = floats(p_.gx), *gy = floats(p_.gy);
    const double *hRows = doubles(p_.hRows), *hCols = doubles(p_.hCols);
    const int rounded = sim_.precision != Precision::Float32 ? 1 : 0;  // the backward's v̂ recomputed unrounded
    FL_LAUNCH(unnormalizeKernel, static_cast<unsigned>(s_.rows), kRowThreads, 0, stream_)(gx, hRows, xh_, p_.dimPad, xLen_, n, D,
                                                                                        in_.embeddings, rounded, out.gradEmbeddings, 0);
    float* refOut = p_.ref ? out.gradRef : out.gradEmbeddings;
    FL_LAUNCH(unnormalizeKernel, static_cast<unsigned>(s_.refs), kRowThreads, 0, stream_)(gy, hCols, yh_, p_.dimPad, yLen_, n, D,
                                                                                        p_.ref ? in_.ref : in_.embeddings, rounded,
                                                                                        refOut, p_.ref ? 0 : 1);
  }

 private:
  const PairShape& s_;
  const PairSimilarityOptions& sim_;
  const PairInputs& in_;
  const Plan& p_;
  char* base_;
  cudaStream_t stream_;
  float *xh_, *yh_, *xSq_, *ySq_, *values_, *minerValues_;
  double *xLen_, *yLen_;
  RowSource src_;
};

// The shared argument checks (selfIndex, on the device, is the caller's: checkPairCall), and
// sizes every index of the kernels can hold.
KernelStatus checkDeviceCall(const PairShape& shape, const PairInputs& inputs) {
  const KernelStatus arguments = checkPairArguments(shape, inputs);
  if (!arguments.ok) return arguments;
  if (shape.rows > 0x7fffffff || shape.refs > 0x7ffffff0 || shape.dim > (int64_t{1} << 28)) {
    return KernelStatus::failure("pairs (CUDA): too many rows, reference rows or features");
  }
  return KernelStatus::success();
}

// --- mining steps (read side by side with mineBlocks in ../native/kernels/pairs_mine.cc) ---------

// Counting pass: each row's positives (or triplets) and negatives, into counts[2·row], [2·row + 1].
KernelStatus countRows(Engine& engine, const Plan& plan, const MinerOptions& miner, int64_t* counts, cudaStream_t stream) {
  for (int64_t b = 0; b < plan.blocks; ++b) {
    engine.blockValues(b, miner.distance, miner.distance);
    engine.waves(b, [&](const Wave& w, unsigned grid) {
      FL_LAUNCH(mineRowsKernel, grid, kMineThreads, 0, stream)(engine.source(), miner, engine.values(), w, counts,
                                                               MinedArrays{}, 0);
    }, true);
    FL_CUDA_TRY("launching the counting pass", cudaGetLastError());
  }
  return KernelStatus::success();
}

// The counts read back and turned into each row's offsets (exclusive scan in row order), with the
// totals of positives (or triplets) and negatives.
struct RowOffsets {
  std::vector<int64_t> offsets;  // [2·rows]: first and second output of each row
  int64_t first = 0, second = 0;
};

KernelStatus rowOffsets(const int64_t* counts, int64_t rows, cudaStream_t stream, RowOffsets& result) {
  std::vector<int64_t>& offsets = result.offsets;
  offsets.resize(static_cast<size_t>(2 * rows));
  FL_CUDA_TRY("reading the counts", cudaMemcpyAsync(offsets.data(), counts, 16 * rows, cudaMemcpyDeviceToHost, stream));
  FL_CUDA_TRY("counting", cudaStreamSynchronize(stream));
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t a = offsets[2 * i], b = offsets[2 * i + 1];
    offsets[2 * i] = result.first, offsets[2 * i + 1] = result.second;
    result.first += a, result.second += b;
  }
  return KernelStatus::success();
}

// The host outputs sized exactly.
void sizeOutputs(bool triplets, const RowOffsets& totals, MineOutputs& outputs) {
  if (triplets) {
    MinedTriplets& t = outputs.triplets;
    t.anchors.assign(totals.first, 0), t.positives.assign(totals.first, 0), t.negatives.assign(totals.first, 0);
  } else {
    MinedPairs& p = outputs.pairs;
    p.positiveAnchors.assign(totals.first, 0), p.positives.assign(totals.first, 0);
    p.negativeAnchors.assign(totals.second, 0), p.negatives.assign(totals.second, 0);
  }
}

// The device twins of the outputs in `mined` (poisoned with −1, never an index, so that an index the
// filling pass leaves unwritten shows) and the fill check's flag after them.
KernelStatus allocateMined(bool triplets, const RowOffsets& totals, int64_t rows, DeviceBuffer& mined, cudaStream_t stream,
                           MinedArrays& out) {
  const size_t firstBytes = alignedBytes(4 * totals.first), secondBytes = alignedBytes(4 * totals.second);
  const size_t arrayBytes = triplets ? 3 * firstBytes : 2 * (firstBytes + secondBytes);
  FL_CUDA_TRY("allocating the mined arrays", mined.allocate(arrayBytes + alignedBytes(sizeof(int32_t))));
  FL_CUDA_TRY("clearing the mined arrays", cudaMemsetAsync(mined.get(), kOutputPoisonByte, arrayBytes, stream));
  char* base = mined.get();
  out = MinedArrays{};
  out.rows = rows, out.totalFirst = totals.first, out.totalSecond = totals.second;
  out.mismatch = reinterpret_cast<int32_t*>(base + arrayBytes);
  FL_CUDA_TRY("clearing the fill check", cudaMemsetAsync(out.mismatch, 0, sizeof(int32_t), stream));
  if (triplets) {
    out.anchors = reinterpret_cast<int32_t*>(base), out.tripletPositives = reinterpret_cast<int32_t*>(base + firstBytes);
    out.tripletNegatives = reinterpret_cast<int32_t*>(base + 2 * firstBytes);
  } else {
    out.positiveAnchors = reinterpret_cast<int32_t*>(base), out.positives = reinterpret_cast<int32_t*>(base + firstBytes);
    out.negativeAnchors = reinterpret_cast<int32_t*>(base + 2 * firstBytes);
    out.negatives = reinterpret_cast<int32_t*>(base + 2 * firstBytes + secondBytes);
  }
  return KernelStatus::success();
}

// Filling pass: each row writes at its offsets (the values recomputed unless one block held every
// row), within the room its count made.
KernelStatus fillRows(Engine& engine, const Plan& plan, const MinerOptions& miner, int64_t* counts,
                      const RowOffsets& offsets, const MinedArrays& out, cudaStream_t stream) {
  FL_CUDA_TRY("writing the offsets",
              cudaMemcpyAsync(counts, offsets.offsets.data(), 8 * offsets.offsets.size(), cudaMemcpyHostToDevice, stream));
  for (int64_t b = 0; b < plan.blocks; ++b) {
    if (plan.blocks > 1) engine.blockValues(b, miner.distance, miner.distance);
    engine.waves(b, [&](const Wave& w, unsigned grid) {
      FL_LAUNCH(mineRowsKernel, grid, kMineThreads, 0, stream)(engine.source(), miner, engine.values(), w, counts, out, 1);
    }, true);
    FL_CUDA_TRY("launching the filling pass", cudaGetLastError());
  }
  return KernelStatus::success();
}

// The mined indices copied back, and the fill check: a row that found another count than its
// counting pass is an internal error (nothing was written out of bounds).
KernelStatus readMined(bool triplets, const MinedArrays& out, cudaStream_t stream, MineOutputs& outputs) {
  auto back = [&](std::vector<int32_t>& host, const int32_t* device) {
    return host.empty() ? cudaSuccess
                        : cudaMemcpyAsync(host.data(), device, 4 * host.size(), cudaMemcpyDeviceToHost, stream);
  };
  if (triplets) {
    MinedTriplets& t = outputs.triplets;
    FL_CUDA_TRY("reading the triplets", back(t.anchors, out.anchors));
    FL_CUDA_TRY("reading the triplets", back(t.positives, out.tripletPositives));
    FL_CUDA_TRY("reading the triplets", back(t.negatives, out.tripletNegatives));
  } else {
    MinedPairs& p = outputs.pairs;
    FL_CUDA_TRY("reading the pairs", back(p.positiveAnchors, out.positiveAnchors));
    FL_CUDA_TRY("reading the pairs", back(p.positives, out.positives));
    FL_CUDA_TRY("reading the pairs", back(p.negativeAnchors, out.negativeAnchors));
    FL_CUDA_TRY("reading the pairs", back(p.negatives, out.negatives));
  }
  int32_t mismatch = 0;
  FL_CUDA_TRY("reading the fill check", cudaMemcpyAsync(&mismatch, out.mismatch, sizeof(int32_t), cudaMemcpyDeviceToHost, stream));
  FL_CUDA_TRY("running the kernels", cudaStreamSynchronize(stream));
  if (mismatch) {
    outputs = MineOutputs();
    return KernelStatus::failure("mine (CUDA): internal error: the filling pass found another count than the counting "
                                 "pass (nothing was written out of bounds); please report it");
  }
  return KernelStatus::success();
}

}  // namespace

// --- device entry points (inputs and loss outputs in device memory) ---------------------------------

// Mining on device-resident inputs (selfIndex already checked: checkPairCall); outputs in host vectors.
KernelStatus mineCudaDevice(const PairShape& shape, const PairSimilarityOptions& similarity, const MinerOptions& miner,
                            int64_t maxOutputs, const PairInputs& inputs, MineOutputs& outputs, void* streamHandle) {
  const CudaErrorScope errorScope;
  KernelStatus status = checkDeviceCall(shape, inputs);
  if (!status.ok) return status;
  if (miner.type == MinerType::None) return KernelStatus::optionFailure("mine: a miner type is required");
  cudaStream_t stream = static_cast<cudaStream_t>(streamHandle);
  const Plan plan = makePlan(shape, similarity, false, false, inputs.ref != nullptr, rowScratchFor(miner, nullptr, shape.refs));
  DeviceBuffer buffer(stream);
  FL_CUDA_TRY("allocating device memory", buffer.allocate(plan.total));
  Engine engine(shape, similarity, inputs, plan, buffer.get(), stream);
  int64_t* counts = reinterpret_cast<int64_t*>(buffer.get() + plan.rowData);
  engine.normalize();
  if (!(status = countRows(engine, plan, miner, counts, stream)).ok) return status;
  RowOffsets offsets;
  if (!(status = rowOffsets(counts, shape.rows, stream, offsets)).ok) return status;
  const bool triplets = minesTriplets(miner.type);
  const int64_t total = offsets.first + offsets.second;
  if (total > maxOutputs) return tooManyMined(miner.type, total, maxOutputs);
  sizeOutputs(triplets, offsets, outputs);
  if (total == 0) return KernelStatus::success();
  DeviceBuffer mined(stream);
  MinedArrays out;
  if (!(status = allocateMined(triplets, offsets, shape.rows, mined, stream, out)).ok) return status;
  if (!(status = fillRows(engine, plan, miner, counts, offsets, out, stream)).ok) return status;
  return readMined(triplets, out, stream, outputs);
}

// Loss (and gradients into device outputs) on device-resident inputs (selfIndex already checked, and
// with unread non-finite rows zeroed: zeroUnreadNonFiniteRows, as pairLossCuda does).
KernelStatus pairLossCudaDevice(const PairShape& shape, const PairSimilarityOptions& similarity,
                                const MinerOptions& miner, const PairLossOptions& loss, const PairInputs& inputs,
                                PairLossOutputs& outputs, void* streamHandle) {
  const CudaErrorScope errorScope;
  KernelStatus status = checkDeviceCall(shape, inputs);
  if (!status.ok) return status;
  cudaStream_t stream = static_cast<cudaStream_t>(streamHandle);
  const bool ref = inputs.ref != nullptr;
  const bool gradients = loss.gradients && outputs.gradEmbeddings && (!ref || outputs.gradRef);
  if (loss.gradients && !gradients) return KernelStatus::failure("pairLoss: missing gradient outputs");
  const bool second = miner.type != MinerType::None && miner.distance != loss.distance;
  const Plan plan = makePlan(shape, similarity, second, gradients, ref, rowScratchFor(miner, &loss, shape.refs));
  DeviceBuffer buffer(stream);
  FL_CUDA_TRY("allocating device memory", buffer.allocate(plan.total));
  Engine engine(shape, similarity, inputs, plan, buffer.get(), stream);
  const int64_t N = shape.rows;
  pairs::LossPartial* partials = reinterpret_cast<pairs::LossPartial*>(buffer.get() + plan.rowData);
  engine.normalize();
  const PairDistance minerDistance = second ? miner.distance : loss.distance;
  const bool blockRows = blockLossRows(miner, loss);
  auto rowPass = [&](int64_t b, const pairs::LossScale& scale, float* coef) {
    engine.waves(b, [&](const Wave& w, unsigned grid) {
      if (blockRows) {
        FL_LAUNCH(lossRowsKernel, grid, kLossThreads, 0, stream)(engine.source(), miner, loss, engine.minerValues(),
                                                                 engine.values(), w, partials, scale, coef);
      } else {
        FL_LAUNCH(lossRowKernel, grid, kRowKernelThreads, 0, stream)(engine.source(), miner, loss, engine.minerValues(),
                                                                     engine.values(), w, partials, scale, coef);
      }
    }, blockRows);
  };
  for (int64_t b = 0; b < plan.blocks; ++b) {
    engine.blockValues(b, loss.distance, minerDistance);
    rowPass(b, pairs::LossScale(), nullptr);
    FL_CUDA_TRY("launching the forward pass", cudaGetLastError());
  }
  std::vector<pairs::LossPartial> rows(static_cast<size_t>(N));
  FL_CUDA_TRY("reading the partials",
              cudaMemcpyAsync(rows.data(), partials, sizeof(pairs::LossPartial) * N, cudaMemcpyDeviceToHost, stream));
  FL_CUDA_TRY("running the forward pass", cudaStreamSynchronize(stream));
  pairs::LossPartial total;
  for (const pairs::LossPartial& row : rows) pairs::addPartial(total, row);
  const pairs::LossScale scale = pairs::lossScale(total, N, loss);
  outputs.loss = scale.loss;
  if (!gradients) return KernelStatus::success();
  if (total.nonFinite > 0.0) {  // the NaN contract (pairs::lossScale): every gradient entry NaN
    FL_CUDA_TRY("writing NaN gradients", fillNaN(outputs.gradEmbeddings, static_cast<size_t>(N * shape.dim), stream));
    if (ref) FL_CUDA_TRY("writing NaN gradients", fillNaN(outputs.gradRef, static_cast<size_t>(shape.refs * shape.dim), stream));
    FL_CUDA_TRY("writing NaN gradients", cudaStreamSynchronize(stream));
    return KernelStatus::success();
  }

  for (int64_t b = 0; b < plan.blocks; ++b) {
    if (plan.blocks > 1) engine.blockValues(b, loss.distance, minerDistance);
    rowPass(b, scale, engine.floats(plan.coef));
    engine.blockGradients(b, loss.distance);
    FL_CUDA_TRY("launching the backward pass", cudaGetLastError());
  }
  engine.unnormalize(outputs);
  FL_CUDA_TRY("launching the gradients", cudaGetLastError());
  FL_CUDA_TRY("running the backward pass", cudaStreamSynchronize(stream));
  return KernelStatus::success();
}

// Bytes the device entry points allocate for a call beyond inputs, outputs and mined arrays.
// loss null: mining.
int64_t pairCudaScratchBytes(const PairShape& shape, const PairSimilarityOptions& similarity, const MinerOptions& miner,
                             const PairLossOptions* loss, bool ref) {
  const bool second = loss && miner.type != MinerType::None && miner.distance != loss->distance;
  return static_cast<int64_t>(
      makePlan(shape, similarity, second, loss && loss->gradients, ref, rowScratchFor(miner, loss, shape.refs)).total);
}

// --- host entry points ------------------------------------------------------------------------------

namespace {

// The inputs mirrored on the device.
struct StagedInputs {
  int embeddings, labels, ref, refLabels, selfIndex;
};

StagedInputs stageInputs(HostStaging& staging, const PairShape& shape, const PairInputs& inputs) {
  const size_t N = static_cast<size_t>(shape.rows), M = static_cast<size_t>(shape.refs), D = static_cast<size_t>(shape.dim);
  StagedInputs s;
  s.embeddings = staging.input(inputs.embeddings, 4 * N * D);
  s.labels = staging.input(inputs.labels, 4 * N);
  s.ref = staging.input(inputs.ref, inputs.ref ? 4 * M * D : 0);
  s.refLabels = staging.input(inputs.refLabels, inputs.refLabels ? 4 * M : 0);
  s.selfIndex = staging.input(inputs.selfIndex, inputs.selfIndex ? 4 * N : 0);
  return s;
}

PairInputs deviceInputs(const HostStaging& staging, const StagedInputs& s) {
  PairInputs in;
  in.embeddings = staging.device<const float>(s.embeddings);
  in.labels = staging.device<const int32_t>(s.labels);
  in.ref = staging.device<const float>(s.ref);
  in.refLabels = staging.device<const int32_t>(s.refLabels);
  in.selfIndex = staging.device<const int32_t>(s.selfIndex);
  return in;
}

}  // namespace

KernelStatus mineCuda(const PairShape& shape, const PairSimilarityOptions& similarity, const MinerOptions& miner,
                      int64_t maxOutputs, const PairInputs& inputs, MineOutputs& outputs) {
  const CudaErrorScope errorScope;
  KernelStatus status = checkPairCall(shape, inputs);
  if (!status.ok) return status;
  if (miner.type == MinerType::None) return KernelStatus::failure("mine: a miner type is required");
  const CudaInfo& info = cudaInfo();
  if (!info.available) return KernelStatus::failure("mine (CUDA): " + info.reason);
  HostStaging staging(cudaStreamPerThread);
  const StagedInputs staged = stageInputs(staging, shape, inputs);
  FL_CUDA_TRY("staging inputs", staging.copyIn());
  outputs = MineOutputs();
  return mineCudaDevice(shape, similarity, miner, maxOutputs, deviceInputs(staging, staged), outputs, cudaStreamPerThread);
}

KernelStatus pairLossCuda(const PairShape& shape, const PairSimilarityOptions& similarity, const MinerOptions& miner,
                          const PairLossOptions& loss, const PairInputs& inputs, PairLossOutputs& outputs) {
  const CudaErrorScope errorScope;
  KernelStatus status = checkPairCall(shape, inputs);
  if (!status.ok) return status;
  const bool g = loss.gradients, ref = inputs.ref != nullptr;
  if (g && (!outputs.gradEmbeddings || (ref && !outputs.gradRef))) {
    return KernelStatus::failure("pairLoss: missing gradient outputs");
  }
  const CudaInfo& info = cudaInfo();
  if (!info.available) return KernelStatus::failure("pairLoss (CUDA): " + info.reason);
  const size_t N = static_cast<size_t>(shape.rows), M = static_cast<size_t>(shape.refs), D = static_cast<size_t>(shape.dim);
  // Rows that form no pair contribute nothing, whatever they hold (pairs.h).
  const FiniteUnreadRows finite = zeroUnreadNonFiniteRows(shape, inputs);
  HostStaging staging(cudaStreamPerThread);
  const StagedInputs staged = stageInputs(staging, shape, finite.inputs);
  const int gradEmbeddings = staging.output(g ? outputs.gradEmbeddings : nullptr, g ? 4 * N * D : 0);
  const int gradRef = staging.output(g && ref ? outputs.gradRef : nullptr, g && ref ? 4 * M * D : 0);
  FL_CUDA_TRY("staging inputs", staging.copyIn());
  PairLossOutputs out;
  out.gradEmbeddings = staging.device<float>(gradEmbeddings);
  out.gradRef = staging.device<float>(gradRef);
  status = pairLossCudaDevice(shape, similarity, miner, loss, deviceInputs(staging, staged), out, cudaStreamPerThread);
  if (!status.ok) return status;
  if (g) FL_CUDA_TRY("copying outputs", staging.copyOut());
  outputs.loss = out.loss;
  return KernelStatus::success();
}

}  // namespace fusedloss
