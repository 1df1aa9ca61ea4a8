#include "simd.h"

namespace fusedloss {

const char* simdLevel() {
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && defined(__linux__) && \
    !defined(FUSEDLOSS_NO_MULTIVERSION)
  // Same order of preference as the ifunc resolver of FL_SIMD_CLONES.
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return "avx512";
  if (__builtin_cpu_supports("avx2")) return "avx2";
#elif defined(__aarch64__) && defined(__ARM_NEON)
  // AdvSIMD is part of the AArch64 baseline: the one build of the kernels is NEON code.
  return "neon";
#endif
  return "scalar";
}

}  // namespace fusedloss
