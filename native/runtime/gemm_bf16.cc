// gemm()'s bfloat16 path (see gemm.h, bf16Operands): A and B repacked as bf16 pairs along k, then
// an AVX512_BF16 micro-kernel.  vdpbf16ps multiplies 16 pairs of bf16 values into 16 float32
// sums per instruction — twice the products of a float32 FMA in the same slot.
//
// Layouts (a "pair" is one uint32: the bf16 of an even k in its low half, k + 1 in its high half,
// a zero bf16 past an odd k):
//   B panel: [pairs][32] pairs of 32 columns (the last panel, like packB's, zero-padded);
//   A block: [m][pairs] (rows m apart by a padded pair count) when A's depth is contiguous,
//            [pairs][m] when its rows are (the gradient products' transposed G), else [m][pairs]
//            element by element.
// The packing converts with vcvtne2ps2bf16, which is exact on bf16 values and keeps NaN a NaN.
// Blocking: k in blocks of kDepthBlockBf16 (one B panel, 256 pairs × 32 columns, is 32 KiB); A's
// block packed once per call and k block, B's panel once per 32 columns unless the caller passed
// the packBBf16 layout.  Blocks of 512 k measured about 5% faster than 256 on the margin kernel's
// cosine shape (96 × 128 × 512, one thread, thread CPU time; the same on its 96 × 512 × 128).
#include "gemm_bf16.h"

#include "../math/precision_math.h"
#include "memory.h"
#include "simd.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#if defined(__x86_64__) && (defined(__clang__) ? __clang_major__ >= 9 : (defined(__GNUC__) && __GNUC__ >= 10))
#include <immintrin.h>
#define FL_GEMM_BF16 1
#define FL_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512bf16")))
#endif

namespace fusedloss {

namespace {

// The bf16 bits of a float that holds a bf16 value: its high half.  The precision option's own
// rounding (the identity on such a value) keeps a NaN with a low-half payload a NaN.
inline uint32_t bf16Bits(float x) { return precision::bf16Bits(precision::floatBits(x)) >> 16; }

inline uint32_t pairBits(float even, float odd) { return bf16Bits(even) | bf16Bits(odd) << 16; }

}  // namespace

int64_t packedBf16Size(int64_t k, int64_t n) { return (n + 31) / 32 * 32 * ((k + 1) / 2); }

namespace {
bool packBBf16Vector(const float* b, int64_t ldb, int64_t k, int64_t n, uint32_t* out);
bool packRowsBf16Vector(const float* a, int64_t lda, int64_t m, int64_t k, uint32_t* out, int64_t ldo);
}  // namespace

void packBBf16(const float* b, int64_t ldb, int64_t k, int64_t n, uint32_t* out) {
  if (packBBf16Vector(b, ldb, k, n, out)) return;
  const int64_t pairs = (k + 1) / 2;
  for (int64_t j0 = 0; j0 < n; j0 += 32) {
    const int64_t width = std::min<int64_t>(32, n - j0);
    uint32_t* panel = out + j0 * pairs;
    for (int64_t p = 0; p < pairs; ++p) {
      const float* even = b + 2 * p * ldb + j0;
      const float* odd = 2 * p + 1 < k ? even + ldb : nullptr;
      for (int64_t j = 0; j < width; ++j) panel[p * 32 + j] = pairBits(even[j], odd ? odd[j] : 0.0f);
      for (int64_t j = width; j < 32; ++j) panel[p * 32 + j] = 0;
    }
  }
}

void packRowsBf16(const float* a, int64_t lda, int64_t m, int64_t k, uint32_t* out, int64_t ldo) {
  if (packRowsBf16Vector(a, lda, m, k, out, ldo)) return;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t p = 0; p < (k + 1) / 2; ++p) out[i * ldo + p] = pairBits(a[i * lda + 2 * p], 2 * p + 1 < k ? a[i * lda + 2 * p + 1] : 0.0f);
  }
}

void repackBf16(const float* packed, int64_t k, int64_t n, uint32_t* out) {
  for (int64_t j0 = 0; j0 < n; j0 += 32) packBBf16(packed + j0 * k, 32, k, 32, out + j0 * ((k + 1) / 2));
}

#ifdef FL_GEMM_BF16

