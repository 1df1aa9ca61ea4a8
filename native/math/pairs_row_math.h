// Per-row building blocks of pairs_math.h (which includes this file; use that one): one row's view
// of the pairs, its scratch, the NaN-safe total-order sort that runs on host and device alike,
// and the triplet machinery — t's bounds, binary-searched ranges over the sorted side, and the
// sweep that counts (and sums) a row's triplets without enumerating them.
#pragma once

#include <math.h>
#include <stdint.h>

#ifndef __CUDA_ARCH__
#include <algorithm>
#endif

#include "../kernels/pairs_types.h"
#include "common.h"

namespace fusedloss {
namespace pairs {

// ---------------------------------------------------------------------------------------------
// One row

struct PairRow {
  const float* minerValues = nullptr;  // [refs]; may be the same pointer as lossValues (same distance)
  const float* lossValues = nullptr;   // [refs]; unused by mining
  const int32_t* refLabels = nullptr;  // [refs]
  int64_t refs = 0;
  int32_t label = 0;
  int64_t excluded = -1;  // the column never paired with this row (−1: none)
  bool narrow = false;    // the engine knows no row of these values is wide (pairs::wideRow): all finite
};

// 0: not paired (the excluded column), 1: positive, 2: negative.
FL_HD int pairKind(const PairRow& row, int64_t j) {
  if (j == row.excluded) return 0;
  return row.refLabels[j] == row.label ? 1 : 2;
}

// A (value, column) pair of the sorted side.
struct SortKey {
  float value;
  int32_t index;
};

// Scratch of one row, carved from the caller's bytes.
struct RowScratch {
  SortKey* keys;    // [refs]
  double* prefix;   // [refs + 1]: the triplet sweep's prefix sums, or multi-similarity's exponentials
  int32_t* diff;    // [refs + 1]
  int32_t* weight;  // [refs]: pair multiplicities given by the miner
  int32_t* counts;  // [refs]: triplets each column takes part in
};

FL_HD int64_t alignScratch(int64_t bytes) { return (bytes + 15) / 16 * 16; }

FL_HD int64_t rowScratchBytes(int64_t refs) {
  return alignScratch(refs * (int64_t)sizeof(SortKey)) + alignScratch((refs + 1) * 8) + alignScratch((refs + 1) * 4) +
         2 * alignScratch(refs * 4);
}

FL_HD RowScratch carveScratch(void* scratch, int64_t refs) {
  char* p = (char*)scratch;
  RowScratch s;
  s.keys = (SortKey*)p;
  p += alignScratch(refs * (int64_t)sizeof(SortKey));
  s.prefix = (double*)p;
  p += alignScratch((refs + 1) * 8);
  s.diff = (int32_t*)p;
  p += alignScratch((refs + 1) * 4);
  s.weight = (int32_t*)p;
  p += alignScratch(refs * 4);
  s.counts = (int32_t*)p;
  return s;
}

// ---------------------------------------------------------------------------------------------
// Sorting: a strict total order (value ascending, NaN after every number, ties by column), so the
// sorted permutation is unique and std::sort (host) and the heapsort (device) agree exactly.

struct KeyLess {
  FL_HD bool operator()(const SortKey& a, const SortKey& b) const {
    const bool aNan = a.value != a.value, bNan = b.value != b.value;
    if (aNan || bNan) return aNan == bNan ? a.index < b.index : bNan;
    if (a.value < b.value) return true;
    if (b.value < a.value) return false;
    return a.index < b.index;
  }
};

struct IndexLess {
  FL_HD bool operator()(int32_t a, int32_t b) const { return a < b; }
};

template <typename T, typename Less>
FL_HD void siftDown(T* a, int64_t root, int64_t count, Less less) {
  for (;;) {
    int64_t child = 2 * root + 1;
    if (child >= count) return;
    if (child + 1 < count && less(a[child], a[child + 1])) ++child;
    if (!less(a[root], a[child])) return;
    const T t = a[root];
    a[root] = a[child];
    a[child] = t;
    root = child;
  }
}

template <typename T, typename Less>
FL_HD void sortRange(T* a, int64_t count, Less less) {
#ifndef __CUDA_ARCH__
  std::sort(a, a + count, less);
#else
  for (int64_t i = count / 2 - 1; i >= 0; --i) siftDown(a, i, count, less);
  for (int64_t end = count - 1; end > 0; --end) {
    const T t = a[0];
    a[0] = a[end];
    a[end] = t;
    siftDown(a, 0, end, less);
  }
#endif
}

// ---------------------------------------------------------------------------------------------
// Triplet ranges

// t ∈ (low, high] — or (low, high) when !highInclusive; a missing bound is ±∞.
struct TripletBounds {
  bool hasLow = false, hasHigh = false, highInclusive = true;
  double low = 0.0, high = 0.0;
};

FL_HD TripletBounds minerBounds(const MinerOptions& miner) {
  TripletBounds b;
  const double margin = miner.margin;
  if (miner.triplets == TripletSelect::All) {
    b.hasHigh = true, b.high = margin;
  } else if (miner.triplets == TripletSelect::Hard) {
    b.hasHigh = true, b.high = margin < 0.0 ? margin : 0.0;
  } else if (miner.triplets == TripletSelect::Semihard) {
    b.hasLow = true, b.low = 0.0, b.hasHigh = true, b.high = margin;
  } else {
    b.hasLow = true, b.low = margin;
  }
  return b;
}

// The triplet loss' active triplets: t < margin.
FL_HD TripletBounds lossBounds(double margin) {
  TripletBounds b;
  b.hasHigh = true, b.high = margin, b.highInclusive = false;
  return b;
}

// Both conditions at once (exact: both test the same t).
FL_HD TripletBounds intersectBounds(const TripletBounds& a, const TripletBounds& b) {
  TripletBounds r;
  r.hasLow = a.hasLow || b.hasLow;
  r.low = !a.hasLow ? b.low : (!b.hasLow ? a.low : (a.low > b.low ? a.low : b.low));
  r.hasHigh = a.hasHigh || b.hasHigh;
  if (!a.hasHigh || !b.hasHigh) {
    const TripletBounds& h = a.hasHigh ? a : b;
    r.high = h.high, r.highInclusive = h.highInclusive;
  } else if (a.high != b.high) {
    const TripletBounds& h = a.high < b.high ? a : b;
    r.high = h.high, r.highInclusive = h.highInclusive;
  } else {
    r.high = a.high, r.highInclusive = a.highInclusive && b.highInclusive;
  }
  return r;
}

FL_HD double tripletT(bool sim, float positive, float negative) {
  return sim ? (double)positive - (double)negative : (double)negative - (double)positive;
}

FL_HD bool inBounds(const TripletBounds& b, double t) {
  if (b.hasLow && !(t > b.low)) return false;
  if (b.hasHigh && !(b.highInclusive ? t <= b.high : t < b.high)) return false;
  return true;
}

enum class Compare { Greater, GreaterEqual, LessEqual, Less };

FL_HD bool compareT(double t, Compare op, double c) {
  switch (op) {
    case Compare::Greater: return t > c;
    case Compare::GreaterEqual: return t >= c;
    case Compare::LessEqual: return t <= c;
    default: return t < c;
  }
}

// First position of keys[0, count) where `t op c` holds, given it holds on a suffix there.
FL_HD int64_t firstWhere(const SortKey* keys, int64_t count, bool sim, bool sortedArePositives, float other,
                         Compare op, double c) {
  auto holds = [&](int64_t k) {
    const double t = sortedArePositives ? tripletT(sim, keys[k].value, other) : tripletT(sim, other, keys[k].value);
    return compareT(t, op, c);
  };
  // Most partners lie wholly on one side of the range (far negatives, say): the two ends decide
  // them in O(1), the same answer the search would give.
  if (count == 0 || holds(0)) return 0;
  if (!holds(count - 1)) return count;
  // Branch-free lower bound over [1, count − 1] (the answer lies there): a data-dependent branch
  // per step mispredicts half the time, which cost more than the comparisons.
  int64_t base = 1, n = count - 1;
  while (n > 1) {
    const int64_t half = n / 2;
    base = holds(base + half - 1) ? base : base + half;
    n -= half;
  }
  return base + (holds(base) ? 0 : 1);
}

struct Range {
  int64_t begin, end;
};

// The one triplet predicate: is (value of the positive, value of the negative) in `b`?  A NaN t
// (a NaN value, or ∞ − ∞) is never in any bounds.  Every triplet decision — the ranges below,
// the mining fill's scan, the loss — is this function or an exact search for it.
FL_HD bool tripletKept(const TripletBounds& b, bool sim, float positive, float negative) {
  return inBounds(b, tripletT(sim, positive, negative));
}

// Positions of the sorted side (non-NaN values, ascending by KeyLess) forming a triplet in `b`
// with `other` (not NaN): exactly the k with tripletKept, as one contiguous range.  Along ascending
// sorted values t is monotone — increasing when the sorted side is the negatives of a distance or
// the positives of a similarity, decreasing otherwise — except that t = ∞ − ∞ is NaN where a
// sorted value equals an infinite `other`; those keys sit at one end and are searched around.
FL_HD Range tripletRange(const SortKey* keys, int64_t count, bool sim, bool sortedArePositives, float other,
                         const TripletBounds& b) {
  int64_t lo = 0, n = count;
  // A NaN bound holds for no t (inBounds); the searches below assume a bound some t satisfies.
  if ((b.hasLow && b.low != b.low) || (b.hasHigh && b.high != b.high)) return Range{0, 0};
  if (other - other != 0.0f) {  // other = ±∞ (never NaN here): step around the keys equal to it
    if (other > 0.0f) {
      while (n > 0 && keys[n - 1].value == other) --n;
    } else {
      while (lo < n && keys[lo].value == other) ++lo;
      n -= lo;
    }
  }
  const SortKey* k = keys + lo;
  const bool increasing = sortedArePositives == sim;
  Range r;
  if (increasing) {
    r.begin = b.hasLow ? firstWhere(k, n, sim, sortedArePositives, other, Compare::Greater, b.low) : 0;
    r.end = b.hasHigh ? firstWhere(k, n, sim, sortedArePositives, other,
                                   b.highInclusive ? Compare::Greater : Compare::GreaterEqual, b.high)
                      : n;
  } else {
    r.begin = b.hasHigh ? firstWhere(k, n, sim, sortedArePositives, other,
                                     b.highInclusive ? Compare::LessEqual : Compare::Less, b.high)
                        : 0;
    r.end = b.hasLow ? firstWhere(k, n, sim, sortedArePositives, other, Compare::LessEqual, b.low) : n;
  }
  if (r.end < r.begin) r.end = r.begin;
  r.begin += lo, r.end += lo;
  return r;
}

// The sweep counts instead of searching when the sorted side holds at most this many keys (the
// usual batch: a few positives per anchor against many negatives).
constexpr int64_t kCountedTripletKeys = 16;
// Partners whose ranges are counted at once (stack arrays; the loop over them vectorizes).
constexpr int64_t kCountedTripletChunk = 64;

// prefix[e] − prefix[b] = Σ_{b ≤ k < e} keys[k].value, with prefix anchored at 0 where the sorted
// values change sign and summed outward from there: every partial sum then holds only values no
// larger in magnitude than those of the range asked for, so a far value outside the range (a
// negative at −1e30 that no triplet uses) cannot cancel the range's digits away.
FL_HD void anchoredPrefix(const SortKey* keys, int64_t count, double* prefix) {
  int64_t zero = 0;
  while (zero < count && keys[zero].value < 0.0f) ++zero;
  prefix[zero] = 0.0;
  for (int64_t k = zero; k < count; ++k) prefix[k + 1] = prefix[k] + (double)keys[k].value;
  for (int64_t k = zero - 1; k >= 0; --k) prefix[k] = prefix[k + 1] - (double)keys[k].value;
}

// Result of a sweep over the triplets (p, n) of a row with p, n members and t in the bounds.
struct TripletSweep {
  double triplets = 0.0;  // how many
  double marginSum = 0.0;  // Σ (margin − t), when asked
  bool nan = false;        // a member value was NaN (such triplets are never counted)
};

// Sorts the smaller side, binary-searches from the other.  member: weight array (> 0 = member)
// or null (every positive and negative).  counts (or null): per column, the number of counted
// triplets it is part of.  margin: for marginSum.
FL_HD TripletSweep sweepTriplets(const PairRow& row, const float* values, bool sim, const int32_t* member,
                                 const TripletBounds& bounds, double margin, RowScratch& s, int32_t* counts) {
  TripletSweep out;
  // One pass over the row gathers the members' keys: the positives from the front of s.keys in
  // column order, the negatives from the back (so in reverse column order); NaN values are
  // counted (they pick the sorted side) but never kept.
  int64_t positives = 0, negatives = 0, front = 0, back = row.refs;
  bool nan = false;
  for (int64_t j = 0; j < row.refs; ++j) {
    const int kind = pairKind(row, j);
    if (kind == 0 || (member && member[j] <= 0)) continue;
    if (kind == 1) ++positives; else ++negatives;
    const float v = values[j];
    if (v != v) {
      nan = true;
      continue;
    }
    SortKey& key = kind == 1 ? s.keys[front++] : s.keys[--back];
    key.value = v, key.index = (int32_t)j;
  }
  if (counts) {
    for (int64_t j = 0; j < row.refs; ++j) counts[j] = 0;
  }
  if (positives == 0 || negatives == 0) return out;
  out.nan = nan;
  const bool sortedArePositives = positives < negatives;
  SortKey* keys = sortedArePositives ? s.keys : s.keys + back;
  const int64_t sorted = sortedArePositives ? front : row.refs - back;
  sortRange(keys, sorted, KeyLess());
  anchoredPrefix(keys, sorted, s.prefix);
  if (counts) {
    for (int64_t k = 0; k <= sorted; ++k) s.diff[k] = 0;
  }
  // The other side in column order: the positives front to back, the negatives back to front.
  const int64_t others = sortedArePositives ? row.refs - back : front;
  // margin − t = margin − σ·v_p + σ·v_n with σ = +1 for similarities, −1 for distances.
  const double sigma = sim ? 1.0 : -1.0;
  auto add = [&](const SortKey& other, const Range& r) {
    const int64_t n = r.end - r.begin;
    const double sum = s.prefix[r.end] - s.prefix[r.begin];
    out.triplets += (double)n;
    // The gap Σ v_k − n·v first: equal huge values give exactly 0, and the margin is not lost
    // against them.
    const double gap = sum - (double)n * other.value;
    out.marginSum += sortedArePositives ? (double)n * margin - sigma * gap : (double)n * margin + sigma * gap;
    if (counts) {
      counts[other.index] = (int32_t)n;
      s.diff[r.begin] += 1;
      s.diff[r.end] -= 1;
    }
  };
  auto otherKey = [&](int64_t o) -> const SortKey& { return sortedArePositives ? s.keys[row.refs - 1 - o] : s.keys[o]; };
  // A partner in no triplet adds exactly ±0 to the sums and nothing to the counts when the
  // margin and the prefix sums (their extremes are the ends) are finite: then every finite
  // partner takes one path, with no branch that mispredicts on every other partner.
  const bool finiteSums = margin - margin == 0.0 && s.prefix[0] - s.prefix[0] == 0.0 &&
                          s.prefix[sorted] - s.prefix[sorted] == 0.0;
  if (sorted <= kCountedTripletKeys && finiteSums) {
    // Few sorted keys: t is monotone along them, so each bound fails on a prefix or a suffix of
    // the keys and counting its failures gives tripletRange's range, without search steps.
    // t = sign·(key − other) is tripletT's subtraction up to the sign of a zero (which no
    // comparison sees); t < high is t ≤ the double below high; a missing bound is ±∞ (t is
    // finite for a finite partner, the only ones counted).
    const bool increasing = sortedArePositives == sim;
    const double sign = increasing ? 1.0 : -1.0;
    const double low = bounds.hasLow ? bounds.low : -INFINITY;
    const double high = !bounds.hasHigh ? INFINITY : bounds.highInclusive ? bounds.high : nextafter(bounds.high, -(double)INFINITY);
    double sortedValues[kCountedTripletKeys];
    for (int64_t k = 0; k < sorted; ++k) sortedValues[k] = (double)keys[k].value;
    double otherValues[kCountedTripletChunk];
    int32_t failLow[kCountedTripletChunk], failHigh[kCountedTripletChunk];
    for (int64_t chunk = 0; chunk < others; chunk += kCountedTripletChunk) {
      const int64_t length = others - chunk < kCountedTripletChunk ? others - chunk : kCountedTripletChunk;
      for (int64_t i = 0; i < length; ++i) {
        otherValues[i] = (double)otherKey(chunk + i).value;
        failLow[i] = 0, failHigh[i] = 0;
      }
      for (int64_t k = 0; k < sorted; ++k) {
        const double key = sortedValues[k];
        for (int64_t i = 0; i < length; ++i) {
          const double t = sign * (key - otherValues[i]);
          failLow[i] += (int32_t)!(t > low);
          failHigh[i] += (int32_t)!(t <= high);
        }
      }
      for (int64_t i = 0; i < length; ++i) {
        const SortKey& other = otherKey(chunk + i);
        Range r;
        if (other.value - other.value == 0.0f) {
          r.begin = increasing ? failLow[i] : failHigh[i];
          r.end = sorted - (increasing ? failHigh[i] : failLow[i]);
          if (r.end < r.begin) r.end = r.begin;
        } else {
          r = tripletRange(keys, sorted, sim, sortedArePositives, other.value, bounds);
          if (r.end == r.begin) continue;
        }
        add(other, r);
      }
    }
  } else {
    for (int64_t o = 0; o < others; ++o) {
      const SortKey& other = otherKey(o);
      const Range r = tripletRange(keys, sorted, sim, sortedArePositives, other.value, bounds);
      if (r.end == r.begin) continue;
      add(other, r);
    }
  }
  if (counts) {
    int32_t running = 0;
    for (int64_t k = 0; k < sorted; ++k) {
      running += s.diff[k];
      counts[keys[k].index] = running;
    }
  }
  return out;
}

}  // namespace pairs
}  // namespace fusedloss
