// The WMMA C++ API (nvcuda::wmma, CUDA's <mma.h>) as the CPU execution harness sees it: TF32
// m16n16k8 fragments, enough for cuda/mma_tile.cuh.  WMMA leaves the element-to-lane mapping
// unspecified; this model picks one in which each lane holds exactly what its own accumulator
// elements need, so mma_sync runs per lane with no rendezvous and the warp does the tile's work
// once:
//  - accumulator: lane L owns the 8 elements (r, c) with c = L % 16 and r ≡ L / 16 (mod 2),
//    x[q] = (L / 16 + 2q, L % 16); store_matrix_sync writes only those, so a lane that reads
//    what another lane stored without a __syncwarp() between sees poison or a stale value
//    (threads switch at __syncwarp, see cuda_runtime.h);
//  - matrix_a: the same 8 rows, all k (x[q·8 + k], 64 elements); matrix_b: column L % 16, all k
//    (x[k], 8 elements).  The warp's lanes together read the whole tile, as on a GPU; elementwise
//    work over frag.x[i] is layout-independent and sees each element a lane holds;
//  - mma_sync reads TF32: each A and B element with its low 13 mantissa bits dropped, as the
//    tensor cores ignore them (a kernel that forgets __float_to_tf32 loses that precision here
//    too); products are exact in float32 (11-bit significands), so each is added in k order with
//    one rounding, as an fma would.  The hardware's
//    internal summation order and rounding inside one mma are not modelled;
//  - loads and stores check the pointer's 256-bit alignment and ldm (a multiple of 4 floats),
//    and every operation is counted per thread: the threads of a warp must run the same
//    sequence (checked at each barrier and at the block's end: cuda-emu: warp-collective
//    divergence).
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace fl_emu {
[[noreturn]] void misuse(const char* what, const void* pointer, unsigned ldm);  // reports and exits (status 3)
}

namespace nvcuda {
namespace wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };
namespace precision {
struct tf32 {};
}  // namespace precision

// cvt.rna.tf32.f32: to 10 mantissa bits, to nearest with ties away from zero (the result is a
// float whose low 13 bits are 0); NaN and Inf pass through.
inline float __float_to_tf32(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  if ((bits & 0x7f800000u) != 0x7f800000u) bits = (bits + 0x1000u) & ~0x1fffu;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

namespace detail {
// What a tensor core reads of a float given as TF32: the low 13 mantissa bits are ignored.
inline float tf32Operand(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  if ((bits & 0x7f800000u) != 0x7f800000u) bits &= ~0x1fffu;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

enum Op : uint64_t { kLoadA = 0x11, kLoadB = 0x22, kLoadC = 0x33, kStore = 0x44, kMma = 0x55 };

inline void checkPointer(const void* p, unsigned ldm, const char* what) {
  if (reinterpret_cast<uintptr_t>(p) % 32 != 0 || ldm % 4 != 0) ::fl_emu::misuse(what, p, ldm);
}

// The running lane's first row (its rows are first, first + 2, …) and its column.
inline int laneRow() { return static_cast<int>(::fl_emu::laneId() >> 4); }
inline int laneCol() { return static_cast<int>(::fl_emu::laneId() & 15); }

template <typename Use>
constexpr int laneElements(int k) {
  return std::is_same<Use, matrix_a>::value ? 8 * k : std::is_same<Use, matrix_b>::value ? k : 8;
}

// Element (r, c) of an M×N (row-major or column-major) matrix in memory.
inline float& at(const float* p, unsigned ldm, bool rowMajor, int r, int c) {
  return const_cast<float&>(rowMajor ? p[r * ldm + c] : p[c * ldm + r]);
}
}  // namespace detail

template <typename Use, int M, int N, int K, typename T, typename Layout = void>
class fragment {
 public:
  static_assert(M == 16 && N == 16 && K == 8, "the harness models the m16n16k8 TF32 shape only");
  using element_type = float;
  static constexpr int num_elements = detail::laneElements<Use>(K);
  float x[num_elements];  // this lane's share (see the top of this file)
};

template <typename Use, int M, int N, int K, typename T, typename Layout>
inline void fill_fragment(fragment<Use, M, N, K, T, Layout>& f, float v) {
  for (float& e : f.x) e = v;
}

template <typename Use, int M, int N, int K, typename T, typename Layout>
inline void load_matrix_sync(fragment<Use, M, N, K, T, Layout>& f, const float* p, unsigned ldm) {
  static_assert(!std::is_same<Use, accumulator>::value, "an accumulator load takes a layout_t");
  detail::checkPointer(p, ldm, "load_matrix_sync");
  constexpr bool rowMajor = std::is_same<Layout, row_major>::value;
  if (std::is_same<Use, matrix_a>::value) {  // A (r, k): the lane's 8 rows
    ::fl_emu::warpCollective(detail::kLoadA);
    for (int q = 0; q < 8; ++q)
      for (int k = 0; k < K; ++k) f.x[q * K + k] = detail::at(p, ldm, rowMajor, detail::laneRow() + 2 * q, k);
  } else {  // B (k, n): the lane's column
    ::fl_emu::warpCollective(detail::kLoadB);
    for (int k = 0; k < K; ++k) f.x[k] = detail::at(p, ldm, rowMajor, k, detail::laneCol());
  }
}

template <int M, int N, int K>
inline void load_matrix_sync(fragment<accumulator, M, N, K, float>& f, const float* p, unsigned ldm, layout_t layout) {
  detail::checkPointer(p, ldm, "load_matrix_sync");
  ::fl_emu::warpCollective(detail::kLoadC);
  for (int q = 0; q < 8; ++q) f.x[q] = detail::at(p, ldm, layout == mem_row_major, detail::laneRow() + 2 * q, detail::laneCol());
}

template <int M, int N, int K>
inline void store_matrix_sync(float* p, const fragment<accumulator, M, N, K, float>& f, unsigned ldm, layout_t layout) {
  detail::checkPointer(p, ldm, "store_matrix_sync");
  ::fl_emu::warpCollective(detail::kStore);
  for (int q = 0; q < 8; ++q) detail::at(p, ldm, layout == mem_row_major, detail::laneRow() + 2 * q, detail::laneCol()) = f.x[q];
}

template <int M, int N, int K, typename LayoutA, typename LayoutB>
inline void mma_sync(fragment<accumulator, M, N, K, float>& d, const fragment<matrix_a, M, N, K, precision::tf32, LayoutA>& a,
                     const fragment<matrix_b, M, N, K, precision::tf32, LayoutB>& b,
                     const fragment<accumulator, M, N, K, float>& c) {
  ::fl_emu::warpCollective(detail::kMma);
  float bk[K];
  for (int k = 0; k < K; ++k) bk[k] = detail::tf32Operand(b.x[k]);
  for (int q = 0; q < 8; ++q) {
    float sum = c.x[q];
    for (int k = 0; k < K; ++k) sum += detail::tf32Operand(a.x[q * K + k]) * bk[k];  // the product is exact
    d.x[q] = sum;
  }
}

}  // namespace wmma
}  // namespace nvcuda
