// Per-point CRPS arithmetic, shared by every native backend (see docs/spec/crps.md).
//
// For members x_1..x_M and observation y:
//   skill S = (1/M) Σ_i |x_i − y|
//   half pair sum H = Σ_{i<j} |x_i − x_j| = Q / 2
//   score s = S − c·H with c = (M − 1 + α) / (M²(M − 1))   (α = 0 standard, 1 fair)
// which reproduces standard S − Q/(2M²), fair S − Q/(2M(M−1)) and almost-fair
// α·fair + (1−α)·standard.  For M = 1 (standard only) c = 1/M² = 1 and H = 0.
//
// H is computed from the sorted members as Σ_k k(M−k)·(x_(k+1) − x_(k)): every term is ≥ 0
// and each gap is a difference of neighbours (exact when they are within a factor of two), so
// there is no cancellation even when the values carry a large common offset (temperatures in
// kelvin), unlike the textbook Σ (2k − M − 1) x_(k).
//
// Gradients (pairwise-autograd convention, sign(0) = 0, ties share the midrank gradient):
//   ∂s/∂x_k = sign(x_k − y)/M − c·(L_k − G_k)     L_k/G_k: members strictly below/above x_k
//   ∂s/∂y   = −(1/M) Σ_k sign(x_k − y)
#pragma once

#include "common.h"

