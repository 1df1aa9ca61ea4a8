// Per-point CRPS arithmetic, shared by every native backend (see ../../../shared/spec/crps.md).
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
  return (static_cast<double>(signOf(member - observation)) * weights.sign -
          static_cast<double>(below - above) * weights.rank) * weights.scale;
}


}  // namespace crps
}  // namespace fusedloss
