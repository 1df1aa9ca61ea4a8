// Fused normalized softmax with margin (NormFace, CosFace, ArcFace, SphereFace, combined
// margins, sub-centers, per-row margins, CurricularFace, label smoothing, Partial FC): loss and
// gradients without ever storing the N×C logits.  Contract: docs/spec/margin.md.
// Plain pointers and sizes only — no N-API — so the CPU and CUDA versions can be called from
// tests, benchmarks and other bindings alike.
#pragma once

#include <cmath>
#include <cstdint>

#include "margin_types.h"
#include "status.h"

namespace fusedloss {

struct MarginSoftmaxShape {
  int64_t rows = 0;        // N
  int64_t dim = 0;         // D
  int64_t classes = 0;     // classes computed: C, or the length of classIds (Partial FC)
  int64_t subCenters = 1;  // K
  // Rows of the caller's weight matrix (all classes · K); with classIds it may exceed
  // classes·K.  It is the leading dimension of the 'columns' layout [D, weightRows].
  int64_t weightRows = 0;
};

struct MarginSoftmaxInputs {
  const float* embeddings = nullptr;  // [rows, dim]
  const float* weights = nullptr;     // [weightRows, dim] or [dim, weightRows] (weightsColumns)
  // Position of each row's class among the computed classes, in [0, classes), or −1 (ignored).
  const int32_t* targets = nullptr;
  // Class id of each computed class (Partial FC), or null for 0..classes−1.  Center k of
  // computed class j is row classIds[j]·K + k of `weights`; predictions report these ids.
  const int32_t* classIds = nullptr;
  const float* rowWeights = nullptr;    // [rows] or null for all ones
  const float* rowAngular = nullptr;    // [rows] per-row m2 (Combined), or null
  const float* rowAdditive = nullptr;   // [rows] per-row m3 (CosFace, Combined), or null
};

// Every output is written in full; gradients only when options.gradients.
struct MarginSoftmaxOutputs {
  float* losses = nullptr;          // [rows]
  float* logSumExp = nullptr;       // [rows]
  int32_t* predictions = nullptr;   // [rows]
  float* gradEmbeddings = nullptr;  // [rows, dim]
  // [classes·K, dim] (rows) or [dim, classes·K] (columns): computed classes only, in order.
  float* gradWeights = nullptr;
  double loss = 0.0;
  double curricularT = 0.0;  // updated t (when options.curricular)
};

// The rules of a call, for direct C++ callers (the TypeScript layer enforces them for users,
// with its own messages; the N-API glue checks only memory safety and reports these failures
// with the same codes).  Every entry point calls checkMarginSoftmaxCall once before touching
// memory; the device entry point, whose labels live on the device, checks the arguments here
// (checkMarginSoftmaxArguments) and the labels on the device.
inline KernelStatus checkMarginSoftmaxArguments(const MarginSoftmaxShape& shape, const MarginSoftmaxOptions& options,
                                                const MarginSoftmaxInputs& inputs, const MarginSoftmaxOutputs& outputs) {
  if (shape.rows < 1 || shape.dim < 1 || shape.classes < 1 || shape.subCenters < 1) {
    return KernelStatus::shapeFailure("marginSoftmax: empty shape");
  }
  if (shape.weightRows < shape.classes * shape.subCenters) return KernelStatus::shapeFailure("marginSoftmax: weightRows too small");
  if (!inputs.embeddings || !inputs.weights || !inputs.targets) return KernelStatus::failure("marginSoftmax: missing input");
  if (!outputs.losses || !outputs.logSumExp || !outputs.predictions) return KernelStatus::failure("marginSoftmax: missing output");
  if (options.gradients && (!outputs.gradEmbeddings || !outputs.gradWeights)) {
    return KernelStatus::failure("marginSoftmax: gradients requested without gradient buffers");
  }
  if (!(options.scale > 0.0) || !(options.labelSmoothing >= 0.0 && options.labelSmoothing < 1.0)) {
    return KernelStatus::optionFailure("marginSoftmax: scale or labelSmoothing out of range");
  }
  // floor, not a cast to an integer: casting a huge or NaN double is undefined behaviour.
  if (options.margin == MarginType::SphereFace && !(options.m1 >= 1.0 && std::isfinite(options.m1) && std::floor(options.m1) == options.m1)) {
    return KernelStatus::optionFailure("marginSoftmax: sphereface margin must be a positive integer");
  }
  return KernelStatus::success();
}

inline KernelStatus checkMarginSoftmaxCall(const MarginSoftmaxShape& shape, const MarginSoftmaxOptions& options,
                                           const MarginSoftmaxInputs& inputs, const MarginSoftmaxOutputs& outputs) {
  const KernelStatus arguments = checkMarginSoftmaxArguments(shape, options, inputs, outputs);
  if (!arguments.ok) return arguments;
  for (int64_t i = 0; i < shape.rows; ++i) {
    if (inputs.targets[i] < -1 || inputs.targets[i] >= shape.classes) return KernelStatus::labelFailure("marginSoftmax: target out of range");
  }
  if (inputs.classIds) {
    const int64_t totalClasses = shape.weightRows / shape.subCenters;
    for (int64_t j = 0; j < shape.classes; ++j) {
      if (inputs.classIds[j] < 0 || inputs.classIds[j] >= totalClasses) return KernelStatus::labelFailure("marginSoftmax: class id out of range");
    }
  }
  return KernelStatus::success();
}

// Native CPU: classes streamed in tiles through a register-tiled GEMM micro-kernel (AVX-512 /
// AVX2+FMA / scalar, chosen at run time) with the margin, online log-sum-exp and gradient in its
// epilogue; a fixed work partition, so the bits do not depend on the thread count.
KernelStatus marginSoftmaxCpu(const MarginSoftmaxShape& shape, const MarginSoftmaxOptions& options,
                              const MarginSoftmaxInputs& inputs, MarginSoftmaxOutputs& outputs);

// The work budget (MarginSoftmaxOptions::workBytes) the N-API glue gives marginSoftmaxCpu when the
// caller sets none: the size of the weights (4·C·K·D bytes), at least 64 MiB and at most 1 GiB.
// Larger row blocks stream the weights and their gradient fewer times; the options' own default
// stays 64 MiB (the CUDA kernel's, and direct C++ callers').  docs/spec/margin.md#memory.
int64_t marginCpuDefaultWorkBytes(const MarginSoftmaxShape& shape);

// CUDA on host memory: copies in, runs marginSoftmaxCudaDevice, copies out.  Reports "not built"
// when compiled without CUDA, and the CUDA error when no device or driver is usable.
KernelStatus marginSoftmaxCuda(const MarginSoftmaxShape& shape, const MarginSoftmaxOptions& options,
                               const MarginSoftmaxInputs& inputs, MarginSoftmaxOutputs& outputs);

// CUDA on device memory: every pointer in inputs/outputs is a device pointer; stream is a
// cudaStream_t (null = default).  outputs.loss and outputs.curricularT are returned on the host;
// the call synchronizes the stream.
KernelStatus marginSoftmaxCudaDevice(const MarginSoftmaxShape& shape, const MarginSoftmaxOptions& options,
                                     const MarginSoftmaxInputs& inputs, MarginSoftmaxOutputs& outputs, void* stream);

// Bytes marginSoftmaxCudaDevice allocates for a call (normalized copies, unit gradients when they
// cannot live in the outputs, per-row arrays and the work buffer), for benchmarks and reports; 0
// without CUDA.
int64_t marginSoftmaxCudaScratchBytes(const MarginSoftmaxShape& shape, const MarginSoftmaxOptions& options,
                                      const MarginSoftmaxOutputs& outputs);

}  // namespace fusedloss
