// CRPS of ensemble forecasts: score, weighted mean and gradients in one pass per point.
// Contract: docs/spec/crps.md.  Plain pointers and sizes only — no N-API — so the
// CPU and CUDA versions can be called from tests, benchmarks and other bindings alike.
#pragma once

#include <cstdint>

#include "crps_types.h"
#include "status.h"

namespace fusedloss {

// The ensemble is viewed as a row-major [outer, members, inner] array: the member axis of an
// N-D tensor splits its shape into the axes before it (outer) and after it (inner), so any
// member axis is handled without a transposing copy.  Point p = o·inner + i (the layout of the
// observations); member k of that point lives at (o·members + k)·inner + i.
struct CrpsShape {
  int64_t outer = 1;
  int64_t members = 1;
  int64_t inner = 1;

  int64_t points() const { return outer * inner; }
  int64_t elements() const { return outer * members * inner; }
};

struct CrpsInputs {
  const float* ensemble = nullptr;      // shape.elements()
  const float* observations = nullptr;  // shape.points()
  const float* weights = nullptr;       // shape.points(), or null for all ones
  const float* gradOutput = nullptr;    // shape.points(), or null: gradients are then of the mean
};

// Every requested output is written in full.  gradEnsemble/gradObservations are required when
// options.gradients, skill/spread when options.components.
struct CrpsOutputs {
  float* scores = nullptr;            // shape.points()
  float* gradEnsemble = nullptr;      // shape.elements(), layout of the ensemble
  float* gradObservations = nullptr;  // shape.points()
  float* skill = nullptr;             // shape.points()
  float* spread = nullptr;            // shape.points()
  double mean = 0.0;                  // Σ w·s / Σ w over counted points (float64)
};

// The rules of a call, for direct C++ callers (the TypeScript layer enforces them for users,
// with its own messages; the N-API glue checks only memory safety and reports these failures
// with the same codes).  Every entry point calls it once, before touching memory.
inline KernelStatus checkCrpsCall(const CrpsShape& shape, const CrpsOptions& options, const CrpsInputs& inputs,
                                  const CrpsOutputs& outputs) {
  if (shape.outer < 1 || shape.members < 1 || shape.inner < 1) return KernelStatus::shapeFailure("crps: empty shape");
  if (!inputs.ensemble || !inputs.observations || !outputs.scores) return KernelStatus::failure("crps: missing buffer");
  if (options.gradients && (!outputs.gradEnsemble || !outputs.gradObservations)) {
    return KernelStatus::failure("crps: gradients requested without gradient buffers");
  }
  if (options.components && (!outputs.skill || !outputs.spread)) {
    return KernelStatus::failure("crps: components requested without skill/spread buffers");
  }
  if (!(options.alpha >= 0.0 && options.alpha <= 1.0)) return KernelStatus::optionFailure("crps: alpha outside [0, 1]");
  if (shape.members < (options.alpha > 0.0 ? 2 : 1)) {
    return KernelStatus::shapeFailure("crps: the fair and almost-fair estimators need at least 2 members");
  }
  if (inputs.gradOutput && !options.gradients) return KernelStatus::optionFailure("crps: gradOutput requires gradients");
  return KernelStatus::success();
}

// Native CPU: multithreaded over a fixed partition of the points, so the bits do not depend on
// the thread count.  Inputs and outputs are host memory.
KernelStatus crpsCpu(const CrpsShape& shape, const CrpsOptions& options, const CrpsInputs& inputs,
                     CrpsOutputs& outputs);

// CUDA on host memory: copies in, runs crpsCudaDevice, copies out.  Reports "not built" when the
// addon was compiled without CUDA, and the CUDA error when no device or driver is usable.
KernelStatus crpsCuda(const CrpsShape& shape, const CrpsOptions& options, const CrpsInputs& inputs,
                      CrpsOutputs& outputs);

// CUDA on device memory (for benchmarks and bindings that already hold device buffers).  All
// pointers in inputs/outputs are device pointers; stream is a cudaStream_t (null = default).
// outputs.mean is returned on the host; the call synchronizes the stream.
KernelStatus crpsCudaDevice(const CrpsShape& shape, const CrpsOptions& options,
                            const CrpsInputs& inputs, CrpsOutputs& outputs, void* stream);

}  // namespace fusedloss
