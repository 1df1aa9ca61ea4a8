// Pairwise similarity mining and pair losses (multi-similarity, triplet-margin, batch-hard and
// pair-margin miners; multi-similarity, contrastive, triplet-margin, circle, NT-Xent and
// threshold-consistent losses) computed in row blocks: never an N×M similarity matrix beyond
// the work budget, never an N×M×M triplet mask.  Contract: docs/spec/pairs.md.
// Plain pointers and sizes only — no N-API — so the CPU and CUDA versions can be called from
// tests, benchmarks and other bindings alike.
//
// Semantics shared by every backend (the per-row math lives in ../math/pairs_math.h):
//  • Vectors: x̂ = x / max(‖x‖, 1e-12) when `normalize` (PML's F.normalize), else x as given;
//    ŷ likewise for the reference rows (the batch itself when `ref` is null).
//  • Values (float32): dot_ij = x̂_i·ŷ_j; 'cosine'/'dot' use it as the similarity s_ij;
//    'squared-euclidean' d = max(‖x̂_i‖² + ‖ŷ_j‖² − 2·dot_ij, 0); 'euclidean' its square root.
//    A given reference vector gives the same bits in every column it occupies, so exactly
//    repeated vectors tie.
//  • Pairs: column `excluded(i)` — i without a reference set, selfIndex[i] with one (−1: none) —
//    is never paired with row i.  Positive: same label; negative: different label.
//  • Comparisons with parameters (ε, margins) are made in float64 on the float32 values.
//  • The miner and the loss may use different distances (each its default when the caller gives
//    none); both come from the same dot products, since `normalize` is shared.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "pairs_types.h"
#include "status.h"

