// Kernel-only time and memory of the native CPU pair kernels beside an unfused baseline that does
// what pytorch-metric-learning does on the CPU — materialize the N×M matrix (same GEMM
// micro-kernel), sort whole rows, build masks, enumerate every triplet — measured in one process.
// bench/pairs.bench.js runs it; `npm run bench:kernel:pairs` builds it.
//
//   pairs_cpu_bench WORKLOAD N M D [threads=all] [runs=3] [fused-only]
//     WORKLOAD  ms        multi-similarity miner (ε 0.1) + multi-similarity loss, gradients
//               batch-hard  batch-hard mining (euclidean)
//               triplets  triplet-margin loss (margin 0.05, euclidean) over all triplets, gradients
//     M = N: the batch against itself; M ≠ N: against a reference set (memory bank).
//
// Inputs: class-structured random vectors (label (i >> 2) mod max(1, N/4), a random center per
// class plus noise 3× its scale), the same in bench/pairs.bench.js and bench/pml_pairs.py.  Prints one JSON line last.  Memory
// is the growth of the peak resident set (VmHWM, reset before each method) over the inputs.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "kernels/pairs.h"
#include "runtime/gemm.h"
#include "bench_util.h"
#include "runtime/thread_pool.h"

namespace {

using namespace fusedloss;
using namespace benchutil;

struct Problem {
  int64_t n, m, d;
  bool self;
  std::vector<float> x, y;
  std::vector<int32_t> labels, refLabels;
};

// Noise per coordinate around the class centers (unit normal): same-class cosines ≈ 0.1 and a
// spread of negatives around 0, so a good share of triplets violate the margin.
constexpr float kNoise = 3.0f;

Problem makeProblem(int64_t n, int64_t m, int64_t d) {
  Problem p{n, m, d, n == m, {}, {}, {}, {}};
  const int64_t classes = std::max<int64_t>(1, n / 4);
  std::mt19937 rng(11);
  std::normal_distribution<float> normal;
  std::vector<float> centers(classes * d);
  for (float& v : centers) v = normal(rng);
  auto fill = [&](int64_t rows, std::vector<float>& out, std::vector<int32_t>& labels) {
    out.resize(rows * d);
    labels.resize(rows);
    for (int64_t i = 0; i < rows; ++i) {
      labels[i] = static_cast<int32_t>((i >> 2) % classes);
      for (int64_t k = 0; k < d; ++k) out[i * d + k] = centers[labels[i] * d + k] + kNoise * normal(rng);
    }
  };
  fill(n, p.x, p.labels);
  if (!p.self) fill(m, p.y, p.refLabels);
  return p;
}

// ---------------------------------------------------------------- unfused (PML's way)

struct Unfused {
  int64_t n, m, d;
  std::vector<float> xn, yn;  // normalized
  std::vector<float> mat;     // N×M similarities or distances
  std::vector<float> coef;    // N×M ∂loss/∂mat
  std::vector<float> gradX, gradY;
};

// mat = X̂·Ŷᵀ (cosine), optionally turned into euclidean distances sqrt(max(2 − 2s, 0)).
void materialize(Unfused& u, bool euclidean) {
  std::vector<float> yT(u.d * u.m);
  for (int64_t j = 0; j < u.m; ++j)
    for (int64_t k = 0; k < u.d; ++k) yT[k * u.m + j] = u.yn[j * u.d + k];
  u.mat.assign(u.n * u.m, 0.0f);
  const int64_t chunks = std::min<int64_t>(u.n, 64);
  parallelFor(chunks, [&](int64_t chunk) {
    const int64_t r0 = chunk * u.n / chunks, r1 = (chunk + 1) * u.n / chunks;
    for (int64_t c0 = 0; c0 < u.m; c0 += 4096) {
      GemmOperands op;
      op.m = r1 - r0, op.n = std::min<int64_t>(4096, u.m - c0), op.k = u.d;
      op.a = u.xn.data() + r0 * u.d, op.aRowStride = u.d, op.aDepthStride = 1;
      op.b = yT.data() + c0, op.ldb = u.m, op.c = u.mat.data() + r0 * u.m + c0, op.ldc = u.m;
      gemm(op);
    }
    if (euclidean) {
      for (int64_t i = r0 * u.m; i < r1 * u.m; ++i) u.mat[i] = std::sqrt(std::max(2.0f - 2.0f * u.mat[i], 0.0f));
    }
  });
}

// gradX̂ = G·Ŷ, gradŶ = Gᵀ·X̂ with G = coef (cosine) or the euclidean chain rule applied first
// (∂d/∂s = −1/d for unit vectors), then gradients through the normalization are left out: both
// forms would pay the same O((N+M)·D) for them.
void backward(Unfused& u, bool euclidean) {
  if (euclidean) {
    for (int64_t i = 0; i < u.n * u.m; ++i) u.coef[i] = u.mat[i] > 0 ? -u.coef[i] / u.mat[i] : 0.0f;
  }
  u.gradX.assign(u.n * u.d, 0.0f);
  u.gradY.assign(u.m * u.d, 0.0f);
  const int64_t rowChunks = std::min<int64_t>(u.n, 64), colChunks = std::min<int64_t>(u.m, 256);
  parallelFor(rowChunks, [&](int64_t chunk) {
    const int64_t r0 = chunk * u.n / rowChunks, r1 = (chunk + 1) * u.n / rowChunks;
    GemmOperands op;
    op.m = r1 - r0, op.n = u.d, op.k = u.m;
    op.a = u.coef.data() + r0 * u.m, op.aRowStride = u.m, op.aDepthStride = 1;
    op.b = u.yn.data(), op.ldb = u.d, op.c = u.gradX.data() + r0 * u.d, op.ldc = u.d;
    gemm(op);
  });
  parallelFor(colChunks, [&](int64_t chunk) {
    const int64_t j0 = chunk * u.m / colChunks, j1 = (chunk + 1) * u.m / colChunks;
    GemmOperands op;
    op.m = j1 - j0, op.n = u.d, op.k = u.n;
    op.a = u.coef.data() + j0, op.aRowStride = 1, op.aDepthStride = u.m;
    op.b = u.xn.data(), op.ldb = u.d, op.c = u.gradY.data() + j0 * u.d, op.ldc = u.d;
    gemm(op);
  });
}

bool isPositive(const Problem& p, int64_t i, int64_t j) {
  const int32_t refLabel = p.self ? p.labels[j] : p.refLabels[j];
  return refLabel == p.labels[i] && !(p.self && i == j);
}
bool isNegative(const Problem& p, int64_t i, int64_t j) { return (p.self ? p.labels[j] : p.refLabels[j]) != p.labels[i]; }

// MultiSimilarityMiner + MultiSimilarityLoss as PML computes them: two masked copies of the
// matrix, every row sorted twice, index lists, then masks for the loss and an N×M gradient.
double unfusedMultiSimilarity(const Problem& p, Unfused& u) {
  materialize(u, false);
  const int64_t n = u.n, m = u.m;
  std::vector<float> posSorting(u.mat), negSorting(u.mat);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < m; ++j) {
      if (!isPositive(p, i, j)) posSorting[i * m + j] = INFINITY;
      if (!isNegative(p, i, j)) negSorting[i * m + j] = -INFINITY;
    }
  }
  std::vector<uint8_t> posMask(n * m, 0), negMask(n * m, 0);
  parallelFor(std::min<int64_t>(n, 64), [&](int64_t chunk) {
    const int64_t chunks = std::min<int64_t>(n, 64);
    std::vector<int32_t> order(m);
    for (int64_t i = chunk * n / chunks; i < (chunk + 1) * n / chunks; ++i) {
      const float* pos = posSorting.data() + i * m;
      const float* neg = negSorting.data() + i * m;
      std::iota(order.begin(), order.end(), 0);
      std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return neg[a] < neg[b]; });
      const float maxNeg = neg[order[m - 1]];
      std::iota(order.begin(), order.end(), 0);
      std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return pos[a] < pos[b]; });
      const float minPos = pos[order[0]];
      for (int64_t j = 0; j < m; ++j) {
        if (pos[j] - 0.1f < maxNeg) posMask[i * m + j] = 1;
        if (neg[j] + 0.1f > minPos) negMask[i * m + j] = 1;
      }
    }
  });
  u.coef.assign(n * m, 0.0f);
  double loss = 0;
  const double alpha = 2, beta = 50, base = 0.5;
  for (int64_t i = 0; i < n; ++i) {
    const float* s = u.mat.data() + i * m;
    double posMax = 0, negMax = 0;  // the implicit 0 of log(1 + Σ)
    for (int64_t j = 0; j < m; ++j) {
      if (posMask[i * m + j]) posMax = std::max(posMax, alpha * (base - s[j]));
      if (negMask[i * m + j]) negMax = std::max(negMax, beta * (s[j] - base));
    }
    double posSum = std::exp(-posMax), negSum = std::exp(-negMax);
    for (int64_t j = 0; j < m; ++j) {
      if (posMask[i * m + j]) posSum += std::exp(alpha * (base - s[j]) - posMax);
      if (negMask[i * m + j]) negSum += std::exp(beta * (s[j] - base) - negMax);
    }
    loss += (posMax + std::log(posSum)) / alpha + (negMax + std::log(negSum)) / beta;
    for (int64_t j = 0; j < m; ++j) {
      if (posMask[i * m + j]) u.coef[i * m + j] -= float(std::exp(alpha * (base - s[j]) - posMax) / posSum / n);
      if (negMask[i * m + j]) u.coef[i * m + j] += float(std::exp(beta * (s[j] - base) - negMax) / negSum / n);
    }
  }
  backward(u, false);
  return loss / n;
}

