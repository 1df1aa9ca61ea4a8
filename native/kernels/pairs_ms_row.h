// Multi-similarity's row on the CPU (and WebAssembly) in float64 lanes: the same loss and
// coefficients as pairs::lossRow (../math/pairs_loss_math.h) for the multi-similarity loss without
// a miner or with the multi-similarity miner, the per-pair work vectorized.  It differs from that
// scalar definition (which CUDA's thread-per-row path runs) only in the order of the two float64
// sums of exponentials (four lanes summed apart, then in lane order) and in e^x, which is
// fdlibm's algorithm evaluated lane by lane (pairs_exp.h): the bits of the js fallback's Math.exp
// on V8.  Both stay far inside docs/spec/pairs.md's tolerances; the bits depend only on the inputs.
#pragma once

#include <cstdint>

#include "../math/pairs_math.h"

namespace fusedloss {
namespace pairs_cpu {

// Is the loss one multiSimilarityRowLanes computes (multi-similarity, no miner or the
// multi-similarity miner)?
inline bool lanesServe(const MinerOptions& miner, const PairLossOptions& loss) {
  return loss.type == PairLossType::MultiSimilarity &&
         (miner.type == MinerType::None || miner.type == MinerType::MultiSimilarity);
}

// The row's partial sums (nonFinite included, as lossRowForward / lossRowWithGradient give them)
// and, when coef is given, ∂loss/∂v·scale for every column (0 where the pair is not given).
// scratch: pairs::rowScratchBytes(row.refs) bytes.
pairs::LossPartial multiSimilarityRowLanes(const pairs::PairRow& row, const MinerOptions& miner,
                                           const PairLossOptions& loss, double scale, void* scratch, float* coef);

}  // namespace pairs_cpu
}  // namespace fusedloss
