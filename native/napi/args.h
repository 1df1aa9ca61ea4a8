// Argument reading for the N-API glue.  The TypeScript layer validates every call first (one
// validation module for all backends); these checks are the native backstop that guarantees no
// out-of-bounds access even when the addon is called directly with bad arguments.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "../kernels/enum_names.h"

namespace fusedloss {
namespace napi {

// Error codes of docs/spec/README.md.
constexpr const char* kInvalidArg = "ERR_FUSEDLOSS_INVALID_ARG";
constexpr const char* kShape = "ERR_FUSEDLOSS_SHAPE";
constexpr const char* kLabel = "ERR_FUSEDLOSS_LABEL";
constexpr const char* kOption = "ERR_FUSEDLOSS_OPTION";
constexpr const char* kTooLarge = "ERR_FUSEDLOSS_TOO_LARGE";
constexpr const char* kBackend = "ERR_FUSEDLOSS_BACKEND";

// Builds a TypeError (kInvalidArg), RangeError (the others) or Error (kBackend/internal) whose
// `code` property is `code`.
Napi::Error codedError(Napi::Env env, const char* code, const std::string& message);

// The properties of one call, each read exactly once (own properties only: nothing inherited,
// from Object.prototype or elsewhere, is seen), all of them before any data pointer is taken.
// Reading runs the caller's getters, and a getter can detach or transfer an array whose pointer
// was already taken, and let the memory be collected: so every read happens here, first, and the
// accessors below run no JavaScript.
class CallArgs {
 public:
  CallArgs(const Napi::Object& args, const std::vector<const char*>& names);
  Napi::Env Env() const { return env_; }
  // The value read for `name` (undefined when absent); `name` must be one of the constructor's.
  Napi::Value get(const char* name) const;

 private:
  Napi::Env env_;
  std::vector<std::pair<std::string, Napi::Value>> values_;
};

struct FloatView {
  float* data = nullptr;
  size_t length = 0;
  // In a SharedArrayBuffer: another thread may write it while the kernel runs, so the call
  // copies it first (KernelCall::adopt with copy) and the kernel sees one consistent snapshot.
  bool shared = false;
  Napi::Float32Array array;  // keeps the JS object reachable while we hold the pointer
};

// A Float32Array property of exactly `expectedLength` elements (not detached).
// Throws codedError when absent (unless optional, then data = nullptr), mistyped or mis-sized.
FloatView floatArrayArg(const CallArgs& args, const char* name, size_t expectedLength, bool optional);

// An Int32Array property copied out of the caller's memory (copy first, then validate the copy,
// then use only the copy: the caller's array may be shared with a thread that writes it).
struct Int32Copy {
  bool present = false;
  std::vector<int32_t> values;
  const int32_t* data() const { return present ? values.data() : nullptr; }
};

// An Int32Array property of exactly `expectedLength` elements (not detached), copied; optional
// like floatArrayArg.
Int32Copy int32ArrayArg(const CallArgs& args, const char* name, size_t expectedLength, bool optional);

// A positive integer property that is a safe integer (≤ 2^53).
int64_t positiveIntArg(const CallArgs& args, const char* name);
double numberArg(const CallArgs& args, const char* name);
bool boolArg(const CallArgs& args, const char* name);
// An integer code in [0, count) (enumCodeArg) or of Enum (enumArg, the bound from its types header).
int32_t enumCodeArg(const CallArgs& args, const char* name, int32_t count);
template <typename Enum>
Enum enumArg(const CallArgs& args, const char* name) {
  return static_cast<Enum>(enumCodeArg(args, name, enumCount<Enum>()));
}
// Whether the property is present (neither undefined nor null).
bool isPresent(const CallArgs& args, const char* name);

// A new Float32Array for a kernel to overwrite completely.  Large ones
// live in 2 MiB-aligned, huge-page-advised native memory handed to JavaScript as an external
// ArrayBuffer (freed by its finalizer), so filling them does not fault page by page; where
// external buffers are not allowed (sandboxed runtimes) V8 allocates it as usual.
Napi::Float32Array newOutputArray(Napi::Env env, size_t length);

// An Int32Array holding `values`, for outputs whose size only the kernel knew (mined indices).
// Large ones hand the vector's memory to JavaScript as an external ArrayBuffer (freed by its
// finalizer), so nothing is copied; small ones, and any where external buffers are not allowed,
// are copied into a V8 allocation.
Napi::Int32Array int32ArrayFromVector(Napi::Env env, std::vector<int32_t>&& values);

// a·b·c without overflow, or throws kTooLarge naming `what`.
size_t checkedProduct(Napi::Env env, const char* what, int64_t a, int64_t b, int64_t c);

}  // namespace napi
}  // namespace fusedloss
