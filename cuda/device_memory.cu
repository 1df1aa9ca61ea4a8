#include "device_memory.cuh"

#include <algorithm>
#include <mutex>
#include <string>
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
    if (err != cudaSuccess) {
      cudaMemPoolDestroy(pool);  // not kept: the next call tries again
      return err;
    }
  }
  pools.emplace_back(device, pool);
  return cudaSuccess;
}

namespace {

__global__ void fillNaNKernel(float* data, size_t count) {
  const float nan = __int_as_float(0x7fc00000);
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += size_t{gridDim.x} * blockDim.x) {
    data[i] = nan;
  }
}

}  // namespace

cudaError_t fillNaN(float* data, size_t count, cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  constexpr size_t kThreads = 256, kMaxBlocks = 4096;
  const unsigned blocks = static_cast<unsigned>(std::min(kMaxBlocks, (count + kThreads - 1) / kThreads));
  fillNaNKernel<<<blocks, kThreads, 0, stream>>>(data, count);
  return cudaGetLastError();
}

KernelStatus cudaFailure(const char* kernel, const char* what, cudaError_t err) {
  std::string message = std::string(kernel) + ": " + what + ": " + cudaGetErrorString(err);
  cudaGetLastError();
  return err == cudaErrorMemoryAllocation ? KernelStatus::memoryFailure(message) : KernelStatus::failure(message);
}

int HostStaging::add(const void* in, void* out, size_t bytes) {
  if (!in && !out) bytes = 0;
  slots_.push_back({in, out, bytes, total_});
  total_ += alignedBytes(bytes);
  return static_cast<int>(slots_.size()) - 1;
}

cudaError_t HostStaging::copyIn() {
  cudaError_t err = buffer_.allocate(total_);
  for (const Slot& slot : slots_) {
    if (err != cudaSuccess) break;
    if (slot.hostIn && slot.bytes) {
      err = cudaMemcpyAsync(buffer_.get() + slot.offset, slot.hostIn, slot.bytes, cudaMemcpyHostToDevice, stream_);
    } else if (slot.hostOut && slot.bytes) {
      err = cudaMemsetAsync(buffer_.get() + slot.offset, kOutputPoisonByte, slot.bytes, stream_);
    }
  }
  return err;
}

cudaError_t HostStaging::copyOut() {
  for (const Slot& slot : slots_) {
    if (!slot.hostOut || !slot.bytes) continue;
    const cudaError_t err = cudaMemcpyAsync(slot.hostOut, buffer_.get() + slot.offset, slot.bytes, cudaMemcpyDeviceToHost, stream_);
    if (err != cudaSuccess) return err;
  }
  return cudaStreamSynchronize(stream_);
}

}  // namespace fusedloss
