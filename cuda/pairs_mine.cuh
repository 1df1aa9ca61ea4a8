// Device code of CUDA pair mining: one thread block per query row (pairs_kernels.cuh has the
// GEMM, the values and the loss' row kernels).  Included by pairs.cu after pairs_kernels.cuh.
//
// Design (issue 13 point 2).  The row-per-thread design ran one thread per row with ~28·M bytes
// of scratch each, so only budget/(28·M) rows ran at once (9 threads at M = 65,536) and each
// sorted serially in global memory.  Here a block of kMineThreads threads works one row:
//  • extremes (multi-similarity's min/max, batch-hard's arg-extremes): per-thread partials over
//    strided columns with pairs::rowExtremes' rules, then a shared-memory tree whose combine
//    (better value, ties to the lower column) gives exactly the sequential answer;
//  • pair miners (multi-similarity, pair-margin): pairs::keepPair per column, then an ordered
//    compaction (block-wide exclusive scan per chunk of kMineThreads columns, chunks in column
//    order), so the output order is the CPU's without any sort and without scratch;
//  • triplet-margin: the row's non-NaN negatives compacted into per-row global scratch
//    (8·2^⌈log₂ M⌉ bytes, the only scratch), a block-wide bitonic sort under pairs::KeyLess (a
//    strict total order: the permutation is unique, so equal to std::sort's), then per positive
//    the exact range of pairs::tripletRange; the fill scans the counts in column order for each
//    positive's offset and emits its negatives in column order — a range of ≤ kMineThreads
//    columns by a bitonic sort of their indices in shared memory, a longer one by an ordered
//    compaction of the row under pairs::tripletKept (the CPU's two paths; both give the exact set).
// Mined sets are therefore identical to mineCpu's, tie-breaking included.  No atomics; counts are
// integers.  Expected cost at N = M = 4096, D = 128 (H100-class): the values GEMM (4.3 GFLOP,
// ~0.2 ms on SIMT tiles) plus one pass over the 64 MiB value block per mining pass (two passes,
// the values recomputed in the second only when N·M exceeds the block), i.e. bandwidth-bound at a
// few tenths of a millisecond; occupancy: all rows of a value block in flight for the pair miners
// and batch-hard (no scratch), budget/2 / (8·2^⌈log₂ M⌉) rows for triplet-margin (64 rows at
// M = 65,536 with the default 64 MiB), 256 threads each.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "../native/math/pairs_math.h"
#include "pairs_kernels.cuh"

