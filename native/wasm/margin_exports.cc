// marginSoftmax for WebAssembly (ABI: wasm_call.h; the JavaScript side: lib/margin/wasm.ts,
// which lists the scalars and arrays in this order).  Calls marginSoftmaxCpu as the N-API glue
// does; checkMarginSoftmaxCall checks the targets and class ids before any is used as an index.
#include "../kernels/margin.h"
#include "wasm_call.h"

using namespace fusedloss;
using namespace fusedloss::wasm;

// scalars: rows, dim, classes, subCenters, weightRows, marginType, m1, m2, m3, easyMargin,
//          straightThrough, scale, scaleMode, labelSmoothing, interclassFilter, filterThreshold,
//          curricular, curricularT, curricularMomentum, reduction, gradients, weightsColumns
// arrays:  embeddings, weights, targets, classIds, rowWeights, rowAngular, rowAdditive,
//          losses, logSumExp, predictions, gradEmbeddings, gradWeights
// results: loss, curricularT
namespace {

int32_t runMarginSoftmax(const double* scalars, void* const* arrays, double* results) {
  MarginSoftmaxShape shape;
  if (!readSize(scalars[0], shape.rows) || !readSize(scalars[1], shape.dim) || !readSize(scalars[2], shape.classes) ||
      !readSize(scalars[3], shape.subCenters) || !readSize(scalars[4], shape.weightRows)) {
    return fail(kShape, "marginSoftmax: rows, dim, classes, subCenters and weightRows must be whole numbers >= 1");
  }
  MarginSoftmaxOptions o;
  if (!readEnum(scalars[5], o.margin) || !readEnum(scalars[12], o.scaleMode) || !readEnum(scalars[19], o.reduction)) {
    return fail(kOption, "marginSoftmax: marginType, scaleMode or reduction code out of range");
  }
  if (!readEnum(scalars[22], o.precision)) {
    return fail(kOption, "marginSoftmax: precision code out of range");
  }
  o.m1 = scalars[6];
  o.m2 = scalars[7];
  o.m3 = scalars[8];
  o.easyMargin = scalars[9] != 0.0;
  o.straightThrough = scalars[10] != 0.0;
  o.scale = scalars[11];
  o.labelSmoothing = scalars[13];
  o.interclassFilter = scalars[14] != 0.0;
  o.filterThreshold = scalars[15];
  o.curricular = scalars[16] != 0.0;
  o.curricularT = scalars[17];
  o.curricularMomentum = scalars[18];
  o.gradients = scalars[20] != 0.0;
  o.weightsColumns = scalars[21] != 0.0;

  MarginSoftmaxInputs in;
  in.embeddings = static_cast<const float*>(arrays[0]);
  in.weights = static_cast<const float*>(arrays[1]);
  in.targets = static_cast<const int32_t*>(arrays[2]);
  in.classIds = static_cast<const int32_t*>(arrays[3]);
  in.rowWeights = static_cast<const float*>(arrays[4]);
  in.rowAngular = static_cast<const float*>(arrays[5]);
  in.rowAdditive = static_cast<const float*>(arrays[6]);
  MarginSoftmaxOutputs out;
  out.losses = static_cast<float*>(arrays[7]);
  out.logSumExp = static_cast<float*>(arrays[8]);
  out.predictions = static_cast<int32_t*>(arrays[9]);
  out.gradEmbeddings = static_cast<float*>(arrays[10]);
  out.gradWeights = static_cast<float*>(arrays[11]);
  const int32_t status = report(marginSoftmaxCpu(shape, o, in, out));
  results[0] = out.loss;
  results[1] = out.curricularT;
  return status;
}

}  // namespace

extern "C" int32_t fl_margin_softmax(const double* scalars, void* const* arrays, double* results) {
  return guarded("marginSoftmax", [&] { return runMarginSoftmax(scalars, arrays, results); });
}
