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

#include "status.h"

namespace fusedloss {

enum class PairDistance : int32_t { Cosine = 0, Dot = 1, Euclidean = 2, SquaredEuclidean = 3 };

// Similarities (larger = closer) as opposed to distances (smaller = closer).
inline bool isSimilarity(PairDistance distance) {
  return distance == PairDistance::Cosine || distance == PairDistance::Dot;
}

enum class MinerType : int32_t { None = 0, MultiSimilarity = 1, TripletMargin = 2, BatchHard = 3, PairMargin = 4 };
enum class TripletSelect : int32_t { All = 0, Hard = 1, Semihard = 2, Easy = 3 };
enum class PairLossType : int32_t {
  MultiSimilarity = 0,
  Contrastive = 1,
  TripletMargin = 2,
  Circle = 3,
  NtXent = 4,
  ThresholdConsistent = 5,
};

// Miners that emit triplets (anchor, positive, negative) rather than pairs.
inline bool minesTriplets(MinerType type) { return type == MinerType::TripletMargin || type == MinerType::BatchHard; }

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

struct PairSimilarityOptions {
  bool normalize = true;
  // Bound on the similarity block (rows × refs floats) and its companions (bytes).
  int64_t workBytes = int64_t(64) << 20;
};

// Rules (d a distance; with a similarity s the inequalities flip, see the spec's table):
//  multi-similarity  keep (i,p) iff d_ip + ε > min_neg d;  keep (i,n) iff d_in − ε < max_pos d
//                    (similarity: s_ip − ε < max_neg s;  s_in + ε > min_pos s); an empty max is
//                    −∞, an empty min +∞.
//  triplet-margin    t = d_an − d_ap (similarity: s_ap − s_an): all t ≤ margin; hard t ≤ 0 and
//                    t ≤ margin; semihard 0 < t ≤ margin; easy t > margin.
//  batch-hard        anchors with ≥ 1 positive and ≥ 1 negative: the farthest positive and the
//                    closest negative, ties to the lowest index.
//  pair-margin       positive iff d > posMargin, negative iff d < negMargin (similarity: s <
//                    posMargin, s > negMargin).
struct MinerOptions {
  MinerType type = MinerType::None;
  PairDistance distance = PairDistance::Cosine;
  double epsilon = 0.1;
  double margin = 0.2;
  TripletSelect triplets = TripletSelect::All;
  double posMargin = 0.2;
  double negMargin = 0.8;
};

// Losses and reductions as PML computes them (spec table).  With a miner, a triplet miner gives a
// pair loss each (a,p) and (a,n) once per triplet (multiplicities: contrastive, NT-Xent and
// threshold-consistent count them; multi-similarity and circle use the set), and a pair miner
// gives the triplet loss every (a,p,n) whose pairs it kept.
struct PairLossOptions {
  PairLossType type = PairLossType::MultiSimilarity;
  PairDistance distance = PairDistance::Cosine;
  double alpha = 2.0, beta = 50.0, base = 0.5;  // multi-similarity
  double posMargin = 0.0, negMargin = 1.0;      // contrastive
  double margin = 0.05;                         // triplet-margin
  double circleM = 0.4, gamma = 80.0;           // circle
  double temperature = 0.07;                    // NT-Xent
  double lambdaPlus = 1.0, lambdaMinus = 1.0, marginPlus = 0.9, marginMinus = 0.5;  // threshold-consistent
  bool gradients = true;
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

// The checks every backend makes before touching memory (the N-API glue has validated already;
// this guards direct C++ callers).
inline KernelStatus checkPairCall(const PairShape& shape, const PairInputs& inputs) {
  if (shape.rows < 1 || shape.refs < 1 || shape.dim < 1) return KernelStatus::failure("pairs: empty shape");
  if (!inputs.embeddings || !inputs.labels) return KernelStatus::failure("pairs: missing embeddings or labels");
  if (inputs.ref) {
    if (!inputs.refLabels) return KernelStatus::failure("pairs: ref without refLabels");
  } else if (shape.refs != shape.rows || inputs.refLabels || inputs.selfIndex) {
    return KernelStatus::failure("pairs: refs, refLabels and selfIndex need a reference set");
  }
  if (inputs.selfIndex) {
    for (int64_t i = 0; i < shape.rows; ++i) {
      if (inputs.selfIndex[i] < -1 || inputs.selfIndex[i] >= shape.refs) return KernelStatus::failure("pairs: selfIndex out of range");
    }
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
  static const char* const names[] = {"none", "multi-similarity", "triplet-margin", "batch-hard", "pair-margin"};
  const int t = static_cast<int>(type);
  return KernelStatus::memoryFailure(std::string("miner '") + (t >= 0 && t <= 4 ? names[t] : "?") + "' finds " +
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

}  // namespace fusedloss
