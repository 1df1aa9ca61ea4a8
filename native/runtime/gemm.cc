// Register-tiled GEMM micro-kernels (see gemm.h).  Each instruction set gets its own micro-kernel
// written with intrinsics (x86: under a target attribute, the choice made once at run time;
// AArch64: NEON, always there), so the FMA instructions are explicit (the project compiles with
// -ffp-contract=off, which keeps every other a·b + c unfused).
//
// Blocking: k is cut into blocks of kDepthBlock and each B panel (kDepthBlock × 32 floats, 32 KiB)
// is packed contiguously so it stays in L1 while the micro-kernel sweeps all row panels of A over
// it; the caller's tiles keep A (the m × kDepthBlock block) in L2.
#include "gemm.h"
#include "memory.h"
#include "gemm_bf16.h"
#include "simd.h"
#include "transpose_tile.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define FL_GEMM_X86 1
#elif defined(__aarch64__) && defined(__ARM_NEON)
// AdvSIMD is part of the AArch64 baseline: no run-time choice, the NEON kernel is the arm64 path.
#include <arm_neon.h>
#define FL_GEMM_NEON 1
#endif

namespace fusedloss {
namespace {

constexpr int64_t kDepthBlock = 256;

using MicroKernel = void (*)(int64_t depth, const float* a, int64_t aRowStride, int64_t aDepthStride, int rows,
                             const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate, bool wide);

#ifndef FL_GEMM_NEON
// Portable version: also the reference the vector kernels are tested against through the
// kernels that use them.  Not the AArch64 path (NEON is always there), so not compiled there.
void microScalar(int64_t depth, const float* a, int64_t aRowStride, int64_t aDepthStride, int rows, const float* b,
                 int64_t ldb, float* c, int64_t ldc, bool accumulate, bool wide) {
  constexpr int kRows = 4;
  const int columns = wide ? 32 : 16;
  float sum[kRows][32] = {};
  for (int64_t p = 0; p < depth; ++p) {
    const float* bRow = b + p * ldb;
    for (int i = 0; i < kRows; ++i) {
      const float av = a[std::min(i, rows - 1) * aRowStride + p * aDepthStride];
      for (int j = 0; j < columns; ++j) sum[i][j] += av * bRow[j];
    }
  }
  for (int i = 0; i < rows; ++i) {
    float* cRow = c + i * ldc;
    for (int j = 0; j < columns; ++j) cRow[j] = accumulate ? cRow[j] + sum[i][j] : sum[i][j];
  }
}
#endif

#ifdef FL_GEMM_X86
template <int kVectors>
__attribute__((target("avx512f"))) void microAvx512Tile(int64_t depth, const float* a, int64_t aRowStride,
                                                         int64_t aDepthStride, int rows, const float* b, int64_t ldb,
                                                         float* c, int64_t ldc, bool accumulate) {
  constexpr int kRows = 12;
  __m512 sum[kRows][kVectors];
  for (int i = 0; i < kRows; ++i)
    for (int j = 0; j < kVectors; ++j) sum[i][j] = _mm512_setzero_ps();
  const float* aRow[kRows];
  for (int i = 0; i < kRows; ++i) aRow[i] = a + std::min(i, rows - 1) * aRowStride;
  for (int64_t p = 0; p < depth; ++p) {
    __m512 bv[kVectors];
    for (int j = 0; j < kVectors; ++j) bv[j] = _mm512_loadu_ps(b + p * ldb + 16 * j);
    const int64_t offset = p * aDepthStride;
    for (int i = 0; i < kRows; ++i) {
      const __m512 av = _mm512_set1_ps(aRow[i][offset]);
      for (int j = 0; j < kVectors; ++j) sum[i][j] = _mm512_fmadd_ps(av, bv[j], sum[i][j]);
    }
  }
  for (int i = 0; i < rows; ++i) {
    for (int j = 0; j < kVectors; ++j) {
      float* out = c + i * ldc + 16 * j;
      _mm512_storeu_ps(out, accumulate ? _mm512_add_ps(_mm512_loadu_ps(out), sum[i][j]) : sum[i][j]);
    }
  }
}

void microAvx512(int64_t depth, const float* a, int64_t aRowStride, int64_t aDepthStride, int rows, const float* b,
                 int64_t ldb, float* c, int64_t ldc, bool accumulate, bool wide) {
  if (wide) {
    microAvx512Tile<2>(depth, a, aRowStride, aDepthStride, rows, b, ldb, c, ldc, accumulate);
  } else {
    microAvx512Tile<1>(depth, a, aRowStride, aDepthStride, rows, b, ldb, c, ldc, accumulate);
  }
}

// AVX2: 6 rows × 16 columns (two ymm) per tile; a wide (32-column) call runs two tiles.
__attribute__((target("avx2,fma"))) void microAvx2Tile(int64_t depth, const float* a, int64_t aRowStride,
                                                        int64_t aDepthStride, int rows, const float* b, int64_t ldb,
                                                        float* c, int64_t ldc, bool accumulate) {
  constexpr int kRows = 6;
  __m256 sum[kRows][2];
  for (int i = 0; i < kRows; ++i) sum[i][0] = sum[i][1] = _mm256_setzero_ps();
  const float* aRow[kRows];
  for (int i = 0; i < kRows; ++i) aRow[i] = a + std::min(i, rows - 1) * aRowStride;
  for (int64_t p = 0; p < depth; ++p) {
    const __m256 b0 = _mm256_loadu_ps(b + p * ldb);
    const __m256 b1 = _mm256_loadu_ps(b + p * ldb + 8);
    const int64_t offset = p * aDepthStride;
    for (int i = 0; i < kRows; ++i) {
      // A value, not _mm256_broadcast_ss(pointer): GCC 12 takes that builtin's read as one that may
      // see the accumulators' stack copies, and stored all twelve to memory every k (half speed).
      const __m256 av = _mm256_set1_ps(aRow[i][offset]);
      sum[i][0] = _mm256_fmadd_ps(av, b0, sum[i][0]);
      sum[i][1] = _mm256_fmadd_ps(av, b1, sum[i][1]);
    }
  }
  for (int i = 0; i < rows; ++i) {
    for (int j = 0; j < 2; ++j) {
      float* out = c + i * ldc + 8 * j;
      _mm256_storeu_ps(out, accumulate ? _mm256_add_ps(_mm256_loadu_ps(out), sum[i][j]) : sum[i][j]);
    }
  }
}

void microAvx2(int64_t depth, const float* a, int64_t aRowStride, int64_t aDepthStride, int rows, const float* b,
               int64_t ldb, float* c, int64_t ldc, bool accumulate, bool wide) {
  microAvx2Tile(depth, a, aRowStride, aDepthStride, rows, b, ldb, c, ldc, accumulate);
  if (wide) microAvx2Tile(depth, a, aRowStride, aDepthStride, rows, b + 16, ldb, c + 16, ldc, accumulate);
}
#endif

#ifdef FL_GEMM_NEON
// NEON: 6 rows × 16 columns (four q registers) per tile, 24 accumulators + 4 B vectors + one
// broadcast A value in the 32 vector registers; a wide (32-column) call runs two tiles, as AVX2.
// vfmaq_f32 is one fused multiply-add per element with k ascending, as the x86 kernels, so the
// same operands give the same bits as AVX2 and AVX-512.
void microNeonTile(int64_t depth, const float* a, int64_t aRowStride, int64_t aDepthStride, int rows, const float* b,
                   int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  constexpr int kRows = 6;
  float32x4_t sum[kRows][4];
  for (int i = 0; i < kRows; ++i)
    for (int j = 0; j < 4; ++j) sum[i][j] = vdupq_n_f32(0.0f);
  const float* aRow[kRows];
  for (int i = 0; i < kRows; ++i) aRow[i] = a + std::min(i, rows - 1) * aRowStride;
  for (int64_t p = 0; p < depth; ++p) {
    float32x4_t bv[4];
    for (int j = 0; j < 4; ++j) bv[j] = vld1q_f32(b + p * ldb + 4 * j);
    const int64_t offset = p * aDepthStride;
    for (int i = 0; i < kRows; ++i) {
      const float32x4_t av = vld1q_dup_f32(aRow[i] + offset);
      for (int j = 0; j < 4; ++j) sum[i][j] = vfmaq_f32(sum[i][j], av, bv[j]);
    }
  }
  for (int i = 0; i < rows; ++i) {
    for (int j = 0; j < 4; ++j) {
      float* out = c + i * ldc + 4 * j;
      vst1q_f32(out, accumulate ? vaddq_f32(vld1q_f32(out), sum[i][j]) : sum[i][j]);
    }
  }
}

void microNeon(int64_t depth, const float* a, int64_t aRowStride, int64_t aDepthStride, int rows, const float* b,
               int64_t ldb, float* c, int64_t ldc, bool accumulate, bool wide) {
  microNeonTile(depth, a, aRowStride, aDepthStride, rows, b, ldb, c, ldc, accumulate);
  if (wide) microNeonTile(depth, a, aRowStride, aDepthStride, rows, b + 16, ldb, c + 16, ldc, accumulate);
}
#endif

struct Level {
  MicroKernel micro;
  int rows;  // register-tile rows
  const char* name;
};

Level chooseLevel() {
#ifdef FL_GEMM_X86
  // simdLevel(): the CPU's, or lower where FUSEDLOSS_SIMD asks.
  __builtin_cpu_init();
  const SimdLevel simd = simdLevel();
  if (simd == SimdLevel::Avx512) return {microAvx512, 12, "avx512"};
  if (simd == SimdLevel::Avx2 && __builtin_cpu_supports("fma")) return {microAvx2, 6, "avx2"};
#endif
#ifdef FL_GEMM_NEON
  return {microNeon, 6, "neon"};
#else
  return {microScalar, 4, "scalar"};
#endif
}

const Level& level() {
  static const Level chosen = chooseLevel();
  return chosen;
}

}  // namespace

namespace {

// Copies depth rows of 32 (wide) or 16 floats, `ldb` apart, into consecutive rows.
void packPanel(const float* b, int64_t ldb, int64_t depth, bool wide, float* out) {
  if (wide) {
    for (int64_t p = 0; p < depth; ++p, b += ldb, out += 32)
      for (int j = 0; j < 32; ++j) out[j] = b[j];
  } else {
    for (int64_t p = 0; p < depth; ++p, b += ldb, out += 16)
      for (int j = 0; j < 16; ++j) out[j] = b[j];
  }
}

}  // namespace

int64_t packedSize(int64_t k, int64_t n) { return (n + 31) / 32 * 32 * k; }

void packB(const float* b, int64_t ldb, int64_t k, int64_t n, float* out) {
  for (int64_t j0 = 0; j0 < n; j0 += 32) {
    const int64_t width = std::min<int64_t>(32, n - j0);
    float* panel = out + j0 * k;
    for (int64_t p = 0; p < k; ++p) {
      const float* row = b + p * ldb + j0;
      for (int64_t j = 0; j < width; ++j) panel[p * 32 + j] = row[j];
      for (int64_t j = width; j < 32; ++j) panel[p * 32 + j] = 0.0f;
    }
  }
}

FL_SIMD_FUNCTION(void, transposeInto,
                 (const float* source, int64_t sourceStride, int64_t rows, int64_t columns, float* destination,
                  int64_t destinationStride),
                 (source, sourceStride, rows, columns, destination, destinationStride)) {
  constexpr int64_t kTile = 16;
  for (int64_t r0 = 0; r0 < rows; r0 += kTile) {
    const int64_t r1 = std::min(rows, r0 + kTile);
    for (int64_t j0 = 0; j0 < columns; j0 += kTile) {
      const int64_t j1 = std::min(columns, j0 + kTile);
      if (r1 - r0 == kTile && j1 - j0 == kTile) {
        typedef float Float16Vector __attribute__((vector_size(64)));
        Float16Vector tile[kTile];
        transposeTile(source + r0 * sourceStride + j0, sourceStride, tile);
        for (int64_t j = 0; j < kTile; ++j) std::memcpy(destination + (j0 + j) * destinationStride + r0, &tile[j], sizeof(tile[j]));
        continue;
      }
      for (int64_t r = r0; r < r1; ++r) {
        for (int64_t j = j0; j < j1; ++j) destination[j * destinationStride + r] = source[r * sourceStride + j];
      }
    }
  }
}

void zeroPackedRow(float* packed, int64_t k, int64_t n, int64_t row) {
  for (int64_t j0 = 0; j0 < n; j0 += 32) std::fill_n(packed + j0 * k + row * 32, 32, 0.0f);
}

void gemm(const GemmOperands& op) {
  if (op.bf16Operands && gemmBf16IfActive(op)) return;
  const Level& lv = level();
  // Unpacked B panels are copied into a contiguous buffer first: B rows are often a power-of-two
  // bytes apart (D = 512 floats), which maps a whole panel onto a few L1 sets and thrashes them.
  float* packed = op.bPacked ? nullptr : threadScratchArray<float>(Scratch::GemmPanel, kDepthBlock * 32);
  const int64_t calls = ((op.k + kDepthBlock - 1) / kDepthBlock) * ((op.n + 31) / 32) * ((op.m + lv.rows - 1) / lv.rows);
  const char* prefetchNext = static_cast<const char*>(op.prefetch);
  const char* prefetchEnd = prefetchNext + (op.prefetch ? op.prefetchBytes : 0);
  const int64_t prefetchLines = calls > 0 ? (op.prefetchBytes / 64 + calls - 1) / calls : 0;
  const auto prefetchOutputRows = [&](int64_t row, int64_t column) {
    const int64_t rows = std::min<int64_t>(lv.rows, op.m - row), width = std::min<int64_t>(32, op.n - column);
    for (int64_t r = 0; r < rows; ++r) {
      const float* line = op.c + (row + r) * op.ldc + column;
      __builtin_prefetch(line, 1, 3);
      __builtin_prefetch(line + width - 1, 1, 3);
    }
  };
  if (op.accumulate && op.m > 0 && op.n > 0) prefetchOutputRows(0, 0);
  for (int64_t k0 = 0; k0 < op.k; k0 += kDepthBlock) {
    const int64_t depth = std::min(kDepthBlock, op.k - k0);
    const bool accumulate = op.accumulate || k0 > 0;
    const float* aBlock = op.a + k0 * op.aDepthStride;
    for (int64_t j0 = 0; j0 < op.n; j0 += 32) {
      const bool wide = op.n - j0 >= 32;
      const float* panel;
      int64_t panelStride;
      if (op.bPacked) {
        panel = op.b + j0 * op.k + k0 * 32, panelStride = 32;
      } else {
        packPanel(op.b + k0 * op.ldb + j0, op.ldb, depth, wide, packed);
        panel = packed, panelStride = wide ? 32 : 16;
      }
      for (int64_t i0 = 0; i0 < op.m; i0 += lv.rows) {
        const int rows = static_cast<int>(std::min<int64_t>(lv.rows, op.m - i0));
        for (int64_t line = 0; line < prefetchLines && prefetchNext < prefetchEnd; ++line, prefetchNext += 64) {
          __builtin_prefetch(prefetchNext, 1, 2);
        }
        // The C rows the next call adds to: their loads come after the whole k loop, too late for
        // the out-of-order window to hide a miss, so they are fetched a call ahead.
        if (accumulate) {
          if (i0 + lv.rows < op.m) {
            prefetchOutputRows(i0 + lv.rows, j0);
          } else if (j0 + 32 < op.n) {
            prefetchOutputRows(0, j0 + 32);
          }
        }
        lv.micro(depth, aBlock + i0 * op.aRowStride, op.aRowStride, op.aDepthStride, rows, panel, panelStride,
                 op.c + i0 * op.ldc + j0, op.ldc, accumulate, wide);
      }
    }
  }
  if (op.k == 0 && !op.accumulate) {
    for (int64_t i = 0; i < op.m; ++i) std::fill(op.c + i * op.ldc, op.c + i * op.ldc + op.n, 0.0f);
  }
}

const char* gemmLevel() { return level().name; }

int64_t gemmRowTile() { return level().rows; }

namespace {

#ifdef FL_GEMM_X86
__attribute__((target("avx512f"))) double fmaChainsAvx512(int64_t iterations) {
  constexpr int kChains = 24;
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  const __m512 mul = _mm512_set1_ps(0.999999f), add = _mm512_set1_ps(1e-7f);
  for (int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 24
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], mul, add);
  }
  __m512 total = acc[0];
  for (int i = 1; i < kChains; ++i) total = _mm512_add_ps(total, acc[i]);
  float lanes[16];
  _mm512_storeu_ps(lanes, total);
  return static_cast<double>(lanes[0]) * 0 + static_cast<double>(kChains) * 16 * 2;
}

