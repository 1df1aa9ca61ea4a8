// CPU kernels come in one build per x86-64 instruction set, picked at run time by simdLevel():
// AVX-512, AVX2 or the SSE2 baseline, each with vectors of its register's width (GCC 12 lowers a
// comparison or `?:` of vectors wider than the registers lane by lane).  FL_SIMD_FUNCTION builds
// a function's body once per instruction set; FL_SIMD_BUILDS lists the builds for code that
// declares its own per-width functions (crps_network.h).  Without GCC/Clang on x86-64 Linux
// (MSVC, macOS) the baseline build alone runs.  On AArch64 there is one build: NEON (AdvSIMD) is
// part of the baseline, so the vector-extension code is NEON code without any choice at run time.
#pragma once

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && defined(__linux__) && \
    !defined(FUSEDLOSS_NO_MULTIVERSION)
#define FL_X86_MULTIVERSION 1
#define FL_TARGET_AVX512 __attribute__((target("avx512f")))
#define FL_TARGET_AVX2 __attribute__((target("avx2")))
// The builds, X(lane width, target attribute, name), best first: a vector of `width` floats is one
// register of the instruction set.
#define FL_SIMD_BUILDS(X) X(16, FL_TARGET_AVX512, Avx512) X(8, FL_TARGET_AVX2, Avx2) X(4, , Baseline)
// `FL_SIMD_FUNCTION(void, f, (int a, float* b), (a, b)) { body }` defines f(a, b) as a call to one
// of three builds of the body (AVX-512, AVX2, baseline), the one simdLevel() names.  The body is a
// template on `int kWidth`, the build's lane width (FL_SIMD_BUILDS' 16, 8, 4), for code that
// sizes its vectors by it; it is inlined into each build, and what it calls is built for each
// target only where it is inlined too.
#define FL_SIMD_FUNCTION(ret, name, params, args)                                                \
  template <int kWidth>                                                                          \
  static inline __attribute__((always_inline)) ret name##Body params;                            \
  FL_TARGET_AVX512 __attribute__((noinline)) static ret name##Avx512 params {                    \
    return name##Body<16> args;                                                                  \
  }                                                                                              \
  FL_TARGET_AVX2 __attribute__((noinline)) static ret name##Avx2 params {                        \
    return name##Body<8> args;                                                                   \
  }                                                                                              \
  __attribute__((noinline)) static ret name##Baseline params { return name##Body<4> args; }      \
  ret name params {                                                                              \
    switch (simdLevel()) {                                                                       \
      case SimdLevel::Avx512: return name##Avx512 args;                                          \
      case SimdLevel::Avx2: return name##Avx2 args;                                              \
      default: return name##Baseline args;                                                       \
    }                                                                                            \
  }                                                                                              \
  template <int kWidth>                                                                          \
  static inline __attribute__((always_inline)) ret name##Body params
#else
#define FL_X86_MULTIVERSION 0
// One build: SSE2's width on x86-64 (MSVC, macOS), 16 lanes elsewhere (NEON and wasm split them
// into 128-bit registers themselves).
#if defined(__x86_64__) || defined(_M_X64)
#define FL_SIMD_BUILDS(X) X(4, , Baseline)
#else
#define FL_SIMD_BUILDS(X) X(16, , Baseline)
#endif
#define FL_SIMD_ONE_WIDTH(width, target, name) width
#define FL_SIMD_FUNCTION(ret, name, params, args)                                \
  template <int kWidth>                                                          \
  static inline __attribute__((always_inline)) ret name##Body params;            \
  ret name params { return name##Body<FL_SIMD_BUILDS(FL_SIMD_ONE_WIDTH)> args; } \
  template <int kWidth>                                                          \
  static inline __attribute__((always_inline)) ret name##Body params
#endif

namespace fusedloss {

enum class SimdLevel { Scalar, Avx2, Avx512, Neon };

// The build the kernels run here: the CPU's best, or a lower one where the environment variable
// FUSEDLOSS_SIMD says "avx2" or "scalar" (read once).
SimdLevel simdLevel();
// Its name: "avx512", "avx2", "neon" (AArch64) or "scalar".
const char* simdLevelName(SimdLevel level);

}  // namespace fusedloss
