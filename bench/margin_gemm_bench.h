// margin_cpu_bench --gemm: the three products of the fused margin kernel, with the shapes its plan
// picks, timed alone on the float32 path and on gemm()'s bf16Operands path (vdpbf16ps where the
// CPU has it), same operands (rounded to bf16), same process.  One row block of R rows against
// all C centers, over 16 class chunks on the thread pool, as margin.cc runs them:
//   cosines   [T × R]  = ŵ[tile] · x̂ᵀ       (k = D: centers' rows; x̂ᵀ packed once per block)
//   gŵ        [T × D] += Gᵀ[tile] · x̂       (k = R: G's rows; x̂ packed once per block)
//   gx̂        [R × D] += G[tile]ᵀ · ŵ[tile] (k = T: G transposed; ŵ as rows)
// with T the tile's classes (192 KiB of ŵ, whole 12-row register tiles) and R = min(N, 128).
// "bf16, pre-packed" passes the operands as bf16 pairs, as the kernel does: the block operand
// (packBBf16, bBf16) to the first two, ŵ as packRowsBf16's rows (aBf16) to the cosines and as each
// tile's packBBf16 (bBf16) to gx̂.
#pragma once

#include <algorithm>
#include <cstring>
#include <cstdio>
#include <random>
#include <vector>

#include "bench_util.h"
#include "runtime/gemm.h"
#include "runtime/thread_pool.h"

namespace benchgemm {

using namespace fusedloss;

enum class Product { Cosines, CenterGradient, RowGradient };

struct Shapes {
  int64_t rows, dim, classes, tileClasses, tiles;
  static constexpr int64_t kChunks = 16;
};

struct Operands {
  std::vector<float> centers, x, xT, xTPacked, xPacked, g;  // g: [C, R] (a tile's G at firstClass·R)
  std::vector<uint32_t> xTBf16, xBf16, centerPairs, centerTilePairs;  // ŵ: [C, D/2]; per tile at tile·tileStride
  int64_t tileStride = 0;
  std::vector<float> cosines, gradCenters, gradRows;
};

inline Operands makeOperands(const Shapes& s) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal;
  const auto bf16 = [&](float scale) {  // a normal value rounded to bfloat16 (8 significant bits)
    float v = normal(rng) * scale;
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    bits = (bits + 0x7fffu + ((bits >> 16) & 1u)) & 0xffff0000u;
    std::memcpy(&v, &bits, 4);
    return v;
  };
  Operands o;
  const int64_t r = s.rows, d = s.dim, c = s.classes;
  o.centers.resize(c * d), o.x.resize(r * d), o.xT.resize(d * r), o.g.resize(c * r);
  for (float& v : o.centers) v = bf16(0.04f);
  for (float& v : o.x) v = bf16(0.04f);
  for (float& v : o.g) v = bf16(1e-3f);
  for (int64_t i = 0; i < r; ++i)
    for (int64_t k = 0; k < d; ++k) o.xT[k * r + i] = o.x[i * d + k];
  o.xTPacked.resize(packedSize(d, r)), o.xPacked.resize(packedSize(r, d));
  packB(o.xT.data(), r, d, r, o.xTPacked.data());
  packB(o.x.data(), d, r, d, o.xPacked.data());
  o.xTBf16.resize(packedBf16Size(d, r)), o.xBf16.resize(packedBf16Size(r, d));
  packBBf16(o.xT.data(), r, d, r, o.xTBf16.data());
  packBBf16(o.x.data(), d, r, d, o.xBf16.data());
  o.centerPairs.resize(c * ((d + 1) / 2));
  packRowsBf16(o.centers.data(), d, c, d, o.centerPairs.data(), (d + 1) / 2);
  o.tileStride = packedBf16Size(s.tileClasses, d);
  o.centerTilePairs.resize(s.tiles * o.tileStride);
  for (int64_t t = 0; t < s.tiles; ++t) {
    const int64_t c0 = t * s.tileClasses;
    packBBf16(o.centers.data() + c0 * d, d, std::min(s.tileClasses, c - c0), d, o.centerTilePairs.data() + t * o.tileStride);
  }
  o.cosines.resize(c * r), o.gradCenters.resize(c * d), o.gradRows.resize(Shapes::kChunks * r * d);
  return o;
}

