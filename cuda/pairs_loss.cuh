// Device code of the CUDA pair losses' rows, one thread block per query row (blockLossRows: every
// case but the triplet loss under a triplet-margin miner of another distance — direct C++ callers
// only — which keeps pairs_kernels.cuh's thread-per-row lossRowKernel).  Included by pairs.cu after pairs_mine.cuh
// (blockRowExtremes, the scans and the sort).
//
// Per row: the miner's extremes (multi-similarity, batch-hard) by the mining kernels' block tree,
// each column's multiplicity by pairs::minedPairWeight, then the loss' own shape — maxima (the
// log-sum-exp shifts, NaN kept as pairs_math.h's scan keeps it) and float64 sums over the columns
// by fixed shared-memory trees (blockSum), the per-pair terms and coefficients by pairs_math.h's
// element functions.  No scratch beyond shared memory, so every row of a value block is in flight
// (the thread-per-row design held budget/(28·M) rows: 9 at M = 65,536).  The sums' order differs
// from the CPU's sequential one (a few ulps of float64), fixed by the shape: runs are bit-identical.
// The triplet loss is pairs_math.h's sweep by the block: the smaller side compacted and bitonic-
// sorted in per-row global scratch (~24·M bytes: keys, prefix sums, the difference array, the
// counts), the anchored prefix sums by block scans, each other-side column's range by
// pairs::tripletRange, the per-column triplet counts from a difference array (integer atomics:
// exact, order-free) summed by a scan.  Expected cost at N = M = 4096, D = 128: two or three
// reads of the row per pass plus the GEMMs, bandwidth-bound, ~1 ms per pass on an H100-class GPU;
// the triplet loss adds a 4096-key sort per row (~3·10⁵ compare-exchanges per row, 256 threads).
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "../native/math/pairs_math.h"
#include "pairs_mine.cuh"

