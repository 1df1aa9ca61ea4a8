// CPU kernels are compiled once per instruction set and picked at load time (GCC/Clang function
// multiversioning: an ifunc resolver chooses the AVX-512, AVX2 or baseline clone).  Where the
// toolchain has no multiversioning (MSVC, Apple), the baseline build runs.  On AArch64 there is
// one build: NEON (AdvSIMD) is part of the baseline, so the vector-extension code is NEON code
// without any choice at run time.
#pragma once

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && defined(__linux__) && \
    !defined(FUSEDLOSS_NO_MULTIVERSION)
#define FL_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define FL_SIMD_CLONES
#endif

namespace fusedloss {

// The clone the multiversioned kernels run here: "avx512", "avx2", "neon" (AArch64) or "scalar".
const char* simdLevel();

}  // namespace fusedloss
