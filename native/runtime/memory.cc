#include "memory.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace fusedloss {
namespace {
constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kAdviseFrom = kHugePage;
// Blocks from this size on are recycled too (4 KiB-aligned below kAdviseFrom): malloc serves
// them from the heap top, which it trims once they are freed, so a kernel's scratch of a few
// hundred KiB faulted its pages in afresh on every call (~500 faults a call for the pair losses at
// N = M = 1024, D = 128; a page fault costs microseconds in this project's VMs).
constexpr size_t kCacheFrom = size_t{256} << 10;
constexpr size_t kPage = size_t{4} << 10;
constexpr size_t kCacheBytes = size_t{512} << 20;
constexpr size_t kCacheEntries = 16;

// Freed large blocks by rounded size, oldest first.
class BlockCache {
 public:
  void* take(size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (size_t i = blocks_.size(); i-- > 0;) {
      if (blocks_[i].first == bytes) {
        void* p = blocks_[i].second;
        blocks_.erase(blocks_.begin() + static_cast<std::ptrdiff_t>(i));
        cached_ -= bytes;
        return p;
      }
    }
    return nullptr;
  }

  void give(size_t bytes, void* p) {
    std::vector<void*> evicted;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (bytes > kCacheBytes) {
        evicted.push_back(p);
      } else {
        blocks_.emplace_back(bytes, p);
        cached_ += bytes;
        while (cached_ > kCacheBytes || blocks_.size() > kCacheEntries) {
          evicted.push_back(blocks_.front().second);
          cached_ -= blocks_.front().first;
          blocks_.erase(blocks_.begin());
        }
      }
    }
    for (void* block : evicted) std::free(block);
  }

 private:
  std::mutex mutex_;
  std::vector<std::pair<size_t, void*>> blocks_;
  size_t cached_ = 0;
};

// Never destroyed: buffers may be released by finalizers during process teardown.
BlockCache& blockCache() {
  static BlockCache* cache = new BlockCache();
  return *cache;
}
// Best effort: advises the 2 MiB-aligned part of [data, data + bytes); no-op elsewhere or below
// kAdviseFrom.
void adviseHugePages(void* data, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (bytes < kAdviseFrom) return;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + kHugePage - 1) & ~(kHugePage - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + bytes) & ~(kHugePage - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
  (void)data;
  (void)bytes;
#endif
}

}  // namespace

FloatBuffer::FloatBuffer(size_t count) : data_(nullptr, Free{0}), count_(count) {
  const size_t bytes = count * sizeof(float);
  const bool large = bytes >= kAdviseFrom;
  const bool cached = bytes >= kCacheFrom;
  const size_t alignment = large ? kHugePage : cached ? kPage : alignof(std::max_align_t);
  const size_t rounded = std::max((bytes + alignment - 1) / alignment * alignment, alignment);
  void* p = cached ? blockCache().take(rounded) : nullptr;
  if (!p) {
    p = std::aligned_alloc(alignment, rounded);
    if (!p) throw std::bad_alloc();
    adviseHugePages(p, rounded);
  }
  data_ = std::unique_ptr<float, Free>(static_cast<float*>(p), Free{cached ? rounded : 0});
}

// Kept out of line, with no test before its thread_local access, because of an AArch64 Clang bug
// (fixed in LLVM 17: llvm/llvm-project#39850): the TLS-descriptor call that reaches a
// thread_local in a shared library is assumed to preserve the condition flags, but glibc's
// resolver compares (cmp) and clobbers them.  Clang 14, which cross-compiles the linux-arm64
// prebuild, set the flags for `weightsColumns ? C·K : 1` before two such calls and read them after:
// gradWeights was written C·K floats apart, far out of bounds.  A call to this function is an
// ordinary call, after which no compiler expects the flags to survive;
// scripts/check-tlsdesc.cjs checks the built binary for any flag read after a descriptor call.
__attribute__((noinline)) void* threadScratch(Scratch slot, size_t bytes) {
  thread_local std::vector<std::max_align_t> slots[static_cast<int>(Scratch::Count)];
  std::vector<std::max_align_t>& buffer = slots[static_cast<int>(slot)];
  const size_t units = (bytes + sizeof(std::max_align_t) - 1) / sizeof(std::max_align_t);
  if (buffer.size() < units) buffer.resize(units);
  return buffer.data();
}

void FloatBuffer::Free::operator()(float* p) const {
  if (cachedBytes > 0) blockCache().give(cachedBytes, p); else std::free(p);
}

}  // namespace fusedloss
