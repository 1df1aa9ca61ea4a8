// Compiled instead of cuda/*.cu when the addon is built without CUDA: the CUDA entry points exist
// and say so, so the rest of the addon needs no #ifdefs.
#include "crps.h"
#include "cuda_info.h"

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

}  // namespace fusedloss
