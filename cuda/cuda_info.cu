// Probes the CUDA runtime once, on first use (see ../native/kernels/cuda_info.h).  A machine with
// no driver or no device gets available = false and the runtime's own words as the reason.
#include <cuda_runtime.h>

#include "../native/kernels/cuda_info.h"

namespace fusedloss {

const CudaInfo& cudaInfo() {
  // A function-local static: initialized once, thread-safe (C++11), and only when first asked.
  static const CudaInfo info = [] {
    CudaInfo result;
    result.built = true;
    int count = 0;
    const cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
      result.reason = cudaGetErrorString(err);
      cudaGetLastError();  // clear it so later calls do not report it again
      return result;
    }
    for (int index = 0; index < count; ++index) {
      cudaDeviceProp prop{};
      const cudaError_t propErr = cudaGetDeviceProperties(&prop, index);
      if (propErr != cudaSuccess) {
        result.reason = cudaGetErrorString(propErr);
        cudaGetLastError();
        continue;
      }
      CudaDevice device;
      device.index = index;
      device.name = prop.name;
      device.computeMajor = prop.major;
      device.computeMinor = prop.minor;
      device.totalMemory = prop.totalGlobalMem;
      result.devices.push_back(device);
    }
    result.available = !result.devices.empty();
    if (result.available) {
      result.reason.clear();
    } else if (result.reason.empty()) {
      result.reason = "no CUDA device found";
    }
    return result;
  }();
  return info;
}

}  // namespace fusedloss
