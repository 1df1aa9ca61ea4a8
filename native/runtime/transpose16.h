// A 16×16 float transpose in registers (GCC/Clang vector extensions, so each SIMD clone of the
// caller lowers it to its own shuffles: vpermt2ps with AVX-512).  Shared by the CPU kernels that
// turn point-major rows into lane vectors.
#pragma once

#include <cstdint>
#include <cstring>

namespace fusedloss {

typedef float Float16Vector __attribute__((vector_size(64)));

// One stage: rows i and i + b (i without bit b) swap their off-diagonal b-wide column blocks.
// The stages b = 8, 4, 2, 1 together transpose the tile.
#define FL_TRANSPOSE_STAGE(b)                                                      \
  for (int i = 0; i < 16; ++i) {                                                   \
    if (i & (b)) continue;                                                         \
    const Float16Vector a = rows[i], c = rows[i + (b)];                            \
    rows[i] = __builtin_shufflevector(a, c, FL_TRANSPOSE_LOW_##b);                 \
    rows[i + (b)] = __builtin_shufflevector(a, c, FL_TRANSPOSE_HIGH_##b);          \
  }
#define FL_TRANSPOSE_LOW_8 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23
#define FL_TRANSPOSE_HIGH_8 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31
#define FL_TRANSPOSE_LOW_4 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27
#define FL_TRANSPOSE_HIGH_4 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31
#define FL_TRANSPOSE_LOW_2 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29
#define FL_TRANSPOSE_HIGH_2 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31
#define FL_TRANSPOSE_LOW_1 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30
#define FL_TRANSPOSE_HIGH_1 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31

// columns[c][r] = source[r·rowStride + c] for r, c < 16 (rows may be unaligned; reads exactly the
// 16 × 16 floats named).
template <typename Vector>
static inline __attribute__((always_inline)) void transposeTile16(const float* source, int64_t rowStride, Vector* columns) {
  static_assert(sizeof(Vector) == sizeof(Float16Vector), "16 floats per vector");
  Float16Vector rows[16];
  for (int r = 0; r < 16; ++r) std::memcpy(&rows[r], source + r * rowStride, sizeof(Float16Vector));
  FL_TRANSPOSE_STAGE(8)
  FL_TRANSPOSE_STAGE(4)
  FL_TRANSPOSE_STAGE(2)
  FL_TRANSPOSE_STAGE(1)
  std::memcpy(columns, rows, sizeof(rows));
}

#undef FL_TRANSPOSE_STAGE
#undef FL_TRANSPOSE_LOW_8
#undef FL_TRANSPOSE_HIGH_8
#undef FL_TRANSPOSE_LOW_4
#undef FL_TRANSPOSE_HIGH_4
#undef FL_TRANSPOSE_LOW_2
#undef FL_TRANSPOSE_HIGH_2
#undef FL_TRANSPOSE_LOW_1
#undef FL_TRANSPOSE_HIGH_1

}  // namespace fusedloss
