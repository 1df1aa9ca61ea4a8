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

// --- mining steps (read side by side with mineCudaDevice in ../../cuda/pairs.cu) ------------------

// Counting pass: each row's positives, negatives and triplets.
std::vector<pairs::MineCounts> countRows(const Plan& p, const pairblocks::Embeddings& e, const PairInputs& inputs,
                                         const MinerOptions& miner, FloatBuffer& values) {
  std::vector<pairs::MineCounts> counts(p.rows);
  overBlocks(p, e, inputs, miner, values, false, [&](const pairs::PairRow& row, int64_t i, void* scratch) {
    counts[i] = pairs::mineRowCounts(row, miner, scratch);
  });
  return counts;
}

// Each row's offsets in row order (exclusive scan) and the totals: the first output is the
// positives (or triplets), the second the negatives.
struct RowOffsets {
  std::vector<int64_t> first, second;
  int64_t firstTotal = 0, secondTotal = 0;
};

RowOffsets rowOffsets(const std::vector<pairs::MineCounts>& counts, bool triplets) {
  RowOffsets offsets;
  offsets.first.resize(counts.size()), offsets.second.resize(counts.size());
  for (size_t i = 0; i < counts.size(); ++i) {
    offsets.first[i] = offsets.firstTotal, offsets.second[i] = offsets.secondTotal;
    offsets.firstTotal += triplets ? counts[i].triplets : counts[i].positives;
    offsets.secondTotal += counts[i].negatives;
  }
  return offsets;
}

// The outputs sized exactly.
void sizeOutputs(bool triplets, const RowOffsets& offsets, MineOutputs& outputs) {
  outputs = MineOutputs();
  if (triplets) {
    MinedTriplets& t = outputs.triplets;
    t.anchors.resize(offsets.firstTotal), t.positives.resize(offsets.firstTotal), t.negatives.resize(offsets.firstTotal);
  } else {
    MinedPairs& pairsOut = outputs.pairs;
    pairsOut.positiveAnchors.resize(offsets.firstTotal), pairsOut.positives.resize(offsets.firstTotal);
    pairsOut.negativeAnchors.resize(offsets.secondTotal), pairsOut.negatives.resize(offsets.secondTotal);
  }
}

// Filling pass: each row writes at its offsets within the room its count made (the values
// recomputed unless one block held every row).  Returns a row whose fill found another count than
// its counting pass (nothing was written out of bounds), or −1.
int64_t fillRows(const Plan& p, const pairblocks::Embeddings& e, const PairInputs& inputs, const MinerOptions& miner,
                 FloatBuffer& values, const std::vector<pairs::MineCounts>& counts, const RowOffsets& offsets, bool triplets,
                 MineOutputs& outputs) {
  std::atomic<int64_t> mismatchedRow{-1};
  MinedPairs& pairsOut = outputs.pairs;
  MinedTriplets& tripletsOut = outputs.triplets;
  overBlocks(p, e, inputs, miner, values, p.blocks == 1, [&](const pairs::PairRow& row, int64_t i, void* scratch) {
    const int64_t first = offsets.first[i], second = offsets.second[i];
    pairs::MineRowOutput out;
    if (triplets) {
      out.anchors = tripletsOut.anchors.data() + first;
      out.tripletPositives = tripletsOut.positives.data() + first;
      out.tripletNegatives = tripletsOut.negatives.data() + first;
      out.tripletRoom = counts[i].triplets;
    } else {
      out.positiveAnchors = pairsOut.positiveAnchors.data() + first;
      out.positives = pairsOut.positives.data() + first;
      out.negativeAnchors = pairsOut.negativeAnchors.data() + second;
      out.negatives = pairsOut.negatives.data() + second;
      out.positiveRoom = counts[i].positives, out.negativeRoom = counts[i].negatives;
    }
    const pairs::MineCounts found = pairs::mineRowFill(row, miner, static_cast<int32_t>(i), scratch, out);
    if (!pairs::mineRowMatches(found, out, triplets)) mismatchedRow.store(i);
  });
  return mismatchedRow.load();
}

KernelStatus mineBlocks(const PairShape& shape, const PairSimilarityOptions& similarity, const MinerOptions& miner,
                        int64_t maxOutputs, const PairInputs& inputs, MineOutputs& outputs) {
  const Plan p = pairblocks::makePlan(shape, similarity, inputs, 1, pairblocks::isDistance(miner.distance));
  pairblocks::Embeddings e(p);
  pairblocks::prepareEmbeddings(p, inputs, e);
  FloatBuffer values(p.rowBlock * p.refsPad);
  const std::vector<pairs::MineCounts> counts = countRows(p, e, inputs, miner, values);
  const bool triplets = minesTriplets(miner.type);
  const RowOffsets offsets = rowOffsets(counts, triplets);
  const int64_t total = triplets ? offsets.firstTotal : offsets.firstTotal + offsets.secondTotal;
  if (total > maxOutputs) return tooManyMined(miner.type, total, maxOutputs);
  sizeOutputs(triplets, offsets, outputs);
  if (total == 0) return KernelStatus::success();
  const int64_t mismatchedRow = fillRows(p, e, inputs, miner, values, counts, offsets, triplets, outputs);
  if (mismatchedRow >= 0) {
    outputs = MineOutputs();
    return KernelStatus::failure("mine: internal error: the filling pass found another count than the counting pass in row " +
                                 std::to_string(mismatchedRow) + " (nothing was written out of bounds); please report it");
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
