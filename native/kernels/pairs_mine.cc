// Pair / triplet mining, native CPU backend.  See pairs.h for the interface,
// ../math/pairs_math.h for the per-row rules and pairs_blocks.h for the row-block engine.
//
// Two passes over the row blocks: count each row's output (triplets by sorting and binary
// search, never enumerated), check the total against maxOutputs, allocate the outputs exactly,
// then fill each row at its offset (the values recomputed unless one block held every row).  Both
// passes run the same row function (pairs::mineRow); the fill writes only within the room the
// count made and a disagreement is an internal error, never a write out of bounds.
#include <atomic>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include "pairs_blocks.h"
#include "pairs.h"

namespace fusedloss {
namespace {

using pairblocks::Plan;

// Runs `body(i, values)` for every row, block by block; values of a block computed once.
template <typename Body>
void overBlocks(const Plan& p, const pairblocks::Embeddings& e, const PairInputs& in, const MinerOptions& miner,
                FloatBuffer& values, bool reuse, const Body& body) {
  for (int64_t blockStart = 0; blockStart < p.rows; blockStart += p.rowBlock) {
    const int64_t blockRows = std::min(p.rowBlock, p.rows - blockStart);
    if (!reuse) pairblocks::blockDots(p, e, blockStart, blockRows, values.data());
    pairblocks::forRows(p, blockRows, [&](int64_t r, void* scratch, float*) {
      float* row = values.data() + r * p.refsPad;
      const int64_t i = blockStart + r;
      if (!reuse) pairblocks::rowValues(p, e, i, miner.distance, row, miner.distance, nullptr);
      body(pairblocks::pairRow(p, e, in, i, row, row), i, scratch);
    });
  }
}

KernelStatus mineBlocks(const PairShape& shape, const PairSimilarityOptions& similarity, const MinerOptions& miner,
                        int64_t maxOutputs, const PairInputs& inputs, MineOutputs& outputs) {
  const Plan p = pairblocks::makePlan(shape, similarity, inputs, 1, pairblocks::isDistance(miner.distance));
  pairblocks::Embeddings e(p);
  pairblocks::prepareEmbeddings(p, inputs, e);
  FloatBuffer values(p.rowBlock * p.refsPad);
  std::vector<pairs::MineCounts> counts(p.rows);
  overBlocks(p, e, inputs, miner, values, false, [&](const pairs::PairRow& row, int64_t i, void* scratch) {
    counts[i] = pairs::mineRowCounts(row, miner, scratch);
  });
  const bool triplets = minesTriplets(miner.type);
  int64_t total = 0, positives = 0, negatives = 0;
  for (const pairs::MineCounts& c : counts) total += c.triplets, positives += c.positives, negatives += c.negatives;
  if (!triplets) total = positives + negatives;
  if (total > maxOutputs) {
    return tooManyMined(miner.type, total, maxOutputs);
  }
  outputs = MineOutputs();
  MinedPairs& pairsOut = outputs.pairs;
  MinedTriplets& tripletsOut = outputs.triplets;
  if (triplets) {
    tripletsOut.anchors.resize(total), tripletsOut.positives.resize(total), tripletsOut.negatives.resize(total);
  } else {
    pairsOut.positiveAnchors.resize(positives), pairsOut.positives.resize(positives);
    pairsOut.negativeAnchors.resize(negatives), pairsOut.negatives.resize(negatives);
  }
  // Offsets in row order.
  std::vector<int64_t> firstA(p.rows), firstB(p.rows);
  int64_t a = 0, b = 0;
  for (int64_t i = 0; i < p.rows; ++i) {
    firstA[i] = a, firstB[i] = b;
    a += triplets ? counts[i].triplets : counts[i].positives;
    b += counts[i].negatives;
  }
  if (total == 0) return KernelStatus::success();
  std::atomic<int64_t> mismatchedRow{-1};
  overBlocks(p, e, inputs, miner, values, p.blocks == 1, [&](const pairs::PairRow& row, int64_t i, void* scratch) {
    pairs::MineRowOutput out;
    if (triplets) {
      out.anchors = tripletsOut.anchors.data() + firstA[i];
      out.tripletPositives = tripletsOut.positives.data() + firstA[i];
      out.tripletNegatives = tripletsOut.negatives.data() + firstA[i];
      out.tripletRoom = counts[i].triplets;
    } else {
      out.positiveAnchors = pairsOut.positiveAnchors.data() + firstA[i];
      out.positives = pairsOut.positives.data() + firstA[i];
      out.negativeAnchors = pairsOut.negativeAnchors.data() + firstB[i];
      out.negatives = pairsOut.negatives.data() + firstB[i];
      out.positiveRoom = counts[i].positives, out.negativeRoom = counts[i].negatives;
    }
    const pairs::MineCounts found = pairs::mineRowFill(row, miner, static_cast<int32_t>(i), scratch, out);
    if (!pairs::mineRowMatches(found, out, triplets)) mismatchedRow.store(i);
  });
  if (mismatchedRow.load() >= 0) {
    outputs = MineOutputs();
    return KernelStatus::failure("mine: internal error: the filling pass found another count than the counting pass in row " +
                                 std::to_string(mismatchedRow.load()) + " (nothing was written out of bounds); please report it");
  }
  return KernelStatus::success();
}

}  // namespace

KernelStatus mineCpu(const PairShape& shape, const PairSimilarityOptions& similarity, const MinerOptions& miner,
                     int64_t maxOutputs, const PairInputs& inputs, MineOutputs& outputs) {
  const KernelStatus check = checkPairCall(shape, inputs);
  if (!check.ok) return check;
  if (miner.type == MinerType::None) return KernelStatus::optionFailure("mine: a miner type is required");
  try {
    return mineBlocks(shape, similarity, miner, maxOutputs, inputs, outputs);
  } catch (const std::bad_alloc&) {
    outputs = MineOutputs();
    return KernelStatus::memoryFailure("mine: not enough memory for the normalized copies, work buffers or outputs");
  } catch (const std::exception& error) {
    outputs = MineOutputs();
    return KernelStatus::failure(std::string("mine: ") + error.what());
  }
}

}  // namespace fusedloss
