// A Width × Width float transpose in registers, Width = 4, 8 or 16 (GCC/Clang vector extensions,
// so each instruction set the caller is built for lowers it to its own shuffles: vpermt2ps with
// AVX-512).  Shared by the CPU kernels that turn point-major rows into lane vectors.
#pragma once

#include <cstdint>
#include <cstring>
#include <utility>

namespace fusedloss {
namespace transpose {

// One stage of distance b: rows i and i + b (i without bit b) swap their off-diagonal b-wide
// column blocks.  Lane j of the new row i takes, within its 2b-wide group g = j / 2b, offset
// r = j mod 2b: row i's (low) or row i + b's (high) lane g·2b + r from the first source for
// r < b, and lane g·2b + r − b of the second otherwise (+ b in both for the high row).
constexpr int stageLane(int width, int b, bool high, int j) {
  const int group = j / (2 * b) * 2 * b, r = j % (2 * b), shift = high ? b : 0;
  return r < b ? group + r + shift : width + group + r - b + shift;
}

template <typename Vector, int Width, int B, std::size_t... J>
static inline __attribute__((always_inline)) void stage(Vector* rows, std::index_sequence<J...>) {
  for (int i = 0; i < Width; ++i) {
    if (i & B) continue;
    const Vector a = rows[i], c = rows[i + B];
    rows[i] = __builtin_shufflevector(a, c, stageLane(Width, B, false, J)...);
    rows[i + B] = __builtin_shufflevector(a, c, stageLane(Width, B, true, J)...);
  }
}

}  // namespace transpose

// columns[c][r] = source[r·rowStride + c] for r, c < Width, Width the lanes of Vector (rows may
// be unaligned; reads exactly the Width × Width floats named).
template <typename Vector>
static inline __attribute__((always_inline)) void transposeTile(const float* source, int64_t rowStride, Vector* columns) {
  constexpr int kWidth = sizeof(Vector) / sizeof(float);
  static_assert(kWidth == 4 || kWidth == 8 || kWidth == 16, "4, 8 or 16 floats per vector");
  Vector rows[kWidth];
  for (int r = 0; r < kWidth; ++r) std::memcpy(&rows[r], source + r * rowStride, sizeof(Vector));
  constexpr auto lanes = std::make_index_sequence<kWidth>{};
  if constexpr (kWidth > 8) transpose::stage<Vector, kWidth, 8>(rows, lanes);
  if constexpr (kWidth > 4) transpose::stage<Vector, kWidth, 4>(rows, lanes);
  transpose::stage<Vector, kWidth, 2>(rows, lanes);
  transpose::stage<Vector, kWidth, 1>(rows, lanes);
  std::memcpy(columns, rows, sizeof(rows));
}

}  // namespace fusedloss
