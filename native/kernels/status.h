// Result of a kernel entry point: kernels never throw across the C ABI-ish boundary; the
// caller (N-API glue, tests, benchmarks) turns a failure into its own error type.
#pragma once

#include <string>

namespace fusedloss {

struct KernelStatus {
  bool ok = true;
  std::string message;  // why it failed (empty when ok)

  static KernelStatus success() { return {}; }
  static KernelStatus failure(std::string why) { return {false, std::move(why)}; }
};

}  // namespace fusedloss