// BatchHardMiner: the matrix, then per row the farthest positive and the closest negative.
double unfusedBatchHard(const Problem& p, Unfused& u) {
  materialize(u, true);
  std::vector<int32_t> anchors, positives, negatives;
  for (int64_t i = 0; i < u.n; ++i) {
    int64_t hardPos = -1, hardNeg = -1;
    for (int64_t j = 0; j < u.m; ++j) {
      const float v = u.mat[i * u.m + j];
      if (isPositive(p, i, j) && (hardPos < 0 || v > u.mat[i * u.m + hardPos])) hardPos = j;
      if (isNegative(p, i, j) && (hardNeg < 0 || v < u.mat[i * u.m + hardNeg])) hardNeg = j;
    }
    if (hardPos >= 0 && hardNeg >= 0) {
      anchors.push_back(int32_t(i)), positives.push_back(int32_t(hardPos)), negatives.push_back(int32_t(hardNeg));
    }
  }
  return double(anchors.size());
}

// TripletMarginLoss over all triplets: every (a, p, n) enumerated (PML: an N×M×M mask, then
// torch.where), a loss per triplet, the gradient scattered into an N×M matrix.
double unfusedTriplets(const Problem& p, Unfused& u) {
  materialize(u, true);
  std::vector<int32_t> anchors, positives, negatives;
  for (int64_t a = 0; a < u.n; ++a)
    for (int64_t q = 0; q < u.m; ++q) {
      if (!isPositive(p, a, q)) continue;
      for (int64_t r = 0; r < u.m; ++r) {
        if (isNegative(p, a, r)) anchors.push_back(int32_t(a)), positives.push_back(int32_t(q)), negatives.push_back(int32_t(r));
      }
    }
  const double margin = 0.05;
  double sum = 0;
  int64_t active = 0;
  std::vector<float> violation(anchors.size());
  for (size_t t = 0; t < anchors.size(); ++t) {
    const double v = double(u.mat[anchors[t] * u.m + positives[t]]) - u.mat[anchors[t] * u.m + negatives[t]] + margin;
    violation[t] = float(v);
    if (v > 0) sum += v, ++active;
  }
  u.coef.assign(u.n * u.m, 0.0f);
  if (active > 0) {
    const float w = float(1.0 / active);
    for (size_t t = 0; t < anchors.size(); ++t) {
      if (violation[t] > 0) u.coef[anchors[t] * u.m + positives[t]] += w, u.coef[anchors[t] * u.m + negatives[t]] -= w;
    }
  }
  backward(u, true);
  return active > 0 ? sum / active : 0.0;
}

}  // namespace