namespace fusedloss {
namespace pair_cuda {
namespace {

constexpr int kMineThreads = 256;  // threads per row block; a power of two (the trees and sorts)

// Per-row scratch of the triplet miner: its sorted negatives, padded to a power of two.
FL_HD int64_t minePaddedKeys(int64_t refs) {
  int64_t padded = 1;
  while (padded < refs) padded *= 2;
  return padded;
}
FL_HD int64_t mineRowScratchBytes(const MinerOptions& miner, int64_t refs) {
  return miner.type == MinerType::TripletMargin ? (minePaddedKeys(refs) * 8 + 255) / 256 * 256 : 0;
}

// The mined arrays on the device.  The room of row i ends where row i + 1's output begins (the
// totals after the last row); a row whose fill finds another count than that sets *mismatch (the
// host reports it) and writes nothing beyond its room.
struct MinedArrays {
  int32_t *positiveAnchors, *positives, *negativeAnchors, *negatives;  // pair miners
  int32_t *anchors, *tripletPositives, *tripletNegatives;              // triplet miners
  int64_t rows, totalFirst, totalSecond;  // N, and the totals (positives or triplets, negatives)
  int32_t* mismatch;
};

// Block-wide inclusive prefix sum of v (every thread calls it, in thread order); *total gets the
// block's sum.  s: 2·blockDim entries of shared memory (Hillis–Steele, double-buffered).
template <typename T>
__device__ T blockInclusiveScan(T v, T* s, T* total) {
  const int t = threadIdx.x, n = blockDim.x;
  int in = 0;
  s[t] = v;
  __syncthreads();
  for (int offset = 1; offset < n; offset <<= 1) {
    s[(1 - in) * n + t] = s[in * n + t] + (t >= offset ? s[in * n + t - offset] : T(0));
    in = 1 - in;
    __syncthreads();
  }
  const T inclusive = s[in * n + t];
  *total = s[in * n + n - 1];
  __syncthreads();
  return inclusive;
}

// The exclusive one, for counts.
__device__ int64_t blockExclusiveScan(int64_t v, int64_t* s, int64_t* total) { return blockInclusiveScan(v, s, total) - v; }

// Block-wide bitonic sort of a[0, count) (count a power of two) under `less`, in shared or
// global memory (a barrier after every exchange step makes each step's writes visible).
template <typename T, typename Less>
__device__ void blockBitonicSort(T* a, int64_t count, Less less) {
  for (int64_t k = 2; k <= count; k <<= 1) {
    for (int64_t j = k >> 1; j > 0; j >>= 1) {
      for (int64_t e = threadIdx.x; e < count; e += blockDim.x) {
        const int64_t partner = e ^ j;
        if (partner <= e) continue;
        const bool ascending = (e & k) == 0;
        const T x = a[e], y = a[partner];
        if (ascending ? less(y, x) : less(x, y)) a[e] = y, a[partner] = x;
      }
      __syncthreads();
    }
  }
}

// pairs::rowExtremes computed by the block: each thread's strided columns with the same rules,
// then a tree over the partials.  Every thread gets the result.
struct ExtremesPart {
  double minPositive, maxPositive, minNegative, maxNegative;
  int64_t hardestPositive, hardestNegative;
};

// Is column b a harder pick than column a (sim: a lower positive / higher negative value), ties
// to the lower column — the answer of rowExtremes' strict in-order scan.
__device__ __forceinline__ bool harder(const float* v, int64_t a, int64_t b, bool lower) {
  if (b < 0) return false;
  if (a < 0) return true;
  if (lower ? v[b] < v[a] : v[b] > v[a]) return true;
  return !(lower ? v[a] < v[b] : v[a] > v[b]) && b < a;
}

__device__ pairs::RowExtremes blockRowExtremes(const pairs::PairRow& row, bool sim, ExtremesPart* shared) {
  const double inf = INFINITY;
  ExtremesPart p{inf, -inf, inf, -inf, -1, -1};
  const float* v = row.minerValues;
  for (int64_t j = threadIdx.x; j < row.refs; j += blockDim.x) {
    const int kind = pairs::pairKind(row, j);
    if (kind == 0) continue;
    const double x = v[j];
    if (kind == 1) {
      if (x < p.minPositive) p.minPositive = x;
      if (x > p.maxPositive) p.maxPositive = x;
      if (x == x && harder(v, p.hardestPositive, j, sim)) p.hardestPositive = j;
    } else {
      if (x < p.minNegative) p.minNegative = x;
      if (x > p.maxNegative) p.maxNegative = x;
      if (x == x && harder(v, p.hardestNegative, j, !sim)) p.hardestNegative = j;
    }
  }
  const int t = threadIdx.x;
  shared[t] = p;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (t < s) {
      ExtremesPart& a = shared[t];
      const ExtremesPart& b = shared[t + s];
      if (b.minPositive < a.minPositive) a.minPositive = b.minPositive;
      if (b.maxPositive > a.maxPositive) a.maxPositive = b.maxPositive;
      if (b.minNegative < a.minNegative) a.minNegative = b.minNegative;
      if (b.maxNegative > a.maxNegative) a.maxNegative = b.maxNegative;
      if (harder(v, a.hardestPositive, b.hardestPositive, sim)) a.hardestPositive = b.hardestPositive;
      if (harder(v, a.hardestNegative, b.hardestNegative, !sim)) a.hardestNegative = b.hardestNegative;
    }
    __syncthreads();
  }
  const ExtremesPart r = shared[0];
  __syncthreads();
  return pairs::RowExtremes{r.minPositive, r.maxPositive, r.minNegative, r.maxNegative, r.hardestPositive,
                            r.hardestNegative};
}

// Where the row's output goes (the fill), or null pointers (the count).
struct RowTarget {
  pairs::MineRowOutput out;
  bool fill;
};

// Pair miners: the kept positives and negatives in column order.
__device__ pairs::MineCounts minePairRow(const pairs::PairRow& row, const MinerOptions& miner, bool sim, int32_t anchor,
                                         const RowTarget& target, ExtremesPart* extremesShared, int64_t* scan) {
  pairs::RowExtremes e{};
  if (miner.type == MinerType::MultiSimilarity) e = blockRowExtremes(row, sim, extremesShared);
  pairs::MineCounts c;
  const pairs::MineRowOutput& o = target.out;
  for (int64_t c0 = 0; c0 < row.refs; c0 += blockDim.x) {
    const int64_t j = c0 + threadIdx.x;
    const int kind = j < row.refs ? pairs::pairKind(row, j) : 0;
    const bool kept = kind != 0 && pairs::keepPair(miner, sim, e, kind, row.minerValues[j]);
    int64_t positives, negatives;
    const int64_t p = blockExclusiveScan(kept && kind == 1 ? 1 : 0, scan, &positives);
    const int64_t n = blockExclusiveScan(kept && kind == 2 ? 1 : 0, scan, &negatives);
    if (target.fill && kept) {
      if (kind == 1 && c.positives + p < o.positiveRoom) {
        o.positiveAnchors[c.positives + p] = anchor, o.positives[c.positives + p] = static_cast<int32_t>(j);
      } else if (kind == 2 && c.negatives + n < o.negativeRoom) {
        o.negativeAnchors[c.negatives + n] = anchor, o.negatives[c.negatives + n] = static_cast<int32_t>(j);
      }
    }
    c.positives += positives, c.negatives += negatives;
  }
  return c;
}

// What the triplet fill shares about one positive of the current chunk.
struct PositiveRange {
  int64_t begin, count, at;  // its range in the sorted negatives, its triplets, its row offset
};

// Triplet-margin: the negatives sorted in `keys` (this row's scratch), then per positive its range.
__device__ pairs::MineCounts mineTripletRow(const pairs::PairRow& row, const MinerOptions& miner, bool sim,
                                            int32_t anchor, const RowTarget& target, pairs::SortKey* keys,
                                            int64_t* scan, PositiveRange* ranges, int32_t* indices, int* disagree) {
  const float* v = row.minerValues;
  const pairs::TripletBounds bounds = pairs::minerBounds(miner);
  // The non-NaN negatives, in column order, then sorted (padding: NaN keys after every number).
  int64_t sorted = 0;
  for (int64_t c0 = 0; c0 < row.refs; c0 += blockDim.x) {
    const int64_t j = c0 + threadIdx.x;
    const bool negative = j < row.refs && pairs::pairKind(row, j) == 2 && v[j] == v[j];
    int64_t chunk;
    const int64_t at = blockExclusiveScan(negative ? 1 : 0, scan, &chunk);
    if (negative) keys[sorted + at] = pairs::SortKey{v[j], static_cast<int32_t>(j)};
    sorted += chunk;
  }
  const int64_t padded = minePaddedKeys(sorted);
  for (int64_t k = sorted + threadIdx.x; k < padded; k += blockDim.x) keys[k] = pairs::SortKey{NAN, INT32_MAX};
  __syncthreads();
  blockBitonicSort(keys, padded, pairs::KeyLess());

  pairs::MineCounts c;
  const pairs::MineRowOutput& o = target.out;
  if (threadIdx.x == 0) *disagree = 0;
  for (int64_t c0 = 0; c0 < row.refs; c0 += blockDim.x) {
    const int64_t p = c0 + threadIdx.x;
    pairs::Range r{0, 0};
    if (p < row.refs && pairs::pairKind(row, p) == 1 && v[p] == v[p]) {
      r = pairs::tripletRange(keys, sorted, sim, false, v[p], bounds);
    }
    int64_t chunk;
    const int64_t at = blockExclusiveScan(r.end - r.begin, scan, &chunk);
    if (target.fill) {
      ranges[threadIdx.x] = PositiveRange{r.begin, r.end - r.begin, c.triplets + at};
      __syncthreads();
      // The chunk's positives one after another, in column order, each by the whole block.
      const int64_t chunkColumns = row.refs - c0 < blockDim.x ? row.refs - c0 : blockDim.x;
      for (int q = 0; q < chunkColumns; ++q) {
        const PositiveRange pr = ranges[q];
        if (pr.count == 0 || pr.at + pr.count > o.tripletRoom) continue;  // uniform: shared values
        const int32_t positive = static_cast<int32_t>(c0 + q);
        for (int64_t k = threadIdx.x; k < pr.count; k += blockDim.x) {
          o.anchors[pr.at + k] = anchor, o.tripletPositives[pr.at + k] = positive;
        }
        int32_t* negatives = o.tripletNegatives + pr.at;
        if (pr.count <= blockDim.x) {  // a short range: its columns sorted in shared memory
          indices[threadIdx.x] = threadIdx.x < pr.count ? keys[pr.begin + threadIdx.x].index : INT32_MAX;
          __syncthreads();
          blockBitonicSort(indices, blockDim.x, pairs::IndexLess());
          if (threadIdx.x < pr.count) negatives[threadIdx.x] = indices[threadIdx.x];
          __syncthreads();
          continue;
        }
        // A long range: the row's negatives that keep the triplet, compacted in column order.
        int64_t written = 0;
        for (int64_t n0 = 0; n0 < row.refs; n0 += blockDim.x) {
          const int64_t n = n0 + threadIdx.x;
          const bool kept = n < row.refs && pairs::pairKind(row, n) == 2 && pairs::tripletKept(bounds, sim, v[positive], v[n]);
          int64_t found;
          const int64_t k = written + blockExclusiveScan(kept ? 1 : 0, scan, &found);
          if (kept && k < pr.count) negatives[k] = static_cast<int32_t>(n);
          written += found;
        }
        if (written != pr.count && threadIdx.x == 0) *disagree = 1;  // the scan and the range disagree
      }
      __syncthreads();
    }
    c.triplets += chunk;
  }
  __syncthreads();
  if (*disagree) c.triplets = o.tripletRoom + 1;  // reported, not written past
  return c;
}

// Mining, one block per row of the wave: counts (fill 0: counts[2i] = positives or triplets,
// counts[2i + 1] = negatives) or the fill at offsets (fill 1: offsets in `counts`).
__global__ void __launch_bounds__(kMineThreads) mineRowsKernel(RowSource src, MinerOptions miner, const float* values,
                                                               Wave w, int64_t* counts, MinedArrays mined, int fill) {
  __shared__ ExtremesPart extremesShared[kMineThreads];
  __shared__ int64_t scan[2 * kMineThreads];
  __shared__ PositiveRange ranges[kMineThreads];
  __shared__ int32_t indices[kMineThreads];
  __shared__ int disagree;
  const int local = w.first + static_cast<int>(blockIdx.x);
  const int64_t i = w.row0 + local;
  const float* v = values + local * src.ld;
  const pairs::PairRow row = makeRow(src, i, v, v);
  const bool sim = pairs::similarity(miner.distance);
  const bool triplets = minesTriplets(miner.type);
  RowTarget target{pairs::MineRowOutput(), fill != 0};
  if (fill) {
    const int64_t a = counts[2 * i], b = counts[2 * i + 1];
    const int64_t aEnd = i + 1 < mined.rows ? counts[2 * i + 2] : mined.totalFirst;
    const int64_t bEnd = i + 1 < mined.rows ? counts[2 * i + 3] : mined.totalSecond;
    pairs::MineRowOutput& o = target.out;
    if (triplets) {
      o.anchors = mined.anchors + a, o.tripletPositives = mined.tripletPositives + a;
      o.tripletNegatives = mined.tripletNegatives + a, o.tripletRoom = aEnd - a;
    } else {
      o.positiveAnchors = mined.positiveAnchors + a, o.positives = mined.positives + a;
      o.negativeAnchors = mined.negativeAnchors + b, o.negatives = mined.negatives + b;
      o.positiveRoom = aEnd - a, o.negativeRoom = bEnd - b;
    }
  }
  pairs::MineCounts found;
  if (miner.type == MinerType::BatchHard) {
    const pairs::RowExtremes e = blockRowExtremes(row, sim, extremesShared);
    if (e.hardestPositive >= 0 && e.hardestNegative >= 0) {
      found.triplets = 1;
      if (fill && threadIdx.x == 0 && target.out.tripletRoom >= 1) {
        target.out.anchors[0] = static_cast<int32_t>(i);
        target.out.tripletPositives[0] = static_cast<int32_t>(e.hardestPositive);
        target.out.tripletNegatives[0] = static_cast<int32_t>(e.hardestNegative);
      }
    }
  } else if (miner.type == MinerType::TripletMargin) {
    pairs::SortKey* keys = reinterpret_cast<pairs::SortKey*>(w.scratch + blockIdx.x * w.scratchStride);
    found = mineTripletRow(row, miner, sim, static_cast<int32_t>(i), target, keys, scan, ranges, indices, &disagree);
  } else {
    found = minePairRow(row, miner, sim, static_cast<int32_t>(i), target, extremesShared, scan);
  }
  if (threadIdx.x != 0) return;
  if (!fill) {
    counts[2 * i] = triplets ? found.triplets : found.positives;
    counts[2 * i + 1] = triplets ? 0 : found.negatives;
  } else if (!pairs::mineRowMatches(found, target.out, triplets)) {
    *mined.mismatch = 1;
  }
}

}  // namespace
}  // namespace pair_cuda
}  // namespace fusedloss
