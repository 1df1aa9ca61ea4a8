// The miners of pairs_math.h (which includes this file; use that one): multi-similarity's and
// batch-hard's row extremes, the pair miners' decisions, the multiplicities a miner gives a loss
// (minedWeights) and the one row pass both mining passes run (mineRow).
#pragma once

#include <math.h>
#include <stdint.h>

#include "../kernels/pairs_types.h"
#include "common.h"
#include "pairs_row_math.h"
#include "pairs_values.h"

namespace fusedloss {
namespace pairs {

// ---------------------------------------------------------------------------------------------
// Miners

// Multi-similarity's per-row extremes and batch-hard's arg-extremes of the miner values.
struct RowExtremes {
  double minPositive, maxPositive, minNegative, maxNegative;
  int64_t hardestPositive, hardestNegative;  // −1: none
};

FL_HD RowExtremes rowExtremes(const PairRow& row, bool sim) {
  const double inf = INFINITY;
  RowExtremes e{inf, -inf, inf, -inf, -1, -1};
  const float* v = row.minerValues;
  for (int64_t j = 0; j < row.refs; ++j) {
    const int kind = pairKind(row, j);
    if (kind == 0) continue;
    const double x = v[j];
    if (kind == 1) {
      if (x < e.minPositive) e.minPositive = x;
      if (x > e.maxPositive) e.maxPositive = x;
      // Hardest positive: the least similar / farthest; strict, so ties keep the lowest column.
      // A NaN value is never chosen (nor compared against).
      if (x == x && (e.hardestPositive < 0 || (sim ? v[j] < v[e.hardestPositive] : v[j] > v[e.hardestPositive]))) {
        e.hardestPositive = j;
      }
    } else {
      if (x < e.minNegative) e.minNegative = x;
      if (x > e.maxNegative) e.maxNegative = x;
      if (x == x && (e.hardestNegative < 0 || (sim ? v[j] > v[e.hardestNegative] : v[j] < v[e.hardestNegative]))) {
        e.hardestNegative = j;
      }
    }
  }
  return e;
}

// Pair miners: is pair (i, j) kept?  kind 1 or 2.
FL_HD bool keepPair(const MinerOptions& miner, bool sim, const RowExtremes& e, int kind, float value) {
  const double v = value;
  if (miner.type == MinerType::MultiSimilarity) {
    const double eps = miner.epsilon;
    if (kind == 1) return sim ? v - eps < e.maxNegative : v + eps > e.minNegative;
    return sim ? v + eps > e.minPositive : v - eps < e.maxPositive;
  }
  // Pair margin.
  if (kind == 1) return sim ? v < miner.posMargin : v > miner.posMargin;
  return sim ? v > miner.negMargin : v < miner.negMargin;
}

// Column j's multiplicity given by a miner other than triplet-margin (e: rowExtremes, needed by
// multi-similarity and batch-hard): 1 for every pair without a miner, for a kept pair of a pair
// miner and for batch-hard's two picks; else 0.
FL_HD int32_t minedPairWeight(const PairRow& row, const MinerOptions& miner, bool sim, const RowExtremes& e, int64_t j) {
  const int kind = pairKind(row, j);
  int32_t w = kind == 0 ? 0 : 1;
  if (w && (miner.type == MinerType::MultiSimilarity || miner.type == MinerType::PairMargin)) {
    w = keepPair(miner, sim, e, kind, row.minerValues[j]) ? 1 : 0;
  } else if (w && miner.type == MinerType::BatchHard) {
    const bool complete = e.hardestPositive >= 0 && e.hardestNegative >= 0;
    w = complete && (j == e.hardestPositive || j == e.hardestNegative) ? 1 : 0;
  }
  return w;
}

// The pairs a miner gives a loss, as multiplicities in s.weight (0: not given): every pair
// without a miner, kept pairs once for a pair miner, and for a triplet miner the number of mined
// triplets (a, j, ·) or (a, ·, j).
FL_HD void minedWeights(const PairRow& row, const MinerOptions& miner, RowScratch& s) {
  const bool sim = similarity(miner.distance);
  if (miner.type == MinerType::TripletMargin) {
    sweepTriplets(row, row.minerValues, sim, nullptr, minerBounds(miner), 0.0, s, s.weight);
    return;
  }
  RowExtremes e{};
  if (miner.type != MinerType::None) e = rowExtremes(row, sim);
  for (int64_t j = 0; j < row.refs; ++j) s.weight[j] = minedPairWeight(row, miner, sim, e, j);
}

struct MineCounts {
  int64_t positives = 0, negatives = 0;  // pair miners
  int64_t triplets = 0;                  // triplet miners
};

// Where a row's output goes: each pointer already at the row's offset (from the counting pass
// summed over the rows before it), with the room there.  Pair miners write the four pair arrays
// (positiveRoom, negativeRoom entries), triplet miners the three triplet arrays (tripletRoom).
struct MineRowOutput {
  int32_t* positiveAnchors = nullptr;
  int32_t* positives = nullptr;
  int32_t* negativeAnchors = nullptr;
  int32_t* negatives = nullptr;
  int64_t positiveRoom = 0, negativeRoom = 0;
  int32_t* anchors = nullptr;
  int32_t* tripletPositives = nullptr;
  int32_t* tripletNegatives = nullptr;
  int64_t tripletRoom = 0;
};

// The one pass both mining passes run: the row's pairs / triplets in canonical order (partner(s)
// ascending), counted, and written to `out` when it is given — never beyond its room (a count
// the fill did not make is not trusted: the caller compares the returned counts with the room).
// Triplet margin: the negatives sorted once; per positive (ascending) its exact range
// (tripletRange), emitted in column order — by a scan of the row with the same predicate when the
// range is large, else by sorting the range.
FL_HD MineCounts mineRow(const PairRow& row, const MinerOptions& miner, int32_t anchor, void* scratch,
                         const MineRowOutput* out) {
  RowScratch s = carveScratch(scratch, row.refs);
  const bool sim = similarity(miner.distance);
  MineCounts c;
  if (miner.type == MinerType::BatchHard) {
    const RowExtremes e = rowExtremes(row, sim);
    if (e.hardestPositive < 0 || e.hardestNegative < 0) return c;
    c.triplets = 1;
    if (out && out->tripletRoom >= 1) {
      out->anchors[0] = anchor;
      out->tripletPositives[0] = (int32_t)e.hardestPositive;
      out->tripletNegatives[0] = (int32_t)e.hardestNegative;
    }
    return c;
  }
  if (miner.type != MinerType::TripletMargin) {
    minedWeights(row, miner, s);
    for (int64_t j = 0; j < row.refs; ++j) {
      if (s.weight[j] <= 0) continue;
      if (pairKind(row, j) == 1) {
        if (out && c.positives < out->positiveRoom) out->positiveAnchors[c.positives] = anchor, out->positives[c.positives] = (int32_t)j;
        ++c.positives;
      } else {
        if (out && c.negatives < out->negativeRoom) out->negativeAnchors[c.negatives] = anchor, out->negatives[c.negatives] = (int32_t)j;
        ++c.negatives;
      }
    }
    return c;
  }
  const TripletBounds bounds = minerBounds(miner);
  const float* v = row.minerValues;
  int64_t sorted = 0;
  for (int64_t j = 0; j < row.refs; ++j) {
    if (pairKind(row, j) == 2 && v[j] == v[j]) s.keys[sorted].value = v[j], s.keys[sorted].index = (int32_t)j, ++sorted;
  }
  sortRange(s.keys, sorted, KeyLess());
  for (int64_t p = 0; p < row.refs; ++p) {
    if (pairKind(row, p) != 1 || v[p] != v[p]) continue;
    const Range r = tripletRange(s.keys, sorted, sim, false, v[p], bounds);
    const int64_t n = r.end - r.begin;
    if (n == 0) continue;
    const int64_t at = c.triplets;
    c.triplets += n;
    if (!out || c.triplets > out->tripletRoom) continue;
    int32_t* negatives = out->tripletNegatives + at;
    if (4 * n >= sorted) {
      int64_t k = 0;
      for (int64_t j = 0; j < row.refs; ++j) {
        if (pairKind(row, j) != 2 || !tripletKept(bounds, sim, v[p], v[j])) continue;
        if (k < n) negatives[k] = (int32_t)j;
        ++k;
      }
      if (k != n) c.triplets = out->tripletRoom + 1;  // the scan and the range disagree: reported, not written past
    } else {
      for (int64_t k = 0; k < n; ++k) negatives[k] = s.keys[r.begin + k].index;
      sortRange(negatives, n, IndexLess());
    }
    for (int64_t k = 0; k < n; ++k) out->anchors[at + k] = anchor, out->tripletPositives[at + k] = (int32_t)p;
  }
  return c;
}

FL_HD MineCounts mineRowCounts(const PairRow& row, const MinerOptions& miner, void* scratch) {
  return mineRow(row, miner, 0, scratch, nullptr);
}

// Fills the row's output; returns what it found, which the caller checks against the room.
FL_HD MineCounts mineRowFill(const PairRow& row, const MinerOptions& miner, int32_t anchor, void* scratch,
                             const MineRowOutput& out) {
  return mineRow(row, miner, anchor, scratch, &out);
}

// Does a fill's result match the room the counting pass made for it?
FL_HD bool mineRowMatches(const MineCounts& found, const MineRowOutput& out, bool triplets) {
  return triplets ? found.triplets == out.tripletRoom
                  : found.positives == out.positiveRoom && found.negatives == out.negativeRoom;
}

}  // namespace pairs
}  // namespace fusedloss
