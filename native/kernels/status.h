// Result of a kernel entry point: kernels never throw across the C ABI-ish boundary; the
// caller (N-API glue, tests, benchmarks) turns a failure into its own error type.
#pragma once

#include <string>

namespace fusedloss {

// What a failure was, so that every caller reports it as the TypeScript layer would: a rule of
// the call broken by a direct caller (check*Call: an option, a shape or a label/index; the N-API
// glue reports these as ERR_FUSEDLOSS_OPTION / SHAPE / LABEL), an allocation (TOO_LARGE), or the
// backend itself (CUDA errors, internal errors: BACKEND).
enum class StatusKind { Ok, Option, Shape, Label, OutOfMemory, Backend };

struct KernelStatus {
  bool ok = true;
  std::string message;  // why it failed (empty when ok)
  StatusKind kind = StatusKind::Ok;

  bool outOfMemory() const { return kind == StatusKind::OutOfMemory; }

  static KernelStatus success() { return {}; }
  static KernelStatus failure(std::string why) { return {false, std::move(why), StatusKind::Backend}; }
  static KernelStatus memoryFailure(std::string why) { return {false, std::move(why), StatusKind::OutOfMemory}; }
  static KernelStatus optionFailure(std::string why) { return {false, std::move(why), StatusKind::Option}; }
  static KernelStatus shapeFailure(std::string why) { return {false, std::move(why), StatusKind::Shape}; }
  static KernelStatus labelFailure(std::string why) { return {false, std::move(why), StatusKind::Label}; }
};

}  // namespace fusedloss