// The workloads: the fused kernels' options and the unfused baseline of each, one row per name.
struct Workload {
  const char* name;
  MinerOptions miner;       // type None: no miner
  PairLossOptions loss;
  bool mines;               // mineCpu (triplets counted) instead of pairLossCpu
  bool enumeratesTriplets;  // the unfused baseline enumerates every triplet
  double (*unfused)(const Problem&, Unfused&);
};

std::vector<Workload> workloads() {
  Workload ms{"ms", {}, {}, false, false, unfusedMultiSimilarity};
  ms.miner.type = MinerType::MultiSimilarity, ms.miner.distance = PairDistance::Cosine, ms.miner.epsilon = 0.1;
  ms.loss.type = PairLossType::MultiSimilarity, ms.loss.distance = PairDistance::Cosine;
  Workload batchHard{"batch-hard", {}, {}, true, false, unfusedBatchHard};
  batchHard.miner.type = MinerType::BatchHard, batchHard.miner.distance = PairDistance::Euclidean;
  Workload triplets{"triplets", {}, {}, false, true, unfusedTriplets};
  triplets.loss.type = PairLossType::TripletMargin, triplets.loss.distance = PairDistance::Euclidean, triplets.loss.margin = 0.05;
  return {ms, batchHard, triplets};
}