__attribute__((target("avx2,fma"))) double fmaChainsAvx2(int64_t iterations) {
  constexpr int kChains = 12;
  __m256 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_ps(static_cast<float>(i));
  const __m256 mul = _mm256_set1_ps(0.999999f), add = _mm256_set1_ps(1e-7f);
  for (int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) acc[i] = _mm256_fmadd_ps(acc[i], mul, add);
  }
  float lanes[8];
  __m256 total = acc[0];
  for (int i = 1; i < kChains; ++i) total = _mm256_add_ps(total, acc[i]);
  _mm256_storeu_ps(lanes, total);
  return static_cast<double>(lanes[0]) * 0 + static_cast<double>(kChains) * 8 * 2;
}
#endif

#ifdef FL_GEMM_NEON
double fmaChainsNeon(int64_t iterations) {
  constexpr int kChains = 24;
  float32x4_t acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = vdupq_n_f32(static_cast<float>(i));
  const float32x4_t mul = vdupq_n_f32(0.999999f), add = vdupq_n_f32(1e-7f);
  for (int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 24
    for (int i = 0; i < kChains; ++i) acc[i] = vfmaq_f32(add, acc[i], mul);
  }
  float32x4_t total = acc[0];
  for (int i = 1; i < kChains; ++i) total = vaddq_f32(total, acc[i]);
  float lanes[4];
  vst1q_f32(lanes, total);
  return static_cast<double>(lanes[0]) * 0 + static_cast<double>(kChains) * 4 * 2;
}
#endif

