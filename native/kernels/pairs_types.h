// The pair family's enums and options, at the bottom of the include graph: included by the math
// (../math/pairs_math.h and its parts), the CPU and CUDA kernels and the N-API glue, so each code
// exists once.  Enums, plain option structs and two one-line predicates only.
#pragma once

#include <cstdint>

#include "../math/common.h"
#include "enum_names.h"

namespace fusedloss {

#define FL_PAIR_DISTANCES(X) X(Cosine, "cosine") X(Dot, "dot") X(Euclidean, "euclidean") X(SquaredEuclidean, "squared-euclidean")
enum class PairDistance : int32_t { FL_PAIR_DISTANCES(FL_ENUM_MEMBER) };
FL_ENUM_NAMES(PairDistance, "pairDistance", FL_PAIR_DISTANCES)

// Similarities (larger = closer) as opposed to distances (smaller = closer).
FL_HD constexpr bool isSimilarity(PairDistance distance) {
  return distance == PairDistance::Cosine || distance == PairDistance::Dot;
}

// None: no miner (pairLoss over every pair); mine() needs one of the others.
#define FL_MINER_TYPES(X)                                                                                      \
  X(None, "none") X(MultiSimilarity, "multi-similarity") X(TripletMargin, "triplet-margin") X(BatchHard, "batch-hard") \
  X(PairMargin, "pair-margin")
enum class MinerType : int32_t { FL_MINER_TYPES(FL_ENUM_MEMBER) };
FL_ENUM_NAMES(MinerType, "minerType", FL_MINER_TYPES)

// Miners that emit triplets (anchor, positive, negative) rather than pairs.
FL_HD constexpr bool minesTriplets(MinerType type) { return type == MinerType::TripletMargin || type == MinerType::BatchHard; }

#define FL_TRIPLET_SELECTS(X) X(All, "all") X(Hard, "hard") X(Semihard, "semihard") X(Easy, "easy")
enum class TripletSelect : int32_t { FL_TRIPLET_SELECTS(FL_ENUM_MEMBER) };
FL_ENUM_NAMES(TripletSelect, "tripletSelect", FL_TRIPLET_SELECTS)

#define FL_PAIR_LOSS_TYPES(X)                                                                                  \
  X(MultiSimilarity, "multi-similarity") X(Contrastive, "contrastive") X(TripletMargin, "triplet-margin")      \
  X(Circle, "circle") X(NtXent, "ntxent") X(ThresholdConsistent, "threshold-consistent")
enum class PairLossType : int32_t { FL_PAIR_LOSS_TYPES(FL_ENUM_MEMBER) };
FL_ENUM_NAMES(PairLossType, "pairLossType", FL_PAIR_LOSS_TYPES)

struct PairSimilarityOptions {
  bool normalize = true;
  // Bound on the similarity block (rows × refs floats) and its companions (bytes).
  int64_t workBytes = int64_t(64) << 20;
  // Operand precision of the GEMM products (docs/spec/precision.md): tf32 / bf16 round x̂, ŷ where
  // they are written (so the distances are those of the rounded vectors) and G = ∂loss/∂dot.
  Precision precision = Precision::Float32;
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

}  // namespace fusedloss
