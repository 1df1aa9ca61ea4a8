// Sorting 33–64 members per lane for the CRPS CPU kernel (crps.cc, its only includer), in
// register-sized pieces (every build but AVX2's, whose 16 registers they overflow: crps.cc
// usesSort64).  The run-time network of crps.cc loads and stores two vectors per comparator (its
// member arrays do not fit in registers); here the members are padded with +inf
// to 64 and sorted as
//   1. four 16-member groups, each by Batcher's 63-comparator network held in registers;
//   2. bitonic merges 16 + 16 → 32 and 32 + 32 → 64: the "flip" stage (i against 2n − 1 − i,
//      which merges two ascending runs without reversing one) and the half-cleaners down to a
//      distance of 16 as passes over memory, then the distances 8, 4, 2, 1 in registers, one
//      16-member group at a time.
// 604 comparators at 64 members; those that would compare padding are skipped (see Trimmed), so
// 51 members run 453 (396 of them in registers) against 415 for Batcher's network trimmed to 51
// (docs/performance-crps.md, "CRPS at M = 51").
//
// A comparator swaps only when the upper value is strictly less, as the run-time network's: a
// NaN never moves and compares with nothing (its lane is redone on the scalar path).  Which of
// two equal values lands first may differ from the run-time network; that shows only as the order
// of -0 and +0, which no output sees (the sums start at +0 and ties are found with ==), so the
// outputs are the run-time network's bits (checked on ±0, ±Inf and NaN inputs against it when
// this was written).  The wasm build compiles this same code, so its bits stay the native CPU's.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <utility>

#include "../runtime/simd.h"
#include "crps_lanes.h"