int main(int argc, char** argv) {
  const std::vector<Workload> table = workloads();
  const Workload* chosen = nullptr;
  for (const Workload& w : table) chosen = argc > 1 && std::string(argv[1]) == w.name ? &w : chosen;
  if (argc < 5 || !chosen) {
    std::fprintf(stderr, "usage: pairs_cpu_bench ms|batch-hard|triplets N M D [threads] [runs] [fused-only]\n");
    return 2;
  }
  const Workload& workload = *chosen;
  const int64_t n = std::atoll(argv[2]), m = std::atoll(argv[3]), d = std::atoll(argv[4]);
  if (argc > 5 && std::atoi(argv[5]) > 0) setThreadCount(std::atoi(argv[5]));
  const int runs = argc > 6 ? std::max(1, std::atoi(argv[6])) : 3;
  const bool fusedOnly = argc > 7 && std::string(argv[7]) == "fused-only";
  const Problem problem = makeProblem(n, m, d);

  PairShape shape;
  shape.rows = n, shape.refs = m, shape.dim = d;
  PairInputs inputs;
  inputs.embeddings = problem.x.data(), inputs.labels = problem.labels.data();
  if (!problem.self) inputs.ref = problem.y.data(), inputs.refLabels = problem.refLabels.data();
  PairSimilarityOptions similarity;
  std::vector<float> gradX(n * d, 1.0f), gradY(problem.self ? 0 : m * d, 1.0f);  // faulted in before measuring
  PairLossOutputs lossOut;
  lossOut.gradEmbeddings = gradX.data();
  lossOut.gradRef = problem.self ? nullptr : gradY.data();
  MineOutputs mined;

  double fusedValue = 0;
  KernelStatus status;
  const double base = statusKiB("VmRSS:");
  resetPeak();
  const double fused = medianSeconds(
      [&] {
        if (workload.mines) {
          mined = MineOutputs();
          status = mineCpu(shape, similarity, workload.miner, int64_t(1) << 40, inputs, mined);
          fusedValue = double(mined.triplets.anchors.size());
        } else {
          status = pairLossCpu(shape, similarity, workload.miner, workload.loss, inputs, lossOut);
          fusedValue = lossOut.loss;
        }
      },
      runs);
  const double fusedPeak = (statusKiB("VmHWM:") - base) / 1024;
  if (!status.ok) {
    std::fprintf(stderr, "fused kernel failed: %s\n", status.message.c_str());
    return 1;
  }
  std::printf("%s N %lld M %lld D %lld, %d threads, gemm %s: fused %.4f s, peak extra %.0f MiB, value %.9g\n", workload.name,
              (long long)n, (long long)m, (long long)d, threadCount(), gemmLevel(), fused, fusedPeak, fusedValue);

  // PML's all-triplets mask and index lists: skip the unfused form where they pass 8 GiB.
  double triplets = 0;
  for (int64_t i = 0; i < n; ++i) {
    int64_t pos = 0, neg = 0;
    for (int64_t j = 0; j < m; ++j) pos += isPositive(problem, i, j), neg += isNegative(problem, i, j);
    triplets += double(pos) * neg;
  }
  const double unfusedBytes = 12.0 * n * m + (workload.enumeratesTriplets ? 16.0 * triplets : 0.0);
  std::string unfusedJson = "null";
  if (!fusedOnly && unfusedBytes < 8e9) {
    Unfused u{n, m, d, benchutil::normalizedRows(problem.x, n, d), {}, {}, {}, {}, {}};
    u.yn = problem.self ? u.xn : benchutil::normalizedRows(problem.y, m, d);
    double value = 0;
    const double before = statusKiB("VmRSS:");
    resetPeak();
    const double t = medianSeconds([&] { value = workload.unfused(problem, u); }, 1);
    const double peak = (statusKiB("VmHWM:") - before) / 1024;
    std::printf("unfused (materialized N×M%s): %.4f s, peak extra %.0f MiB, value %.9g\n",
                workload.enumeratesTriplets ? ", enumerated triplets" : "", t, peak, value);
    char buffer[256];
    std::snprintf(buffer, sizeof buffer, "{\"seconds\":%.6f,\"peakExtraMiB\":%.1f,\"value\":%.12g}", t, peak, value);
    unfusedJson = buffer;
  } else if (!fusedOnly) {
    std::printf("unfused: skipped (needs ≈%.1f GiB: %.3g triplets)\n", unfusedBytes / 1073741824.0, triplets);
  }
  std::printf("{\"workload\":\"%s\",\"n\":%lld,\"m\":%lld,\"d\":%lld,\"threads\":%d,\"triplets\":%.0f,"
              "\"fused\":{\"seconds\":%.6f,\"peakExtraMiB\":%.1f,\"value\":%.12g},\"unfused\":%s}\n",
              workload.name, (long long)n, (long long)m, (long long)d, threadCount(), triplets, fused, fusedPeak, fusedValue,
              unfusedJson.c_str());
  return 0;
}
