// Compiled instead of cuda/*.cu when the addon is built without CUDA: the CUDA entry points exist
// and say so, so the rest of the addon needs no #ifdefs.
#include "crps.h"
#include "cuda_info.h"
#include "margin_softmax.h"

namespace fusedloss {

const CudaInfo& cudaInfo() {
  static const CudaInfo info = [] {
    CudaInfo i;
    i.reason = "this build of fusedloss has no CUDA backend (nvcc was not found at build time, or FUSEDLOSS_CUDA=OFF)";
    return i;
  }();
  return info;
}

KernelStatus crpsCuda(const CrpsShape&, const CrpsOptions&, const CrpsInputs&, CrpsOutputs&) {
  return KernelStatus::failure("CUDA backend not built");
}

KernelStatus crpsCudaDevice(const CrpsShape&, const CrpsOptions&, const CrpsInputs&, CrpsOutputs&, void*) {
  return KernelStatus::failure("CUDA backend not built");
}

KernelStatus marginSoftmaxCuda(const MarginSoftmaxShape&, const MarginSoftmaxOptions&, const MarginSoftmaxInputs&,
                               MarginSoftmaxOutputs&) {
  return KernelStatus::failure("CUDA backend not built");
}

KernelStatus marginSoftmaxCudaDevice(const MarginSoftmaxShape&, const MarginSoftmaxOptions&, const MarginSoftmaxInputs&,
                                     MarginSoftmaxOutputs&, void*) {
  return KernelStatus::failure("CUDA backend not built");
}

}  // namespace fusedloss
