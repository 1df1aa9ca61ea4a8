// Probes the CUDA runtime once, on first use (see ../native/kernels/cuda_info.h).  A machine with
// no driver, an old driver or no device gets available = false and the reason.
#include <cuda_runtime.h>

#include <string>

#include "../native/kernels/cuda_info.h"

namespace fusedloss {
namespace {

// "13.0" from the runtime's 13000.
std::string cudaVersionText(int version) {
  return std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 10);
}

// Why cudaGetDeviceCount failed, in words a user can act on.  Without any NVIDIA driver (no
// libcuda) the runtime answers cudaErrorInsufficientDriver, whose text ("CUDA driver version is
// insufficient for CUDA runtime version") would send the user to update a driver that is not
// there; cudaDriverGetVersion reports 0 in that case, which tells the two apart.
std::string deviceCountFailure(cudaError_t err) {
  int driver = 0, runtime = 0;
  if (cudaDriverGetVersion(&driver) != cudaSuccess) driver = 0;
  if (cudaRuntimeGetVersion(&runtime) != cudaSuccess) runtime = CUDART_VERSION;
  cudaGetLastError();
  const std::string runtimeText = "CUDA " + cudaVersionText(runtime);
  if (driver == 0) {
    return "no NVIDIA driver is installed (libcuda could not be loaded): the CUDA backend needs an NVIDIA GPU "
           "and a driver for " + runtimeText + " or newer";
  }
  const std::string driverText = "the NVIDIA driver supports CUDA " + cudaVersionText(driver);
  if (err == cudaErrorInsufficientDriver) {
    return driverText + ", older than this build's " + runtimeText + " runtime: update the NVIDIA driver";
  }
  if (err == cudaErrorNoDevice) return "no CUDA device found (" + driverText + ")";
  return std::string("cudaGetDeviceCount failed: ") + cudaGetErrorName(err) + ": " + cudaGetErrorString(err) + " (" +
         driverText + ")";
}

}  // namespace

const CudaInfo& cudaInfo() {
  // A function-local static: initialized once, thread-safe (C++11), and only when first asked.
  static const CudaInfo info = [] {
    CudaInfo result;
    result.built = true;
    int count = 0;
    const cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
      result.reason = deviceCountFailure(err);
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
