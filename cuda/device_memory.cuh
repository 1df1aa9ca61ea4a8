// Device scratch memory shared by the CUDA kernels: a per-device pool that keeps up to
// kPoolKeepBytes between calls (the default pool gives its memory back at every synchronization,
// and scratch is needed on every call), and an RAII buffer freed on every path out.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace fusedloss {

constexpr uint64_t kPoolKeepBytes = uint64_t{64} << 20;

// The current device's pool, or null where the device has no memory pools (then plain cudaMalloc).
cudaError_t scratchPool(cudaMemPool_t& pool);

// One device allocation, freed (stream-ordered where pooled) on every path out.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(cudaStream_t stream) : stream_(stream) {}
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (!ptr_) return;
    if (pooled_) cudaFreeAsync(ptr_, stream_); else cudaFree(ptr_);
  }
  cudaError_t allocate(size_t bytes) {
    cudaMemPool_t pool = nullptr;
    const cudaError_t err = scratchPool(pool);
    if (err != cudaSuccess) return err;
    pooled_ = pool != nullptr;
    return pooled_ ? cudaMallocFromPoolAsync(&ptr_, bytes, pool, stream_) : cudaMalloc(&ptr_, bytes);
  }
  char* get() const { return static_cast<char*>(ptr_); }

 private:
  cudaStream_t stream_;
  void* ptr_ = nullptr;
  bool pooled_ = false;
};

}  // namespace fusedloss
