// A small single-threaded GEMM for the fused kernels: C[m×n] (+)= A·B with A read through
// arbitrary strides (so a transposed or row-major operand needs no packing) and B row-major
// with n contiguous.  The caller tiles the problem so the B rows it sweeps stay in cache and
// parallelizes over tiles; this routine only runs the register-tiled micro-kernel over them.
//
//   A(i, k) = a[i·aRowStride + k·aDepthStride],  B(k, j) = b[k·ldb + j],  C(i, j) = c[i·ldc + j]
//
// n must be a multiple of kGemmColumnAlign (callers pad their operands with zeros).  Chosen
// once per process: AVX-512 (12×32 register tile), AVX2+FMA (6×16) or portable scalar code on
// x86-64; NEON (6×16) on AArch64.  The accumulation order over k is fixed (k ascending, one FMA
// chain per C element), so a given instruction set always gives the same bits, and the FMA
// kernels (AVX-512, AVX2, NEON) the same bits as each other.  Operands marked bf16Operands may
// take the AVX512_BF16 path instead (see there).
#pragma once

#include <cstddef>
#include <cstdint>

namespace fusedloss {

constexpr int64_t kGemmColumnAlign = 16;

struct GemmOperands {
  int64_t m = 0, n = 0, k = 0;
  const float* a = nullptr;
  int64_t aRowStride = 0, aDepthStride = 0;
  const float* b = nullptr;
  int64_t ldb = 0;
  float* c = nullptr;
  int64_t ldc = 0;
  bool accumulate = false;  // C += A·B instead of C = A·B
  // b is already packed by packB (then ldb is ignored): operands reused across many calls
  // (a block's embeddings) are packed once instead of on every call.
  bool bPacked = false;
  // Memory the caller needs next (the following tile's operands): prefetched into L2 a few lines
  // per micro-kernel call, so streaming a large matrix tile by tile overlaps with compute.
  const void* prefetch = nullptr;
  int64_t prefetchBytes = 0;
  // Every element of A and B is a bfloat16 value stored as a float (the `precision: 'bf16'`
  // option rounded them, ../math/precision_math.h).  Where the CPU has AVX512_BF16
  // (gemmBf16Level() == "avx512bf16") gemm() then multiplies with vdpbf16ps: the products are the
  // same exact values as the float32 path's, summed in float32 by pairs of k in blocks of 512
  // (instead of one FMA chain per block), with two differences of that instruction:
  //   - subnormal inputs count as zero and subnormal sums are flushed to zero (DAZ/FTZ, whatever
  //     MXCSR says), so subnormal × ±Inf gives NaN where the float32 path gives ±Inf;
  //   - the grouping: the result equals the float32 path's only within a bound, not bitwise.
  // Bound (r = k + ⌈k/256⌉ + 1 roundings, u = 2⁻²⁴, γ_r = r·u/(1 − r·u), S = |C_in| + Σ_p |a_p·b_p|
  // with C_in the accumulated value or 0; F = Σ |a_p·b_p| over the terms with a subnormal operand or
  // a product under 2⁻¹²⁶ in magnitude): each path is within γ_r·S + F + r·2⁻¹²⁶ of the exact
  // C_in + Σ_p a_p·b_p, so the two are within 2·(γ_r·S + F + r·2⁻¹²⁶) of each other, as long as
  // no partial sum overflows.  NaN and ±Inf propagate as in the
  // float32 path otherwise.  Elsewhere (no AVX512_BF16, arm64, wasm, FUSEDLOSS_GEMM_BF16=off) the
  // float32 path runs: it computes the same exact products, so it is the exact emulation (the
  // float32 path's bits, no flushing), only not faster.
  bool bf16Operands = false;
  // With bf16Operands, optionally B already in packBBf16's layout (then b, ldb and bPacked are
  // not read on the AVX512_BF16 path; the float32 path still reads b, so a caller passes both):
  // an operand reused across many calls is converted once.
  const uint32_t* bBf16 = nullptr;
  // With bf16Operands, optionally A already as bf16 pairs along k (packRowsBf16's layout): row i's
  // pair p — A(i, 2p) low, A(i, 2p + 1) high — at aBf16[i·aBf16RowStride + p].  The AVX512_BF16 path
  // then reads it instead of packing A (a and its strides unread); an operand reused across many
  // calls (the margin kernel's weight tiles) is converted once.  a may be null only where
  // gemmBf16Level() is "avx512bf16": the float32 path reads a.
  const uint32_t* aBf16 = nullptr;
  int64_t aBf16RowStride = 0;
};

void gemm(const GemmOperands& op);

// B [k, n] (row-major, rows ldb apart) as panels of 32 columns, each k rows of 32 floats
// (the last panel zero-padded): the layout gemm() streams.  packedSize floats.
int64_t packedSize(int64_t k, int64_t n);
void packB(const float* b, int64_t ldb, int64_t k, int64_t n, float* out);
// B [k, n] as bf16 pairs for bBf16: panels of 32 columns, each ⌈k/2⌉ rows of 32 uint32 (row p:
// the bf16 of B(2p, j) in the low half, of B(2p + 1, j) — zero past k — in the high half; the last
// panel zero-padded).  packedBf16Size uint32.  B's elements must be bf16 values (exact then).
int64_t packedBf16Size(int64_t k, int64_t n);
void packBBf16(const float* b, int64_t ldb, int64_t k, int64_t n, uint32_t* out);
// A [m, k] (k contiguous, rows lda floats apart) as bf16 pairs for aBf16: row i's ⌈k/2⌉ pairs at
// out + i·ldo (ldo ≥ ⌈k/2⌉; the high half of an odd k's last pair zero).  A's elements must be bf16
// values (exact then).  Converts as gemm()'s own packing does (vcvtne2ps2bf16 where active).
void packRowsBf16(const float* a, int64_t lda, int64_t m, int64_t k, uint32_t* out, int64_t ldo);
// The same from B already in packB's layout (k rows, n columns): packBBf16 of each 32-column panel.
void repackBf16(const float* packed, int64_t k, int64_t n, uint32_t* out);
// destination[j·destinationStride + r] = source[r·sourceStride + j] for r < rows, j < columns: an
// A operand that is the transpose of a row-major matrix, copied once instead of walking its rows'
// stride in every micro-kernel call.  16×16 register tiles (their 16 destination rows stay in L1),
// compiled once per instruction set.
void transposeInto(const float* source, int64_t sourceStride, int64_t rows, int64_t columns, float* destination,
                   int64_t destinationStride);
// Sets row `row` (of k) of a packB layout with n columns to zero.
void zeroPackedRow(float* packed, int64_t k, int64_t n, int64_t row);

// Rows of gemm()'s register tile (12, 6 or 4): m in whole multiples of it wastes nothing.
int64_t gemmRowTile();

// The instruction set gemm() uses: "avx512", "avx2", "neon" or "scalar".
const char* gemmLevel();

// What gemm() runs for bf16Operands: "avx512bf16" (vdpbf16ps) or "float32" (the float32 path,
// the exact emulation).
const char* gemmBf16Level();

// Peak float32 FMA rate of one thread of this CPU with gemm()'s instruction set, measured by
// running independent FMA chains for about `seconds` (GFLOP/s, 2 flops per FMA lane).
double measureFmaPeakGflops(double seconds);

}  // namespace fusedloss