namespace {

constexpr int64_t kDepthBlockBf16 = 512;  // k per block: 256 pairs
constexpr int kRowsBf16 = 12;             // register tile: 12 rows × 32 columns, 24 accumulators
// Rows of A packed at once (whole register tiles): the packed block stays ≤ 1 MiB per thread
// however tall A is; taller A runs as several such calls, each converting B again.
constexpr int64_t kRowChunkBf16 = 84 * kRowsBf16;

// 12 rows × 16·kVectors columns over `pairs` k-pairs: A(i, pair p) at a[i·aRow + p·aPair], B's pair
// row p at b + 32·p.  Rows past `rows` repeat the last one and are not stored.
template <int kVectors>
FL_BF16_TARGET void microBf16(int64_t pairs, const uint32_t* a, int64_t aRow, int64_t aPair, int rows, const uint32_t* b,
                              float* c, int64_t ldc, bool accumulate) {
  __m512 sum[kRowsBf16][kVectors];
  for (int i = 0; i < kRowsBf16; ++i)
    for (int j = 0; j < kVectors; ++j) sum[i][j] = _mm512_setzero_ps();
  const uint32_t* aRowStart[kRowsBf16];
  for (int i = 0; i < kRowsBf16; ++i) aRowStart[i] = a + std::min(i, rows - 1) * aRow;
  for (int64_t p = 0; p < pairs; ++p) {
    __m512bh bv[kVectors];
    for (int j = 0; j < kVectors; ++j) bv[j] = (__m512bh)_mm512_loadu_si512(b + 32 * p + 16 * j);
    const int64_t offset = p * aPair;
    for (int i = 0; i < kRowsBf16; ++i) {
      const __m512bh av = (__m512bh)_mm512_set1_epi32(static_cast<int>(aRowStart[i][offset]));
      for (int j = 0; j < kVectors; ++j) sum[i][j] = _mm512_dpbf16_ps(sum[i][j], av, bv[j]);
    }
  }
  for (int i = 0; i < rows; ++i) {
    for (int j = 0; j < kVectors; ++j) {
      float* out = c + i * ldc + 16 * j;
      _mm512_storeu_ps(out, accumulate ? _mm512_add_ps(_mm512_loadu_ps(out), sum[i][j]) : sum[i][j]);
    }
  }
}

inline __mmask16 firstLanes(int64_t count) {
  return count >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << std::max<int64_t>(count, 0)) - 1);
}

// `count` (≤ 16) pairs of two float rows (odd may be null: zeros) → out[0, count).
FL_BF16_TARGET inline void interleaveRows(const float* even, const float* odd, int64_t count, uint32_t* out) {
  // Word 2j of the result is even[j]'s bf16, word 2j + 1 odd[j]'s.
  static const uint16_t kIndex[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,  21, 6,  22, 7,  23,
                                      8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  const __mmask16 mask = firstLanes(count);
  const __m512 lo = _mm512_maskz_loadu_ps(mask, even);
  const __m512 hi = odd ? _mm512_maskz_loadu_ps(mask, odd) : _mm512_setzero_ps();
  const __m512i words = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);  // [even 0..15 | odd 0..15]
  _mm512_mask_storeu_epi32(out, mask, _mm512_permutexvar_epi16(_mm512_loadu_si512(kIndex), words));
}