namespace fusedloss {
namespace network {

struct Pair {
  int low, high;
};

// Batcher's odd-even merge sort of 16, in the recursive order (sort halves, then merge).
constexpr void oddEvenMerge(int lo, int hi, int r, Pair* out, int& count) {
  const int step = 2 * r;
  if (step < hi - lo) {
    oddEvenMerge(lo, hi, step, out, count);
    oddEvenMerge(lo + r, hi, step, out, count);
    for (int i = lo + r; i + r < hi; i += step) out[count++] = Pair{i, i + r};
  } else {
    out[count++] = Pair{lo, lo + r};
  }
}

constexpr void oddEvenMergeSort(int lo, int hi, Pair* out, int& count) {
  if (hi - lo < 1) return;
  const int mid = lo + (hi - lo) / 2;
  oddEvenMergeSort(lo, mid, out, count);
  oddEvenMergeSort(mid + 1, hi, out, count);
  oddEvenMerge(lo, hi, 1, out, count);
}

constexpr int kGroup = 16;
constexpr int kGroupComparators = 63;

constexpr std::array<Pair, kGroupComparators> groupNetwork() {
  std::array<Pair, kGroupComparators> pairs{};
  int count = 0;
  oddEvenMergeSort(0, kGroup - 1, pairs.data(), count);
  return pairs;
}

// The half-cleaners of distance 8, 4, 2, 1 within a group: 32 comparators.
constexpr std::array<Pair, 32> groupCleaner() {
  std::array<Pair, 32> pairs{};
  int count = 0;
  for (int d = kGroup / 2; d >= 1; d /= 2) {
    for (int i = 0; i < kGroup; ++i) {
      if ((i & d) == 0) pairs[count++] = Pair{i, i + d};
    }
  }
  return pairs;
}

constexpr std::array<Pair, kGroupComparators> kGroupNetwork = groupNetwork();
constexpr std::array<Pair, 32> kGroupCleaner = groupCleaner();

#define FL_NETWORK_INLINE static inline __attribute__((always_inline))

// One comparator: the smaller value to `low`, the index (when carried) alike.  Floats and Ints are
// vectors of the caller's lane width (crps_lanes.h).
template <bool WithIndex, typename Floats, typename Ints>
FL_NETWORK_INLINE void exchange(Floats& low, Floats& high, Ints& lowIndex, Ints& highIndex) {
  const Ints swap = high < low;
  const Floats x = low, y = high;
  low = swap ? y : x;
  high = swap ? x : y;
  if (WithIndex) {
    const Ints ix = lowIndex, iy = highIndex;
    lowIndex = swap ? iy : ix;
    highIndex = swap ? ix : iy;
  }
}

// Runs a fixed comparator list on the first Width vectors of a group through local copies
// (registers).
template <bool WithIndex, int Width, std::size_t Count, typename Floats, typename Ints, std::size_t... I>
FL_NETWORK_INLINE void runOnGroup(const std::array<Pair, Count>& pairs, Floats* values, Ints* index,
                                  std::index_sequence<I...>) {
  Floats v[Width];
  Ints ix[WithIndex ? Width : 1];
  for (int k = 0; k < Width; ++k) v[k] = values[k];
  if (WithIndex) {
    for (int k = 0; k < Width; ++k) ix[k] = index[k];
  }
  (exchange<WithIndex>(v[pairs[I].low], v[pairs[I].high], ix[WithIndex ? pairs[I].low : 0],
                       ix[WithIndex ? pairs[I].high : 0]),
   ...);
  for (int k = 0; k < Width; ++k) values[k] = v[k];
  if (WithIndex) {
    for (int k = 0; k < Width; ++k) index[k] = ix[k];
  }
}

// The padding never moves: a comparator swaps only when its upper value is strictly less, and
// +inf is less than nothing, so the padding stays where the caller put it (every position from
// the member count up) and every comparator whose upper position holds it is a no-op, in every
// lane (NaN and ±Inf ones included).  Those comparators are skipped: at M = 51, 453 of the 604
// run.  A group's lists are trimmed at a few widths fixed at compile time.

// The comparators of Pairs whose upper position is below Width (all of them for Width = 16).
template <const auto& Pairs, int Width>
struct Trimmed {
  static constexpr int count() {
    int n = 0;
    for (const Pair& p : Pairs) n += p.high < Width;
    return n;
  }
  static constexpr std::array<Pair, count()> make() {
    std::array<Pair, count()> kept{};
    int n = 0;
    for (const Pair& p : Pairs) {
      if (p.high < Width) kept[n++] = p;
    }
    return kept;
  }
  static constexpr std::array<Pair, count()> pairs = make();
};

template <bool WithIndex, const auto& Pairs, int Width, typename Floats, typename Ints>
FL_NETWORK_INLINE void runTrimmed(Floats* values, Ints* index) {
  using List = Trimmed<Pairs, Width>;
  runOnGroup<WithIndex, Width>(List::pairs, values, index, std::make_index_sequence<List::count()>{});
}

// Runs Pairs on a group whose first `members` positions hold members (any count: ≤ 0 and ≥ 16
// included) and the rest padding: the narrowest trimmed list that covers the members.
template <bool WithIndex, const auto& Pairs, typename Floats, typename Ints>
FL_NETWORK_INLINE void runOnPartialGroup(Floats* values, Ints* index, int members) {
  if (members > 12) runTrimmed<WithIndex, Pairs, 16>(values, index);
  else if (members > 8) runTrimmed<WithIndex, Pairs, 12>(values, index);
  else if (members > 4) runTrimmed<WithIndex, Pairs, 8>(values, index);
  else if (members > 1) runTrimmed<WithIndex, Pairs, 4>(values, index);
}

// The group lists out of line, one copy per lane width, each built for its instruction set
// (FL_SIMD_BUILDS) and overloaded on the width's vector types: inlined into every sort64 (4
// widths × 2 lists × 4 groups), they made crps.cc a 220 s compile; out of line a call per group
// of up to 63 comparators costs nothing measurable (docs/performance-crps.md, "The 33–64 network
// out of line").
#define FL_CRPS_GROUP_LIST(target, name, withIndex, pairs, Width)                                           \
  target __attribute__((noinline)) static void name(crps_lanes::Vectors<Width>::Floats* values,            \
                                                    crps_lanes::Vectors<Width>::Ints* index, int members) { \
    runOnPartialGroup<withIndex, pairs>(values, index, members);                                            \
  }
#define FL_CRPS_GROUP_LISTS(Width, target, name)                                 \
  FL_CRPS_GROUP_LIST(target, sortGroupValues, false, kGroupNetwork, Width)       \
  FL_CRPS_GROUP_LIST(target, sortGroupWithIndex, true, kGroupNetwork, Width)     \
  FL_CRPS_GROUP_LIST(target, cleanGroupValues, false, kGroupCleaner, Width)      \
  FL_CRPS_GROUP_LIST(target, cleanGroupWithIndex, true, kGroupCleaner, Width)
FL_SIMD_BUILDS(FL_CRPS_GROUP_LISTS)
#undef FL_CRPS_GROUP_LISTS
#undef FL_CRPS_GROUP_LIST

// Merges the ascending runs [0, n) and [n, 2n) of values (n a multiple of 16) into one, of which
// the first `members` positions hold members and the rest padding.
template <bool WithIndex, typename Floats, typename Ints>
FL_NETWORK_INLINE void bitonicMerge(Floats* values, Ints* index, int n, int members) {
  Ints unused[1];
  for (int i = std::max(0, 2 * n - members); i < n; ++i) {  // the flip: upper position 2n − 1 − i < members
    exchange<WithIndex>(values[i], values[2 * n - 1 - i], WithIndex ? index[i] : unused[0],
                        WithIndex ? index[2 * n - 1 - i] : unused[0]);
  }
  for (int d = n / 2; d >= kGroup; d /= 2) {
    for (int i = 0; i + d < std::min(2 * n, members); ++i) {
      if ((i & d) != 0) continue;
      exchange<WithIndex>(values[i], values[i + d], WithIndex ? index[i] : unused[0], WithIndex ? index[i + d] : unused[0]);
    }
  }
  for (int group = 0; group < 2 * n; group += kGroup) {
    if (WithIndex) cleanGroupWithIndex(values + group, index + group, members - group);
    else cleanGroupValues(values + group, unused, members - group);
  }
}

constexpr int kSortSize = 64;

// Sorts values[0, members) lane by lane, and permutes index[0, members) alike when WithIndex.
// The caller pads values[members, 64) with +inf.
template <bool WithIndex, typename Floats, typename Ints>
FL_NETWORK_INLINE void sort64(Floats* values, Ints* index, int members) {
  Ints unused[1];
  for (int group = 0; group < kSortSize; group += kGroup) {
    if (WithIndex) sortGroupWithIndex(values + group, index + group, members - group);
    else sortGroupValues(values + group, unused, members - group);
  }
  for (int half = 0; half < kSortSize; half += 2 * kGroup) {
    bitonicMerge<WithIndex>(values + half, WithIndex ? index + half : unused, kGroup, members - half);
  }
  bitonicMerge<WithIndex>(values, index, 2 * kGroup, members);
}

#undef FL_NETWORK_INLINE

}  // namespace network
}  // namespace fusedloss
