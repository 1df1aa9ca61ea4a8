// The part every kernel binding shares: a call adopts its inputs (copies them for the async form,
// since JavaScript may detach or transfer the caller's buffers once the Promise is returned),
// takes its outputs on the JS thread (the caller's arrays from `out`, written in place, or fresh
// ones only this call knows about until it resolves), holds a reference to each until it
// settles, and runs right away or on the libuv pool.
#pragma once

#include <napi.h>

#include <memory>
#include <new>
#include <string>
#include <vector>

#include "../kernels/status.h"
#include "../runtime/memory.h"
#include "args.h"

namespace fusedloss {
namespace napi {

class KernelCall {
 public:
  virtual ~KernelCall() = default;
  // Runs the kernel; called on the JS thread (sync) or a libuv worker (async).
  virtual KernelStatus run() = 0;
  // Adds the results known only once the kernel has run to the result object: scalars
  // (reductions) and outputs the kernel sized itself (mined indices).  On the JS thread.
  virtual void addScalars(Napi::Env env, Napi::Object& result) = 0;

  const float* adopt(const FloatView& view, bool copy);
  // Reads the call's `out` object (its properties `names`, each once); call it right after the
  // CallArgs, before any data pointer is taken, since reading may run the caller's getters.
  void readOut(const CallArgs& args, const std::vector<const char*>& names);
  // The output `name`: the caller's array from `out` (checked: type, length, attached), or a new one.
  float* newFloatOutput(Napi::Env env, const char* name, size_t length);
  int32_t* newInt32Output(Napi::Env env, const char* name, size_t length);
  // The result object; throws ERR_FUSEDLOSS_INVALID_ARG if a caller's output was detached
  // while an async call ran (its results are lost).
  Napi::Object result(Napi::Env env);

 private:
  Napi::TypedArray callerOutput(Napi::Env env, const char* name, napi_typedarray_type type, const char* typeName, size_t length);
  void keepOutput(const Napi::TypedArray& array, const char* name, bool callerOwned);

  std::vector<FloatBuffer> ownedFloats_;
  std::vector<Napi::ObjectReference> outputs_;
  std::vector<const char*> names_;
  std::vector<bool> callerOwned_;
  // The values read from `out`, valid while the call is being prepared (same handle scope).
  std::vector<std::pair<std::string, Napi::Value>> out_;
};

// The kernel's failure as the spec's error: a broken rule of the call (check*Call) → OPTION,
// SHAPE or LABEL, out of memory → TOO_LARGE, anything else (CUDA errors) → BACKEND.
Napi::Error statusError(Napi::Env env, const KernelStatus& status);

// Builds a call with `prepare(env, args, copyInputs)`; allocation failures (huge outputs, async
// copies) become ERR_FUSEDLOSS_TOO_LARGE, never std::terminate.
template <typename Prepare>
std::unique_ptr<KernelCall> prepareCall(const Napi::CallbackInfo& info, const char* kernel, bool copyInputs, Prepare prepare) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw codedError(env, kInvalidArg, "args must be an object");
  try {
    return prepare(env, info[0].As<Napi::Object>(), copyInputs);
  } catch (const std::bad_alloc&) {
    throw codedError(env, kTooLarge, std::string(kernel) + ": not enough memory for the outputs or the async input copies");
  }
}

Napi::Value runSync(Napi::Env env, std::unique_ptr<KernelCall> call);
// Queues the call on the libuv pool and returns its Promise.  Safe when the environment ends
// while the call is in flight (worker.terminate()): the work finishes, the call's memory is freed,
// and the Promise is left unsettled since nothing can observe it (kernel_call.cc).
Napi::Value runAsync(Napi::Env env, std::unique_ptr<KernelCall> call, const char* resourceName);

}  // namespace napi
}  // namespace fusedloss
