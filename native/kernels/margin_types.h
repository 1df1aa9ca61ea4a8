// The margin family's enums and options, at the bottom of the include graph: included by the
// math (../math/margin_math.h), the CPU and CUDA kernels and the N-API glue, so each code exists
// once.  Enums and plain option structs only.
#pragma once

#include <cstdint>

#include "enum_names.h"

namespace fusedloss {

// The margin on the target logit, in one parameterization (see ../math/margin_math.h):
//   none       ψ(c) = c
//   cosface    ψ(c) = c − m3
//   combined   ψ(c) = cos(m1·θ + m2) − m3 with the fallback past π and easyMargin
//              (TypeScript's 'arcface' is combined with m1 = 1, m2 = m, m3 = 0)
//   sphereface ψ(c) = (−1)^k cos(m1·θ) − 2k, k = ⌊m1·θ/π⌋, m1 a positive integer
#define FL_MARGIN_TYPES(X) X(None, "none") X(CosFace, "cosface") X(Combined, "combined") X(SphereFace, "sphereface")
enum class MarginType : int32_t { FL_MARGIN_TYPES(FL_ENUM_MEMBER) };
FL_ENUM_NAMES(MarginType, "marginType", FL_MARGIN_TYPES)

#define FL_SCALE_MODES(X) X(Fixed, "fixed") X(FeatureNorm, "feature-norm") X(ProductNorm, "product-norm")
enum class ScaleMode : int32_t { FL_SCALE_MODES(FL_ENUM_MEMBER) };
FL_ENUM_NAMES(ScaleMode, "scaleMode", FL_SCALE_MODES)

#define FL_REDUCTIONS(X) X(Mean, "mean") X(Sum, "sum")
enum class Reduction : int32_t { FL_REDUCTIONS(FL_ENUM_MEMBER) };
FL_ENUM_NAMES(Reduction, "reduction", FL_REDUCTIONS)

struct MarginSoftmaxOptions {
  MarginType margin = MarginType::Combined;
  double m1 = 1.0, m2 = 0.5, m3 = 0.0;
  bool easyMargin = false;
  bool straightThrough = false;  // ψ'(c) = 1 instead of the exact derivative
  double scale = 64.0;
  ScaleMode scaleMode = ScaleMode::Fixed;
  double labelSmoothing = 0.0;
  bool interclassFilter = false;
  double filterThreshold = 1.0;  // τ: negatives with cosine > τ become the constant 0
  bool curricular = false;
  double curricularT = 0.0;         // t before this call's update
  double curricularMomentum = 0.01;
  Reduction reduction = Reduction::Mean;
  bool gradients = true;
  bool weightsColumns = false;  // weights stored [D, weightRows] instead of [weightRows, D]
  // Operands of the GEMM products (x̂, ŵ, the logit gradient G) rounded to this first
  // (../math/precision_math.h; docs/spec/precision.md); the epilogues stay float32 / float64.
  Precision precision = Precision::Float32;
  // Bound on the kernel's work buffers beyond the normalized copies (bytes).
  int64_t workBytes = int64_t(64) << 20;
  // CUDA only: precision 'tf32' / 'bf16' on the FP32 SIMT GEMM tile even on tensor-core devices
  // (sm_80+; float32 always runs that tile).  For the checks and the benchmarks' tensor-core-versus-
  // SIMT rows; TypeScript never sets it.
  bool simtGemm = false;
};

}  // namespace fusedloss
