// The GEMM tile on tensor cores (sm_80+): the SIMT tile's Gemm arguments, block tiles and shared
// memory pipeline (gemm_tile.cuh: 128×128 per block of 8 warps, kStep = 8 deep double-buffered
// slices), with each slice multiplied by WMMA TF32 m16n16k8 operations instead of FMAs.
//
// Precision: one TF32 product per step, acc += a·b'.  The host runs this tile only for the
// precision option's 'tf32' and 'bf16' (the operands were rounded to TF32-exact values before, so
// the product is exact and the accumulation stays FP32); float32 runs the SIMT tile.  The 3xTF32
// split (a = tf32(a) + tf32(a − tf32(a)), three products) that float32 used to run here was slower
// than the SIMT tile on an H200 (2026-12-04: 19.1 ms against 15.6 ms at N = 1024, C = 100k,
// D = 512, forward + backward) and less close to the CPU (1.1e-4 against under 1e-5 on the
// checks' large-C cases): docs/performance-cuda.md.  The legality of touching fragment elements
// elementwise (whatever their lane mapping) is what lets the CPU harness's <mma.h>
// (test/native/emu/mma.h) run this file unchanged.
//
// Expected performance (H100/H200, sm_90, 132 SMs): a block's 128×128×8 slice is 131k
// multiply-adds on tensor cores; 2 blocks of 256 threads per SM (__launch_bounds__), 16 warps;
// 8 accumulator fragments per warp (64 floats per lane) + 6 operand fragments fit the registers.
// Shared memory per block: 2 × 8.4 KiB slices, reused for the 10 KiB epilogue staging.  Each
// 128×8 slice of A and B is read once per block from L2 (32 flops/B per operand load); kStep = 8
// means one __syncthreads per 8 k, the main limit of this tile (a deeper cp.async pipeline and
// mma.sync fragments are the next step; the 2026-12-04 H200 run did not time this tile at 1xTF32).
#pragma once

#include <cuda_runtime.h>
#include <mma.h>

#include "gemm_tile.cuh"

// The tensor-core tile's body is compiled for sm_80+ only (TF32 WMMA); older architectures get an
// empty kernel the host never launches (it picks the SIMT tile below compute capability 8.0).
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
#define FL_MMA_TILE 0
#else
#define FL_MMA_TILE 1
#endif

namespace fusedloss {
namespace {

constexpr int kMmaMinMajor = 8;  // compute capability with TF32 tensor cores
constexpr int kFrag = 16, kFragK = 8;           // m16n16k8
constexpr int kWarpRows = 64, kWarpCols = 32;   // a warp's share of the 128×128 tile (2 × 4 warps)
constexpr int kFragRows = kWarpRows / kFrag, kFragCols = kWarpCols / kFrag;
constexpr int kStageLd = kFrag + 4;             // epilogue staging: one 16×16 fragment per warp
static_assert(kStep == kFragK, "one mma k step per shared-memory slice");

#if FL_MMA_TILE
namespace wmma = nvcuda::wmma;
using MmaA = wmma::fragment<wmma::matrix_a, kFrag, kFrag, kFragK, wmma::precision::tf32, wmma::col_major>;
using MmaB = wmma::fragment<wmma::matrix_b, kFrag, kFrag, kFragK, wmma::precision::tf32, wmma::row_major>;
using MmaC = wmma::fragment<wmma::accumulator, kFrag, kFrag, kFragK, float>;

#endif

// C (+)= A·Bᵀ on tensor cores, one TF32 product per step on TF32-exact operands (see the top of this
// file); arguments as gemmKernel's.
template <bool kAKMajor, bool kBKMajor>
__global__ void __launch_bounds__(kGemmThreads, 2) mmaGemmKernel(Gemm g) {
#if FL_MMA_TILE
  // The slices during the main loop, then (after its last barrier) the epilogue's staging.
  // 32-byte alignment for the fragment loads: slices start at multiples of 16 floats, ld 132.
  union SharedTile {
    struct {
      TileSlices a, b;
    } slices;
    float stage[kGemmThreads / 32][kFrag][kStageLd];
  };
  __shared__ __align__(128) SharedTile shared;
  TileSlices &as = shared.slices.a, &bs = shared.slices.b;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int wm = (warp & 1) * kWarpRows, wn = (warp >> 1) * kWarpCols;
  const TileSpan span = tileSpan(g);
  MmaC acc[kFragRows][kFragCols];
#pragma unroll
  for (int i = 0; i < kFragRows; ++i)
#pragma unroll
    for (int j = 0; j < kFragCols; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

  gemmSlices<kAKMajor, kBKMajor>(g, span, as, bs, [&](int cur) {
    // A (m, k) at as[cur][k][m]: column-major with ld kTile + kPad; B (k, n) at bs[cur][k][n]: row-major.
    MmaA a[kFragRows];
    MmaB b[kFragCols];
#pragma unroll
    for (int i = 0; i < kFragRows; ++i) wmma::load_matrix_sync(a[i], &as[cur][0][wm + i * kFrag], kTile + kPad);
#pragma unroll
    for (int j = 0; j < kFragCols; ++j) wmma::load_matrix_sync(b[j], &bs[cur][0][wn + j * kFrag], kTile + kPad);
#pragma unroll
    for (int i = 0; i < kFragRows; ++i)
#pragma unroll
      for (int j = 0; j < kFragCols; ++j) wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
  });

  // Each fragment through the warp's staging area to C, bounds-checked; lane pairs own a row.
  float* c = g.c + span.split * g.cSplit;
  float(*mine)[kStageLd] = shared.stage[warp];
  const int r = lane >> 1, c0 = (lane & 1) * 8;
#pragma unroll
  for (int i = 0; i < kFragRows; ++i)
#pragma unroll
    for (int j = 0; j < kFragCols; ++j) {
      wmma::store_matrix_sync(&mine[0][0], acc[i][j], kStageLd, wmma::mem_row_major);
      __syncwarp();
      const int row = span.m0 + wm + i * kFrag + r, col0 = span.n0 + wn + j * kFrag + c0;
      if (row < g.m) {
        float* dst = c + row * g.ldc + col0;
        for (int e = 0; e < 8 && col0 + e < g.n; ++e) dst[e] = g.accumulate ? dst[e] + mine[r][c0 + e] : mine[r][c0 + e];
      }
      __syncwarp();  // the next fragment overwrites the staging area
    }
#endif
}

}  // namespace
}  // namespace fusedloss