// `depth` floats of one A row (k contiguous) → (depth + 1) / 2 pairs, zero-padded to 16.
FL_BF16_TARGET inline void packContiguousRow(const float* a, int64_t depth, uint32_t* out) {
  for (int64_t q = 0; q < depth; q += 32, out += 16) {
    const __m512 lo = _mm512_maskz_loadu_ps(firstLanes(depth - q), a + q);
    const __m512 hi = _mm512_maskz_loadu_ps(firstLanes(depth - q - 16), a + q + 16);
    _mm512_storeu_si512(out, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
  }
}

// A's k block [m × depth] as pairs; returns the strides the micro-kernel reads it with.
struct PackedA {
  const uint32_t* data;
  int64_t rowStride, pairStride;
};

FL_BF16_TARGET PackedA packA(const GemmOperands& op, int64_t k0, int64_t depth) {
  const int64_t pairs = (depth + 1) / 2, pairsPad = (pairs + 15) / 16 * 16, mPad = (op.m + 15) / 16 * 16;
  uint32_t* out = threadScratchArray<uint32_t>(Scratch::GemmBf16A, std::max(op.m * pairsPad, pairs * mPad));
  const float* a = op.a + k0 * op.aDepthStride;
  if (op.aDepthStride == 1) {
    for (int64_t i = 0; i < op.m; ++i) packContiguousRow(a + i * op.aRowStride, depth, out + i * pairsPad);
    return {out, pairsPad, 1};
  }
  if (op.aRowStride == 1) {
    for (int64_t p = 0; p < pairs; ++p) {
      const float* even = a + 2 * p * op.aDepthStride;
      const float* odd = 2 * p + 1 < depth ? even + op.aDepthStride : nullptr;
      for (int64_t i = 0; i < op.m; i += 16) interleaveRows(even + i, odd ? odd + i : nullptr, op.m - i, out + p * mPad + i);
    }
    return {out, 1, mPad};
  }
  for (int64_t i = 0; i < op.m; ++i) {
    for (int64_t p = 0; p < pairs; ++p) {
      const float* even = a + i * op.aRowStride + 2 * p * op.aDepthStride;
      out[i * pairsPad + p] = pairBits(even[0], 2 * p + 1 < depth ? even[op.aDepthStride] : 0.0f);
    }
  }
  return {out, pairsPad, 1};
}

// One B panel of 32 (wide) or 16 columns over a k block: rows `rowStride` floats apart.
FL_BF16_TARGET void packPanelBf16(const float* b, int64_t rowStride, int64_t depth, bool wide, uint32_t* out) {
  const int64_t pairs = (depth + 1) / 2;
  for (int64_t p = 0; p < pairs; ++p, out += 32) {
    const float* even = b + 2 * p * rowStride;
    const float* odd = 2 * p + 1 < depth ? even + rowStride : nullptr;
    interleaveRows(even, odd, 16, out);
    if (wide) interleaveRows(even + 16, odd ? odd + 16 : nullptr, 16, out + 16);
  }
}

bool detectBf16() {
  const char* env = std::getenv("FUSEDLOSS_GEMM_BF16");
  if (env && std::strcmp(env, "off") == 0) return false;
  if (simdLevel() != SimdLevel::Avx512) return false;  // FUSEDLOSS_SIMD asked for a lower build
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512bf16");
}

}  // namespace

bool bf16GemmActive() {
  static const bool active = detectBf16();
  return active;
}

