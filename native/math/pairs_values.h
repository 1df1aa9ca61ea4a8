// The values of pairs — similarities and distances from the dot products, or directly from the
// rows — and their gradient: part of pairs_math.h (which includes this file; use that one), shared
// by the CPU and CUDA engines.
#pragma once

#include <math.h>
#include <stdint.h>

#include "../kernels/pairs_types.h"
#include "common.h"

namespace fusedloss {
namespace pairs {

FL_HD bool similarity(PairDistance distance) {
  return distance == PairDistance::Cosine || distance == PairDistance::Dot;
}

// The value of a pair from its dot product and the squared norms of the two (normalized or raw)
// vectors.  Distances are formed in float64 and rounded once.
FL_HD float pairValue(PairDistance distance, float dot, float rowNormSquared, float refNormSquared) {
  if (distance == PairDistance::Cosine || distance == PairDistance::Dot) return dot;
  double squared = (double)rowNormSquared + (double)refNormSquared - 2.0 * (double)dot;
  if (!(squared > 0.0) && squared == squared) squared = 0.0;  // clamp, NaN stays NaN
  return distance == PairDistance::SquaredEuclidean ? (float)squared : (float)sqrt(squared);
}

// ‖x‖² + ‖y‖² − 2x·y loses the digits of a distance that is small against the vectors' lengths
// (near-duplicates, raw features): below 1/16 of ‖x‖² + ‖y‖² the engines recompute it directly.
FL_HD bool distanceCancels(float dot, float rowNormSquared, float refNormSquared) {
  const double lengths = (double)rowNormSquared + (double)refNormSquared;
  return lengths - 2.0 * (double)dot < lengths * 0.0625;
}

// A row the float32 GEMM cannot serve: a squared norm beyond 2^120 (its dots and ‖x‖² + ‖y‖²
// could overflow float32 on the way to a representable value), ±Inf or NaN.  Only rows given with
// normalize: false, or holding ±Inf or NaN, are wide.
FL_HD bool wideRow(float normSquared) { return !(normSquared <= 1.329228e36f); }

// The pair's dot product or distance from the rows themselves in float64, rounded once: the
// exact value as float32 (±Inf beyond its range), IEEE for infinite entries (∞·0 and ∞ − ∞ are
// NaN) — the definition the float64 reference evaluates.
FL_HD float directPairValue(PairDistance distance, const float* x, const float* y, int64_t dim) {
  double sum = 0.0;
  const bool dot = distance == PairDistance::Cosine || distance == PairDistance::Dot;
  for (int64_t k = 0; k < dim; ++k) {
    const double difference = (double)x[k] - (double)y[k];
    sum += dot ? (double)x[k] * (double)y[k] : difference * difference;
  }
  return dot || distance == PairDistance::SquaredEuclidean ? (float)sum : (float)sqrt(sum);
}

// The pair's value: from the GEMM's dot unless a row is wide or the distance cancels (below 1/16
// of ‖x‖² + ‖y‖²: near-duplicates, raw features), then directly.  x and y are the two
// (normalized or raw) rows.  narrowPairValue: the same when neither row is wide.
FL_HD float narrowPairValue(PairDistance distance, float dot, float rowNormSquared, float refNormSquared,
                            const float* x, const float* y, int64_t dim) {
  if (distance == PairDistance::Cosine || distance == PairDistance::Dot) return dot;
  if (distanceCancels(dot, rowNormSquared, refNormSquared)) return directPairValue(distance, x, y, dim);
  return pairValue(distance, dot, rowNormSquared, refNormSquared);
}

FL_HD float guardedPairValue(PairDistance distance, float dot, float rowNormSquared, float refNormSquared,
                             const float* x, const float* y, int64_t dim) {
  if (wideRow(rowNormSquared) || wideRow(refNormSquared)) return directPairValue(distance, x, y, dim);
  return narrowPairValue(distance, dot, rowNormSquared, refNormSquared, x, y, dim);
}

// A near-duplicate pair under a distance: its gradient w·(x − y) (w = valueGradient's h) formed
// as the GEMMs form it, w·x and w·y summed apart in float32, loses the digits of x − y — about
// 6e-8·sqrt(‖x‖² + ‖y‖²)/d of the pair's term.  Below d² = (‖x‖² + ‖y‖²)/1024 (an error of at most
// ~2e-6 otherwise) every engine leaves the pair out of the dot-product weights (g, h) and adds
// w·(x − y) from the difference in float64 instead; h == 0 (an inactive pair, d = 0 under
// 'euclidean') has nothing to add.  lib/pairs/fallback-rows.ts (directGradientPair) is the twin.
FL_HD bool directGradientPair(PairDistance distance, float value, float h, float rowNormSquared, float refNormSquared) {
  if (distance == PairDistance::Cosine || distance == PairDistance::Dot || h == 0.0f) return false;
  // float32 arithmetic (per pair, in the row pass): where it rounds across the threshold, either
  // side of it is accurate enough.
  const float squared = distance == PairDistance::Euclidean ? value * value : value;
  return squared < (rowNormSquared + refNormSquared) * 0x1p-10f;
}

// ∂loss/∂v = coef → weights of the dot product (g) and of the squared norms (h), so that
// gx̂_i = Σ_j g_ij ŷ_j + (Σ_j h_ij) x̂_i and gŷ_j = Σ_i g_ij x̂_i + (Σ_i h_ij) ŷ_j.
FL_HD void valueGradient(PairDistance distance, float value, float coef, float* g, float* h) {
  if (distance == PairDistance::Cosine || distance == PairDistance::Dot) {
    *g = coef;
    *h = 0.0f;
  } else if (distance == PairDistance::SquaredEuclidean) {
    *g = -2.0f * coef;
    *h = 2.0f * coef;
  } else if (value > 0.0f) {  // d = sqrt(q): ∂d/∂q = 1/(2d)
    *g = -coef / value;
    *h = coef / value;
  } else {  // d = 0: no gradient (as torch.cdist)
    *g = 0.0f;
    *h = 0.0f;
  }
}

}  // namespace pairs
}  // namespace fusedloss