// One pass of `product` over every tile, chunks in parallel.
inline void runProduct(const Shapes& s, Operands& o, Product product, bool bf16, bool prepacked) {
  const int64_t r = s.rows, d = s.dim;
  parallelFor(Shapes::kChunks, [&](int64_t chunk) {
    const int64_t first = chunk * s.tiles / Shapes::kChunks, end = (chunk + 1) * s.tiles / Shapes::kChunks;
    for (int64_t tile = first; tile < end; ++tile) {
      const int64_t c0 = tile * s.tileClasses, classes = std::min(s.tileClasses, s.classes - c0);
      GemmOperands op;
      op.bf16Operands = bf16;
      if (product == Product::Cosines) {
        op.m = classes, op.n = r, op.k = d;
        op.a = o.centers.data() + c0 * d, op.aRowStride = d, op.aDepthStride = 1;
        op.b = o.xTPacked.data(), op.bPacked = true, op.bBf16 = prepacked ? o.xTBf16.data() : nullptr;
        if (prepacked) op.aBf16 = o.centerPairs.data() + c0 * ((d + 1) / 2), op.aBf16RowStride = (d + 1) / 2;
        op.c = o.cosines.data() + c0 * r, op.ldc = r;
      } else if (product == Product::CenterGradient) {
        op.m = classes, op.n = d, op.k = r;
        op.a = o.g.data() + c0 * r, op.aRowStride = r, op.aDepthStride = 1;
        op.b = o.xPacked.data(), op.bPacked = true, op.bBf16 = prepacked ? o.xBf16.data() : nullptr;
        op.c = o.gradCenters.data() + c0 * d, op.ldc = d;
      } else {
        op.m = r, op.n = d, op.k = classes;
        op.a = o.g.data() + c0 * r, op.aRowStride = 1, op.aDepthStride = r;
        op.b = o.centers.data() + c0 * d, op.ldb = d, op.bBf16 = prepacked ? o.centerTilePairs.data() + tile * o.tileStride : nullptr;
        op.c = o.gradRows.data() + chunk * r * d, op.ldc = d, op.accumulate = tile > first;
      }
      gemm(op);
    }
  });
}

// Prints the table: each product's time and rate per path, and the three together.
inline void printGemmTable(int64_t n, int64_t d, int64_t c, int runs) {
  Shapes s{std::min<int64_t>(n, 128), d, c, 0, 0};
  const int64_t step = gemmRowTile();
  s.tileClasses = std::max<int64_t>(1, std::min<int64_t>({512, (192 << 10) / (d * 4), c}));
  if (s.tileClasses > step) s.tileClasses -= s.tileClasses % step;
  s.tiles = (c + s.tileClasses - 1) / s.tileClasses;
  Operands o = makeOperands(s);
  std::printf("\nGEMMs of one row block (R %lld rows, tiles of T %lld classes), float32 path %s vs bf16Operands %s:\n\n",
              (long long)s.rows, (long long)s.tileClasses, gemmLevel(), gemmBf16Level());
  std::printf("| product | float32 s | GFLOP/s | bf16 s | GFLOP/s | ratio | bf16, pre-packed s | ratio |\n");
  std::printf("|:--|--:|--:|--:|--:|--:|--:|--:|\n");
  const double flops = 2.0 * s.rows * c * d;
  const char* names[] = {"cosines ŵ·x̂ᵀ", "gŵ += Gᵀ·x̂", "gx̂ += Gᵀ·ŵ"};
  double total[3] = {0, 0, 0};
  for (const Product product : {Product::Cosines, Product::CenterGradient, Product::RowGradient}) {
    runProduct(s, o, product, false, false);  // warm: the operands and outputs faulted in
    // The paths alternate run by run, so a change in the machine's load reaches all of them.
    std::vector<double> times[3];
    for (int run = 0; run < runs; ++run) {
      for (int path = 0; path < 3; ++path) {
        times[path].push_back(benchutil::medianSeconds([&] { runProduct(s, o, product, path > 0, path == 2); }, 1));
      }
    }
    const auto median = [](std::vector<double>& v) {
      std::sort(v.begin(), v.end());
      return v[v.size() / 2];
    };
    const double fp32 = median(times[0]), bf16 = median(times[1]), pre = median(times[2]);
    total[0] += fp32, total[1] += bf16, total[2] += pre;
    std::printf("| %s | %.4f | %.1f | %.4f | %.1f | %.2f | ", names[static_cast<int>(product)], fp32, flops / fp32 / 1e9, bf16,
                flops / bf16 / 1e9, fp32 / bf16);
    std::printf("%.4f | %.2f |\n", pre, fp32 / pre);
  }
  std::printf("| all three | %.4f | %.1f | %.4f | %.1f | %.2f | %.4f | %.2f |\n", total[0], 3 * flops / total[0] / 1e9, total[1],
              3 * flops / total[1] / 1e9, total[0] / total[1], total[2], total[0] / total[2]);
}

}  // namespace benchgemm
