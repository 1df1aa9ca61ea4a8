// Per-element math of the margin softmax, shared by the CPU kernel (g++) and the CUDA kernel
// (nvcc), so the CPU tests cover the GPU's arithmetic.  Contract: docs/spec/margin.md.
//
// Notation: c = x̂·ŵ clamped to [−1, 1], θ = acos c, S the logit scale, z = S·v the logit with v
// the (possibly modulated) cosine.  The loss of row i with target y is
//   loss_i = (1 − ε)(LSE_i − z_iy) + ε(LSE_i − mean_j z_ij),   LSE_i = log Σ_j exp z_ij,
// so ∂loss_i/∂z_ij = p_ij − (1 − ε)[j = y] − ε/C with p the softmax, and ∂loss/∂c = ∂loss/∂z · S · v'(c).
#pragma once

#include <cmath>

#include "../kernels/margin_types.h"
#include "common.h"

namespace fusedloss {
namespace margin {

// Logits and their scales are float32 on every backend (the CPU and CUDA epilogues hold them so):
// a scale S (s, s·‖x‖ or s·‖x‖·‖w‖, computed in double) or a logit past float32's range is NaN
// rather than ±Inf, so its row is NaN identically everywhere (an infinite S would make some of
// the row's logits ±Inf and others NaN, and the TypeScript backend, in double, would not overflow
// at all; it applies the same rule: lib/fallback/margin-softmax.ts, float32Logit).
FL_HD float float32OrNaN(double value) {
  const float f = static_cast<float>(value);
  return fabsf(f) <= 3.402823466e38f ? f : NAN;
}
FL_HD float logitScale(double scale) { return float32OrNaN(scale); }

// The margined target cosine ψ(c), its derivative, and the CurricularFace threshold (the target's
// margined cosine before the past-π / easy-margin fallback).  Evaluated in double: there is one
// target per row, so this costs nothing and keeps ψ accurate near |c| = 1.
struct Target {
  double value;
  double derivative;
  double threshold;
};

// sin θ for the exact derivatives, floored so |c| = 1 never divides by zero (the spec's
// sqrt(max(1 − c², 1e-12))).
FL_HD double sinTheta(double c) { return sqrt(fmax(1.0 - c * c, 1e-12)); }

// NaN stays NaN (fmin/fmax would turn it into a bound).
FL_HD double clampCosine(double c) { return c > 1.0 ? 1.0 : (c < -1.0 ? -1.0 : c); }

// The margin types of ../kernels/margin_types.h (MarginType).
FL_HD Target targetMargin(MarginType type, double cosine, double m1, double m2, double m3, bool easyMargin,
                          bool straightThrough) {
  const double c = clampCosine(cosine);
  const double pi = 3.141592653589793238462643383279502884;
  Target t;
  if (type == MarginType::None) {
    t.value = c;
    t.derivative = 1.0;
  } else if (type == MarginType::CosFace) {
    t.value = c - m3;
    t.derivative = 1.0;
  } else if (type == MarginType::Combined) {
    const double theta = acos(c);
    const double angle = m1 * theta + m2;
    const double margined = cos(angle) - m3;
    const double exact = m1 * sin(angle) / sinTheta(c);
    t.threshold = margined;
    const bool useMargin = easyMargin ? c > 0.0 : angle <= pi;
    if (useMargin) {
      t.value = margined;
      t.derivative = straightThrough ? 1.0 : exact;
    } else {
      // Past π cos(m1θ + m2) would rise again; the references continue with a linear penalty.
      t.value = easyMargin ? c - m3 : c - m2 * sin(m2) - m3;
      t.derivative = 1.0;
    }
    return t;
  } else {
    const double theta = acos(c);
    const double angle = m1 * theta;
    double k = floor(angle / pi);
    if (k > m1 - 1.0) k = m1 - 1.0;  // θ = π exactly: the k = m − 1 branch (same value, finite slope)
    const double sign = fmod(k, 2.0) == 0.0 ? 1.0 : -1.0;
    t.value = sign * cos(angle) - 2.0 * k;
    t.derivative = sign * m1 * sin(angle) / sinTheta(c);
  }
  t.threshold = t.value;
  return t;
}

// A non-target cosine after the interclass filter (cosine > τ becomes the constant 0) and the
// CurricularFace modulation (cosine > the target's threshold becomes c·(t + c)).  Returns v and
// writes dv/dc.
FL_HD float nonTargetCosine(float c, bool filter, float filterThreshold, bool curricular, float curricularT,
                            float curricularThreshold, float* derivative) {
  if (filter && c > filterThreshold) {
    *derivative = 0.0f;
    return 0.0f;
  }
  if (curricular && c > curricularThreshold) {
    *derivative = curricularT + 2.0f * c;
    return c * (curricularT + c);
  }
  *derivative = 1.0f;
  return c;
}

// CurricularFace's running t, updated before use: momentum·mean(c_iy) + (1 − momentum)·t.
FL_HD double curricularUpdate(double t, double momentum, double meanTargetCosine) {
  return momentum * meanTargetCosine + (1.0 - momentum) * t;
}

// A row's LSE, loss and Σ_{j≠y} p_j from its statistics: max (over all classes), others =
// Σ_{j≠y} e^{z_j − max} (the target left out), the target logit z_y and Σ_j z_j.  The cross
// entropy LSE − z_y is taken as log1p(others·e^{max − z_y}), not as a difference: for a
// confidently right row it is ~1e-8 against logits of ~40, which a subtraction would lose.
// Ignored rows (hasTarget false) get only logSumExp.
struct RowResult {
  double logSumExp;
  double loss;
  double otherProbability;  // Σ_{j≠y} p_j = 1 − p_y, exact where 1 − p_y would cancel
};

// log(1 + e^a) without overflow: for a > 0 it is a + log(1 + e^−a), so a cross entropy of 1e5
// (e^a far beyond double) stays finite; for a ≤ 0 log1p keeps a tiny result's digits.
FL_HD double logOnePlusExp(double a) { return a > 0.0 ? a + log1p(exp(-a)) : log1p(exp(a)); }

FL_HD RowResult rowResult(double max, double others, bool hasTarget, double targetLogit, double sumLogits, double classes,
                          double smoothing) {
  RowResult r;
  const double targetTerm = hasTarget ? exp(targetLogit - max) : 0.0;
  const double total = others + targetTerm;
  r.logSumExp = max + log(total);
  r.loss = 0.0;
  r.otherProbability = 0.0;
  if (hasTarget) {
    // log(others·e^{max − z_y}) as a sum of logs: e^{max − z_y} overflows once max − z_y > 709.
    const double crossEntropy = logOnePlusExp(log(others) + (max - targetLogit));
    r.loss = (1.0 - smoothing) * crossEntropy + smoothing * (r.logSumExp - sumLogits / classes);
    r.otherProbability = others / total;
  }
  return r;
}

// ∂loss_i/∂z_iy = p_y − (1 − ε) − ε/C, written through Σ_{j≠y} p_j.
FL_HD double targetLogitGradient(double otherProbability, double classes, double smoothing) {
  return -otherProbability + smoothing - smoothing / classes;
}

// Row weights near float32's max: the backward's per-row coefficient w_i/count is stored in float32
// and multiplied by S and summed in the GEMMs, where it would overflow (Inf − Inf gives NaN) although
// the gradients are representable.  So row i's coefficient is multiplied by 2^−shift_i, with
// shift_i = coefficientShift(w_i) > 0 only when |w_i| reaches 2^32 (ordinary weights keep their
// bits), and its gradEmbeddings row by 2^shift_i again in double.  The centers' gradients sum over
// rows, so there each row's terms are first brought to the common 2^−shift_max (the largest shift)
// and the sums multiplied by 2^shift_max.  NaN and ±Inf weights make their rows NaN anyway: shift 0.
FL_HD int coefficientShift(float rowWeight) {
  const float magnitude = fabsf(rowWeight);
  if (!(magnitude <= 3.402823466e38f)) return 0;
  int exponent = 0;
  frexp(static_cast<double>(magnitude), &exponent);  // magnitude < 2^exponent
  return exponent > 32 ? exponent - 32 : 0;
}

}  // namespace margin
}  // namespace fusedloss
