// CRPS, native CPU backend.  See crps.h for the interface and ../math/crps_math.h for the
// per-point formulas and their derivation.
//
// Work plan: the points are cut into fixed chunks of kChunkPoints (independent of the thread
// count); each chunk writes its points' outputs and a float64 partial of Σw·s and Σw, and the
// partials are added in chunk order, so every thread count gives the same bits.
//
// Within a chunk, ensembles of up to kMaxNetworkMembers members go through lane blocks: 16
// points are transposed into [member][lane] vectors (register tiles when stored member-last)
// and sorted together by a Batcher odd-even merge network (min/max across lanes, the member
// index carried along for the gradient), two blocks interleaved; GCC/Clang vector extensions of
// the instruction set's width, built once per instruction set (FL_SIMD_FUNCTION; the lane
// arithmetic is in crps_lanes.h).  2 and 4 members stored member-last
// take a shuffle path instead.  Every lane block scores in float64 from the sorted members with
// scorePoint's terms in its order (same bits).  Points with a NaN or Inf input, partial blocks,
// and larger ensembles go through scorePoint, the scalar reference path that implements every
// NaN policy (crps_scalar.cc).  33–64 members skip the run-time network (except in the AVX2
// build): padded to 64 and sorted in register-sized pieces (crps_network.h), the same outputs.
// Gradients are computed by sorted position and scattered back to the members through a
// per-block tile in L1, which goes out with non-temporal stores once gradEnsemble is too large
// for the caches (kStreamGradientBytes).
#include "crps.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <utility>
#include <vector>

#include "../math/crps_math.h"
#include "../runtime/simd.h"
#include "../runtime/thread_pool.h"
#include "../runtime/transpose_tile.h"
#include "crps_lanes.h"
#include "crps_network.h"
#include "crps_plan.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FL_CRPS_STREAM_STORES 1
#endif