namespace fusedloss {
namespace crps {

// Which estimator as an α in [0, 1]: standard → 0, fair → 1, almost-fair → α.
FL_HD double pairCoefficient(int members, double alpha) {
  const double m = static_cast<double>(members);
  if (members < 2) return 1.0 / (m * m);  // M = 1: H = 0, any finite c works; keep 1/M²
  return (m - 1.0 + alpha) / (m * m * (m - 1.0));
}

// The fewest members an estimator needs: fair and almost-fair with α > 0 divide by M − 1.
FL_HD int minimumMembers(double alpha) { return alpha > 0.0 ? 2 : 1; }

FL_HD float signOf(float v) { return static_cast<float>((v > 0.0f) - (v < 0.0f)); }

// sign(a − b) by comparison: never overflows, and equal infinities compare as a tie (0), the
// convention every backend uses for ±Inf (see scoreLimit).
FL_HD float compareSign(float a, float b) { return static_cast<float>((a > b) - (a < b)); }

// H = Σ_{i<j} (x_(j) − x_(i)) from ascending values.
FL_HD double halfPairSumSorted(const float* sorted, int members) {
  double total = 0.0;
  for (int k = 1; k < members; ++k) {
    const double gap = static_cast<double>(sorted[k]) - static_cast<double>(sorted[k - 1]);
    total += static_cast<double>(k) * static_cast<double>(members - k) * gap;
  }
  return total;
}

// Number of elements of the ascending array strictly less than v (lower bound).
FL_HD int countBelow(const float* sorted, int members, float v) {
  int lo = 0, hi = members;
  while (lo < hi) {
    const int mid = (lo + hi) >> 1;
    if (sorted[mid] < v) lo = mid + 1; else hi = mid;
  }
  return lo;
}

// Number of elements of the ascending array less than or equal to v (upper bound).
FL_HD int countAtMost(const float* sorted, int members, float v) {
  int lo = 0, hi = members;
  while (lo < hi) {
    const int mid = (lo + hi) >> 1;
    if (sorted[mid] <= v) lo = mid + 1; else hi = mid;
  }
  return lo;
}

// In-place ascending insertion sort; used for small ensembles on both CPU and GPU.
FL_HD void insertionSort(float* values, int count) {
  for (int i = 1; i < count; ++i) {
    const float v = values[i];
    int j = i - 1;
    while (j >= 0 && values[j] > v) {
      values[j + 1] = values[j];
      --j;
    }
    values[j + 1] = v;
  }
}

// ∂s/∂x_k = sign/M − c·(L − G) written over one denominator:
//   (sign·M(M−1) − (L − G)·(M − 1 + α)) / (M²(M − 1))
// For α ∈ {0, 1} the numerator is an exact small integer, so members whose two terms balance get
// exactly 0 (the two-term form leaves a rounding residue).  M = 1: sign(x − y), and L = G = 0.
struct GradientWeights {
  double sign;   // M(M − 1)
  double rank;   // M − 1 + α
  double scale;  // 1 / (M²(M − 1))
};

FL_HD GradientWeights gradientWeights(int members, double alpha) {
  if (members < 2) return {1.0, 0.0, 1.0};
  const double m = static_cast<double>(members);
  return {m * (m - 1.0), m - 1.0 + alpha, 1.0 / (m * m * (m - 1.0))};
}

// Gradient of one point's score with respect to a member, given the member's rank counts.
FL_HD double memberGradient(float member, float observation, int below, int above, const GradientWeights& weights) {
  return (static_cast<double>(compareSign(member, observation)) * weights.sign -
          static_cast<double>(below - above) * weights.rank) * weights.scale;
}

// --- ±Inf inputs --------------------------------------------------------------------------------
// The score is the limit as the infinite inputs go to ±∞, when that limit is the same along every
// path; else NaN.  Why the rule below is that limit: with y placed among the sorted members, the
// score is Σ over the gaps between neighbours of g(n)·gap, where n counts the members on the side
// of the gap away from y and g(n) = n·(n(M − 1 + α) − αM) / (M²(M − 1)) (g(1) = 1 for M = 1).
// Every g(n) ≥ 0, and g(n) = 0 only for fair (α = 1) with n = 1.  So the score → +∞ when a gap that
// must grow without bound (next to an infinite cluster) has g > 0; it is a finite limit when every
// such gap has g = 0 and no cluster holds two inputs whose order is free (fair, y finite, at most
// one member at +∞ and one at −∞); it is undefined when the value depends on how two inputs at the
// same infinity compare (y and members at that infinity, with g = 0 on the outer gap).
enum class ScoreLimit : int {
  Finite = 0,        // no infinite input: the ordinary formulas
  PlusInfinity = 1,  // score +Inf; gradients from the sign/rank formula (equal infinities tie)
  Undefined = 2,     // score NaN and NaN gradients
  FiniteLimit = 3,   // fair with at most one member at each infinity and y finite: finiteLimitScore
};

struct Infinities {
  int minus = 0;  // members at −∞ (the first of the ascending sorted members)
  int plus = 0;   // members at +∞ (the last)
};

FL_HD Infinities countInfinities(const float* sorted, int used) {
  const float inf = __builtin_huge_valf();
  return {countAtMost(sorted, used, -inf), used - countBelow(sorted, used, inf)};
}

FL_HD bool isInfinite(float v) { return v == __builtin_huge_valf() || v == -__builtin_huge_valf(); }

FL_HD ScoreLimit scoreLimit(int used, Infinities inf, float observation, double alpha) {
  const bool fair = alpha == 1.0;
  if (!isInfinite(observation)) {
    if (inf.minus == 0 && inf.plus == 0) return ScoreLimit::Finite;
    return fair && inf.minus <= 1 && inf.plus <= 1 ? ScoreLimit::FiniteLimit : ScoreLimit::PlusInfinity;
  }
  const int same = observation > 0.0f ? inf.plus : inf.minus;  // members at y's infinity
  if (same == 0) return ScoreLimit::PlusInfinity;                  // y's own gap has g(M) = 1
  const int rest = used - same;                                    // members on the outer gap's far side
  if (rest == 0 || (fair && rest == 1)) return ScoreLimit::Undefined;
  return ScoreLimit::PlusInfinity;
}

// Skill (1/M)Σ|x_i − y| when an input is infinite: +Inf, or NaN when every |x_i − y| is ∞ − ∞.
FL_HD double skillLimit(int used, Infinities inf, float observation) {
  if (!isInfinite(observation)) return __builtin_huge_val();
  const int same = observation > 0.0f ? inf.plus : inf.minus;
  return same == used ? __builtin_nan("") : __builtin_huge_val();
}

// Spread H/M² when an input is infinite: the ordinary value when no member is; +Inf when two members
// are unboundedly apart (an infinite one and one finite or at the other infinity); 0 for one
// member; NaN when all sit at one infinity.
FL_HD double spreadLimit(const float* sorted, int used, Infinities inf) {
  const int finite = used - inf.minus - inf.plus;
  if (finite == used) return halfPairSumSorted(sorted, used) / (static_cast<double>(used) * used);
  const int kinds = (inf.minus > 0) + (inf.plus > 0) + (finite > 0);
  if (kinds >= 2) return __builtin_huge_val();
  return used == 1 ? 0.0 : __builtin_nan("");
}

// Fair score for ScoreLimit::FiniteLimit: the terms in the infinite members cancel exactly, leaving
// over the finite members F (sorted[minus, used − plus)), with d = x − y and a − b ∈ {−1, 0, 1}:
//   (1/M) Σ_F (|d| + (a − b)·d/(M − 1)) − H_F / (M(M − 1))
// Each |d| + (a − b)·d/(M − 1) is ≥ 0, so the sum does not cancel.
FL_HD double finiteLimitScore(const float* sorted, int used, Infinities inf, float observation) {
  const double m = static_cast<double>(used);
  const double tilt = static_cast<double>(inf.plus - inf.minus) / (m - 1.0);
  const float* finite = sorted + inf.minus;
  const int count = used - inf.minus - inf.plus;
  double errors = 0.0;
  for (int k = 0; k < count; ++k) {
    const double d = static_cast<double>(finite[k]) - static_cast<double>(observation);
    errors += (d < 0.0 ? -d : d) + tilt * d;
  }
  return errors / m - halfPairSumSorted(finite, count) / (m * (m - 1.0));
}


// Skill, spread and score of a point with an infinite input (limit != Finite).
struct LimitValues {
  double skill, spread, score;
};

FL_HD LimitValues limitValues(const float* sorted, int used, Infinities inf, ScoreLimit limit, float observation) {
  const double score = limit == ScoreLimit::PlusInfinity ? __builtin_huge_val()
                       : limit == ScoreLimit::Undefined  ? __builtin_nan("")
                                                         : finiteLimitScore(sorted, used, inf, observation);
  return {skillLimit(used, inf, observation), spreadLimit(sorted, used, inf), score};
}

// Everything a point's score needs, from its `used` members sorted ascending (no NaN): the scalar
// path of the CPU and of the CUDA tile kernel.
struct PointValues {
  double skill, spread, score;
  ScoreLimit limit;
};

FL_HD PointValues scoreSorted(const float* sorted, int used, float observation, double alpha) {
  const Infinities inf = countInfinities(sorted, used);
  const ScoreLimit limit = scoreLimit(used, inf, observation, alpha);
  if (limit != ScoreLimit::Finite) {
    const LimitValues values = limitValues(sorted, used, inf, limit, observation);
    return {values.skill, values.spread, values.score, limit};
  }
  double absoluteErrors = 0.0;
  for (int k = 0; k < used; ++k) {
    const double d = static_cast<double>(sorted[k]) - static_cast<double>(observation);
    absoluteErrors += d < 0.0 ? -d : d;
  }
  const double skill = absoluteErrors / used;
  const double halfPairs = halfPairSumSorted(sorted, used);
  return {skill, halfPairs / (static_cast<double>(used) * used), skill - pairCoefficient(used, alpha) * halfPairs, limit};
}

}  // namespace crps
}  // namespace fusedloss
