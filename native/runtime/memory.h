// Large buffers that are written right after allocation (kernel outputs, async input copies).
// On Linux they are advised to use transparent huge pages, so their first touch faults 2 MiB at
// a time instead of 4 KiB: measured on this project's VMs, first-touch writes went from
// 0.24 GB/s to 10 GB/s, which otherwise dominated every call on large arrays.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace fusedloss {

// An uninitialized float array, 2 MiB-aligned and huge-page advised when large.  Blocks from
// 256 KiB on are recycled: a freed one goes to a small process-wide cache (at most kCacheBytes)
// and the next request of the same rounded size takes it back with its pages already mapped,
// since on some machines mapping fresh pages costs more than the kernel itself.
class FloatBuffer {
 public:
  explicit FloatBuffer(size_t count);
  float* data() { return data_.get(); }
  const float* data() const { return data_.get(); }
  size_t size() const { return count_; }

 private:
  struct Free {
    size_t cachedBytes;  // > 0: a block of 256 KiB or more, which goes back to the cache
    void operator()(float* p) const;
  };
  std::unique_ptr<float, Free> data_;
  size_t count_;
};

// Per-thread scratch arrays that keep their memory from one call to the next (a pool thread runs
// many tasks; allocating per task showed in profiles).  One slot per use: a task may hold several
// at once, and nothing it calls may take a slot it holds.
enum class Scratch : int {
  GemmPanel,          // gemm(): unpacked B panels
  GemmBf16A,          // gemm() in bf16: A as pairs
  GemmBf16B,          // gemm() in bf16: unpacked B panels as pairs
  PairRowScratch,     // pair losses: one row's scratch (pairs::rowScratchBytes)
  PairRowCoefficients,
  PairSliceSums,      // pair gradients: a row slice's direct sums
  PairTransposed,     // pair gradients: Gᵀ of a tile
  PairColumnMarked,
  PairColumnSum,
  MarginCenterSum,    // margin gradWeights: one center's gŵ row
  MarginCenterUnit,   // margin gradWeights: one center's ŵ row
  Count
};

// At least `bytes` bytes of this thread's `slot` (16-byte aligned; contents unspecified),
// valid until the same thread asks for the slot again.  The only thread_local in the native
// code, and not inlined: see memory.cc.
void* threadScratch(Scratch slot, size_t bytes);

template <typename T>
T* threadScratchArray(Scratch slot, int64_t count) {
  return static_cast<T*>(threadScratch(slot, static_cast<size_t>(count) * sizeof(T)));
}

}  // namespace fusedloss
