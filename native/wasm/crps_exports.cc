// crps for WebAssembly (ABI: wasm_call.h; the JavaScript side: lib/crps/wasm.ts, which lists the
// scalars and arrays in this order).  Calls crpsCpu as the N-API glue does.
#include "../kernels/crps.h"
#include "wasm_call.h"

using namespace fusedloss;
using namespace fusedloss::wasm;

// scalars: outer, members, inner, alpha, nanPolicy, gradients, components
// arrays:  ensemble, observations, weights, gradOutput, scores, gradEnsemble, gradObservations, skill, spread
// results: mean
namespace {

int32_t runCrps(const double* scalars, void* const* arrays, double* results) {
  CrpsShape shape;
  CrpsOptions options;
  if (!readSize(scalars[0], shape.outer) || !readSize(scalars[1], shape.members) || !readSize(scalars[2], shape.inner)) {
    return fail(kShape, "crps: outer, members and inner must be whole numbers >= 1");
  }
  options.alpha = scalars[3];
  if (!readEnum(scalars[4], options.nanPolicy)) return fail(kOption, "crps: nanPolicy code out of range");
  options.gradients = scalars[5] != 0.0;
  options.components = scalars[6] != 0.0;

  CrpsInputs inputs;
  inputs.ensemble = static_cast<const float*>(arrays[0]);
  inputs.observations = static_cast<const float*>(arrays[1]);
  inputs.weights = static_cast<const float*>(arrays[2]);
  inputs.gradOutput = static_cast<const float*>(arrays[3]);
  CrpsOutputs outputs;
  outputs.scores = static_cast<float*>(arrays[4]);
  outputs.gradEnsemble = static_cast<float*>(arrays[5]);
  outputs.gradObservations = static_cast<float*>(arrays[6]);
  outputs.skill = static_cast<float*>(arrays[7]);
  outputs.spread = static_cast<float*>(arrays[8]);
  const int32_t status = report(crpsCpu(shape, options, inputs, outputs));
  results[0] = outputs.mean;
  return status;
}

}  // namespace

extern "C" int32_t fl_crps(const double* scalars, void* const* arrays, double* results) {
  return guarded("crps", [&] { return runCrps(scalars, arrays, results); });
}
