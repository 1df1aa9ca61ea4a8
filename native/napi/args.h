// Argument reading for the N-API glue.  The TypeScript layer validates every call first (one
// validation module for all backends); these checks are the native backstop that guarantees no
// out-of-bounds access even when the addon is called directly with bad arguments.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

namespace fusedloss {
namespace napi {

// Error codes of ../../../shared/spec/README.md.
constexpr const char* kInvalidArg = "ERR_FUSEDLOSS_INVALID_ARG";
constexpr const char* kShape = "ERR_FUSEDLOSS_SHAPE";
constexpr const char* kLabel = "ERR_FUSEDLOSS_LABEL";
constexpr const char* kOption = "ERR_FUSEDLOSS_OPTION";
constexpr const char* kTooLarge = "ERR_FUSEDLOSS_TOO_LARGE";
constexpr const char* kBackend = "ERR_FUSEDLOSS_BACKEND";

// Builds a TypeError (kInvalidArg), RangeError (the others) or Error (kBackend/internal) whose
// `code` property is `code`.
Napi::Error codedError(Napi::Env env, const char* code, const std::string& message);

struct FloatView {
  float* data = nullptr;
  size_t length = 0;
  Napi::Float32Array array;  // keeps the JS object reachable while we hold the pointer
};

// A Float32Array property of `args` of exactly `expectedLength` elements (not detached).
// Throws codedError when absent (unless optional, then data = nullptr), mistyped or mis-sized.
FloatView floatArrayArg(const Napi::Object& args, const char* name, size_t expectedLength, bool optional);

struct Int32View {
  int32_t* data = nullptr;
  size_t length = 0;
  Napi::Int32Array array;
};

// An Int32Array property of exactly `expectedLength` elements (not detached); optional like
// floatArrayArg.
Int32View int32ArrayArg(const Napi::Object& args, const char* name, size_t expectedLength, bool optional);

// A positive integer property that is a safe integer (≤ 2^53).
int64_t positiveIntArg(const Napi::Object& args, const char* name);
double numberArg(const Napi::Object& args, const char* name);
bool boolArg(const Napi::Object& args, const char* name);
int32_t enumArg(const Napi::Object& args, const char* name, int32_t count);

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
