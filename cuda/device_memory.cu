#include "device_memory.cuh"

#include <mutex>
#include <utility>
#include <vector>

namespace fusedloss {

cudaError_t scratchPool(cudaMemPool_t& pool) {
  static std::mutex mutex;
  static std::vector<std::pair<int, cudaMemPool_t>> pools;
  int device = 0, supported = 0;
  cudaError_t err = cudaGetDevice(&device);
  if (err != cudaSuccess) return err;
  std::lock_guard<std::mutex> lock(mutex);
  for (const auto& entry : pools) {
    if (entry.first == device) return pool = entry.second, cudaSuccess;
  }
  err = cudaDeviceGetAttribute(&supported, cudaDevAttrMemoryPoolsSupported, device);
  if (err != cudaSuccess) return err;
  pool = nullptr;
  if (supported) {
    cudaMemPoolProps props{};
    props.allocType = cudaMemAllocationTypePinned;
    props.location.type = cudaMemLocationTypeDevice;
    props.location.id = device;
    err = cudaMemPoolCreate(&pool, &props);
    if (err != cudaSuccess) return err;
    uint64_t keep = kPoolKeepBytes;
    err = cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep);
    if (err != cudaSuccess) return err;
  }
  pools.emplace_back(device, pool);
  return cudaSuccess;
}

}  // namespace fusedloss
