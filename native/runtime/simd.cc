#include "simd.h"

#include <cstdlib>
#include <cstring>

namespace fusedloss {
namespace {

SimdLevel cpuLevel() {
#if FL_X86_MULTIVERSION
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return SimdLevel::Avx512;
  if (__builtin_cpu_supports("avx2")) return SimdLevel::Avx2;
#elif defined(__aarch64__) && defined(__ARM_NEON)
  // AdvSIMD is part of the AArch64 baseline: the one build of the kernels is NEON code.
  return SimdLevel::Neon;
#endif
  return SimdLevel::Scalar;
}

// FUSEDLOSS_SIMD=avx2 or scalar runs a lower build than the CPU's (to compare or test the builds
// on one machine); it never raises the level, and other values change nothing.
SimdLevel chosenLevel() {
  const SimdLevel cpu = cpuLevel();
  const char* request = std::getenv("FUSEDLOSS_SIMD");
  if (!request) return cpu;
  if (std::strcmp(request, "scalar") == 0) return SimdLevel::Scalar;
  if (std::strcmp(request, "avx2") == 0 && cpu == SimdLevel::Avx512) return SimdLevel::Avx2;
  return cpu;
}

}  // namespace

SimdLevel simdLevel() {
  static const SimdLevel level = chosenLevel();
  return level;
}

const char* simdLevelName(SimdLevel level) {
  switch (level) {
    case SimdLevel::Avx512: return "avx512";
    case SimdLevel::Avx2: return "avx2";
    case SimdLevel::Neon: return "neon";
    case SimdLevel::Scalar: break;
  }
  return "scalar";
}

}  // namespace fusedloss
