// N-API glue for marginSoftmax: reads the plan lib/margin-softmax.ts prepared (validated there),
// every property once before any data pointer (CallArgs), copies the integer arrays and checks
// what memory safety needs on the copies (types, lengths, overflow, label and class id ranges),
// allocates the outputs and runs the kernel sync or on the libuv pool (kernel_call.h).
#include <napi.h>

#include <algorithm>

#include "../kernels/margin.h"
#include "args.h"
#include "bindings.h"
#include "kernel_call.h"

namespace fusedloss {
namespace napi {
namespace {

class MarginSoftmaxCall : public KernelCall {
 public:
  MarginSoftmaxShape shape;
  MarginSoftmaxOptions options;
  MarginSoftmaxInputs inputs;
  MarginSoftmaxOutputs outputs;
  bool cuda = false;
  // Private copies of the integer inputs, validated and then used by the kernel.
  Int32Copy targets;
  Int32Copy classIds;

  KernelStatus run() override {
    return cuda ? marginSoftmaxCuda(shape, options, inputs, outputs) : marginSoftmaxCpu(shape, options, inputs, outputs);
  }

  void addScalars(Napi::Env env, Napi::Object& result) override {
    result.Set("loss", Napi::Number::New(env, outputs.loss));
    if (options.curricular) result.Set("curricularT", Napi::Number::New(env, outputs.curricularT));
  }
};

// The option rules are checkMarginSoftmaxCall's (run by the kernel, reported with the same codes).
void readOptions(const CallArgs& args, MarginSoftmaxOptions& o) {
  o.margin = enumArg<MarginType>(args, "marginType");
  o.m1 = numberArg(args, "m1");
  o.m2 = numberArg(args, "m2");
  o.m3 = numberArg(args, "m3");
  o.easyMargin = boolArg(args, "easyMargin");
  o.straightThrough = boolArg(args, "straightThrough");
  o.scale = numberArg(args, "scale");
  o.scaleMode = enumArg<ScaleMode>(args, "scaleMode");
  o.labelSmoothing = numberArg(args, "labelSmoothing");
  o.interclassFilter = boolArg(args, "interclassFilter");
  o.filterThreshold = numberArg(args, "filterThreshold");
  o.curricular = boolArg(args, "curricular");
  o.curricularT = numberArg(args, "curricularT");
  o.curricularMomentum = numberArg(args, "curricularMomentum");
  o.reduction = enumArg<Reduction>(args, "reduction");
  o.gradients = boolArg(args, "gradients");
  o.weightsColumns = boolArg(args, "weightsColumns");
  o.precision = enumArg<Precision>(args, "precision");
}

std::unique_ptr<KernelCall> prepare(Napi::Env env, const Napi::Object& object, bool copyInputs) {
  const CallArgs args(object, {"rows", "dim", "classes", "subCenters", "weightRows", "marginType", "m1", "m2", "m3",
                               "easyMargin", "straightThrough", "scale", "scaleMode", "labelSmoothing", "interclassFilter",
                               "filterThreshold", "curricular", "curricularT", "curricularMomentum", "reduction", "gradients",
                               "weightsColumns", "precision", "workMemory", "device", "targets", "classIds", "embeddings", "weights", "rowWeights",
                               "rowAngular", "rowAdditive", "out"});
  auto call = std::make_unique<MarginSoftmaxCall>();
  call->readOut(args, {"losses", "logSumExp", "predictions", "gradEmbeddings", "gradWeights"});
  MarginSoftmaxShape& s = call->shape;
  s.rows = positiveIntArg(args, "rows");
  s.dim = positiveIntArg(args, "dim");
  s.classes = positiveIntArg(args, "classes");
  s.subCenters = positiveIntArg(args, "subCenters");
  s.weightRows = positiveIntArg(args, "weightRows");
  readOptions(args, call->options);
  call->cuda = enumArg<Device>(args, "device") == Device::Cuda;
  // workMemory: bytes (validated in lib/margin/plan.ts), or 0 for the backend's default.
  // A direct caller's NaN takes the default and a huge value is capped at 2^53 (casting a double past
  // int64's range would be undefined behaviour).
  const double workMemory = numberArg(args, "workMemory");
  if (workMemory > 0) {
    call->options.workBytes = static_cast<int64_t>(std::min(workMemory, 9007199254740992.0));
  } else if (!call->cuda) {
    call->options.workBytes = marginCpuDefaultWorkBytes(s);
  }

  const size_t embeddingCount = checkedProduct(env, "embeddings", s.rows, s.dim, 1);
  const size_t weightCount = checkedProduct(env, "weights", s.weightRows, s.dim, 1);
  const size_t centers = checkedProduct(env, "classes", s.classes, s.subCenters, 1);
  const size_t gradWeightCount = checkedProduct(env, "gradWeights", s.classes, s.subCenters, s.dim);
  if (s.weightRows % s.subCenters != 0 || centers > static_cast<size_t>(s.weightRows)) {
    throw codedError(env, kShape, "weights rows must be a multiple of subCenters and cover the computed classes");
  }
  call->targets = int32ArrayArg(args, "targets", s.rows, false);
  call->classIds = int32ArrayArg(args, "classIds", s.classes, true);
  if (!call->classIds.present && static_cast<size_t>(s.weightRows) != centers) {
    throw codedError(env, kShape, "without classIds the weights must hold exactly classes * subCenters rows");
  }
  const int64_t totalClasses = s.weightRows / s.subCenters;
  for (int32_t target : call->targets.values) {
    if (target < -1 || target >= s.classes) throw codedError(env, kLabel, "targets out of range");
  }
  for (int32_t id : call->classIds.values) {
    if (id < 0 || id >= totalClasses) throw codedError(env, kLabel, "classIds out of range");
  }

  const FloatView embeddings = floatArrayArg(args, "embeddings", embeddingCount, false);
  const FloatView weights = floatArrayArg(args, "weights", weightCount, false);
  const FloatView rowWeights = floatArrayArg(args, "rowWeights", s.rows, true);
  const FloatView rowAngular = floatArrayArg(args, "rowAngular", s.rows, true);
  const FloatView rowAdditive = floatArrayArg(args, "rowAdditive", s.rows, true);
  MarginSoftmaxInputs& in = call->inputs;
  in.embeddings = call->adopt(embeddings, copyInputs || embeddings.shared);
  in.weights = call->adopt(weights, copyInputs || weights.shared);
  in.targets = call->targets.data();
  in.classIds = call->classIds.data();
  in.rowWeights = call->adopt(rowWeights, copyInputs || rowWeights.shared);
  in.rowAngular = call->adopt(rowAngular, copyInputs || rowAngular.shared);
  in.rowAdditive = call->adopt(rowAdditive, copyInputs || rowAdditive.shared);

  MarginSoftmaxOutputs& out = call->outputs;
  out.losses = call->newFloatOutput(env, "losses", s.rows);
  out.logSumExp = call->newFloatOutput(env, "logSumExp", s.rows);
  out.predictions = call->newInt32Output(env, "predictions", s.rows);
  if (call->options.gradients) {
    out.gradEmbeddings = call->newFloatOutput(env, "gradEmbeddings", embeddingCount);
    out.gradWeights = call->newFloatOutput(env, "gradWeights", gradWeightCount);
  }
  return call;
}

Napi::Value marginSoftmaxSync(const Napi::CallbackInfo& info) {
  return runSync(info.Env(), prepareCall(info, "marginSoftmax", false, prepare));
}

Napi::Value marginSoftmaxAsync(const Napi::CallbackInfo& info) {
  return runAsync(info.Env(), prepareCall(info, "marginSoftmax", true, prepare), "fusedloss:marginSoftmax");
}

}  // namespace

void registerMargin(Napi::Env env, Napi::Object exports) {
  exports.Set("marginSoftmax", Napi::Function::New(env, marginSoftmaxSync, "marginSoftmax"));
  exports.Set("marginSoftmaxAsync", Napi::Function::New(env, marginSoftmaxAsync, "marginSoftmaxAsync"));
}

}  // namespace napi
}  // namespace fusedloss
