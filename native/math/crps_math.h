// Per-point CRPS arithmetic, shared by every native backend (see docs/spec/crps.md).
//
// For members x_1..x_M and observation y:
//   skill S = (1/M) Σ_i |x_i − y|
//   half pair sum H = Σ_{i<j} |x_i − x_j| = Q / 2
//   score s = S − c·H with c = (M − 1 + α) / (M²(M − 1))   (α = 0 standard, 1 fair)
// which reproduces standard S − Q/(2M²), fair S − Q/(2M(M−1)) and almost-fair
// α·fair + (1−α)·standard.  For M = 1 (standard only) c = 1/M² = 1 and H = 0.
//
// The score is never computed as that difference: S − c·H cancels, and keeps no digit of a fair
// score of 1/6 when one member of {0, 1, 1e30} lies far out.  scoreFromGaps writes the same
// quantity as a sum of non-negative terms over the gaps between sorted neighbours.  H is likewise
// Σ_k k(M−k)·(x_(k+1) − x_(k)): every term ≥ 0 and each gap a difference of neighbours, so there
// is no cancellation even when the values carry a large common offset (temperatures in kelvin),
// unlike the textbook Σ (2k − M − 1) x_(k).
//
// Gradients (pairwise-autograd convention, sign(0) = 0, ties share the midrank gradient):
//   ∂s/∂x_k = sign(x_k − y)/M − c·(L_k − G_k)     L_k/G_k: members strictly below/above x_k
//   ∂s/∂y   = −(1/M) Σ_k sign(x_k − y)
#pragma once

#include "common.h"

namespace fusedloss {
namespace crps {

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

// The score as a sum of non-negative terms.  With y placed among the sorted members, the CRPS
// integrand over a gap between neighbours is constant on each side of y, and the gap contributes
// g(n)·(its length on that side), where n counts the members on the side away from y and
//   g(n) = n·((M − 1)(n − α) + α(n − 1)) / (M²(M − 1))      (= n·(n(M − 1 + α) − αM) / (M²(M − 1)))
// (fair: n(n − 1)/(M(M − 1)), the unbiased F²; g(M) = 1; g(1) = 0 for fair; M = 1: g(1) = 1).  Both
// products inside are ≥ 0 for n ≥ 1 and α ∈ [0, 1], so g has no cancellation even for α near 1.
// The gap between x_(k−1) and x_(k) (k members below it, M − k above) lies below y over
// min(x_(k), y) − min(x_(k−1), y) and above it over max(x_(k), y) − max(x_(k−1), y); y outside the
// members adds its distance to the nearest one (g(M) = 1).  A term of weight 0 counts 0 even
// across an infinite gap: that is the fair estimator's finite limit with one member at ±∞
// (ScoreLimit::FiniteLimit).  The CPU lane blocks and the js backend add the same terms in the
// same order, so every path gives the same bits.
FL_HD double gapWeight(int n, int members, double alpha) {
  if (members < 2) return 1.0;
  const double m = static_cast<double>(members), k = static_cast<double>(n);
  // Times the reciprocal, which a loop over the gaps computes once (a division per gap would not be).
  return k * ((m - 1.0) * (k - alpha) + alpha * (k - 1.0)) * (1.0 / (m * m * (m - 1.0)));
}

FL_HD double lesser(double a, double b) { return a < b ? a : b; }
FL_HD double greater(double a, double b) { return a < b ? b : a; }

FL_HD double scoreFromGaps(const float* sorted, int members, float observation, double alpha) {
  const double y = observation;
  double below = lesser(sorted[0], y), above = greater(sorted[0], y);  // min/max(x_(k−1), y)
  double score = (above - y) + (y - lesser(sorted[members - 1], y));
  for (int k = 1; k < members; ++k) {
    const double nextBelow = lesser(sorted[k], y), nextAbove = greater(sorted[k], y);
    const double weightBelow = gapWeight(k, members, alpha), weightAbove = gapWeight(members - k, members, alpha);
    score += (weightBelow == 0.0 ? 0.0 : weightBelow * (nextBelow - below)) +
             (weightAbove == 0.0 ? 0.0 : weightAbove * (nextAbove - above));
    below = nextBelow;
    above = nextAbove;
  }
  return score;
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
// path; else NaN.  Why the rule below is that limit: the score is Σ g(n)·gap over the gaps between
// y and the sorted members (scoreFromGaps), every g(n) ≥ 0, and g(n) = 0 only for fair (α = 1)
// with n = 1.  So the score → +∞ when a gap that must grow without bound (next to an infinite
// cluster) has g > 0; it is a finite limit when every such gap has g = 0 and no cluster holds two
// inputs whose order is free (fair, y finite, at most one member at +∞ and one at −∞); it is
// undefined when the value depends on how two inputs at the same infinity compare (y and members
// at that infinity, with g = 0 on the outer gap).
enum class ScoreLimit : int {
  Finite = 0,        // no infinite input: the ordinary formulas
  PlusInfinity = 1,  // score +Inf; gradients from the sign/rank formula (equal infinities tie)
  Undefined = 2,     // score NaN and NaN gradients
  FiniteLimit = 3,   // fair with at most one member at each infinity and y finite: scoreFromGaps
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

// Skill, spread and score of a point with an infinite input (limit != Finite).
struct LimitValues {
  double skill, spread, score;
};

FL_HD LimitValues limitValues(const float* sorted, int used, Infinities inf, ScoreLimit limit, float observation) {
  const double score = limit == ScoreLimit::PlusInfinity ? __builtin_huge_val()
                       : limit == ScoreLimit::Undefined  ? __builtin_nan("")
                                                         : scoreFromGaps(sorted, used, observation, 1.0);
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
  const double spread = halfPairSumSorted(sorted, used) / (static_cast<double>(used) * used);
  return {absoluteErrors / used, spread, scoreFromGaps(sorted, used, observation, alpha), limit};
}

}  // namespace crps
}  // namespace fusedloss
