// N-API glue for mine and pairLoss: reads the plan lib/pair-mining.ts prepared (validated there;
// field names of lib/pair-types.ts), every property once before any data pointer (CallArgs),
// copies the integer arrays and checks what memory safety needs on the copies (types, lengths,
// overflow, selfIndex range; the option rules are TypeScript's, the miner type of mine is
// mineCpu's / mineCudaDevice's), and runs the kernel sync or on the libuv pool (kernel_call.h).  Mined outputs are sized by the kernel's
// counting pass, so they become Int32Arrays on the JS thread once the call completes.
#include <napi.h>

#include <cmath>
#include <initializer_list>
#include <string>
#include <vector>

#include "../kernels/pairs.h"
#include "args.h"
#include "bindings.h"
#include "kernel_call.h"

namespace fusedloss {
namespace napi {
namespace {

// What mine and pairLoss share: sizes, inputs (adopted: copied for the async form), options.
struct PairCall {
  PairShape shape;
  PairSimilarityOptions similarity;
  PairInputs inputs;
  MinerOptions miner;
  bool cuda = false;
  size_t embeddingCount = 0;
  size_t refCount = 0;  // ref floats; 0 without a reference set
  // Private copies of the integer inputs, validated and then used by the kernel.
  Int32Copy labels;
  Int32Copy refLabels;
  Int32Copy selfIndex;
};

// The names readPairCall reads, then those of mine or pairLoss (`more`).
std::vector<const char*> pairArgNames(std::initializer_list<const char*> more) {
  std::vector<const char*> names = {"rows", "dim", "refs", "normalize", "precision", "device", "minerType", "minerDistance", "epsilon",
                                    "minerMargin", "triplets", "minerPosMargin", "minerNegMargin", "embeddings", "ref",
                                    "labels", "refLabels", "selfIndex"};
  names.insert(names.end(), more);
  return names;
}

void readMiner(const CallArgs& args, MinerOptions& m) {
  m.type = enumArg<MinerType>(args, "minerType");
  m.distance = enumArg<PairDistance>(args, "minerDistance");
  m.epsilon = numberArg(args, "epsilon");
  m.margin = numberArg(args, "minerMargin");
  m.triplets = enumArg<TripletSelect>(args, "triplets");
  m.posMargin = numberArg(args, "minerPosMargin");
  m.negMargin = numberArg(args, "minerNegMargin");
}

// Shapes, inputs and the options mine and pairLoss share; the inputs are adopted by `owner`.
void readPairCall(Napi::Env env, const CallArgs& args, bool copyInputs, KernelCall& owner, PairCall& call) {
  PairShape& s = call.shape;
  s.rows = positiveIntArg(args, "rows");
  s.dim = positiveIntArg(args, "dim");
  s.refs = positiveIntArg(args, "refs");
  call.similarity.normalize = boolArg(args, "normalize");
  call.similarity.precision = enumArg<Precision>(args, "precision");
  call.cuda = enumArg<Device>(args, "device") == Device::Cuda;
  readMiner(args, call.miner);

  call.embeddingCount = checkedProduct(env, "embeddings", s.rows, s.dim, 1);
  const bool hasRef = isPresent(args, "ref");
  if (hasRef) {
    call.refCount = checkedProduct(env, "ref", s.refs, s.dim, 1);
  } else {
    if (s.refs != s.rows) throw codedError(env, kShape, "refs must equal rows without a reference set");
    if (isPresent(args, "refLabels") || isPresent(args, "selfIndex")) {
      throw codedError(env, kInvalidArg, "refLabels and selfIndex apply only with ref");
    }
  }
  const FloatView embeddings = floatArrayArg(args, "embeddings", call.embeddingCount, false);
  const FloatView ref = floatArrayArg(args, "ref", call.refCount, true);
  call.labels = int32ArrayArg(args, "labels", static_cast<size_t>(s.rows), false);
  call.refLabels = int32ArrayArg(args, "refLabels", static_cast<size_t>(s.refs), !hasRef);
  call.selfIndex = int32ArrayArg(args, "selfIndex", static_cast<size_t>(s.rows), true);
  for (size_t i = 0; i < call.selfIndex.values.size(); ++i) {
    const int32_t j = call.selfIndex.values[i];
    if (j < -1 || j >= s.refs) {
      throw codedError(env, kLabel, "selfIndex[" + std::to_string(i) + "] = " + std::to_string(j) + " is outside [-1, " +
                                        std::to_string(s.refs) + ")");
    }
  }

  PairInputs& in = call.inputs;
  in.embeddings = owner.adopt(embeddings, copyInputs || embeddings.shared);
  in.ref = owner.adopt(ref, copyInputs || ref.shared);
  in.labels = call.labels.data();
  in.refLabels = call.refLabels.data();
  in.selfIndex = call.selfIndex.data();
}

class MineCall : public KernelCall {
 public:
  PairCall pair;
  int64_t maxOutputs = 0;
  MineOutputs outputs;

  KernelStatus run() override {
    return pair.cuda ? mineCuda(pair.shape, pair.similarity, pair.miner, maxOutputs, pair.inputs, outputs)
                     : mineCpu(pair.shape, pair.similarity, pair.miner, maxOutputs, pair.inputs, outputs);
  }

