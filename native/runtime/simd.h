// CPU kernels come in one build per x86-64 instruction set, picked at run time: AVX-512, AVX2 or
// the SSE2 baseline.  Two ways: GCC/Clang function multiversioning (FL_SIMD_CLONES: the ifunc
// resolver picks a clone of the same source), and, where the vector width itself should follow
// the instruction set (a 16-lane vector is one zmm but is lowered lane by lane by GCC 12 for
// AVX2), explicit FL_TARGET_AVX512 / FL_TARGET_AVX2 functions chosen by simdLevel().  Where the
// toolchain has no multiversioning (MSVC, Apple), the baseline build runs.  On AArch64 there is one
// build: NEON (AdvSIMD) is part of the baseline, so the vector-extension code is NEON code without
// any choice at run time.
#pragma once

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && defined(__linux__) && \
    !defined(FUSEDLOSS_NO_MULTIVERSION)
#define FL_X86_MULTIVERSION 1
#define FL_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#define FL_TARGET_AVX512 __attribute__((target("avx512f")))
#define FL_TARGET_AVX2 __attribute__((target("avx2")))
#else
#define FL_X86_MULTIVERSION 0
#define FL_SIMD_CLONES
#endif

namespace fusedloss {

enum class SimdLevel { Scalar, Avx2, Avx512, Neon };

// The build the run-time-dispatched kernels run here (and the clone the ifunc resolvers pick).
SimdLevel simdLevel();
// Its name: "avx512", "avx2", "neon" (AArch64) or "scalar".
const char* simdLevelName(SimdLevel level);

}  // namespace fusedloss
