// The pair losses of pairs_math.h (which includes this file; use that one): each row's float64
// partial sums (LossPartial), the global normalizers (lossScale) and each row's coefficients
// ∂loss/∂v, for multi-similarity, contrastive, threshold-consistent, circle, NT-Xent and the
// triplet margin loss.
#pragma once

#include <math.h>
#include <stdint.h>

#include "../kernels/pairs_types.h"
#include "common.h"
#include "pairs_mine_math.h"
#include "pairs_row_math.h"
#include "pairs_values.h"

namespace fusedloss {
namespace pairs {

// ---------------------------------------------------------------------------------------------
// Losses

// A row's contribution, float64.  part 0: positives (the whole loss for multi-similarity,
// triplet-margin, circle, NT-Xent), part 1: negatives (contrastive, threshold-consistent).
struct LossPartial {
  double sum[2] = {0.0, 0.0};
  double count[2] = {0.0, 0.0};  // the normalizers: K⁺/K⁻, active triplets, non-zero rows, Σ w⁺
  double nonFinite = 0.0;        // formed pairs with a NaN or infinite value (see lossScale)
};

FL_HD void addPartial(LossPartial& total, const LossPartial& row) {
  for (int k = 0; k < 2; ++k) total.sum[k] += row.sum[k], total.count[k] += row.count[k];
  total.nonFinite += row.nonFinite;
}

// Formed pairs of the row (every column but the excluded one) whose miner or loss value is NaN
// or ±Inf: a row holding NaN or ±Inf makes all its values so, and a finite row only when a value
// is beyond float32 (normalize: false).
FL_HD double nonFinitePairs(const PairRow& row) {
  double n = 0.0;
  if (row.narrow) return n;
  for (int64_t j = 0; j < row.refs; ++j) {
    if (j == row.excluded) continue;
    if (!isfinite(row.lossValues[j]) || !isfinite(row.minerValues[j])) n += 1.0;
  }
  return n;
}

// The loss and the factor of each part's per-row gradient.
struct LossScale {
  double loss = 0.0;
  double scale[2] = {0.0, 0.0};
};

// Losses whose gradient scale does not depend on the totals (multi-similarity: 1/N): an engine
// may form their coefficients in the forward pass (lossRowWithGradient) with lossScale of an
// empty total, the very factors the totals would give.
FL_HD bool scaleKnownAhead(const PairLossOptions& loss) { return loss.type == PairLossType::MultiSimilarity; }

// The contract for NaN and ±Inf: one formed pair with a non-finite value makes the loss and every
// gradient entry NaN (the engines fill the gradients; the scales are NaN too).
FL_HD LossScale lossScale(const LossPartial& total, int64_t rows, const PairLossOptions& loss) {
  LossScale r;
  if (total.nonFinite > 0.0) {
    r.loss = NAN, r.scale[0] = NAN, r.scale[1] = NAN;
    return r;
  }
  if (loss.type == PairLossType::MultiSimilarity) {
    r.scale[0] = 1.0 / (double)rows;
    r.loss = total.sum[0] * r.scale[0];
    return r;
  }
  const bool twoParts = loss.type == PairLossType::Contrastive || loss.type == PairLossType::ThresholdConsistent;
  const bool tc = loss.type == PairLossType::ThresholdConsistent;
  for (int k = 0; k < (twoParts ? 2 : 1); ++k) {
    const double lambda = tc ? (k == 0 ? loss.lambdaPlus : loss.lambdaMinus) : 1.0;
    if (total.count[k] > 0.0) {
      r.scale[k] = lambda / total.count[k];
      r.loss += total.sum[k] * r.scale[k];
    }
  }
  return r;
}

// log(1 + e^x) and 1/(1 + e^−x), stable.
FL_HD double softplus(double x) { return x > 0.0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
FL_HD double sigmoid(double x) {
  if (x >= 0.0) return 1.0 / (1.0 + exp(-x));
  const double e = exp(x);
  return e / (1.0 + e);
}

// Multi-similarity exponent of one pair with value v: a positive (part 0) gives x_p = α·(base − v)
// for a similarity, α·(v − base) for a distance; a negative (part 1) x_n = β·(v − base), or
// β·(base − v) for a distance.
FL_HD double multiSimilarityExponent(const PairLossOptions& loss, bool sim, int part, float value) {
  return part == 0 ? loss.alpha * (sim ? loss.base - value : value - loss.base)
                   : loss.beta * (sim ? value - loss.base : loss.base - value);
}

// Multi-similarity: L = (1/α)·log(1 + Σ_P e^{x_p}) + (1/β)·log(1 + Σ_N e^{x_n}) over the SET of
// given pairs.  With coef, writes ∂L/∂v·scale.  exps [refs]: scratch keeping each pair's
// e^{x − shift} from the sum for its coefficient (one exp a pair, the same bits as two).
FL_HD LossPartial multiSimilarityRow(const PairRow& row, const PairLossOptions& loss, const int32_t* weight, double scale,
                                     float* coef, double* exps) {
  const bool sim = similarity(loss.distance);
  const float* v = row.lossValues;
  double shift[2] = {0.0, 0.0};  // max exponent, the implicit 0 included
  const double factor[2] = {loss.alpha, loss.beta};
  for (int pass = 0; pass < 2; ++pass) {
    double total[2] = {0.0, 0.0};
    for (int64_t j = 0; j < row.refs; ++j) {
      const int kind = pairKind(row, j);
      if (kind == 0 || weight[j] <= 0) continue;
      const int part = kind - 1;
      const double x = multiSimilarityExponent(loss, sim, part, v[j]);
      if (pass == 0) {
        if (x > shift[part] || x != x) shift[part] = x;
      } else {
        exps[j] = exp(x - shift[part]);
        total[part] += exps[j];
      }
    }
    if (pass == 0) continue;
    LossPartial out;
    double denominator[2];
    for (int part = 0; part < 2; ++part) {
      denominator[part] = exp(-shift[part]) + total[part];
      out.sum[0] += (log(denominator[part]) + shift[part]) / factor[part];
    }
    if (coef) {
      for (int64_t j = 0; j < row.refs; ++j) {
        const int kind = pairKind(row, j);
        if (kind == 0 || weight[j] <= 0) continue;
        const int part = kind - 1;
        const double share = exps[j] / denominator[part];
        // ∂x_p/∂v = α·(sim ? −1 : 1), ∂x_n/∂v = β·(sim ? 1 : −1); the 1/α, 1/β cancel.
        const double sign = (part == 0) == sim ? -1.0 : 1.0;
        coef[j] = (float)(share * sign * scale);
      }
    }
    return out;
  }
  return LossPartial();
}

// Contrastive (multiplicities): relu(sim ? m⁺ − s : d − m⁺), relu(sim ? s − m⁻ : m⁻ − d).
// Threshold-consistent (cosine, multiplicities): s ≤ m⁺: m⁺ − s; s ≥ m⁻: s − m⁻.
// One pair's term (part 0 positive, 1 negative, value x): whether it counts, the term and its
// slope ∂term/∂v.
FL_HD bool marginPairTerm(const PairLossOptions& loss, bool sim, int part, double x, double* term, double* slope) {
  if (loss.type == PairLossType::ThresholdConsistent) {
    *term = part == 0 ? loss.marginPlus - x : x - loss.marginMinus;
    *slope = part == 0 ? -1.0 : 1.0;
    return *term >= 0.0;
  }
  *term = part == 0 ? (sim ? loss.posMargin - x : x - loss.posMargin) : (sim ? x - loss.negMargin : loss.negMargin - x);
  *slope = (part == 0) == sim ? -1.0 : 1.0;
  return *term > 0.0;
}

FL_HD LossPartial marginPairsRow(const PairRow& row, const PairLossOptions& loss, const int32_t* weight,
                                 const double* scale, float* coef) {
  const bool sim = similarity(loss.distance);
  const float* v = row.lossValues;
  LossPartial out;
  for (int64_t j = 0; j < row.refs; ++j) {
    const int kind = pairKind(row, j);
    if (kind == 0 || weight[j] <= 0) continue;
    const int part = kind - 1;
    const double x = v[j], w = weight[j];
    double term, slope;
    const bool counted = marginPairTerm(loss, sim, part, x, &term, &slope);
    if (x != x) out.sum[part] += x;  // NaN propagates
    if (!counted) {
      if (coef) coef[j] = 0.0f;
      continue;
    }
    out.sum[part] += w * term;
    out.count[part] += w;
    if (coef) coef[j] = (float)(w * slope * scale[part]);
  }
  return out;
}

// Circle's logit of a pair with value s (kind 1 positive, 2 negative), and its relu factor.
FL_HD double circleLogit(int kind, double s, double m, double gamma, double* relu) {
  *relu = kind == 1 ? fmax(1.0 + m - s, 0.0) : fmax(s + m, 0.0);
  return kind == 1 ? -gamma * *relu * (s - (1.0 - m)) : gamma * *relu * (s - m);
}

// Circle (cosine, set): softplus(LSE_P + LSE_N), 0 for a row lacking either part.
FL_HD LossPartial circleRow(const PairRow& row, const PairLossOptions& loss, const int32_t* weight, double scale,
                            float* coef) {
  const float* v = row.lossValues;
  const double m = loss.circleM, gamma = loss.gamma;
  double shift[2] = {-INFINITY, -INFINITY};
  bool any[2] = {false, false};
  for (int64_t j = 0; j < row.refs; ++j) {
    const int kind = pairKind(row, j);
    if (kind == 0 || weight[j] <= 0) continue;
    double relu;
    const double logit = circleLogit(kind, v[j], m, gamma, &relu);
    any[kind - 1] = true;
    if (logit > shift[kind - 1] || logit != logit) shift[kind - 1] = logit;
  }
  LossPartial out;
  if (!any[0] || !any[1]) return out;
  double total[2] = {0.0, 0.0};
  for (int64_t j = 0; j < row.refs; ++j) {
    const int kind = pairKind(row, j);
    if (kind == 0 || weight[j] <= 0) continue;
    double relu;
    total[kind - 1] += exp(circleLogit(kind, v[j], m, gamma, &relu) - shift[kind - 1]);
  }
  const double lse[2] = {shift[0] + log(total[0]), shift[1] + log(total[1])};
  const double z = lse[0] + lse[1];
  const double rowLoss = softplus(z);
  out.sum[0] = rowLoss;
  out.count[0] = rowLoss > 0.0 ? 1.0 : (rowLoss != rowLoss ? 1.0 : 0.0);
  if (coef && rowLoss > 0.0) {
    const double outer = sigmoid(z) * scale;
    for (int64_t j = 0; j < row.refs; ++j) {
      const int kind = pairKind(row, j);
      if (kind == 0 || weight[j] <= 0) continue;
      double relu;
      const double share = exp(circleLogit(kind, v[j], m, gamma, &relu) - lse[kind - 1]);
      coef[j] = (float)(outer * share * (kind == 1 ? -gamma : gamma) * relu);
    }
  }
  return out;
}

// NT-Xent (multiplicities): per positive pair softplus(Z − s_p/τ), Z = LSE_n(s_n/τ + log w_n).
FL_HD LossPartial ntXentRow(const PairRow& row, const PairLossOptions& loss, const int32_t* weight, double scale,
                            float* coef) {
  const bool sim = similarity(loss.distance);
  const double sign = sim ? 1.0 : -1.0;  // s = −d for distances
  const double tau = loss.temperature;
  const float* v = row.lossValues;
  double shift = -INFINITY;
  for (int64_t j = 0; j < row.refs; ++j) {
    if (pairKind(row, j) != 2 || weight[j] <= 0) continue;
    const double x = sign * v[j] / tau + log((double)weight[j]);
    if (x > shift || x != x) shift = x;
  }
  double total = 0.0;
  if (shift != -INFINITY) {
    for (int64_t j = 0; j < row.refs; ++j) {
      if (pairKind(row, j) != 2 || weight[j] <= 0) continue;
      total += exp(sign * v[j] / tau + log((double)weight[j]) - shift);
    }
  }
  const double z = shift == -INFINITY ? -INFINITY : shift + log(total);
  LossPartial out;
  double positiveWeight = 0.0;  // Σ_p w_p·sigmoid(r_p)
  for (int64_t j = 0; j < row.refs; ++j) {
    if (pairKind(row, j) != 1 || weight[j] <= 0) continue;
    const double w = weight[j];
    const double r = z - sign * v[j] / tau;
    out.sum[0] += w * softplus(r);
    out.count[0] += w;
    const double g = sigmoid(r);
    positiveWeight += w * g;
    if (coef) coef[j] = (float)(-w * g / tau * sign * scale);
  }
  if (coef) {
    for (int64_t j = 0; j < row.refs; ++j) {
      if (pairKind(row, j) != 2 || weight[j] <= 0) continue;
      const double share = z == -INFINITY ? 0.0 : exp(sign * v[j] / tau + log((double)weight[j]) - z);
      coef[j] = (float)(share / tau * positiveWeight * sign * scale);
    }
  }
  return out;
}

// Triplet margin: Σ over the given triplets with t < margin of (margin − t); count = how many.
// s.counts: per column, the active triplets it is in.
FL_HD LossPartial tripletRow(const PairRow& row, const MinerOptions& miner, const PairLossOptions& loss, RowScratch& s) {
  const bool sim = similarity(loss.distance);
  const float* v = row.lossValues;
  const TripletBounds active = lossBounds(loss.margin);
  LossPartial out;
  for (int64_t j = 0; j < row.refs; ++j) s.counts[j] = 0;
  if (miner.type == MinerType::BatchHard) {
    const RowExtremes e = rowExtremes(row, similarity(miner.distance));
    if (e.hardestPositive < 0 || e.hardestNegative < 0) return out;
    const double t = tripletT(sim, v[e.hardestPositive], v[e.hardestNegative]);
    if (t != t) out.sum[0] += t;
    if (!inBounds(active, t)) return out;
    out.sum[0] += loss.margin - t;
    out.count[0] = 1.0;
    s.counts[e.hardestPositive] = 1, s.counts[e.hardestNegative] = 1;
    return out;
  }
  if (miner.type == MinerType::TripletMargin && miner.distance != loss.distance) {
    // The miner's and the loss' values differ (the public API gives both the same distance, so
    // only direct C++ callers get here): enumerate the row's (p, n).  With one distance both
    // value rows are equal wherever they live, and the loss' row serves both conditions.
    const TripletBounds mined = minerBounds(miner);
    const bool minerSim = similarity(miner.distance);
    const float* mv = row.minerValues;
    for (int64_t p = 0; p < row.refs; ++p) {
      if (pairKind(row, p) != 1) continue;
      for (int64_t n = 0; n < row.refs; ++n) {
        if (pairKind(row, n) != 2 || !inBounds(mined, tripletT(minerSim, mv[p], mv[n]))) continue;
        const double t = tripletT(sim, v[p], v[n]);
        if (t != t) out.sum[0] += t;
        if (!inBounds(active, t)) continue;
        out.sum[0] += loss.margin - t;
        out.count[0] += 1.0;
        s.counts[p] += 1, s.counts[n] += 1;
      }
    }
    return out;
  }
  const int32_t* member = nullptr;
  TripletBounds bounds = active;
  if (miner.type == MinerType::TripletMargin) {
    bounds = intersectBounds(minerBounds(miner), active);
  } else if (miner.type != MinerType::None) {
    minedWeights(row, miner, s);
    member = s.weight;
  }
  const TripletSweep sweep = sweepTriplets(row, v, sim, member, bounds, loss.margin, s, s.counts);
  out.sum[0] = sweep.nan ? (double)NAN : sweep.marginSum;
  out.count[0] = sweep.triplets;
  return out;
}

// Triplet margin's coef from the row's per-column active-triplet counts (tripletRow's s.counts):
// ∂(margin − t)/∂v_p = −σ, ∂/∂v_n = +σ, once per triplet; 0 where a column is in none.
FL_HD void tripletCoefficients(const PairRow& row, const PairLossOptions& loss, const int32_t* counts,
                               const LossScale& scale, float* coef) {
  const double sigma = similarity(loss.distance) ? 1.0 : -1.0;
  for (int64_t j = 0; j < row.refs; ++j) {
    coef[j] = counts[j] == 0 ? 0.0f : (float)((pairKind(row, j) == 1 ? -sigma : sigma) * (double)counts[j] * scale.scale[0]);
  }
}

FL_HD LossPartial lossRow(const PairRow& row, const MinerOptions& miner, const PairLossOptions& loss, void* scratch,
                          const LossScale* scale, float* coef) {
  RowScratch s = carveScratch(scratch, row.refs);
  if (coef) {
    for (int64_t j = 0; j < row.refs; ++j) coef[j] = 0.0f;
  }
  if (loss.type == PairLossType::TripletMargin) {
    const LossPartial out = tripletRow(row, miner, loss, s);
    if (coef) tripletCoefficients(row, loss, s.counts, *scale, coef);
    return out;
  }
  minedWeights(row, miner, s);
  const double noScale[2] = {0.0, 0.0};
  const double* k = scale ? scale->scale : noScale;
  switch (loss.type) {
    case PairLossType::MultiSimilarity: return multiSimilarityRow(row, loss, s.weight, k[0], coef, s.prefix);
    case PairLossType::Circle: return circleRow(row, loss, s.weight, k[0], coef);
    case PairLossType::NtXent: return ntXentRow(row, loss, s.weight, k[0], coef);
    default: return marginPairsRow(row, loss, s.weight, k, coef);
  }
}

// The row's partial sums (forward pass).
FL_HD LossPartial lossRowForward(const PairRow& row, const MinerOptions& miner, const PairLossOptions& loss, void* scratch) {
  LossPartial out = lossRow(row, miner, loss, scratch, nullptr, nullptr);
  out.nonFinite = nonFinitePairs(row);
  return out;
}

// lossRowForward of a triplet-margin loss that also hands out the row's per-column counts
// (refs entries), so an engine that keeps them forms the coefficients with tripletCoefficients
// instead of sweeping the row again.
FL_HD LossPartial tripletLossRowForward(const PairRow& row, const MinerOptions& miner, const PairLossOptions& loss,
                                        void* scratch, int32_t* counts) {
  RowScratch s = carveScratch(scratch, row.refs);
  LossPartial out = tripletRow(row, miner, loss, s);
  out.nonFinite = nonFinitePairs(row);
  for (int64_t j = 0; j < row.refs; ++j) counts[j] = s.counts[j];
  return out;
}

// Both at once for a loss whose scale is known ahead (scaleKnownAhead, scale = lossScale of an
// empty total): the row's partial sums as lossRowForward gives them and coef as lossRowBackward.
FL_HD LossPartial lossRowWithGradient(const PairRow& row, const MinerOptions& miner, const PairLossOptions& loss,
                                      const LossScale& scale, void* scratch, float* coef) {
  LossPartial out = lossRow(row, miner, loss, scratch, &scale, coef);
  out.nonFinite = nonFinitePairs(row);
  return out;
}

// coef[j] = ∂loss/∂v_ij for every column (0 where the pair plays no part), given the global
// normalizers.  Recomputes the row exactly as the forward pass did.
FL_HD void lossRowBackward(const PairRow& row, const MinerOptions& miner, const PairLossOptions& loss,
                           const LossScale& scale, void* scratch, float* coef) {
  lossRow(row, miner, loss, scratch, &scale, coef);
}

}  // namespace pairs
}  // namespace fusedloss