namespace fusedloss {
namespace crps_cpu {
namespace {

using namespace crps_lanes;

constexpr int kMaxNetworkMembers = 128;

// Batcher's odd-even merge sort for `members` inputs: built for the next power of two and
// trimmed of comparators that touch the padding (padding would hold +inf at the top and never
// move, so those comparators are no-ops).
std::vector<Comparator> sortingNetwork(int members) {
  int size = 1;
  while (size < members) size <<= 1;
  std::vector<Comparator> network;
  for (int p = 1; p < size; p <<= 1) {
    for (int k = p; k >= 1; k >>= 1) {
      for (int j = k % p; j + k < size; j += 2 * k) {
        for (int i = 0; i < k && i + j + k < size; ++i) {
          if ((i + j) / (2 * p) == (i + j + k) / (2 * p) && i + j + k < members) {
            network.emplace_back(i + j, i + j + k);
          }
        }
      }
    }
  }
  return network;
}
// Points per lane block, whatever the vector width: the per-lane partial sums of the mean are
// kept per block position, so their order (and the mean's bits) is the same for every width.
constexpr int kBlockPoints = 16;

// A lane block of Width-lane vectors: slice s holds the block's points [s·Width, (s + 1)·Width).
template <int Width>
struct alignas(64) LaneScratch {
  static constexpr int kSlices = kBlockPoints / Width;
  using Floats = typename Vectors<Width>::Floats;
  using Ints = typename Vectors<Width>::Ints;
  using Doubles = typename Vectors<Width>::Doubles;
  Floats values[kSlices][kMaxNetworkMembers];
  Ints index[kSlices][kMaxNetworkMembers];
  // ∂ by sorted position, before the scatter to the members; until then the tie starts (as bits),
  // each replaced by its gradient (one array fewer in L1).
  Floats gradient[kSlices][kMaxNetworkMembers];
  float gradientTile[kBlockPoints * kMaxNetworkMembers];  // the block's gradients in the output's order (lanes[0]'s serves both blocks of a pair)
  int64_t base[kBlockPoints];  // where each point's member 0 lives in the ensemble
  // Per-lane partial sums of Σw·s and Σw over the chunk's finite lanes, slice by slice and half by
  // half: in block-position order (reduced in that order).
  Doubles weightedScores[2 * kSlices];
  Doubles weights[2 * kSlices];
};

// Adds a slice's finite lanes to the chunk sums and returns a bit mask of the other lanes, which
// the caller redoes with scorePoint (NaN policies, infinities).
template <int Width, typename Doubles>
FL_LANE_INLINE uint32_t accumulateSlice(const Plan& plan, int64_t firstPoint, LaneScratch<Width>& lanes, int slice,
                                        const Doubles score[2]) {
  using Floats = typename LaneScratch<Width>::Floats;
  const Floats weights = plan.in.weights ? loadLanes<Width>(plan.in.weights + firstPoint) : Floats{} + 1.0f;
  const Doubles zero = {};
  uint32_t redo = 0;
  for (int half = 0; half < 2; ++half) {
    const Doubles weight = halfLanes(weights, half);
    const auto finite = (score[half] - score[half]) == zero;  // false for NaN and ±Inf
    lanes.weightedScores[2 * slice + half] += finite ? weight * score[half] : zero;
    lanes.weights[2 * slice + half] += finite ? weight : zero;
    for (int lane = 0; lane < Width / 2; ++lane) redo |= static_cast<uint32_t>(finite[lane] == 0) << (half * Width / 2 + lane);
  }
  return redo;
}

// Multipliers of ∂s_p for a slice's lanes: gradientFactor rounded to float32 (w/Σw is divided
// in float64: 1/Σw alone can underflow float32 when the weights are large).
template <int Width>
FL_LANE_INLINE typename Vectors<Width>::Floats sliceGradientFactor(const Plan& plan, int64_t firstPoint) {
  using Floats = typename Vectors<Width>::Floats;
  if (plan.in.gradOutput) return loadLanes<Width>(plan.in.gradOutput + firstPoint);
  if (!plan.in.weights) return Floats{} + static_cast<float>(1.0 / plan.weightSum);  // gradientFactor with w = 1
  Floats factor;
  for (int lane = 0; lane < Width; ++lane) factor[lane] = static_cast<float>(gradientFactor(plan, firstPoint + lane));
  return factor;
}

// Transposes kBlockPoints consecutive points into [member][lane] slices: contiguous rows when the
// points are consecutive in one inner run (member axis not last); Width × Width tiles when they
// are stored member-last one after another (transposeTile: 16 row loads and 64 shuffles instead
// of 256 scalar moves at 16 lanes, which measured as a third of a 51-member block's time); a
// gather otherwise and for the members past the last tile.
template <int Width>
FL_LANE_INLINE void loadLaneBlock(const Plan& plan, int64_t firstPoint, LaneScratch<Width>& lanes) {
  using Floats = typename LaneScratch<Width>::Floats;
  using Ints = typename LaneScratch<Width>::Ints;
  const int members = static_cast<int>(plan.shape.members);
  const int64_t inner = plan.shape.inner;
  for (int lane = 0; lane < kBlockPoints; ++lane) lanes.base[lane] = memberBase(plan.shape, firstPoint + lane);
  const bool rowsContiguous = inner > 1 && lanes.base[kBlockPoints - 1] == lanes.base[0] + kBlockPoints - 1;
  if (rowsContiguous) {
    for (int k = 0; k < members; ++k) {
      const float* row = plan.in.ensemble + lanes.base[0] + k * inner;
      for (int slice = 0; slice < LaneScratch<Width>::kSlices; ++slice) lanes.values[slice][k] = loadLanes<Width>(row + slice * Width);
    }
  } else {
    // Tiles only within a row (first + Width <= members), so no load crosses the last point.
    int tiled = 0;
    if (inner == 1 && lanes.base[kBlockPoints - 1] == lanes.base[0] + (kBlockPoints - 1) * static_cast<int64_t>(members)) {
      for (; tiled + Width <= members; tiled += Width) {
        for (int slice = 0; slice < LaneScratch<Width>::kSlices; ++slice) {
          transposeTile(plan.in.ensemble + lanes.base[slice * Width] + tiled, members, lanes.values[slice] + tiled);
        }
      }
    }
    // Lane-major: each point's members are read in order (contiguous when the member axis is last).
    for (int lane = 0; lane < kBlockPoints; ++lane) {
      const float* member = plan.in.ensemble + lanes.base[lane];
      Floats* values = lanes.values[lane / Width];
      for (int k = tiled; k < members; ++k) values[k][lane % Width] = member[k * inner];
    }
  }
  if (plan.options.gradients) {
    for (int slice = 0; slice < LaneScratch<Width>::kSlices; ++slice) {
      for (int k = 0; k < members; ++k) lanes.index[slice][k] = Ints{} + k;
    }
  }
}

// 33–64 members: padded to 64 and sorted in register-sized pieces (crps_network.h).
// Not in the AVX2 build: its 16 ymm registers hold less than one 16-member group (values and
// indices), so the register pieces spill, and the run-time network measured faster there (Zen 3,
// 200k × 51: scores 9.4–10.3 against 12.7 ms, with gradients 22.0 against 25.6 ms; the scores at
// M = 33, 40 and 64 likewise; docs/performance-crps.md).  The SSE2 build stays on it (the
// run-time network measured 3–10 % slower there), as do AVX-512, NEON and wasm, which it was built
// for.  The outputs are the same bits either way (test/simd-levels.test.ts).
template <int Width>
bool usesSort64(const CrpsShape& shape) {
  return Width != 8 && shape.members > 32 && shape.members <= network::kSortSize;
}

// Sorts Blocks lane blocks through the network together: one slice's comparators form a chain of
// dependent loads and stores, so interleaving independent slices keeps the vector units busy
// (measured: two blocks cost about what one did).  Member indices ride along only when
// gradients need to be scattered back to them.
template <int Blocks, int Width>
FL_LANE_INLINE void sortLaneBlocks(const Plan& plan, LaneScratch<Width>* const* blocks) {
  using Floats = typename LaneScratch<Width>::Floats;
  using Ints = typename LaneScratch<Width>::Ints;
  constexpr int kSlices = LaneScratch<Width>::kSlices;
  if (usesSort64<Width>(plan.shape)) {
    for (int b = 0; b < Blocks; ++b) {
      for (int slice = 0; slice < kSlices; ++slice) {
        Floats* values = blocks[b]->values[slice];
        Ints* index = blocks[b]->index[slice];
        const int members = static_cast<int>(plan.shape.members);
        for (int k = members; k < network::kSortSize; ++k) {
          values[k] = Floats{} + __builtin_huge_valf();
          index[k] = Ints{} + k;
        }
        if (plan.options.gradients) network::sort64<true>(values, index, members); else network::sort64<false>(values, index, members);
      }
    }
    return;
  }
  if (plan.options.gradients) {
    for (const Comparator& cmp : plan.network) {
      for (int b = 0; b < Blocks; ++b) {
        for (int slice = 0; slice < kSlices; ++slice) {
          Floats* values = blocks[b]->values[slice];
          Ints* index = blocks[b]->index[slice];
          const Floats x = values[cmp.first], y = values[cmp.second];
          const Ints ix = index[cmp.first], iy = index[cmp.second];
          const Ints swap = y < x;
          values[cmp.first] = swap ? y : x;
          values[cmp.second] = swap ? x : y;
          index[cmp.first] = swap ? iy : ix;
          index[cmp.second] = swap ? ix : iy;
        }
      }
    }
  } else {
    for (const Comparator& cmp : plan.network) {
      for (int b = 0; b < Blocks; ++b) {
        for (int slice = 0; slice < kSlices; ++slice) {
          Floats* values = blocks[b]->values[slice];
          const Floats x = values[cmp.first], y = values[cmp.second];
          const Ints swap = y < x;
          values[cmp.first] = swap ? y : x;
          values[cmp.second] = swap ? x : y;
        }
      }
    }
  }
}

// ∂s by sorted position for a slice's lanes into lanes.gradient[slice], and its gradObservations.
template <int Width>
FL_LANE_INLINE void sliceGradients(const Plan& plan, int64_t firstPoint, LaneScratch<Width>& lanes, int slice,
                                   typename LaneScratch<Width>::Floats observation) {
  using Floats = typename LaneScratch<Width>::Floats;
  using Ints = typename LaneScratch<Width>::Ints;
  const int members = static_cast<int>(plan.shape.members);
  const Floats* values = lanes.values[slice];
  Floats* gradient = lanes.gradient[slice];
  const Floats factor = sliceGradientFactor<Width>(plan, firstPoint);
  const Floats one = Floats{} + 1.0f, zero = Floats{};
  const crps::GradientWeights weights = crps::gradientWeights(members, plan.options.alpha);
  const float signWeight = static_cast<float>(weights.sign), rankWeight = static_cast<float>(weights.rank);
  const float gradScale = static_cast<float>(weights.scale);
  Floats signSum = {};
  // Without ties (in any lane) member k of the sorted order has k members below and M − 1 − k
  // above: its rank term is 2k − (M − 1), and rankWeight times it the plan's rankProducts[k] (the
  // same float product), so the two tie scans and their stores are skipped.
  Ints anyTie = {};
  for (int k = 1; k < members; ++k) anyTie |= values[k] == values[k - 1];
  bool ties = false;
  for (int lane = 0; lane < Width; ++lane) ties |= anyTie[lane] != 0;
  if (!ties) {
    for (int k = members - 1; k >= 0; --k) {
      const Floats sign = (values[k] > observation ? one : zero) - (values[k] < observation ? one : zero);
      signSum += sign;
      gradient[k] = factor * ((sign * signWeight - plan.rankProducts[k]) * gradScale);
    }
  } else {
    // Ties: members in sorted positions [start, end] are equal, so each has L = start members
    // strictly below and G = members − 1 − end strictly above: L − G = start + end − (members − 1).
    Floats* tieStartBits = gradient;
    Ints tieStart = {};
    tieStartBits[0] = (Floats)tieStart;
    for (int k = 1; k < members; ++k) {
      tieStart = values[k] == values[k - 1] ? tieStart : Ints{} + k;
      tieStartBits[k] = (Floats)tieStart;
    }
    Ints tieEnd = Ints{} + (members - 1);
    for (int k = members - 1; k >= 0; --k) {
      if (k < members - 1) tieEnd = values[k] == values[k + 1] ? tieEnd : Ints{} + k;
      const Floats sign = (values[k] > observation ? one : zero) - (values[k] < observation ? one : zero);
      const Floats rankTerm = __builtin_convertvector((Ints)tieStartBits[k] + tieEnd - (members - 1), Floats);
      signSum += sign;
      // ∂s (|∂s| ≤ 2) first, then the factor: one product that can under/overflow only as the result does.
      gradient[k] = factor * ((sign * signWeight - rankWeight * rankTerm) * gradScale);
    }
  }
  storeVector(plan.out.gradObservations + firstPoint, -factor * (signSum * static_cast<float>(1.0 / members)));
}

// destination[0, count) = source[0, count), the whole 64-byte lines of the destination with
// non-temporal stores (the partial lines at either end, shared with the neighbouring blocks, with
// plain ones).  Ordered before the pool's hand-back by streamFence().  Elsewhere than x86-64, memcpy.
template <int Width>
FL_LANE_INLINE void streamFloats(float* destination, const float* source, int64_t count) {
#ifdef FL_CRPS_STREAM_STORES
  constexpr int64_t kLineFloats = 16;
  const int64_t head = std::min<int64_t>(count, (-(reinterpret_cast<uintptr_t>(destination) / sizeof(float))) & (kLineFloats - 1));
  const int64_t lines = (count - head) / kLineFloats;
  std::memcpy(destination, source, sizeof(float) * head);
  float* line = destination + head;
  const float* from = source + head;
  // Inline assembly, since this template is not compiled for a target of its own: the build's
  // vectors (zmm, ymm or xmm for 16, 8 or 4 lanes), one movntps each.
  using Floats = typename Vectors<Width>::Floats;
  for (int64_t i = 0; i < lines; ++i, line += kLineFloats, from += kLineFloats) {
    for (int part = 0; part < kLineFloats; part += Width) {
      Floats value;
      std::memcpy(&value, from + part, sizeof value);
      if constexpr (Width == 4) {
        asm("movntps %1, %0" : "=m"(*reinterpret_cast<Floats*>(line + part)) : "x"(value));
      } else {
        asm("vmovntps %1, %0" : "=m"(*reinterpret_cast<Floats*>(line + part)) : "v"(value));
      }
    }
  }
  std::memcpy(line, from, sizeof(float) * (count - head - lines * kLineFloats));
#else
  std::memcpy(destination, source, sizeof(float) * count);
#endif
}

// Orders this thread's non-temporal stores before whatever it writes next (the pool's completion).
FL_LANE_INLINE void streamFence() {
#ifdef FL_CRPS_STREAM_STORES
  asm volatile("sfence" ::: "memory");
#endif
}

// Scores, components and gradients of a sorted lane block; writes every output of its points.
// Returns the lanes with a NaN or ±Inf input, for the caller to redo with scorePoint.
template <int Width>
FL_LANE_INLINE uint32_t finishLaneBlock(const Plan& plan, int64_t firstPoint, LaneScratch<Width>& lanes, float* gradientTile) {
  using Floats = typename LaneScratch<Width>::Floats;
  using Doubles = typename LaneScratch<Width>::Doubles;
  const int members = static_cast<int>(plan.shape.members);
  const int64_t inner = plan.shape.inner;
  const CrpsOutputs& out = plan.out;
  uint32_t redo = 0;
  for (int slice = 0; slice < LaneScratch<Width>::kSlices; ++slice) {
    const int64_t first = firstPoint + slice * Width;
    const Floats* values = lanes.values[slice];
    const Floats observation = loadLanes<Width>(plan.in.observations + first);
    Doubles score[2];
    laneScores(plan.gapWeights.data(), values, members, observation, score);
    storeScores(out.scores + first, score);
    redo |= accumulateSlice(plan, first, lanes, slice, score) << (slice * Width);
    if (plan.options.components) storeLaneComponents(out.skill + first, out.spread + first, values, members, observation);
    if (plan.options.gradients) sliceGradients(plan, first, lanes, slice, observation);
  }
  if (!plan.options.gradients) return redo;
  // The scatter back to the members' places, a point at a time, into a tile that stays in L1 and
  // then goes out in whole vectors when the block's points are contiguous (member axis last):
  // scattered stores straight to the output measured as a third of the block's time.
  const int64_t* base = lanes.base;
  const bool contiguous = inner == 1 && base[kBlockPoints - 1] == base[0] + (kBlockPoints - 1) * static_cast<int64_t>(members);
  for (int lane = 0; lane < kBlockPoints; ++lane) {
    if (redo >> lane & 1) continue;  // rewritten by scorePoint (and its indices may name padding)
    const auto* index = lanes.index[lane / Width];
    const Floats* gradient = lanes.gradient[lane / Width];
    const int slot = lane % Width;
    if (contiguous) {
      float* point = gradientTile + lane * members;
      for (int k = 0; k < members; ++k) point[index[k][slot]] = gradient[k][slot];
    } else {
      float* point = out.gradEnsemble + base[lane];
      for (int k = 0; k < members; ++k) point[index[k][slot] * inner] = gradient[k][slot];
    }
  }
  if (contiguous) {
    float* destination = out.gradEnsemble + base[0];
    const int64_t count = kBlockPoints * members;
    if (plan.streamGradients) {
      streamFloats<Width>(destination, gradientTile, count);
    } else {
      std::memcpy(destination, gradientTile, sizeof(float) * count);
    }
  }
  return redo;
}

// kBlockPoints consecutive points (see the file comment).
template <int Width>
FL_LANE_INLINE uint32_t laneBlock(const Plan& plan, int64_t firstPoint, LaneScratch<Width>* lanes) {
  loadLaneBlock(plan, firstPoint, lanes[0]);
  sortLaneBlocks<1>(plan, &lanes);
  return finishLaneBlock(plan, firstPoint, lanes[0], lanes[0].gradientTile);
}

// Asks for the members of the pair after next while this pair sorts, when the member axis is last
// (one contiguous run): the hardware prefetcher alone left the tile loads waiting on memory.  A
// hint only, and only within the ensemble (the last pairs ask for less or nothing).  (Prefetching
// the gradient rows for writing as well measured slower.)
FL_LANE_INLINE void prefetchMembers(const Plan& plan, int64_t firstPoint) {
  const int64_t last = std::min(plan.shape.points(), firstPoint + 2 * kBlockPoints);
  if (plan.shape.inner != 1 || firstPoint >= last) return;
  const int64_t begin = firstPoint * plan.shape.members, count = (last - firstPoint) * plan.shape.members;
  constexpr int64_t kLineFloats = 16;
  for (int64_t i = 0; i < count; i += kLineFloats) __builtin_prefetch(plan.in.ensemble + begin + i, 0, 3);
}

// 2·kBlockPoints consecutive points, sorted together; bit b·kBlockPoints + lane of the result
// flags a lane of block b to redo.
template <int Width>
FL_LANE_INLINE uint64_t laneBlockPair(const Plan& plan, int64_t firstPoint, LaneScratch<Width>* lanes) {
  LaneScratch<Width>* const blocks[2] = {&lanes[0], &lanes[1]};
  loadLaneBlock(plan, firstPoint, lanes[0]);
  loadLaneBlock(plan, firstPoint + kBlockPoints, lanes[1]);
  prefetchMembers(plan, firstPoint + 4 * kBlockPoints);
  sortLaneBlocks<2>(plan, blocks);
  const uint64_t first = finishLaneBlock(plan, firstPoint, lanes[0], lanes[0].gradientTile);
  return first | static_cast<uint64_t>(finishLaneBlock(plan, firstPoint + kBlockPoints, lanes[1], lanes[0].gradientTile))
                     << kBlockPoints;
}

// Ensembles of 2 or 4 members stored member-last (the training case): Width points are 2 or 4
// contiguous vectors, de-interleaved with shuffles instead of a transposing gather.  The gradients
// take the pairwise form, L_k − G_k = Σ_j sign(x_k − x_j), which keeps the members in their
// original order, so they are re-interleaved and stored as whole vectors.
template <int Width, int M>
FL_LANE_INLINE uint32_t smallSlice(const Plan& plan, int64_t firstPoint, LaneScratch<Width>& lanes, int slice) {
  static_assert(M == 2 || M == 4, "members are de-interleaved for 2 or 4");
  using Floats = typename LaneScratch<Width>::Floats;
  using Doubles = typename LaneScratch<Width>::Doubles;
  constexpr auto kLanes = std::make_index_sequence<Width>{};
  const float* in = plan.in.ensemble + firstPoint * M;
  Floats x[M];
  if (M == 2) {
    const Floats a = loadLanes<Width>(in), b = loadLanes<Width>(in + Width);
    x[0] = evenLanes(a, b, kLanes);
    x[1] = oddLanes(a, b, kLanes);
  } else {
    const Floats t0 = evenLanes(loadLanes<Width>(in), loadLanes<Width>(in + Width), kLanes);
    const Floats t1 = oddLanes(loadLanes<Width>(in), loadLanes<Width>(in + Width), kLanes);
    const Floats t2 = evenLanes(loadLanes<Width>(in + 2 * Width), loadLanes<Width>(in + 3 * Width), kLanes);
    const Floats t3 = oddLanes(loadLanes<Width>(in + 2 * Width), loadLanes<Width>(in + 3 * Width), kLanes);
    x[0] = evenLanes(t0, t2, kLanes);
    x[2] = oddLanes(t0, t2, kLanes);
    x[1] = evenLanes(t1, t3, kLanes);
    x[3] = oddLanes(t1, t3, kLanes);
  }
  const Floats observation = loadLanes<Width>(plan.in.observations + firstPoint);
  // Score and components from the members sorted by a min/max network, as the other lane blocks.
  Floats sorted[M];
  for (int i = 0; i < M; ++i) sorted[i] = x[i];
  const auto order = [&](int i, int j) {
    const Floats lo = sorted[j] < sorted[i] ? sorted[j] : sorted[i], hi = sorted[j] < sorted[i] ? sorted[i] : sorted[j];
    sorted[i] = lo;
    sorted[j] = hi;
  };
  order(0, 1);
  if (M == 4) order(2, 3), order(0, 2), order(1, 3), order(1, 2);
  Doubles score[2];
  laneScores(plan.gapWeights.data(), sorted, M, observation, score);
  storeScores(plan.out.scores + firstPoint, score);
  const uint32_t redo = accumulateSlice(plan, firstPoint, lanes, slice, score);
  if (plan.options.components) storeLaneComponents(plan.out.skill + firstPoint, plan.out.spread + firstPoint, sorted, M, observation);
  if (!plan.options.gradients) return redo;
  const Floats factor = sliceGradientFactor<Width>(plan, firstPoint);
  const crps::GradientWeights weights = crps::gradientWeights(M, plan.options.alpha);
  const float gradScale = static_cast<float>(weights.scale);
  Floats grad[M];
  Floats signSum = {};
  for (int k = 0; k < M; ++k) {
    Floats rankTerm = {};
    for (int j = 0; j < M; ++j) rankTerm += signOf(x[k] - x[j]);
    const Floats sign = signOf(x[k] - observation);
    signSum += sign;
    grad[k] = factor * ((sign * static_cast<float>(weights.sign) - static_cast<float>(weights.rank) * rankTerm) * gradScale);
  }
  storeVector(plan.out.gradObservations + firstPoint, -factor * (signSum * (1.0f / M)));
  float* out = plan.out.gradEnsemble + firstPoint * M;
  if (M == 2) {
    storeVector(out, interleaveLow(grad[0], grad[1], kLanes));
    storeVector(out + Width, interleaveHigh(grad[0], grad[1], kLanes));
  } else {
    const Floats t0 = interleaveLow(grad[0], grad[2], kLanes), t2 = interleaveHigh(grad[0], grad[2], kLanes);
    const Floats t1 = interleaveLow(grad[1], grad[3], kLanes), t3 = interleaveHigh(grad[1], grad[3], kLanes);
    storeVector(out, interleaveLow(t0, t1, kLanes));
    storeVector(out + Width, interleaveHigh(t0, t1, kLanes));
    storeVector(out + 2 * Width, interleaveLow(t2, t3, kLanes));
    storeVector(out + 3 * Width, interleaveHigh(t2, t3, kLanes));
  }
  return redo;
}

template <int Width, int M>
FL_LANE_INLINE uint32_t smallBlock(const Plan& plan, int64_t firstPoint, LaneScratch<Width>* lanes) {
  uint32_t redo = 0;
  for (int slice = 0; slice < LaneScratch<Width>::kSlices; ++slice) {
    redo |= smallSlice<Width, M>(plan, firstPoint + slice * Width, lanes[0], slice) << (slice * Width);
  }
  return redo;
}

bool usesShufflePath(const CrpsShape& shape) { return shape.inner == 1 && (shape.members == 2 || shape.members == 4); }

// One chunk's points, built once per instruction set at its lane width (FL_SIMD_FUNCTION's kWidth).
FL_SIMD_FUNCTION(Accumulator, scoreChunk, (const Plan& plan, int64_t first, int64_t last), (plan, first, last)) {
  Accumulator acc;
  PointScratch scratch(plan.shape.members);
  int64_t point = first;
  if (usesShufflePath(plan.shape) || plan.shape.members <= kMaxNetworkMembers) {
    using Scratch = LaneScratch<kWidth>;
    // 2 × 32 KiB on the heap, not a pool thread's stack; default-initialized (not zeroed: every
    // field is written before it is read).
    const std::unique_ptr<Scratch[]> lanes(new Scratch[2]);
    for (int b = 0; b < 2; ++b) {
      for (int i = 0; i < 2 * Scratch::kSlices; ++i) lanes[b].weightedScores[i] = lanes[b].weights[i] = typename Scratch::Doubles{};
    }
    const auto redoLanes = [&](int64_t firstPoint, uint64_t redo) {
      for (; redo != 0; redo &= redo - 1) scorePoint(plan, firstPoint + __builtin_ctzll(redo), scratch, acc);
    };
    if (usesShufflePath(plan.shape)) {
      const bool two = plan.shape.members == 2;
      for (; point + kBlockPoints <= last; point += kBlockPoints) {
        redoLanes(point, two ? smallBlock<kWidth, 2>(plan, point, lanes.get()) : smallBlock<kWidth, 4>(plan, point, lanes.get()));
      }
    } else {  // the network path: two blocks at a time, then a lone one
      for (; point + 2 * kBlockPoints <= last; point += 2 * kBlockPoints) redoLanes(point, laneBlockPair(plan, point, lanes.get()));
      for (; point + kBlockPoints <= last; point += kBlockPoints) redoLanes(point, laneBlock(plan, point, lanes.get()));
    }
    for (int b = 0; b < 2; ++b) {
      for (int i = 0; i < 2 * Scratch::kSlices; ++i) {
        for (int lane = 0; lane < kWidth / 2; ++lane) {
          acc.weightedScores += lanes[b].weightedScores[i][lane];
          acc.weights += lanes[b].weights[i][lane];
        }
      }
    }
  }
  for (; point < last; ++point) scorePoint(plan, point, scratch, acc);
  if (plan.streamGradients) streamFence();
  return acc;
}

KernelStatus runCrpsCpu(const CrpsShape& shape, const CrpsOptions& options, const CrpsInputs& inputs,
                        CrpsOutputs& outputs) {
  Plan plan;
  plan.shape = shape;
  plan.options = options;
  plan.in = inputs;
  plan.out = outputs;
  plan.minMembers = crps::minimumMembers(options.alpha);
  if (shape.members <= kMaxNetworkMembers) {
    const int members = static_cast<int>(shape.members);
    plan.network = sortingNetwork(members);
    for (int n = 0; n <= members; ++n) plan.gapWeights.push_back(crps::gapWeight(n, members, options.alpha));
    if (options.gradients) {
      const float rankWeight = static_cast<float>(crps::gradientWeights(members, options.alpha).rank);
      for (int k = 0; k < members; ++k) plan.rankProducts.push_back(rankWeight * static_cast<float>(2 * k - (members - 1)));
    }
  }

  plan.streamGradients = options.gradients && static_cast<int64_t>(sizeof(float)) * shape.elements() >= kStreamGradientBytes;
  const int64_t points = shape.points();
  const int64_t chunks = (points + kChunkPoints - 1) / kChunkPoints;
  if (options.gradients && !inputs.gradOutput) plan.weightSum = countedWeightSum(plan, chunks);

  std::vector<Accumulator> partial(chunks);
  parallelFor(chunks, [&](int64_t chunk) {
    const int64_t first = chunk * kChunkPoints;
    partial[chunk] = scoreChunk(plan, first, std::min(points, first + kChunkPoints));
  });
  Accumulator total;
  for (const Accumulator& acc : partial) {
    total.weightedScores += acc.weightedScores;
    total.weights += acc.weights;
  }
  outputs.mean = total.weightedScores / total.weights;
  // Σw = 0: the mean is undefined (NaN), and so is every entry of its gradient, whatever 'omit'
  // excluded or the weights zeroed.
  if (options.gradients && !inputs.gradOutput && !(plan.weightSum > 0.0)) {
    std::fill(outputs.gradEnsemble, outputs.gradEnsemble + shape.elements(), std::numeric_limits<float>::quiet_NaN());
    std::fill(outputs.gradObservations, outputs.gradObservations + points, std::numeric_limits<float>::quiet_NaN());
  }
  return KernelStatus::success();
}
}  // namespace
}  // namespace crps_cpu

KernelStatus crpsCpu(const CrpsShape& shape, const CrpsOptions& options, const CrpsInputs& inputs,
                     CrpsOutputs& outputs) {
  const KernelStatus status = checkCrpsCall(shape, options, inputs, outputs);
  if (!status.ok) return status;
  try {
    return crps_cpu::runCrpsCpu(shape, options, inputs, outputs);
  } catch (const std::bad_alloc&) {
    return KernelStatus::failure("crps: out of memory for the per-thread scratch");
  }
}

}  // namespace fusedloss
