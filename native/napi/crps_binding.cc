// N-API glue for crps: reads the call the TypeScript layer prepared (already validated there),
// re-checks every length it relies on, allocates the outputs on the JS thread and runs the
// kernel either right away (sync) or on the libuv pool (async).
//
// Async safety: once the Promise is returned, JavaScript may detach or transfer the caller's
// buffers, so the async form copies its inputs into native memory first.  Outputs are fresh
// Float32Arrays that only this call knows about until it resolves, so they can be written in
// place from the worker thread.
#include <napi.h>

#include <algorithm>
#include <memory>
#include <new>
#include <vector>

#include "../kernels/crps.h"
#include "../runtime/memory.h"
#include "args.h"
#include "bindings.h"

namespace fusedloss {
namespace napi {
namespace {

enum class Device : int32_t { Cpu = 0, Cuda = 1 };

struct CrpsCall {
  CrpsShape shape;
  CrpsOptions options;
  Device device = Device::Cpu;
  CrpsInputs inputs;
  CrpsOutputs outputs;
  std::vector<FloatBuffer> ownedInputs;  // async copies
  std::vector<Napi::Reference<Napi::Float32Array>> outputArrays;
  std::vector<const char*> outputNames;
};

const float* adoptInput(CrpsCall& call, const FloatView& view, bool copy) {
  if (!view.data) return nullptr;
  if (!copy) return view.data;
  call.ownedInputs.emplace_back(view.length);
  std::copy(view.data, view.data + view.length, call.ownedInputs.back().data());
  return call.ownedInputs.back().data();
}

float* newOutput(Napi::Env env, CrpsCall& call, const char* name, size_t length) {
  Napi::Float32Array array = newOutputArray(env, length);
  call.outputArrays.push_back(Napi::Persistent(array));
  call.outputNames.push_back(name);
  return array.Data();
}

std::unique_ptr<CrpsCall> prepareCallOrThrow(const Napi::CallbackInfo& info, bool copyInputs);

// Allocation failures (huge outputs, async copies) become a coded error, never std::terminate.
std::unique_ptr<CrpsCall> prepareCall(const Napi::CallbackInfo& info, bool copyInputs) {
  try {
    return prepareCallOrThrow(info, copyInputs);
  } catch (const std::bad_alloc&) {
    throw codedError(info.Env(), kTooLarge, "crps: not enough memory for the outputs or the async input copies");
  }
}

std::unique_ptr<CrpsCall> prepareCallOrThrow(const Napi::CallbackInfo& info, bool copyInputs) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw codedError(env, kInvalidArg, "args must be an object");
  const Napi::Object args = info[0].As<Napi::Object>();
  auto call = std::make_unique<CrpsCall>();
  call->shape.outer = positiveIntArg(args, "outer");
  call->shape.members = positiveIntArg(args, "members");
  call->shape.inner = positiveIntArg(args, "inner");
  const size_t elements = checkedProduct(env, "ensemble", call->shape.outer, call->shape.members, call->shape.inner);
  const size_t points = checkedProduct(env, "observations", call->shape.outer, 1, call->shape.inner);

  call->options.alpha = numberArg(args, "alpha");
  if (!(call->options.alpha >= 0.0 && call->options.alpha <= 1.0)) throw codedError(env, kOption, "alpha must be in [0, 1]");
  call->options.nanPolicy = static_cast<NanPolicy>(enumArg(args, "nanPolicy", 3));
  call->options.gradients = boolArg(args, "gradients");
  call->options.components = boolArg(args, "components");
  call->device = static_cast<Device>(enumArg(args, "device", 2));
  if (call->shape.members < 2 && call->options.alpha > 0.0) {
    throw codedError(env, kShape, "ensemble needs at least 2 members for the fair and almost-fair estimators");
  }

  const FloatView ensemble = floatArrayArg(args, "ensemble", elements, false);
  const FloatView observations = floatArrayArg(args, "observations", points, false);
  const FloatView weights = floatArrayArg(args, "weights", points, true);
  const FloatView gradOutput = floatArrayArg(args, "gradOutput", points, true);
  if (gradOutput.data && !call->options.gradients) throw codedError(env, kOption, "gradOutput requires gradients: true");

  call->inputs.ensemble = adoptInput(*call, ensemble, copyInputs);
  call->inputs.observations = adoptInput(*call, observations, copyInputs);
  call->inputs.weights = adoptInput(*call, weights, copyInputs);
  call->inputs.gradOutput = adoptInput(*call, gradOutput, copyInputs);

  call->outputs.scores = newOutput(env, *call, "scores", points);
  if (call->options.gradients) {
    call->outputs.gradEnsemble = newOutput(env, *call, "gradEnsemble", elements);
    call->outputs.gradObservations = newOutput(env, *call, "gradObservations", points);
  }
  if (call->options.components) {
    call->outputs.skill = newOutput(env, *call, "skill", points);
    call->outputs.spread = newOutput(env, *call, "spread", points);
  }
  return call;
}

KernelStatus runCall(CrpsCall& call) {
  return call.device == Device::Cuda ? crpsCuda(call.shape, call.options, call.inputs, call.outputs)
                                     : crpsCpu(call.shape, call.options, call.inputs, call.outputs);
}

Napi::Object resultObject(Napi::Env env, CrpsCall& call) {
  Napi::Object result = Napi::Object::New(env);
  for (size_t i = 0; i < call.outputArrays.size(); ++i) result.Set(call.outputNames[i], call.outputArrays[i].Value());
  result.Set("mean", Napi::Number::New(env, call.outputs.mean));
  return result;
}

Napi::Value crpsSync(const Napi::CallbackInfo& info) {
  std::unique_ptr<CrpsCall> call = prepareCall(info, false);
  const KernelStatus status = runCall(*call);
  if (!status.ok) throw codedError(info.Env(), kBackend, status.message);
  return resultObject(info.Env(), *call);
}

class CrpsWorker : public Napi::AsyncWorker {
 public:
  CrpsWorker(Napi::Env env, std::unique_ptr<CrpsCall> call)
      : Napi::AsyncWorker(env, "fusedloss:crps"), call_(std::move(call)), deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    const KernelStatus status = runCall(*call_);
    if (!status.ok) SetError(status.message);
  }

  void OnOK() override { deferred_.Resolve(resultObject(Env(), *call_)); }

  void OnError(const Napi::Error& error) override {
    deferred_.Reject(codedError(Env(), kBackend, error.Message()).Value());
  }

 private:
  std::unique_ptr<CrpsCall> call_;
  Napi::Promise::Deferred deferred_;
};

Napi::Value crpsAsync(const Napi::CallbackInfo& info) {
  auto* worker = new CrpsWorker(info.Env(), prepareCall(info, true));
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

}  // namespace

void registerCrps(Napi::Env env, Napi::Object exports) {
  exports.Set("crps", Napi::Function::New(env, crpsSync, "crps"));
  exports.Set("crpsAsync", Napi::Function::New(env, crpsAsync, "crpsAsync"));
}

}  // namespace napi
}  // namespace fusedloss
