// Multi-similarity's row in float64 lanes (see pairs_ms_row.h).  Three passes over the row's
// columns, four at a time:
//  1. (multi-similarity miner) the extremes of the positives' and the negatives' miner values;
//  2. each column's part (0: not given, 1: positive, 2: negative) after the miner, its exponent,
//     and the two maxima (the shifts) with pairs::multiSimilarityRow's scan rule;
//  3. e^{x − shift}, the two sums, and last the coefficients.
// The scalar definition (pairs::multiSimilarityRow, ../math/pairs_loss_math.h) is the reference:
// the same float64 operations per pair; only the sums' order and exp's implementation differ.
#include "pairs_ms_row.h"

#include <cmath>
#include <cstring>

#include "../runtime/simd.h"
#include "pairs_exp.h"

namespace fusedloss {
namespace pairs_cpu {
namespace {

typedef float Floats4 __attribute__((vector_size(16)));

// Lanes [j, j + 4) of an array of `count`, lanes past the end `fill`.
template <typename Vector, typename T>
FL_PAIR_LANES Vector loadLanes(const T* p, int64_t j, int64_t count, T fill) {
  Vector v;
  if (j + kDoubleLanes <= count) {
    std::memcpy(&v, p + j, sizeof v);
    return v;
  }
  T lanes[kDoubleLanes];
  for (int l = 0; l < kDoubleLanes; ++l) lanes[l] = j + l < count ? p[j + l] : fill;
  std::memcpy(&v, lanes, sizeof v);
  return v;
}

template <typename Vector, typename T>
FL_PAIR_LANES void storeLanes(T* p, int64_t j, int64_t count, Vector v) {
  if (j + kDoubleLanes <= count) {
    std::memcpy(p + j, &v, sizeof v);
    return;
  }
  T lanes[kDoubleLanes];
  std::memcpy(lanes, &v, sizeof v);
  for (int l = 0; j + l < count; ++l) p[j + l] = lanes[l];
}

// Lane masks of the formed positives and negatives of columns [j, j + 4).
struct Kinds {
  Longs positive, negative;
};

FL_PAIR_LANES Kinds kindsAt(const pairs::PairRow& row, int64_t j) {
  const Ints4 labels = loadLanes<Ints4>(row.refLabels, j, row.refs, row.label);
  const Longs same = __builtin_convertvector(labels == row.label, Longs);
  const Longs column = splatLong(j) + Longs{0, 1, 2, 3};
  const Longs formed = (column < row.refs) & (column != row.excluded);
  return {same & formed, ~same & formed};
}

FL_PAIR_LANES Doubles valuesAt(const float* v, int64_t j, int64_t count) {
  return __builtin_convertvector(loadLanes<Floats4>(v, j, count, 0.0f), Doubles);
}

// pairs::rowExtremes' four extremes (a NaN value is never one), lane-wise then across lanes.
FL_PAIR_LANES pairs::RowExtremes extremes(const pairs::PairRow& row) {
  const Doubles inf = splatDouble(INFINITY);
  Doubles minP = inf, maxP = -inf, minN = inf, maxN = -inf;
  for (int64_t j = 0; j < row.refs; j += kDoubleLanes) {
    const Kinds k = kindsAt(row, j);
    const Doubles x = valuesAt(row.minerValues, j, row.refs);
    minP = (k.positive & (x < minP)) ? x : minP;
    maxP = (k.positive & (x > maxP)) ? x : maxP;
    minN = (k.negative & (x < minN)) ? x : minN;
    maxN = (k.negative & (x > maxN)) ? x : maxN;
  }
  pairs::RowExtremes e{INFINITY, -INFINITY, INFINITY, -INFINITY, -1, -1};
  for (int l = 0; l < kDoubleLanes; ++l) {
    e.minPositive = minP[l] < e.minPositive ? minP[l] : e.minPositive;
    e.maxPositive = maxP[l] > e.maxPositive ? maxP[l] : e.maxPositive;
    e.minNegative = minN[l] < e.minNegative ? minN[l] : e.minNegative;
    e.maxNegative = maxN[l] > e.maxNegative ? maxN[l] : e.maxNegative;
  }
  return e;
}

// The scan rule of the shifts: a larger exponent or a NaN takes the place (a NaN then stays).
FL_PAIR_LANES Doubles scanMax(Longs part, Doubles x, Doubles shift) { return (part & ((x > shift) | (x != x))) ? x : shift; }

FL_SIMD_FUNCTION(pairs::LossPartial, rowLanes,
                 (const pairs::PairRow& row, const MinerOptions& miner, const PairLossOptions& loss, double scale,
                  void* scratch, float* coef),
                 (row, miner, loss, scale, scratch, coef)) {
  const bool sim = pairs::similarity(loss.distance);
  const bool mined = miner.type == MinerType::MultiSimilarity;
  const bool minerSim = pairs::similarity(miner.distance);
  const pairs::RowExtremes e = mined ? extremes(row) : pairs::RowExtremes{};
  const pairs::RowScratch s = pairs::carveScratch(scratch, row.refs);
  double* exps = s.prefix;  // the exponents, then e^{x − shift}
  int32_t* parts = s.weight;
  // pairs::keepPair for the multi-similarity miner: a positive against the negatives' extreme,
  // a negative against the positives'.
  const double eps = miner.epsilon;
  const double positiveBound = minerSim ? e.maxNegative : e.minNegative;
  const double negativeBound = minerSim ? e.minPositive : e.maxPositive;
  // pairs::multiSimilarityExponent: x = factor·(sign·(v − base)).
  const double positiveFactor = loss.alpha, negativeFactor = loss.beta;
  Doubles shift[2] = {splatDouble(0.0), splatDouble(0.0)};
  for (int64_t j = 0; j < row.refs; j += kDoubleLanes) {
    Kinds k = kindsAt(row, j);
    if (mined) {
      const Doubles m = valuesAt(row.minerValues, j, row.refs);
      k.positive &= minerSim ? (m - eps < positiveBound) : (m + eps > positiveBound);
      k.negative &= minerSim ? (m + eps > negativeBound) : (m - eps < negativeBound);
    }
    const Doubles v = valuesAt(row.lossValues, j, row.refs);
    const Doubles x = k.positive ? positiveFactor * (sim ? loss.base - v : v - loss.base)
                                 : negativeFactor * (sim ? v - loss.base : loss.base - v);
    shift[0] = scanMax(k.positive, x, shift[0]);
    shift[1] = scanMax(k.negative, x, shift[1]);
    storeLanes(exps, j, row.refs, x);
    storeLanes(parts, j, row.refs, __builtin_convertvector((k.positive & 1) | (k.negative & 2), Ints4));
  }
  double rowShift[2] = {0.0, 0.0};
  for (int part = 0; part < 2; ++part) {
    for (int l = 0; l < kDoubleLanes; ++l) {
      const double x = shift[part][l];
      if (x > rowShift[part] || x != x) rowShift[part] = x;
    }
  }
  Doubles lanesTotal[2] = {splatDouble(0.0), splatDouble(0.0)};
  for (int64_t j = 0; j < row.refs; j += kDoubleLanes) {
    const Longs part = __builtin_convertvector(loadLanes<Ints4>(parts, j, row.refs, 0), Longs);
    const Longs positive = part == 1, negative = part == 2;
    const Doubles x = loadLanes<Doubles>(exps, j, row.refs, 0.0);
    const Doubles shifted = x - (positive ? splatDouble(rowShift[0]) : splatDouble(rowShift[1]));
    const Doubles given = expDoubles((positive | negative) ? shifted : splatDouble(-INFINITY));
    lanesTotal[0] += positive ? given : splatDouble(0.0);
    lanesTotal[1] += negative ? given : splatDouble(0.0);
    storeLanes(exps, j, row.refs, given);
  }
  pairs::LossPartial out;
  double denominator[2];
  const double factor[2] = {positiveFactor, negativeFactor};
  for (int part = 0; part < 2; ++part) {
    double total = 0.0;
    for (int l = 0; l < kDoubleLanes; ++l) total += lanesTotal[part][l];
    denominator[part] = expDoubles(splatDouble(-rowShift[part]))[0] + total;
    out.sum[0] += (std::log(denominator[part]) + rowShift[part]) / factor[part];
  }
  out.nonFinite = pairs::nonFinitePairs(row);
  if (!coef) return out;
  // ∂L/∂v = share·sign·scale, sign = −1 for a positive of a similarity or a negative of a distance.
  const double positiveSign = sim ? -1.0 : 1.0;
  for (int64_t j = 0; j < row.refs; j += kDoubleLanes) {
    const Longs part = __builtin_convertvector(loadLanes<Ints4>(parts, j, row.refs, 0), Longs);
    const Longs positive = part == 1;
    const Doubles share =
        loadLanes<Doubles>(exps, j, row.refs, 0.0) / (positive ? splatDouble(denominator[0]) : splatDouble(denominator[1]));
    const Doubles c = share * (positive ? splatDouble(positiveSign) : splatDouble(-positiveSign)) * scale;
    storeLanes(coef, j, row.refs, __builtin_convertvector(part != 0 ? c : splatDouble(0.0), Floats4));
  }
  return out;
}

}  // namespace

pairs::LossPartial multiSimilarityRowLanes(const pairs::PairRow& row, const MinerOptions& miner,
                                           const PairLossOptions& loss, double scale, void* scratch, float* coef) {
  return rowLanes(row, miner, loss, scale, scratch, coef);
}

}  // namespace pairs_cpu
}  // namespace fusedloss
