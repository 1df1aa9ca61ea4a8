// What the CUDA kernels (margin softmax, pair mining) share: the FP32 SIMT GEMM tile with its
// launch arguments and shared-memory pipeline (also under the tensor-core tile, mma_tile.cuh),
// and a fixed-tree block sum.  Each kernel is its own translation unit, so this
// lives in an anonymous namespace.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace fusedloss {
namespace {

constexpr int kTile = 128, kStep = 8, kGemmThreads = 256, kPad = 4;  // GEMM block tile

inline int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Fixed-tree block sum (blockDim.x == n, a power of two); every thread gets the result.
__device__ double blockSum(double v, double* scratch) {
  const int t = threadIdx.x, n = blockDim.x;
  scratch[t] = v;
  __syncthreads();
  for (int s = n / 2; s > 0; s >>= 1) {
    if (t < s) scratch[t] += scratch[t + s];
    __syncthreads();
  }
  const double r = scratch[0];
  __syncthreads();
  return r;
}

// --- GEMM: C[m, n] (+)= Σ_k A(m, k)·B(n, k) ----------------------------------------------------
// A(m, k) = a[m·lda + k] when kAKMajor, else a[k·lda + m]; B likewise.  Loads are float4 along the
// contiguous axis, whose bound (and ld) must be a multiple of 4; the other axis is checked per
// element, out-of-range values load as 0.  Split s covers k in [s·splitLen, (s+1)·splitLen) and
// writes c + s·cSplit.
struct Gemm {
  const float *a, *b;
  float* c;
  int64_t lda, ldb, ldc, cSplit;
  int m, n, aM, bN, aK, bK, kLen, splitLen, tilesM, tilesN, accumulate;
};

template <bool kKMajor>
__device__ __forceinline__ float4 loadTile(const float* base, int64_t ld, int rc0, int rcEnd, int k, int kEnd) {
  const int t = threadIdx.x;
  const int rc = kKMajor ? rc0 + (t >> 1) : rc0 + (t & 31) * 4;
  const int kk = kKMajor ? k + (t & 1) * 4 : k + (t >> 5);
  if (rc < rcEnd && kk < kEnd) {
    return *reinterpret_cast<const float4*>(kKMajor ? base + rc * ld + kk : base + kk * ld + rc);
  }
  return make_float4(0.0f, 0.0f, 0.0f, 0.0f);
}

template <bool kKMajor>
__device__ __forceinline__ void storeTile(float (*s)[kTile + kPad], float4 v) {
  const int t = threadIdx.x;
  if (kKMajor) {
    const int r = t >> 1, k = (t & 1) * 4;
    s[k][r] = v.x, s[k + 1][r] = v.y, s[k + 2][r] = v.z, s[k + 3][r] = v.w;
  } else {
    *reinterpret_cast<float4*>(&s[t >> 5][(t & 31) * 4]) = v;
  }
}

// Where a GEMM block works: its tile's first row and column, and its split's k range.
struct TileSpan {
  int m0, n0, split, kBegin, kEnd, aKEnd, bKEnd;
};

__device__ __forceinline__ TileSpan tileSpan(const Gemm& g) {
  TileSpan s;
  int64_t block = blockIdx.x;
  s.m0 = static_cast<int>(block % g.tilesM) * kTile;
  block /= g.tilesM;
  s.n0 = static_cast<int>(block % g.tilesN) * kTile;
  s.split = static_cast<int>(block / g.tilesN);
  s.kBegin = s.split * g.splitLen, s.kEnd = min(g.kLen, s.kBegin + g.splitLen);
  s.aKEnd = min(g.aK, s.kEnd), s.bKEnd = min(g.bK, s.kEnd);
  return s;
}

using TileSlices = float[2][kStep][kTile + kPad];

// The double-buffered main loop of both GEMM tiles (this SIMT one, the tensor-core one of
// mma_tile.cuh): kStep-deep slices of the block's A and B tiles staged in shared memory as
// as[buffer][k][m] and bs[buffer][k][n] (out-of-range elements 0), consume(buffer) called on each
// slice in k order while the next one is loaded into registers.
template <bool kAKMajor, bool kBKMajor, typename Consume>
__device__ __forceinline__ void gemmSlices(const Gemm& g, const TileSpan& span, TileSlices& as, TileSlices& bs,
                                           Consume&& consume) {
  const int steps = (span.kEnd - span.kBegin + kStep - 1) / kStep;
  float4 ra = loadTile<kAKMajor>(g.a, g.lda, span.m0, g.aM, span.kBegin, span.aKEnd);
  float4 rb = loadTile<kBKMajor>(g.b, g.ldb, span.n0, g.bN, span.kBegin, span.bKEnd);
  storeTile<kAKMajor>(as[0], ra);
  storeTile<kBKMajor>(bs[0], rb);
  __syncthreads();
  for (int s = 0; s < steps; ++s) {
    const int cur = s & 1;
    if (s + 1 < steps) {
      const int k = span.kBegin + (s + 1) * kStep;
      ra = loadTile<kAKMajor>(g.a, g.lda, span.m0, g.aM, k, span.aKEnd);
      rb = loadTile<kBKMajor>(g.b, g.ldb, span.n0, g.bN, k, span.bKEnd);
    }
    consume(cur);
    if (s + 1 < steps) {
      storeTile<kAKMajor>(as[cur ^ 1], ra);
      storeTile<kBKMajor>(bs[cur ^ 1], rb);
    }
    __syncthreads();
  }
}

// C (+)= A·Bᵀ on FP32 FMA units: 128×128 per block, 8×8 per thread.
template <bool kAKMajor, bool kBKMajor>
__global__ void __launch_bounds__(kGemmThreads, 2) gemmKernel(Gemm g) {
  __shared__ __align__(16) TileSlices as;
  __shared__ __align__(16) TileSlices bs;
  const int t = threadIdx.x, tx = t & 15, ty = t >> 4;
  const TileSpan span = tileSpan(g);
  const int m0 = span.m0, n0 = span.n0, split = span.split;
  float acc[8][8];
#pragma unroll
  for (int i = 0; i < 8; ++i)
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[i][j] = 0.0f;

  gemmSlices<kAKMajor, kBKMajor>(g, span, as, bs, [&](int cur) {
#pragma unroll
    for (int kk = 0; kk < kStep; ++kk) {
      const float4 a0 = *reinterpret_cast<const float4*>(&as[cur][kk][ty * 4]);
      const float4 a1 = *reinterpret_cast<const float4*>(&as[cur][kk][64 + ty * 4]);
      const float4 b0 = *reinterpret_cast<const float4*>(&bs[cur][kk][tx * 4]);
      const float4 b1 = *reinterpret_cast<const float4*>(&bs[cur][kk][64 + tx * 4]);
      const float av[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
      const float bv[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
      for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
  });

  float* c = g.c + split * g.cSplit;
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int row = m0 + (i < 4 ? ty * 4 + i : 64 + ty * 4 + i - 4);
    if (row >= g.m) continue;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int col = n0 + h * 64 + tx * 4;
      float* dst = c + row * g.ldc + col;
      const float* v = &acc[i][h * 4];
      if (col + 3 < g.n) {
        float4 out = make_float4(v[0], v[1], v[2], v[3]);
        if (g.accumulate) {
          const float4 old = *reinterpret_cast<const float4*>(dst);
          out.x += old.x, out.y += old.y, out.z += old.z, out.w += old.w;
        }
        *reinterpret_cast<float4*>(dst) = out;
      } else {
        for (int e = 0; e < 4 && col + e < g.n; ++e) dst[e] = g.accumulate ? dst[e] + v[e] : v[e];
      }
    }
  }
}

// Launch arguments of gemmKernel (host side).
Gemm gemmArgs(const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t m, int64_t n,
              int64_t aM, int64_t bN, int64_t aK, int64_t bK, int64_t kLen, int64_t splitLen, int64_t cSplit,
              bool accumulate) {
  Gemm g;
  g.a = a, g.b = b, g.c = c, g.lda = lda, g.ldb = ldb, g.ldc = ldc, g.cSplit = cSplit;
  g.m = static_cast<int>(m), g.n = static_cast<int>(n), g.aM = static_cast<int>(aM), g.bN = static_cast<int>(bN);
  g.aK = static_cast<int>(aK), g.bK = static_cast<int>(bK), g.kLen = static_cast<int>(kLen);
  g.splitLen = static_cast<int>(splitLen);
  g.tilesM = static_cast<int>(ceilDiv(m, kTile)), g.tilesN = static_cast<int>(ceilDiv(n, kTile));
  g.accumulate = accumulate;
  return g;
}

unsigned gemmBlocks(const Gemm& g) {
  return static_cast<unsigned>(int64_t{g.tilesM} * g.tilesN * ceilDiv(g.kLen, g.splitLen));
}

}  // namespace
}  // namespace fusedloss
