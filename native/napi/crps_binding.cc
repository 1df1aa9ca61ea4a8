// N-API glue for crps: reads the plan the TypeScript layer prepared (validated there), every
// property once before any data pointer (CallArgs), checks what memory safety needs (types,
// lengths, overflow; the option rules are checkCrpsCall's, run by the kernel), allocates the
// outputs on the JS thread and runs the kernel right away (sync) or on the libuv pool (async;
// kernel_call.h).
#include <napi.h>

#include "../kernels/crps.h"
#include "args.h"
#include "bindings.h"
#include "kernel_call.h"

namespace fusedloss {
namespace napi {
namespace {

class CrpsCall : public KernelCall {
 public:
  CrpsShape shape;
  CrpsOptions options;
  CrpsInputs inputs;
  CrpsOutputs outputs;
  bool cuda = false;

  KernelStatus run() override {
    return cuda ? crpsCuda(shape, options, inputs, outputs) : crpsCpu(shape, options, inputs, outputs);
  }

  void addScalars(Napi::Env env, Napi::Object& result) override { result.Set("mean", Napi::Number::New(env, outputs.mean)); }
};

std::unique_ptr<KernelCall> prepare(Napi::Env env, const Napi::Object& object, bool copyInputs) {
  const CallArgs args(object, {"outer", "members", "inner", "alpha", "nanPolicy", "gradients", "components", "device",
                               "ensemble", "observations", "weights", "gradOutput", "out"});
  auto call = std::make_unique<CrpsCall>();
  call->readOut(args, {"scores", "gradEnsemble", "gradObservations", "skill", "spread"});
  call->shape.outer = positiveIntArg(args, "outer");
  call->shape.members = positiveIntArg(args, "members");
  call->shape.inner = positiveIntArg(args, "inner");
  const size_t elements = checkedProduct(env, "ensemble", call->shape.outer, call->shape.members, call->shape.inner);
  const size_t points = checkedProduct(env, "observations", call->shape.outer, 1, call->shape.inner);

  call->options.alpha = numberArg(args, "alpha");
  call->options.nanPolicy = enumArg<NanPolicy>(args, "nanPolicy");
  call->options.gradients = boolArg(args, "gradients");
  call->options.components = boolArg(args, "components");
  call->cuda = enumArg<Device>(args, "device") == Device::Cuda;

  const FloatView ensemble = floatArrayArg(args, "ensemble", elements, false);
  const FloatView observations = floatArrayArg(args, "observations", points, false);
  const FloatView weights = floatArrayArg(args, "weights", points, true);
  const FloatView gradOutput = floatArrayArg(args, "gradOutput", points, true);
  call->inputs.ensemble = call->adopt(ensemble, copyInputs || ensemble.shared);
  call->inputs.observations = call->adopt(observations, copyInputs || observations.shared);
  call->inputs.weights = call->adopt(weights, copyInputs || weights.shared);
  call->inputs.gradOutput = call->adopt(gradOutput, copyInputs || gradOutput.shared);

  call->outputs.scores = call->newFloatOutput(env, "scores", points);
  if (call->options.gradients) {
    call->outputs.gradEnsemble = call->newFloatOutput(env, "gradEnsemble", elements);
    call->outputs.gradObservations = call->newFloatOutput(env, "gradObservations", points);
  }
  if (call->options.components) {
    call->outputs.skill = call->newFloatOutput(env, "skill", points);
    call->outputs.spread = call->newFloatOutput(env, "spread", points);
  }
  return call;
}

Napi::Value crpsSync(const Napi::CallbackInfo& info) { return runSync(info.Env(), prepareCall(info, "crps", false, prepare)); }

Napi::Value crpsAsync(const Napi::CallbackInfo& info) {
  return runAsync(info.Env(), prepareCall(info, "crps", true, prepare), "fusedloss:crps");
}

}  // namespace

void registerCrps(Napi::Env env, Napi::Object exports) {
  exports.Set("crps", Napi::Function::New(env, crpsSync, "crps"));
  exports.Set("crpsAsync", Napi::Function::New(env, crpsAsync, "crpsAsync"));
}

}  // namespace napi
}  // namespace fusedloss
