// Compiled instead of cuda/*.cu when the addon is built without CUDA: the CUDA entry points exist
// and say so, so the rest of the addon needs no #ifdefs.
#include "crps.h"
#include "cuda_info.h"
#include "margin.h"
#include "pairs.h"

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

int64_t marginSoftmaxCudaScratchBytes(const MarginSoftmaxShape&, const MarginSoftmaxOptions&, const MarginSoftmaxOutputs&) {
  return 0;
}

KernelStatus mineCuda(const PairShape&, const PairSimilarityOptions&, const MinerOptions&, int64_t, const PairInputs&,
                      MineOutputs&) {
  return KernelStatus::failure("CUDA backend not built");
}

KernelStatus pairLossCuda(const PairShape&, const PairSimilarityOptions&, const MinerOptions&, const PairLossOptions&,
                          const PairInputs&, PairLossOutputs&) {
  return KernelStatus::failure("CUDA backend not built");
}

KernelStatus mineCudaDevice(const PairShape&, const PairSimilarityOptions&, const MinerOptions&, int64_t,
                            const PairInputs&, MineOutputs&, void*) {
  return KernelStatus::failure("CUDA backend not built");
}

KernelStatus pairLossCudaDevice(const PairShape&, const PairSimilarityOptions&, const MinerOptions&,
                                const PairLossOptions&, const PairInputs&, PairLossOutputs&, void*) {
  return KernelStatus::failure("CUDA backend not built");
}

int64_t pairCudaScratchBytes(const PairShape&, const PairSimilarityOptions&, const MinerOptions&, const PairLossOptions*,
                             bool) {
  return 0;
}

}  // namespace fusedloss
