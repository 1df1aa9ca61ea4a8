// The CRPS family's enum and options, at the bottom of the include graph: included by the CPU
// and CUDA kernels and the N-API glue, so each code exists once.  Enums and plain option structs
// only.
#pragma once

#include <cstdint>

#include "enum_names.h"

namespace fusedloss {

// What a NaN in a point's inputs does (the spec's nanPolicy).
#define FL_NAN_POLICIES(X) X(Propagate, "propagate") X(Omit, "omit") X(Zero, "zero")
enum class NanPolicy : int32_t { FL_NAN_POLICIES(FL_ENUM_MEMBER) };
FL_ENUM_NAMES(NanPolicy, "nanPolicy", FL_NAN_POLICIES)

struct CrpsOptions {
  // 0 = standard, 1 = fair, in between = almost-fair (AIFS-CRPS); see crps_math.h.
  double alpha = 0.0;
  NanPolicy nanPolicy = NanPolicy::Propagate;
  bool gradients = false;   // fill gradEnsemble and gradObservations
  bool components = false;  // fill skill and spread
};

}  // namespace fusedloss
