// mine and pairLoss for WebAssembly (ABI: wasm_call.h; the JavaScript side: lib/pairs/wasm.ts,
// which lists the scalars and arrays in this order).  Calls mineCpu and pairLossCpu as the N-API
// glue does; checkPairCall checks selfIndex before it is used as an index.
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../kernels/pairs.h"
#include "wasm_call.h"

using namespace fusedloss;
using namespace fusedloss::wasm;

namespace {

// scalars 0..11: rows, dim, refs, normalize, minerType, minerDistance, epsilon, minerMargin,
//                triplets, minerPosMargin, minerNegMargin, precision
// arrays 0..4:   embeddings, ref, labels, refLabels, selfIndex
constexpr int kPairScalars = 12;
constexpr int kPairArrays = 5;

// What mine and pairLoss both read.
struct PairCall {
  PairShape shape;
  PairSimilarityOptions similarity;
  MinerOptions miner;
  PairInputs inputs;
};

int32_t readPairCall(const double* s, void* const* arrays, PairCall& call) {
  PairShape& shape = call.shape;
  MinerOptions& miner = call.miner;
  PairInputs& inputs = call.inputs;
  if (!readSize(s[0], shape.rows) || !readSize(s[1], shape.dim) || !readSize(s[2], shape.refs)) {
    return fail(kShape, "pairs: rows, dim and refs must be whole numbers >= 1");
  }
  call.similarity.normalize = s[3] != 0.0;
  if (!readEnum(s[4], miner.type) || !readEnum(s[5], miner.distance) || !readEnum(s[8], miner.triplets) ||
      !readEnum(s[11], call.similarity.precision)) {
    return fail(kOption, "pairs: minerType, minerDistance, triplets or precision code out of range");
  }
  miner.epsilon = s[6];
  miner.margin = s[7];
  miner.posMargin = s[9];
  miner.negMargin = s[10];
  inputs.embeddings = static_cast<const float*>(arrays[0]);
  inputs.ref = static_cast<const float*>(arrays[1]);
  inputs.labels = static_cast<const int32_t*>(arrays[2]);
  inputs.refLabels = static_cast<const int32_t*>(arrays[3]);
  inputs.selfIndex = static_cast<const int32_t*>(arrays[4]);
  return kOk;
}

// A mined vector as a malloc'd array for the executor to copy and free: (pointer, length) into
// results.  False when memory cannot grow to it.
bool handOver(const std::vector<int32_t>& values, double* results) {
  void* copy = std::malloc(values.empty() ? 1 : values.size() * sizeof(int32_t));
  if (!copy) return false;
  if (!values.empty()) std::memcpy(copy, values.data(), values.size() * sizeof(int32_t));
  results[0] = static_cast<double>(reinterpret_cast<uintptr_t>(copy));
  results[1] = static_cast<double>(values.size());
  return true;
}

// scalars: the pair call's, then maxOutputs
// results: (pointer, length) of positiveAnchors, positives, negativeAnchors, negatives (pair
//          miners) or anchors, positives, negatives and (0, 0) (triplet miners); the arrays are
//          the caller's to free (fl_free)
int32_t runMine(const double* scalars, void* const* arrays, double* results) {
  PairCall call;
  if (const int32_t status = readPairCall(scalars, arrays, call)) return status;
  const double maxOutputs = scalars[kPairScalars];
  if (!(maxOutputs >= 0.0 && maxOutputs <= 2147483647.0) || std::floor(maxOutputs) != maxOutputs) {
    return fail(kOption, "maxOutputs must be an integer in [0, 2147483647]");
  }
  for (int i = 0; i < 8; ++i) results[i] = 0.0;
  MineOutputs outputs;
  if (const int32_t status = report(mineCpu(call.shape, call.similarity, call.miner, static_cast<int64_t>(maxOutputs), call.inputs, outputs))) {
    return status;
  }
  const bool triplets = minesTriplets(call.miner.type);
  const std::vector<int32_t>* mined[4] = {&outputs.pairs.positiveAnchors, &outputs.pairs.positives,
                                          &outputs.pairs.negativeAnchors, &outputs.pairs.negatives};
  const std::vector<int32_t>* minedTriplets[4] = {&outputs.triplets.anchors, &outputs.triplets.positives,
                                                  &outputs.triplets.negatives, nullptr};
  for (int i = 0; i < 4; ++i) {
    const std::vector<int32_t>* values = triplets ? minedTriplets[i] : mined[i];
    if (values && !handOver(*values, results + 2 * i)) {
      for (int j = 0; j < i; ++j) std::free(reinterpret_cast<void*>(static_cast<uintptr_t>(results[2 * j])));
      return fail(kTooLarge, "mine: not enough memory for the mined indices");
    }
  }
  return kOk;
}

// scalars: the pair call's, then lossType, lossDistance, alpha, beta, base, posMargin, negMargin,
//          margin, circleM, gamma, temperature, lambdaPlus, lambdaMinus, marginPlus, marginMinus,
//          gradients
// arrays:  the pair call's, then gradEmbeddings, gradRef
// results: loss
int32_t runPairLoss(const double* scalars, void* const* arrays, double* results) {
  PairCall call;
  if (const int32_t status = readPairCall(scalars, arrays, call)) return status;
  const double* s = scalars + kPairScalars;
  PairLossOptions loss;
  if (!readEnum(s[0], loss.type) || !readEnum(s[1], loss.distance)) return fail(kOption, "pairLoss: lossType or lossDistance code out of range");
  loss.alpha = s[2];
  loss.beta = s[3];
  loss.base = s[4];
  loss.posMargin = s[5];
  loss.negMargin = s[6];
  loss.margin = s[7];
  loss.circleM = s[8];
  loss.gamma = s[9];
  loss.temperature = s[10];
  loss.lambdaPlus = s[11];
  loss.lambdaMinus = s[12];
  loss.marginPlus = s[13];
  loss.marginMinus = s[14];
  loss.gradients = s[15] != 0.0;
  PairLossOutputs outputs;
  outputs.gradEmbeddings = static_cast<float*>(arrays[kPairArrays]);
  outputs.gradRef = static_cast<float*>(arrays[kPairArrays + 1]);
  const int32_t status = report(pairLossCpu(call.shape, call.similarity, call.miner, loss, call.inputs, outputs));
  results[0] = outputs.loss;
  return status;
}

}  // namespace

extern "C" int32_t fl_mine(const double* scalars, void* const* arrays, double* results) {
  return guarded("mine", [&] { return runMine(scalars, arrays, results); });
}

extern "C" int32_t fl_pair_loss(const double* scalars, void* const* arrays, double* results) {
  return guarded("pairLoss", [&] { return runPairLoss(scalars, arrays, results); });
}