namespace {

// packBBf16 and packRowsBf16 through the packing gemm() itself uses (vcvtne2ps2bf16), where active:
// the same pairs as the scalar conversion up to subnormals' bits, which vdpbf16ps reads as zero anyway.
bool packBBf16Vector(const float* b, int64_t ldb, int64_t k, int64_t n, uint32_t* out) {
  if (!bf16GemmActive() || n % 16 != 0) return false;
  const int64_t pairs = (k + 1) / 2;
  for (int64_t j0 = 0; j0 < n; j0 += 32) {
    const bool wide = n - j0 >= 32;
    uint32_t* panel = out + j0 * pairs;
    packPanelBf16(b + j0, ldb, k, wide, panel);
    for (int64_t p = 0; !wide && p < pairs; ++p) std::fill(panel + p * 32 + 16, panel + p * 32 + 32, 0u);
  }
  return true;
}

FL_BF16_TARGET void packRowsBf16Avx512(const float* a, int64_t lda, int64_t m, int64_t k, uint32_t* out, int64_t ldo) {
  const int64_t pairs = (k + 1) / 2;
  for (int64_t i = 0; i < m; ++i) {
    const float* row = a + i * lda;
    uint32_t* to = out + i * ldo;
    for (int64_t q = 0; q < k; q += 32) {
      const __m512 lo = _mm512_maskz_loadu_ps(firstLanes(k - q), row + q);
      const __m512 hi = _mm512_maskz_loadu_ps(firstLanes(k - q - 16), row + q + 16);
      _mm512_mask_storeu_epi32(to + q / 2, firstLanes(pairs - q / 2), (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
    }
  }
}

// The check stays outside the AVX-512 function: there GCC may hoist mask set-up (kmovw) above it,
// which is an illegal instruction on a CPU without AVX-512.
bool packRowsBf16Vector(const float* a, int64_t lda, int64_t m, int64_t k, uint32_t* out, int64_t ldo) {
  if (!bf16GemmActive()) return false;
  packRowsBf16Avx512(a, lda, m, k, out, ldo);
  return true;
}

void gemmBf16Rows(const GemmOperands& op) {
  uint32_t* bPanel = op.bBf16 ? nullptr : threadScratchArray<uint32_t>(Scratch::GemmBf16B, kDepthBlockBf16 / 2 * 32);
  const int64_t pairsTotal = (op.k + 1) / 2;
  const int64_t calls = ((op.k + kDepthBlockBf16 - 1) / kDepthBlockBf16) * ((op.n + 31) / 32) * ((op.m + kRowsBf16 - 1) / kRowsBf16);
  const char* prefetchNext = static_cast<const char*>(op.prefetch);
  const char* prefetchEnd = prefetchNext + (op.prefetch ? op.prefetchBytes : 0);
  const int64_t prefetchLines = calls > 0 ? (op.prefetchBytes / 64 + calls - 1) / calls : 0;
  for (int64_t k0 = 0; k0 < op.k; k0 += kDepthBlockBf16) {
    const int64_t depth = std::min(kDepthBlockBf16, op.k - k0), pairs = (depth + 1) / 2;
    const bool accumulate = op.accumulate || k0 > 0;
    const PackedA a = op.aBf16 ? PackedA{op.aBf16 + k0 / 2, op.aBf16RowStride, 1} : packA(op, k0, depth);
    for (int64_t j0 = 0; j0 < op.n; j0 += 32) {
      const bool wide = op.n - j0 >= 32;
      const uint32_t* panel;
      if (op.bBf16) {
        panel = op.bBf16 + j0 * pairsTotal + k0 / 2 * 32;
      } else {
        if (op.bPacked) {
          packPanelBf16(op.b + j0 * op.k + k0 * 32, 32, depth, wide, bPanel);
        } else {
          packPanelBf16(op.b + k0 * op.ldb + j0, op.ldb, depth, wide, bPanel);
        }
        panel = bPanel;
      }
      for (int64_t i0 = 0; i0 < op.m; i0 += kRowsBf16) {
        const int rows = static_cast<int>(std::min<int64_t>(kRowsBf16, op.m - i0));
        for (int64_t line = 0; line < prefetchLines && prefetchNext < prefetchEnd; ++line, prefetchNext += 64) {
          __builtin_prefetch(prefetchNext, 1, 2);
        }
        const uint32_t* aTile = a.data + i0 * a.rowStride;
        float* cTile = op.c + i0 * op.ldc + j0;
        if (wide) {
          microBf16<2>(pairs, aTile, a.rowStride, a.pairStride, rows, panel, cTile, op.ldc, accumulate);
        } else {
          microBf16<1>(pairs, aTile, a.rowStride, a.pairStride, rows, panel, cTile, op.ldc, accumulate);
        }
      }
    }
  }
  if (op.k == 0 && !op.accumulate) {
    for (int64_t i = 0; i < op.m; ++i) std::fill(op.c + i * op.ldc, op.c + i * op.ldc + op.n, 0.0f);
  }
}

// gemmBf16Rows on chunks of kRowChunkBf16 rows, the prefetch range shared out among them.
void gemmBf16(const GemmOperands& op) {
  const int64_t chunks = (op.m + kRowChunkBf16 - 1) / kRowChunkBf16;
  if (chunks <= 1) return gemmBf16Rows(op);
  const int64_t share = op.prefetch ? (op.prefetchBytes + chunks - 1) / chunks : 0;
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    GemmOperands part = op;
    const int64_t i0 = chunk * kRowChunkBf16;
    part.m = std::min(kRowChunkBf16, op.m - i0);
    part.a = op.a ? op.a + i0 * op.aRowStride : nullptr, part.c = op.c + i0 * op.ldc;
    if (op.aBf16) part.aBf16 = op.aBf16 + i0 * op.aBf16RowStride;
    part.prefetch = op.prefetch ? static_cast<const char*>(op.prefetch) + chunk * share : nullptr;
    part.prefetchBytes = op.prefetch ? std::max<int64_t>(0, std::min(share, op.prefetchBytes - chunk * share)) : 0;
    gemmBf16Rows(part);
  }
}

}  // namespace

bool gemmBf16IfActive(const GemmOperands& op) {
  if (!bf16GemmActive()) return false;
  gemmBf16(op);
  return true;
}

#else  // not x86-64, or a compiler without AVX512_BF16 intrinsics: bf16Operands runs the float32 path

bool bf16GemmActive() { return false; }

bool gemmBf16IfActive(const GemmOperands&) { return false; }

namespace {
bool packBBf16Vector(const float*, int64_t, int64_t, int64_t, uint32_t*) { return false; }
bool packRowsBf16Vector(const float*, int64_t, int64_t, int64_t, uint32_t*, int64_t) { return false; }
}  // namespace

#endif

const char* gemmBf16Level() { return bf16GemmActive() ? "avx512bf16" : "float32"; }

}  // namespace fusedloss