// Flops per iteration of the chosen FMA loop, after running `iterations` of it.
double runFmaChains(int64_t iterations) {
#ifdef FL_GEMM_X86
  if (level().micro == microAvx512) return fmaChainsAvx512(iterations);
  if (level().micro == microAvx2) return fmaChainsAvx2(iterations);
#endif
#ifdef FL_GEMM_NEON
  return fmaChainsNeon(iterations);
#else
  volatile float sink = 0;
  float acc[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  for (int64_t it = 0; it < iterations; ++it)
    for (float& v : acc) v = v * 0.999999f + 1e-7f;
  for (float v : acc) sink = sink + v;
  return 8 * 2;
#endif
}

}  // namespace

double measureFmaPeakGflops(double seconds) {
  using Clock = std::chrono::steady_clock;
  runFmaChains(100000);  // warm up (clock ramp, ifunc resolution)
  int64_t iterations = 1 << 20;
  double best = 0;
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  do {
    const Clock::time_point start = Clock::now();
    const double flopsPerIteration = runFmaChains(iterations);
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    best = std::max(best, flopsPerIteration * static_cast<double>(iterations) / elapsed / 1e9);
    if (elapsed < 0.01) iterations *= 4;
  } while (Clock::now() < deadline);
  return best;
}

}  // namespace fusedloss
