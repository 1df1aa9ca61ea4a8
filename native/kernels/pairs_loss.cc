// Pair losses (and their gradients), native CPU backend.  See pairs.h for the interface,
// ../math/pairs_math.h for the per-row formulas and pairs_blocks.h for the row-block engine.
//
//  pass 1  per block: values (the loss' distance, and the miner's when it differs), each row's
//          float64 partial sums and counts; summed in row order → the loss and the global
//          normalizers (K⁺, K⁻, active triplets, …).
//          A loss whose scale is known ahead (multi-similarity) forms G in this pass and runs each
//          block's gradient GEMMs after its rows: no pass 2.
//  pass 2  (gradients) per block: values again unless one block held every row; each row's
//          coefficients ∂loss/∂v → G = ∂loss/∂dot in place of the values (and Σ_j H_ij); then
//          the block's gradient GEMMs, near-duplicate pairs summed apart (pairs_direct.h).  Last,
//          the norm terms and the normalization backward.
#include <algorithm>
#include <cmath>
#include <exception>
#include <new>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "pairs_blocks.h"
#include "pairs.h"
#include "pairs_ms_row.h"

namespace fusedloss {
namespace {

using pairblocks::Gradients;
using pairblocks::Plan;

// The miner's own values are needed only when a miner runs on another distance.
bool separateMinerValues(const MinerOptions& miner, const PairLossOptions& loss) {
  return miner.type != MinerType::None && miner.distance != loss.distance;
}

struct BlockValues {
  FloatBuffer loss;   // [R, Mp]: values, then G in pass 2
  FloatBuffer miner;  // [R, Mp] when separate
  BlockValues(const Plan& p, bool separate) : loss(p.rowBlock * p.refsPad), miner(separate ? p.rowBlock * p.refsPad : 0) {}
};

// The smallest loss value of the row's formed pairs (+∞ without one).
float nearestFormed(const pairs::PairRow& row) {
  float nearest = INFINITY;
  const int64_t excluded = row.excluded >= 0 && row.excluded < row.refs ? row.excluded : row.refs;
  for (int64_t j = 0; j < excluded; ++j) nearest = std::min(nearest, row.lossValues[j]);
  for (int64_t j = excluded + 1; j < row.refs; ++j) nearest = std::min(nearest, row.lossValues[j]);
  return nearest;
}

KernelStatus lossBlocks(const PairShape& shape, const PairSimilarityOptions& similarity, const MinerOptions& miner,
                        const PairLossOptions& loss, const PairInputs& inputs, PairLossOutputs& outputs) {
  const bool separate = separateMinerValues(miner, loss);
  const bool distance = pairblocks::isDistance(loss.distance);
  const bool norms = distance || (separate && pairblocks::isDistance(miner.distance));
  const Plan p = pairblocks::makePlan(shape, similarity, inputs, separate ? 2 : 1, norms);
  pairblocks::Embeddings e(p);
  pairblocks::prepareEmbeddings(p, inputs, e);
  BlockValues values(p, separate);

  // The block's values (computed when `compute`) and the row views over them.
  auto rowAt = [&](int64_t blockStart, int64_t r, bool compute) {
    float* row = values.loss.data() + r * p.refsPad;
    float* minerRow = separate ? values.miner.data() + r * p.refsPad : row;
    if (compute) pairblocks::rowValues(p, e, blockStart + r, loss.distance, row, miner.distance, separate ? minerRow : nullptr);
    return pairblocks::pairRow(p, e, inputs, blockStart + r, minerRow, row);
  };

  // Near-duplicate pairs of a distance (pairs::directGradientPair): G kept for the direct sums
  // (pairs_direct.h), no H; marked per block row.
  std::optional<pairblocks::DirectPairs> direct;
  if (distance && loss.gradients) direct.emplace(p.rowBlock, p.refs);
  const float maxYSquared = direct ? *std::max_element(e.ySquared.begin(), e.ySquared.end()) : 0.0f;

  // G = ∂loss/∂dot in place of row r's values (and Σ_j H_ij) from its coefficients.
  std::vector<pairs::LossPartial> partials(p.rows);
  auto rowGradient = [&](int64_t blockStart, int64_t r, const pairs::PairRow& row, const float* coef, Gradients& g) {
    float* out = values.loss.data() + r * p.refsPad;
    const float xSquared = direct ? e.xSquared[blockStart + r] : 0.0f;
    // A row whose nearest formed pair is clear of the threshold for the longest ŷ tests no pair.
    const bool mayHaveDirect = direct && pairs::directGradientPair(loss.distance, nearestFormed(row), 1.0f, xSquared, maxYSquared);
    if (direct) direct->clearRow(r);
    double hSum = 0.0;
    auto transform = [&](auto test) {  // test: std::bool_constant, the per-pair test compiled in or out
      for (int64_t j = 0; j < p.refs; ++j) {
        float gj, hj;
        pairs::valueGradient(loss.distance, out[j], coef[j], &gj, &hj);
        // G is an operand of both gradient products; H = −G stays the pair's one coefficient.
        if (p.precision != Precision::Float32) gj = precision::roundOperand(gj, p.precision), hj = hj != 0.0f ? -gj : 0.0f;
        if constexpr (decltype(test)::value) {
          if (pairs::directGradientPair(loss.distance, out[j], hj, xSquared, e.ySquared[j])) {
            direct->mark(r, j);
            hj = 0.0f;
          }
        }
        out[j] = gj;
        hSum += hj;
      }
    };
    mayHaveDirect ? transform(std::true_type()) : transform(std::false_type());
    for (int64_t j = p.refs; j < p.refsPad; ++j) out[j] = 0.0f;
    g.hRow[blockStart + r] = hSum;
  };

  // A scale known ahead (multi-similarity) needs no second pass: each row's coefficients come
  // with its partial sums and each block's gradient GEMMs follow its rows (the same bits).
  const bool onePass = loss.gradients && pairs::scaleKnownAhead(loss);
  const pairs::LossScale ahead = pairs::lossScale(pairs::LossPartial(), p.rows, loss);
  // Multi-similarity without a miner or with its own: the row in float64 lanes (pairs_ms_row.h).
  const bool lanes = pairs_cpu::lanesServe(miner, loss);
  std::optional<Gradients> g;
  if (loss.gradients) g.emplace(p, outputs.gradRef);
  // The triplet loss' per-column counts, kept from pass 1 when one block holds every row and
  // they fit beside its value rows in the budget: pass 2 then forms the coefficients without a
  // second sweep.
  const bool keepCounts = loss.gradients && loss.type == PairLossType::TripletMargin && p.blocks == 1 &&
                          4 * ((separate ? 2 : 1) + 1) * p.rowBlock * p.refsPad <= similarity.workBytes;
  // In a recycled FloatBuffer (int32 counts in float-sized slots, every one written in pass 1): a
  // zeroed vector of N·M counts cost its page faults and memset on every call.
  FloatBuffer countStorage(keepCounts ? p.rows * p.refs : 0);
  int32_t* counts = reinterpret_cast<int32_t*>(countStorage.data());
  for (int64_t blockStart = 0; blockStart < p.rows; blockStart += p.rowBlock) {
    const int64_t blockRows = std::min(p.rowBlock, p.rows - blockStart);
    pairblocks::blockDots(p, e, blockStart, blockRows, values.loss.data());
    pairblocks::forRows(p, blockRows, [&](int64_t r, void* scratch, float* coef) {
      const pairs::PairRow row = rowAt(blockStart, r, true);
      if (keepCounts) {
        partials[blockStart + r] = pairs::tripletLossRowForward(row, miner, loss, scratch, counts + r * p.refs);
        return;
      }
      if (lanes) {
        partials[blockStart + r] = pairs_cpu::multiSimilarityRowLanes(row, miner, loss, ahead.scale[0], scratch, onePass ? coef : nullptr);
        if (onePass) rowGradient(blockStart, r, row, coef, *g);
        return;
      }
      if (!onePass) {
        partials[blockStart + r] = pairs::lossRowForward(row, miner, loss, scratch);
        return;
      }
      partials[blockStart + r] = pairs::lossRowWithGradient(row, miner, loss, ahead, scratch, coef);
      rowGradient(blockStart, r, row, coef, *g);
    });
    if (onePass) pairblocks::blockGradients(p, e, blockStart, blockRows, values.loss.data(), distance, *g,
                               direct ? &*direct : nullptr);
  }
  pairs::LossPartial total;
  for (const pairs::LossPartial& partial : partials) pairs::addPartial(total, partial);
  const pairs::LossScale scale = pairs::lossScale(total, p.rows, loss);
  outputs.loss = scale.loss;
  if (!loss.gradients) return KernelStatus::success();
  if (total.nonFinite > 0.0) {  // the NaN contract (pairs::lossScale): every gradient entry NaN
    std::fill(outputs.gradEmbeddings, outputs.gradEmbeddings + p.rows * p.dim, NAN);
    if (outputs.gradRef) std::fill(outputs.gradRef, outputs.gradRef + p.refs * p.dim, NAN);
    return KernelStatus::success();
  }
  if (onePass) {
    pairblocks::finishGradients(p, e, *g, inputs, outputs.gradEmbeddings, outputs.gradRef);
    return KernelStatus::success();
  }

  const bool reuse = p.blocks == 1;
  for (int64_t blockStart = 0; blockStart < p.rows; blockStart += p.rowBlock) {
    const int64_t blockRows = std::min(p.rowBlock, p.rows - blockStart);
    if (!reuse) pairblocks::blockDots(p, e, blockStart, blockRows, values.loss.data());
    pairblocks::forRows(p, blockRows, [&](int64_t r, void* scratch, float* coef) {
      const pairs::PairRow row = rowAt(blockStart, r, !reuse);
      if (keepCounts) {
        pairs::tripletCoefficients(row, loss, counts + r * p.refs, scale, coef);
      } else {
        pairs::lossRowBackward(row, miner, loss, scale, scratch, coef);
      }
      rowGradient(blockStart, r, row, coef, *g);
    });
    // Column sums of H = −G (distances) are formed in blockGradients, rows in order.
    pairblocks::blockGradients(p, e, blockStart, blockRows, values.loss.data(), distance, *g,
                               direct ? &*direct : nullptr);
  }
  pairblocks::finishGradients(p, e, *g, inputs, outputs.gradEmbeddings, outputs.gradRef);
  return KernelStatus::success();
}

}  // namespace

KernelStatus pairLossCpu(const PairShape& shape, const PairSimilarityOptions& similarity, const MinerOptions& miner,
                         const PairLossOptions& loss, const PairInputs& inputs, PairLossOutputs& outputs) {
  const KernelStatus check = checkPairCall(shape, inputs);
  if (!check.ok) return check;
  if (loss.gradients && (!outputs.gradEmbeddings || (inputs.ref && !outputs.gradRef))) {
    return KernelStatus::failure("pairLoss: missing gradient outputs");
  }
  try {
    const FiniteUnreadRows finite = zeroUnreadNonFiniteRows(shape, inputs);
    return lossBlocks(shape, similarity, miner, loss, finite.inputs, outputs);
  } catch (const std::bad_alloc&) {
    return KernelStatus::memoryFailure("pairLoss: not enough memory for the normalized copies and work buffers");
  } catch (const std::exception& error) {
    return KernelStatus::failure(std::string("pairLoss: ") + error.what());
  }
}

}  // namespace fusedloss
