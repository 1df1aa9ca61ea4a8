// Result of a kernel entry point: kernels never throw across the C ABI-ish boundary; the
// caller (N-API glue, tests, benchmarks) turns a failure into its own error type.
#pragma once

#include <string>

namespace fusedloss {

struct KernelStatus {
  bool ok = true;
  std::string message;  // why it failed (empty when ok)
  bool outOfMemory = false;  // the failure was an allocation (bindings report ERR_FUSEDLOSS_TOO_LARGE)

  static KernelStatus success() { return {}; }
  static KernelStatus failure(std::string why) { return {false, std::move(why)}; }
  static KernelStatus memoryFailure(std::string why) { return {false, std::move(why), true}; }
};

}  // namespace fusedloss
