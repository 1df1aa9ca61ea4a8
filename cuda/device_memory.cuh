// Device memory shared by the CUDA kernels: a per-device pool that keeps up to kPoolKeepBytes
// between calls (the default pool gives its memory back at every synchronization, and scratch is
// needed on every call), an RAII buffer freed on every path out, the staging of a host call's
// arrays in one allocation, and the error reporting of the host side.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "../native/kernels/status.h"

namespace fusedloss {

constexpr uint64_t kPoolKeepBytes = uint64_t{64} << 20;

// The current device's pool, or null where the device has no memory pools (then plain cudaMalloc).
cudaError_t scratchPool(cudaMemPool_t& pool);

// The CUDA runtime keeps one "last error" per host thread, and every launch is checked by reading
// it (cudaGetLastError).  An error a call handled and reported (an allocation refused as out of
// memory) would stay there and fail this thread's next good call.  Each host entry point holds
// one of these: the error is cleared on entry and on every way out.  (A sticky error, a kernel
// fault, cannot be cleared: then every later call reports it, as it should.)
class CudaErrorScope {
 public:
  CudaErrorScope() { cudaGetLastError(); }
  ~CudaErrorScope() { cudaGetLastError(); }
  CudaErrorScope(const CudaErrorScope&) = delete;
  CudaErrorScope& operator=(const CudaErrorScope&) = delete;
};

// Byte that output arrays are filled with before the kernels run: as float32 a NaN that no kernel
// writes (kernels write the canonical 0x7fc00000 / 0x7fffffff), as int32 −1.  An element a kernel
// leaves unwritten then comes back as that NaN, never as memory of an earlier call.
constexpr int kOutputPoisonByte = 0xFF;

// Writes the canonical quiet NaN (0x7fc00000, the NaN the kernels write) to `count` floats: a NaN
// that is meant must not look like the kOutputPoisonByte fill of an element never written.
cudaError_t fillNaN(float* data, size_t count, cudaStream_t stream);

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
    cudaError_t err = scratchPool(pool);
    if (err != cudaSuccess) return err;
    pooled_ = pool != nullptr;
    // Kept only on success: the destructor must never free what a failed call left behind.
    void* ptr = nullptr;
    err = pooled_ ? cudaMallocFromPoolAsync(&ptr, bytes, pool, stream_) : cudaMalloc(&ptr, bytes);
    if (err == cudaSuccess) ptr_ = ptr;
    return err;
  }
  char* get() const { return static_cast<char*>(ptr_); }

 private:
  cudaStream_t stream_;
  void* ptr_ = nullptr;
  bool pooled_ = false;
};

// Sizes rounded up so every array in a shared allocation starts 256-byte aligned.
inline size_t alignedBytes(size_t bytes) { return (bytes + 255) & ~size_t{255}; }

// "<kernel>: <what>: <CUDA's message>"; an allocation failure is a memory failure (the bindings
// report ERR_FUSEDLOSS_TOO_LARGE).  Clears the thread's last error: the failure is handled here.
KernelStatus cudaFailure(const char* kernel, const char* what, cudaError_t err);

// Returns cudaFailure(kKernelName, what, err) from the calling function when expr fails; each .cu
// file names its kernel in kKernelName.
#define FL_CUDA_TRY(what, expr)                                             \
  do {                                                                      \
    const cudaError_t flErr = (expr);                                       \
    if (flErr != cudaSuccess) return cudaFailure(kKernelName, what, flErr); \
  } while (0)

// The host entry points' arrays mirrored in one device allocation: declare every input (copied
// in) and output (copied back) — a null host pointer or 0 bytes gets a null device pointer — then
// copyIn() (which also fills the outputs with kOutputPoisonByte), run the device kernel on
// device(slot), copyOut() (which synchronizes).
class HostStaging {
 public:
  explicit HostStaging(cudaStream_t stream) : stream_(stream), buffer_(stream) {}
  int input(const void* host, size_t bytes) { return add(host, nullptr, bytes); }
  int output(void* host, size_t bytes) { return add(nullptr, host, bytes); }
  cudaError_t copyIn();
  cudaError_t copyOut();
  template <typename T>
  T* device(int slot) const {
    return slots_[slot].bytes ? reinterpret_cast<T*>(buffer_.get() + slots_[slot].offset) : nullptr;
  }

 private:
  struct Slot {
    const void* hostIn;
    void* hostOut;
    size_t bytes, offset;
  };
  int add(const void* in, void* out, size_t bytes);
  cudaStream_t stream_;
  DeviceBuffer buffer_;
  std::vector<Slot> slots_;
  size_t total_ = 0;
};

}  // namespace fusedloss