namespace fusedloss {
namespace pair_cuda {
namespace {

constexpr int kLossThreads = kMineThreads;  // blockRowExtremes' shared tree has this size

// Whether a loss call's rows run a block per row here (else the thread-per-row lossRowKernel):
// all but the triplet loss under a triplet-margin miner of another distance (pairs::tripletRow
// enumerates those pairs; the public API gives both one distance).
inline bool blockLossRows(const MinerOptions& miner, const PairLossOptions& loss) {
  return !(miner.type == MinerType::TripletMargin && loss.type == PairLossType::TripletMargin &&
           miner.distance != loss.distance);
}

// The triplet rows' per-row global scratch.
struct TripletScratch {
  pairs::SortKey* keys;  // [2^⌈log₂ M⌉]: the sorted side
  double* prefix;        // [M + 1]
  int32_t* diff;         // [M + 1]
  int32_t* counts;       // [M]: active triplets per column
};

inline int64_t tripletScratchBytes(int64_t refs) {
  auto aligned = [](int64_t bytes) { return (bytes + 255) / 256 * 256; };
  return aligned(8 * minePaddedKeys(refs)) + aligned(8 * (refs + 1)) + aligned(4 * (refs + 1)) + aligned(4 * refs);
}

__device__ TripletScratch carveTripletScratch(char* p, int64_t refs) {
  auto aligned = [](int64_t bytes) { return (bytes + 255) / 256 * 256; };
  TripletScratch s;
  s.keys = reinterpret_cast<pairs::SortKey*>(p);
  p += aligned(8 * minePaddedKeys(refs));
  s.prefix = reinterpret_cast<double*>(p);
  p += aligned(8 * (refs + 1));
  s.diff = reinterpret_cast<int32_t*>(p);
  p += aligned(4 * (refs + 1));
  s.counts = reinterpret_cast<int32_t*>(p);
  return s;
}

// Global scratch per row in flight of the block rows: the sweep's (the triplet loss, a
// triplet-margin miner), else none.
inline int64_t blockLossScratchBytes(const MinerOptions& miner, const PairLossOptions& loss, int64_t refs) {
  const bool sweep = loss.type == PairLossType::TripletMargin || miner.type == MinerType::TripletMargin;
  return sweep ? tripletScratchBytes(refs) : 0;
}

// The block's maximum of x with pairs_math.h's scan rule `if (x > shift || x != x) shift = x`:
// NaN when any thread's is NaN.  scratch: blockDim doubles.
__device__ double blockShift(double x, double* scratch) {
  const int t = threadIdx.x;
  scratch[t] = x;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (t < s) {
      const double a = scratch[t], b = scratch[t + s];
      scratch[t] = (a != a || b != b) ? NAN : (b > a ? b : a);
    }
    __syncthreads();
  }
  const double r = scratch[0];
  __syncthreads();
  return r;
}

// One row's view for the block: the pair kind and multiplicity of each column.
struct BlockRow {
  pairs::PairRow row;
  MinerOptions miner;
  bool minerSim;
  pairs::RowExtremes e;
  const int32_t* tripletWeights;  // a triplet-margin miner's multiplicities (blockSweep's counts), or null
  __device__ int32_t weight(int64_t j) const {
    return tripletWeights ? tripletWeights[j] : pairs::minedPairWeight(row, miner, minerSim, e, j);
  }
};

// pairs::multiSimilarityRow.
__device__ pairs::LossPartial multiSimilarityBlock(const BlockRow& b, const PairLossOptions& loss, double scale, float* coef,
                                                   double* scratch) {
  const pairs::PairRow& row = b.row;
  const bool sim = pairs::similarity(loss.distance);
  const float* v = row.lossValues;
  double shift[2] = {0.0, 0.0}, total[2] = {0.0, 0.0};
  for (int64_t j = threadIdx.x; j < row.refs; j += blockDim.x) {
    const int kind = pairs::pairKind(row, j);
    if (kind == 0 || b.weight(j) <= 0) continue;
    const double x = pairs::multiSimilarityExponent(loss, sim, kind - 1, v[j]);
    if (x > shift[kind - 1] || x != x) shift[kind - 1] = x;
  }
  for (int part = 0; part < 2; ++part) shift[part] = blockShift(shift[part], scratch);
  for (int64_t j = threadIdx.x; j < row.refs; j += blockDim.x) {
    const int kind = pairs::pairKind(row, j);
    if (kind == 0 || b.weight(j) <= 0) continue;
    total[kind - 1] += exp(pairs::multiSimilarityExponent(loss, sim, kind - 1, v[j]) - shift[kind - 1]);
  }
  const double factor[2] = {loss.alpha, loss.beta};
  double denominator[2];
  pairs::LossPartial out;
  for (int part = 0; part < 2; ++part) {
    denominator[part] = exp(-shift[part]) + blockSum(total[part], scratch);
    out.sum[0] += (log(denominator[part]) + shift[part]) / factor[part];
  }
  if (!coef) return out;
  for (int64_t j = threadIdx.x; j < row.refs; j += blockDim.x) {
    const int kind = pairs::pairKind(row, j);
    if (kind == 0 || b.weight(j) <= 0) {
      coef[j] = 0.0f;
      continue;
    }
    const int part = kind - 1;
    const double share = exp(pairs::multiSimilarityExponent(loss, sim, part, v[j]) - shift[part]) / denominator[part];
    const double sign = (part == 0) == sim ? -1.0 : 1.0;
    coef[j] = static_cast<float>(share * sign * scale);
  }
  return out;
}

// pairs::marginPairsRow (contrastive, threshold-consistent).
__device__ pairs::LossPartial marginPairsBlock(const BlockRow& b, const PairLossOptions& loss, const double* scale,
                                               float* coef, double* scratch) {
  const pairs::PairRow& row = b.row;
  const bool sim = pairs::similarity(loss.distance);
  const float* v = row.lossValues;
  pairs::LossPartial out;
  for (int64_t j = threadIdx.x; j < row.refs; j += blockDim.x) {
    const int kind = pairs::pairKind(row, j);
    const int32_t weight = kind == 0 ? 0 : b.weight(j);
    double term = 0.0, slope = 0.0;
    const int part = kind - 1;
    const bool counted = weight > 0 && pairs::marginPairTerm(loss, sim, part, v[j], &term, &slope);
    if (weight > 0 && v[j] != v[j]) out.sum[part] += v[j];  // NaN propagates
    if (counted) out.sum[part] += weight * term, out.count[part] += weight;
    if (coef) coef[j] = counted ? static_cast<float>(weight * slope * scale[part]) : 0.0f;
  }
  for (int part = 0; part < 2; ++part) {
    out.sum[part] = blockSum(out.sum[part], scratch);
    out.count[part] = blockSum(out.count[part], scratch);
  }
  return out;
}

// pairs::circleRow (cosine, set).
__device__ pairs::LossPartial circleBlock(const BlockRow& b, const PairLossOptions& loss, double scale, float* coef,
                                          double* scratch) {
  const pairs::PairRow& row = b.row;
  const float* v = row.lossValues;
  const double m = loss.circleM, gamma = loss.gamma;
  double shift[2] = {-INFINITY, -INFINITY}, any[2] = {0.0, 0.0}, total[2] = {0.0, 0.0}, relu;
  for (int64_t j = threadIdx.x; j < row.refs; j += blockDim.x) {
    const int kind = pairs::pairKind(row, j);
    if (kind == 0 || b.weight(j) <= 0) continue;
    const double logit = pairs::circleLogit(kind, v[j], m, gamma, &relu);
    any[kind - 1] = 1.0;
    if (logit > shift[kind - 1] || logit != logit) shift[kind - 1] = logit;
  }
  for (int part = 0; part < 2; ++part) {
    shift[part] = blockShift(shift[part], scratch);
    any[part] = blockSum(any[part], scratch);
  }
  pairs::LossPartial out;
  if (any[0] == 0.0 || any[1] == 0.0) {
    for (int64_t j = threadIdx.x; coef && j < row.refs; j += blockDim.x) coef[j] = 0.0f;
    return out;
  }
  for (int64_t j = threadIdx.x; j < row.refs; j += blockDim.x) {
    const int kind = pairs::pairKind(row, j);
    if (kind == 0 || b.weight(j) <= 0) continue;
    total[kind - 1] += exp(pairs::circleLogit(kind, v[j], m, gamma, &relu) - shift[kind - 1]);
  }
  const double lse[2] = {shift[0] + log(blockSum(total[0], scratch)), shift[1] + log(blockSum(total[1], scratch))};
  const double z = lse[0] + lse[1];
  const double rowLoss = pairs::softplus(z);
  out.sum[0] = rowLoss;
  out.count[0] = rowLoss > 0.0 ? 1.0 : (rowLoss != rowLoss ? 1.0 : 0.0);
  if (!coef) return out;
  const double outer = pairs::sigmoid(z) * scale;
  for (int64_t j = threadIdx.x; j < row.refs; j += blockDim.x) {
    const int kind = pairs::pairKind(row, j);
    if (kind == 0 || b.weight(j) <= 0 || !(rowLoss > 0.0)) {
      coef[j] = 0.0f;
      continue;
    }
    const double share = exp(pairs::circleLogit(kind, v[j], m, gamma, &relu) - lse[kind - 1]);
    coef[j] = static_cast<float>(outer * share * (kind == 1 ? -gamma : gamma) * relu);
  }
  return out;
}

// pairs::ntXentRow (multiplicities).
__device__ pairs::LossPartial ntXentBlock(const BlockRow& b, const PairLossOptions& loss, double scale, float* coef,
                                          double* scratch) {
  const pairs::PairRow& row = b.row;
  const double sign = pairs::similarity(loss.distance) ? 1.0 : -1.0;
  const double tau = loss.temperature;
  const float* v = row.lossValues;
  double shift = -INFINITY, total = 0.0;
  for (int64_t j = threadIdx.x; j < row.refs; j += blockDim.x) {
    int32_t w;
    if (pairs::pairKind(row, j) != 2 || (w = b.weight(j)) <= 0) continue;
    const double x = sign * v[j] / tau + log(static_cast<double>(w));
    if (x > shift || x != x) shift = x;
  }
  shift = blockShift(shift, scratch);
  if (shift != -INFINITY) {
    for (int64_t j = threadIdx.x; j < row.refs; j += blockDim.x) {
      int32_t w;
      if (pairs::pairKind(row, j) != 2 || (w = b.weight(j)) <= 0) continue;
      total += exp(sign * v[j] / tau + log(static_cast<double>(w)) - shift);
    }
  }
  total = blockSum(total, scratch);
  const double z = shift == -INFINITY ? -INFINITY : shift + log(total);
  pairs::LossPartial out;
  double positiveWeight = 0.0;  // Σ_p w_p·sigmoid(r_p)
  for (int64_t j = threadIdx.x; j < row.refs; j += blockDim.x) {
    const int kind = pairs::pairKind(row, j);
    const int32_t w = kind == 0 ? 0 : b.weight(j);
    if (coef && kind != 1) coef[j] = 0.0f;  // negatives: below
    if (kind != 1) continue;
    if (w <= 0) {
      if (coef) coef[j] = 0.0f;
      continue;
    }
    const double r = z - sign * v[j] / tau;
    out.sum[0] += w * pairs::softplus(r);
    out.count[0] += w;
    const double g = pairs::sigmoid(r);
    positiveWeight += w * g;
    if (coef) coef[j] = static_cast<float>(-w * g / tau * sign * scale);
  }
  out.sum[0] = blockSum(out.sum[0], scratch);
  out.count[0] = blockSum(out.count[0], scratch);
  if (!coef) return out;
  positiveWeight = blockSum(positiveWeight, scratch);
  for (int64_t j = threadIdx.x; j < row.refs; j += blockDim.x) {
    int32_t w;
    if (pairs::pairKind(row, j) != 2 || (w = b.weight(j)) <= 0) continue;
    const double share = z == -INFINITY ? 0.0 : exp(sign * v[j] / tau + log(static_cast<double>(w)) - z);
    coef[j] = static_cast<float>(share / tau * positiveWeight * sign * scale);
  }
  return out;
}

// Shared memory of the block sweep: 2·blockDim int64 and 2·blockDim doubles for the scans, and
// blockDim doubles for the sums.
struct SweepShared {
  double* sums;
  int64_t* scan;
  double* dscan;
};

// What blockSweep found (every thread gets it).
struct BlockSweepResult {
  double triplets = 0.0, marginSum = 0.0;
  bool nan = false;
};

// pairs::sweepTriplets by the block, over `values` (similarities when sim), members all pairs or
// those with b.weight(j) > 0 (useMember): s.counts[j] = the triplets in `bounds` column j is in.
__device__ BlockSweepResult blockSweep(const BlockRow& b, const float* values, bool sim, bool useMember,
                                       const pairs::TripletBounds& bounds, double margin, const TripletScratch& s,
                                       const SweepShared& sh) {
  const pairs::PairRow& row = b.row;
  const float* v = values;
  const double sigma = sim ? 1.0 : -1.0;
  BlockSweepResult result;
  auto memberKind = [&](int64_t j) {  // 0: not a member pair
    const int kind = pairs::pairKind(row, j);
    return kind != 0 && (!useMember || b.weight(j) > 0) ? kind : 0;
  };
  for (int64_t j = threadIdx.x; j < row.refs; j += blockDim.x) s.counts[j] = 0;
  double sides[3] = {0.0, 0.0, 0.0};  // positives, negatives, NaN members
  for (int64_t j = threadIdx.x; j < row.refs; j += blockDim.x) {
    const int kind = memberKind(j);
    if (kind == 0) continue;
    sides[kind - 1] += 1.0;
    if (v[j] != v[j]) sides[2] += 1.0;
  }
  for (double& side : sides) side = blockSum(side, sh.sums);  // also orders the zeroed counts
  if (sides[0] == 0.0 || sides[1] == 0.0) return result;
  result.nan = sides[2] > 0.0;
  const bool sortedArePositives = sides[0] < sides[1];
  const int sortedKind = sortedArePositives ? 1 : 2;
  // The sorted side: its non-NaN members in column order, then sorted (NaN padding last).
  int64_t sorted = 0;
  for (int64_t c0 = 0; c0 < row.refs; c0 += blockDim.x) {
    const int64_t j = c0 + threadIdx.x;
    const bool take = j < row.refs && memberKind(j) == sortedKind && v[j] == v[j];
    int64_t chunk;
    const int64_t at = blockExclusiveScan(take ? 1 : 0, sh.scan, &chunk);
    if (take) s.keys[sorted + at] = pairs::SortKey{v[j], static_cast<int32_t>(j)};
    sorted += chunk;
  }
  const int64_t padded = minePaddedKeys(sorted);
  for (int64_t k = sorted + threadIdx.x; k < padded; k += blockDim.x) s.keys[k] = pairs::SortKey{NAN, INT32_MAX};
  __syncthreads();
  blockBitonicSort(s.keys, padded, pairs::KeyLess());
  // pairs::anchoredPrefix: 0 where the values change sign, summed outward by block scans.
  double below = 0.0;
  for (int64_t k = threadIdx.x; k < sorted; k += blockDim.x) below += s.keys[k].value < 0.0f ? 1.0 : 0.0;
  const int64_t zero = static_cast<int64_t>(blockSum(below, sh.sums));
  if (threadIdx.x == 0) s.prefix[zero] = 0.0;
  double carry = 0.0;
  for (int64_t c0 = zero; c0 < sorted; c0 += blockDim.x) {  // prefix[k + 1] = Σ_{zero ≤ q ≤ k}
    const int64_t k = c0 + threadIdx.x;
    double chunk;
    const double sum = blockInclusiveScan(k < sorted ? double(s.keys[k].value) : 0.0, sh.dscan, &chunk);
    if (k < sorted) s.prefix[k + 1] = carry + sum;
    carry += chunk;
  }
  carry = 0.0;
  for (int64_t c0 = 0; c0 < zero; c0 += blockDim.x) {  // prefix[k] = −Σ_{k ≤ q < zero}, k = zero − 1 − c
    const int64_t k = zero - 1 - (c0 + threadIdx.x);
    double chunk;
    const double sum = blockInclusiveScan(k >= 0 ? double(s.keys[k].value) : 0.0, sh.dscan, &chunk);
    if (k >= 0) s.prefix[k] = -(carry + sum);
    carry += chunk;
  }
  for (int64_t k = threadIdx.x; k <= sorted; k += blockDim.x) s.diff[k] = 0;
  __syncthreads();
  // The other side: each column's range, its triplets and Σ (margin − t).
  double triplets = 0.0, marginSum = 0.0;
  for (int64_t j = threadIdx.x; j < row.refs; j += blockDim.x) {
    const int kind = memberKind(j);
    if (kind == 0 || kind == sortedKind || v[j] != v[j]) continue;
    const pairs::Range r = pairs::tripletRange(s.keys, sorted, sim, sortedArePositives, v[j], bounds);
    const int64_t n = r.end - r.begin;
    if (n == 0) continue;
    const double gap = (s.prefix[r.end] - s.prefix[r.begin]) - double(n) * v[j];
    triplets += double(n);
    marginSum += sortedArePositives ? double(n) * margin - sigma * gap : double(n) * margin + sigma * gap;
    s.counts[j] = static_cast<int32_t>(n);
    atomicAdd(&s.diff[r.begin], 1);
    atomicAdd(&s.diff[r.end], -1);
  }
  __syncthreads();
  int64_t running = 0;
  for (int64_t c0 = 0; c0 < sorted; c0 += blockDim.x) {  // the sorted side's counts: the running sum of diff
    const int64_t k = c0 + threadIdx.x;
    int64_t chunk;
    const int64_t at = blockInclusiveScan<int64_t>(k < sorted ? s.diff[k] : 0, sh.scan, &chunk);
    if (k < sorted) s.counts[s.keys[k].index] = static_cast<int32_t>(running + at);
    running += chunk;
  }
  result.triplets = blockSum(triplets, sh.sums);
  result.marginSum = blockSum(marginSum, sh.sums);  // its barriers order the counts before their readers
  return result;
}

// pairs::tripletRow (batch-hard, or the sweep over the members) and lossRow's triplet
// coefficients, by the block.
__device__ pairs::LossPartial tripletBlock(const BlockRow& b, const PairLossOptions& loss, double scale, float* coef,
                                          const TripletScratch& s, const SweepShared& sh) {
  const pairs::PairRow& row = b.row;
  const bool sim = pairs::similarity(loss.distance);
  const double sigma = sim ? 1.0 : -1.0;  // ∂(margin − t)/∂v_p = −σ, ∂/∂v_n = +σ
  const float* v = row.lossValues;
  const pairs::TripletBounds active = pairs::lossBounds(loss.margin);
  pairs::LossPartial out;
  if (b.miner.type == MinerType::BatchHard) {
    for (int64_t j = threadIdx.x; j < row.refs; j += blockDim.x) s.counts[j] = 0;
    __syncthreads();
    const int64_t hp = b.e.hardestPositive, hn = b.e.hardestNegative;
    if (hp >= 0 && hn >= 0) {
      const double t = pairs::tripletT(sim, v[hp], v[hn]);
      if (t != t) out.sum[0] += t;
      if (pairs::inBounds(active, t)) {
        out.sum[0] += loss.margin - t;
        out.count[0] = 1.0;
        if (threadIdx.x == 0) s.counts[hp] = 1, s.counts[hn] = 1;
      }
    }
    __syncthreads();
  } else {
    const bool useMember = b.miner.type != MinerType::None && b.miner.type != MinerType::TripletMargin;
    const pairs::TripletBounds bounds =
        b.miner.type == MinerType::TripletMargin ? pairs::intersectBounds(pairs::minerBounds(b.miner), active) : active;
    const BlockSweepResult sweep = blockSweep(b, v, sim, useMember, bounds, loss.margin, s, sh);
    out.sum[0] = sweep.nan ? double(NAN) : sweep.marginSum;
    out.count[0] = sweep.triplets;
  }
  for (int64_t j = threadIdx.x; coef && j < row.refs; j += blockDim.x) {
    coef[j] = s.counts[j] == 0 ? 0.0f
                               : static_cast<float>((pairs::pairKind(row, j) == 1 ? -sigma : sigma) * double(s.counts[j]) * scale);
  }
  return out;
}

// The loss rows of a wave, a block each: the forward pass writes partials[i] (with
// pairs::nonFinitePairs' count); the backward pass (coef given) the row's ∂loss/∂v_ij.
__global__ void __launch_bounds__(kLossThreads) lossRowsKernel(RowSource src, MinerOptions miner, PairLossOptions loss,
                                                               const float* minerValues, const float* lossValues, Wave w,
                                                               pairs::LossPartial* partials, pairs::LossScale scale,
                                                               float* coef) {
  __shared__ double scratch[kLossThreads];
  __shared__ ExtremesPart extremes[kLossThreads];
  __shared__ int64_t scan[2 * kLossThreads];
  __shared__ double dscan[2 * kLossThreads];
  const int local = w.first + static_cast<int>(blockIdx.x);
  const int64_t i = w.row0 + local;
  BlockRow b;
  b.row = makeRow(src, i, minerValues + local * src.ld, lossValues + local * src.ld);
  b.miner = miner;
  b.minerSim = pairs::similarity(miner.distance);
  b.e = pairs::RowExtremes{};
  b.tripletWeights = nullptr;
  if (miner.type == MinerType::MultiSimilarity || miner.type == MinerType::BatchHard) {
    b.e = blockRowExtremes(b.row, b.minerSim, extremes);
  }
  const TripletScratch s = carveTripletScratch(w.scratch + blockIdx.x * w.scratchStride, b.row.refs);
  const SweepShared sh{scratch, scan, dscan};
  if (miner.type == MinerType::TripletMargin && loss.type != PairLossType::TripletMargin) {
    // pairs::minedWeights: each column's mined triplets, over the miner's values.
    blockSweep(b, b.row.minerValues, b.minerSim, false, pairs::minerBounds(miner), 0.0, s, sh);
    b.tripletWeights = s.counts;
  }
  float* c = coef ? coef + local * src.ld : nullptr;
  pairs::LossPartial out;
  switch (loss.type) {
    case PairLossType::MultiSimilarity: out = multiSimilarityBlock(b, loss, scale.scale[0], c, scratch); break;
    case PairLossType::Circle: out = circleBlock(b, loss, scale.scale[0], c, scratch); break;
    case PairLossType::NtXent: out = ntXentBlock(b, loss, scale.scale[0], c, scratch); break;
    case PairLossType::TripletMargin: out = tripletBlock(b, loss, scale.scale[0], c, s, sh); break;
    default: out = marginPairsBlock(b, loss, scale.scale, c, scratch); break;
  }
  if (c) return;
  double nonFinite = 0.0;
  for (int64_t j = threadIdx.x; j < b.row.refs; j += blockDim.x) {
    if (j != b.row.excluded && (!isfinite(b.row.lossValues[j]) || !isfinite(b.row.minerValues[j]))) nonFinite += 1.0;
  }
  out.nonFinite = blockSum(nonFinite, scratch);
  if (threadIdx.x == 0) partials[i] = out;
}

}  // namespace
}  // namespace pair_cuda
}  // namespace fusedloss
