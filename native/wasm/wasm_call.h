// What every WebAssembly entry point shares (native/wasm/<family>_exports.cc).  The ABI is one
// shape for every kernel, so one JavaScript executor (lib/wasm/execute.ts) runs them all:
//
//   int32 fl_<kernel>(const double* scalars, void* const* arrays, double* results)
//
// `scalars` are the plan's numbers in the order the export reads them (enums as their codes,
// booleans as 0/1), `arrays` the plan's input arrays then the outputs (null where absent), and
// `results` receives the kernel's float64 scalars.  The return value is 0 or the StatusKind of a
// failure (below), whose message fl_error_message() / fl_error_length() hold until the next call.
// The TypeScript adapters (lib/<family>/wasm.ts) size every array from the plan, so like the
// N-API glue these entry points check only what memory safety needs that check*Call does not:
// sizes that are whole numbers and enum codes within their counts.
#pragma once

#include <cmath>
#include <cstdint>
#include <exception>
#include <new>
#include <string>

#include "../kernels/enum_names.h"
#include "../kernels/status.h"

namespace fusedloss {
namespace wasm {

// The codes fl_<kernel> returns; lib/wasm/execute.ts maps them to the error codes.
enum WasmStatus : int32_t { kOk = 0, kOption = 1, kShape = 2, kLabel = 3, kTooLarge = 4, kBackend = 5 };

// The message of the last failure.
std::string& lastError();

inline int32_t fail(WasmStatus status, std::string message) {
  lastError() = std::move(message);
  return status;
}

inline int32_t report(const KernelStatus& status) {
  if (status.ok) return kOk;
  switch (status.kind) {
    case StatusKind::Option: return fail(kOption, status.message);
    case StatusKind::Shape: return fail(kShape, status.message);
    case StatusKind::Label: return fail(kLabel, status.message);
    case StatusKind::OutOfMemory: return fail(kTooLarge, status.message);
    default: return fail(kBackend, status.message);
  }
}

// Runs an entry point's body with every C++ exception turned into a status: the kernels catch
// std::bad_alloc themselves, but wasm32's 32-bit size_t adds std::length_error (a vector longer
// than max_size()), and an exception that left the module would trap and cost the instance.
template <typename Body>
int32_t guarded(const char* kernel, Body body) {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return fail(kTooLarge, std::string(kernel) + ": out of WebAssembly memory (wasm32 addresses 4 GiB)");
  } catch (const std::exception& error) {
    return fail(kBackend, std::string(kernel) + ": " + error.what());
  }
}

// A size: a whole number in [1, 2^53] (converting a NaN or huge double is undefined behaviour).
inline bool readSize(double value, int64_t& size) {
  if (!(value >= 1.0 && value <= 9007199254740992.0) || std::floor(value) != value) return false;
  size = static_cast<int64_t>(value);
  return true;
}

// An enum code within the enum's count.
template <typename Enum>
bool readEnum(double value, Enum& code) {
  if (!(value >= 0.0 && value < enumCount<Enum>()) || std::floor(value) != value) return false;
  code = static_cast<Enum>(static_cast<int32_t>(value));
  return true;
}

}  // namespace wasm
}  // namespace fusedloss
