#include "memory.h"

#include <cstdint>
#include <cstdlib>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace fusedloss {
namespace {
constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kAdviseFrom = 2 * kHugePage;
}  // namespace

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

FloatBuffer::FloatBuffer(size_t count) : count_(count) {
  const size_t bytes = count * sizeof(float);
  const bool large = bytes >= kAdviseFrom;
  const size_t alignment = large ? kHugePage : alignof(std::max_align_t);
  const size_t rounded = (bytes + alignment - 1) / alignment * alignment;
  void* p = std::aligned_alloc(alignment, rounded > 0 ? rounded : alignment);
  if (!p) throw std::bad_alloc();
  adviseHugePages(p, rounded);
  data_.reset(static_cast<float*>(p));
}

void FloatBuffer::Free::operator()(float* p) const { std::free(p); }

}  // namespace fusedloss