namespace fusedloss {

struct PairShape {
  int64_t rows = 0;  // N queries
  int64_t refs = 0;  // M reference rows (= rows without a reference set)
  int64_t dim = 0;   // D
};

struct PairInputs {
  const float* embeddings = nullptr;  // [rows, dim]
  const int32_t* labels = nullptr;    // [rows], any int32
  const float* ref = nullptr;         // [refs, dim], or null: the batch itself (refs == rows)
  const int32_t* refLabels = nullptr; // [refs] with ref; null without
  const int32_t* selfIndex = nullptr; // [rows] in [−1, refs), with ref only; null: nothing excluded
};


// Mined index sets in canonical order (anchor ascending, then partner(s) ascending); indices
// into the embeddings for anchors and into the reference rows for partners.  Pair miners fill
// `pairs`, triplet miners `triplets`; each vector is sized exactly (a counting pass first).
struct MinedPairs {
  std::vector<int32_t> positiveAnchors, positives, negativeAnchors, negatives;
};
struct MinedTriplets {
  std::vector<int32_t> anchors, positives, negatives;
};
struct MineOutputs {
  MinedPairs pairs;
  MinedTriplets triplets;
};

struct PairLossOutputs {
  float* gradEmbeddings = nullptr;  // [rows, dim]; with gradients.  Without a reference set it sums both roles.
  float* gradRef = nullptr;         // [refs, dim]; with gradients and a reference set
  double loss = 0.0;
};

// The rules of a call, for direct C++ callers (the TypeScript layer enforces them for users,
// with its own messages; the N-API glue checks only memory safety and reports these failures
// with the same codes).  Every host entry point calls checkPairCall once before touching memory;
// the device entry points, whose selfIndex lives on the device, check the arguments only.
inline KernelStatus checkPairArguments(const PairShape& shape, const PairInputs& inputs) {
  if (shape.rows < 1 || shape.refs < 1 || shape.dim < 1) return KernelStatus::shapeFailure("pairs: empty shape");
  if (!inputs.embeddings || !inputs.labels) return KernelStatus::failure("pairs: missing embeddings or labels");
  if (inputs.ref) {
    if (!inputs.refLabels) return KernelStatus::failure("pairs: ref without refLabels");
  } else if (shape.refs != shape.rows || inputs.refLabels || inputs.selfIndex) {
    return KernelStatus::shapeFailure("pairs: refs, refLabels and selfIndex need a reference set");
  }
  return KernelStatus::success();
}

inline KernelStatus checkPairCall(const PairShape& shape, const PairInputs& inputs) {
  const KernelStatus arguments = checkPairArguments(shape, inputs);
  if (!arguments.ok || !inputs.selfIndex) return arguments;
  for (int64_t i = 0; i < shape.rows; ++i) {
    if (inputs.selfIndex[i] < -1 || inputs.selfIndex[i] >= shape.refs) return KernelStatus::labelFailure("pairs: selfIndex out of range");
  }
  return KernelStatus::success();
}

// Losses and non-finite inputs: a row is read when it forms at least one pair (a query with any
// column but its excluded one; a reference row that is not excluded by every query).  A read row
// holding NaN or ±Inf makes the loss and every gradient entry NaN (pairs::lossScale); an unread
// one contributes nothing and gets a zero gradient.  The engines give the kernels copies of the
// inputs with the unread non-finite rows zeroed, so no 0·NaN reaches the gradient products.
struct FiniteUnreadRows {
  std::vector<float> embeddings, ref;  // the zeroed copies (empty: the input is used as is)
  PairInputs inputs;                   // the inputs to compute with
};

inline bool rowIsFinite(const float* row, int64_t dim) {
  for (int64_t d = 0; d < dim; ++d) {
    if (!(row[d] - row[d] == 0.0f)) return false;  // NaN and ±Inf give NaN
  }
  return true;
}

inline FiniteUnreadRows zeroUnreadNonFiniteRows(const PairShape& shape, const PairInputs& inputs) {
  FiniteUnreadRows out;
  out.inputs = inputs;
  const int64_t N = shape.rows, M = shape.refs, D = shape.dim;
  // Columns excluded by every query (only a reference set can have one).
  int64_t common = -2;  // −2: no query yet, −1: none in common
  for (int64_t i = 0; i < N; ++i) {
    const int64_t excluded = inputs.ref ? (inputs.selfIndex ? inputs.selfIndex[i] : -1) : i;
    common = common == -2 ? excluded : (common == excluded ? common : -1);
  }
  auto zeroed = [&](const float* data, int64_t rows, std::vector<float>& copy, auto unread) {
    for (int64_t r = 0; r < rows; ++r) {
      if (!unread(r) || rowIsFinite(data + r * D, D)) continue;
      if (copy.empty()) copy.assign(data, data + rows * D);
      std::fill(copy.begin() + r * D, copy.begin() + (r + 1) * D, 0.0f);
    }
    return copy.empty() ? data : copy.data();
  };
  out.inputs.embeddings = zeroed(inputs.embeddings, N, out.embeddings, [&](int64_t i) {
    const int64_t excluded = inputs.ref ? (inputs.selfIndex ? inputs.selfIndex[i] : -1) : i;
    return M - (excluded >= 0 && excluded < M ? 1 : 0) < 1;
  });
  if (inputs.ref) out.inputs.ref = zeroed(inputs.ref, M, out.ref, [&](int64_t j) { return common == j; });
  return out;
}

// The failure of a mine() whose output exceeds maxOutputs, worded as the TypeScript backend words it.
inline KernelStatus tooManyMined(MinerType type, int64_t total, int64_t maxOutputs) {
  const int t = static_cast<int>(type);
  const char* name = t >= 0 && t < enumCount<MinerType>() ? EnumNames<MinerType>::names[t] : "?";
  return KernelStatus::memoryFailure(std::string("miner '") + name + "' finds " +
                                     std::to_string(total) + (minesTriplets(type) ? " triplets" : " pairs (positives + negatives)") +
                                     ", more than maxOutputs = " + std::to_string(maxOutputs));
}

// Mining.  More than maxOutputs pairs (positives + negatives) or triplets fails before the
// output is allocated, with status.outOfMemory set (ERR_FUSEDLOSS_TOO_LARGE) and the count in
// the message.  miner.type must not be None.
KernelStatus mineCpu(const PairShape& shape, const PairSimilarityOptions& similarity, const MinerOptions& miner,
                     int64_t maxOutputs, const PairInputs& inputs, MineOutputs& outputs);
KernelStatus mineCuda(const PairShape& shape, const PairSimilarityOptions& similarity, const MinerOptions& miner,
                      int64_t maxOutputs, const PairInputs& inputs, MineOutputs& outputs);

// Loss (and gradients when loss.gradients), over the pairs/triplets `miner` keeps (type None:
// all of them).
KernelStatus pairLossCpu(const PairShape& shape, const PairSimilarityOptions& similarity, const MinerOptions& miner,
                         const PairLossOptions& loss, const PairInputs& inputs, PairLossOutputs& outputs);
// CUDA on host memory (copies in, computes, copies out).  Both report "not built" when compiled
// without CUDA, and the CUDA error when no device or driver is usable.
KernelStatus pairLossCuda(const PairShape& shape, const PairSimilarityOptions& similarity, const MinerOptions& miner,
                          const PairLossOptions& loss, const PairInputs& inputs, PairLossOutputs& outputs);

// CUDA on device memory: every pointer in `inputs` (and the loss outputs) is a device pointer;
// stream is a cudaStream_t (null = default); the call synchronizes it.  The caller has checked
// selfIndex (checkPairCall) and, for the loss, zeroed the unread non-finite rows
// (zeroUnreadNonFiniteRows), as mineCuda and pairLossCuda do; mined indices come back in the
// host vectors of `outputs`.
KernelStatus mineCudaDevice(const PairShape& shape, const PairSimilarityOptions& similarity, const MinerOptions& miner,
                            int64_t maxOutputs, const PairInputs& inputs, MineOutputs& outputs, void* stream);
KernelStatus pairLossCudaDevice(const PairShape& shape, const PairSimilarityOptions& similarity,
                                const MinerOptions& miner, const PairLossOptions& loss, const PairInputs& inputs,
                                PairLossOutputs& outputs, void* stream);

// Bytes the device entry points allocate for a call beyond inputs, outputs and mined arrays
// (loss null: mining), for benchmarks and reports; 0 without CUDA.
int64_t pairCudaScratchBytes(const PairShape& shape, const PairSimilarityOptions& similarity, const MinerOptions& miner,
                             const PairLossOptions* loss, bool ref);

}  // namespace fusedloss
