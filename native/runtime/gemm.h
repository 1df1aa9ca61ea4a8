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
// kernels (AVX-512, AVX2, NEON) the same bits as each other.
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
  // option rounded them, ../math/precision_math.h).  gemm() may then multiply in bfloat16
  // hardware: the products are the same exact values, only the grouping of the float32 sums
  // differs.  Where the CPU has no such instructions the float32 path computes the same products.
  bool bf16Operands = false;
};

void gemm(const GemmOperands& op);

// B [k, n] (row-major, rows ldb apart) as panels of 32 columns, each k rows of 32 floats
// (the last panel zero-padded): the layout gemm() streams.  packedSize floats.
int64_t packedSize(int64_t k, int64_t n);
void packB(const float* b, int64_t ldb, int64_t k, int64_t n, float* out);
// Sets row `row` (of k) of a packB layout with n columns to zero.
void zeroPackedRow(float* packed, int64_t k, int64_t n, int64_t row);

// Rows of gemm()'s register tile (12, 6 or 4): m in whole multiples of it wastes nothing.
int64_t gemmRowTile();

// The instruction set gemm() uses: "avx512", "avx2", "neon" or "scalar".
const char* gemmLevel();

// Peak float32 FMA rate of one thread of this CPU with gemm()'s instruction set, measured by
// running independent FMA chains for about `seconds` (GFLOP/s, 2 flops per FMA lane).
double measureFmaPeakGflops(double seconds);

}  // namespace fusedloss