  // The mined indices, moved into JavaScript (see int32ArrayFromVector).
  void addScalars(Napi::Env env, Napi::Object& result) override {
    if (minesTriplets(pair.miner.type)) {
      MinedTriplets& t = outputs.triplets;
      result.Set("anchors", int32ArrayFromVector(env, std::move(t.anchors)));
      result.Set("positives", int32ArrayFromVector(env, std::move(t.positives)));
      result.Set("negatives", int32ArrayFromVector(env, std::move(t.negatives)));
    } else {
      MinedPairs& p = outputs.pairs;
      result.Set("positiveAnchors", int32ArrayFromVector(env, std::move(p.positiveAnchors)));
      result.Set("positives", int32ArrayFromVector(env, std::move(p.positives)));
      result.Set("negativeAnchors", int32ArrayFromVector(env, std::move(p.negativeAnchors)));
      result.Set("negatives", int32ArrayFromVector(env, std::move(p.negatives)));
    }
  }
};

std::unique_ptr<KernelCall> prepareMine(Napi::Env env, const Napi::Object& object, bool copyInputs) {
  const CallArgs args(object, pairArgNames({"maxOutputs"}));
  auto call = std::make_unique<MineCall>();
  readPairCall(env, args, copyInputs, *call, call->pair);
  // An integer in range before the conversion (a NaN or huge double converted is undefined).
  const double maxOutputs = numberArg(args, "maxOutputs");
  if (!(maxOutputs >= 0.0 && maxOutputs <= 2147483647.0) || std::floor(maxOutputs) != maxOutputs) {
    throw codedError(env, kOption, "maxOutputs must be an integer in [0, 2147483647]");
  }
  call->maxOutputs = static_cast<int64_t>(maxOutputs);
  return call;
}

class PairLossCall : public KernelCall {
 public:
  PairCall pair;
  PairLossOptions loss;
  PairLossOutputs outputs;

  KernelStatus run() override {
    return pair.cuda ? pairLossCuda(pair.shape, pair.similarity, pair.miner, loss, pair.inputs, outputs)
                     : pairLossCpu(pair.shape, pair.similarity, pair.miner, loss, pair.inputs, outputs);
  }

  void addScalars(Napi::Env env, Napi::Object& result) override { result.Set("loss", Napi::Number::New(env, outputs.loss)); }
};

void readLoss(const CallArgs& args, PairLossOptions& o) {
  o.type = enumArg<PairLossType>(args, "lossType");
  o.distance = enumArg<PairDistance>(args, "lossDistance");
  o.alpha = numberArg(args, "alpha");
  o.beta = numberArg(args, "beta");
  o.base = numberArg(args, "base");
  o.posMargin = numberArg(args, "posMargin");
  o.negMargin = numberArg(args, "negMargin");
  o.margin = numberArg(args, "margin");
  o.circleM = numberArg(args, "circleM");
  o.gamma = numberArg(args, "gamma");
  o.temperature = numberArg(args, "temperature");
  o.lambdaPlus = numberArg(args, "lambdaPlus");
  o.lambdaMinus = numberArg(args, "lambdaMinus");
  o.marginPlus = numberArg(args, "marginPlus");
  o.marginMinus = numberArg(args, "marginMinus");
  o.gradients = boolArg(args, "gradients");
}

std::unique_ptr<KernelCall> preparePairLoss(Napi::Env env, const Napi::Object& object, bool copyInputs) {
  const CallArgs args(object, pairArgNames({"lossType", "lossDistance", "alpha", "beta", "base", "posMargin", "negMargin",
                                            "margin", "circleM", "gamma", "temperature", "lambdaPlus", "lambdaMinus",
                                            "marginPlus", "marginMinus", "gradients", "out"}));
  auto call = std::make_unique<PairLossCall>();
  call->readOut(args, {"gradEmbeddings", "gradRef"});
  readPairCall(env, args, copyInputs, *call, call->pair);
  readLoss(args, call->loss);
  if (call->loss.gradients) {
    call->outputs.gradEmbeddings = call->newFloatOutput(env, "gradEmbeddings", call->pair.embeddingCount);
    if (call->pair.inputs.ref) call->outputs.gradRef = call->newFloatOutput(env, "gradRef", call->pair.refCount);
  }
  return call;
}

Napi::Value mineSync(const Napi::CallbackInfo& info) { return runSync(info.Env(), prepareCall(info, "mine", false, prepareMine)); }

Napi::Value mineAsync(const Napi::CallbackInfo& info) {
  return runAsync(info.Env(), prepareCall(info, "mine", true, prepareMine), "fusedloss:mine");
}

Napi::Value pairLossSync(const Napi::CallbackInfo& info) {
  return runSync(info.Env(), prepareCall(info, "pairLoss", false, preparePairLoss));
}

Napi::Value pairLossAsync(const Napi::CallbackInfo& info) {
  return runAsync(info.Env(), prepareCall(info, "pairLoss", true, preparePairLoss), "fusedloss:pairLoss");
}

}  // namespace

void registerPairs(Napi::Env env, Napi::Object exports) {
  exports.Set("mine", Napi::Function::New(env, mineSync, "mine"));
  exports.Set("mineAsync", Napi::Function::New(env, mineAsync, "mineAsync"));
  exports.Set("pairLoss", Napi::Function::New(env, pairLossSync, "pairLoss"));
  exports.Set("pairLossAsync", Napi::Function::New(env, pairLossAsync, "pairLossAsync"));
}

}  // namespace napi
}  // namespace fusedloss
