// CUDA-vs-CPU check of the margin softmax (docs/spec/gpu.md): marginSoftmaxCuda against
// marginSoftmaxCpu, through the same signature (native/kernels/margin.h), on fresh random inputs, over every margin type and
// scale mode, filter, curricular, label smoothing, row margins and weights, ignored rows, sub-centers,
// classIds subsets, the columns layout, small work budgets (class and row slabs), and sizes that are
// multiples of no tile.  Tolerances: loss relative 1e-5; each gradient ‖cuda − cpu‖/‖cpu‖ ≤ 1e-4;
// per-row losses and LSE 1e-5; predictions exact except on float near-ties (the two classes'
// float64 cosines within 1e-5); NaN, Inf or an unwritten element never passes.  Near-zero
// references (C = 1: the exact gradient is 0) are compared against a floor of 1e-2 of the natural
// scale (s·coef·√rows), i.e. absolute differences below 1e-6 of it pass.  Float32 runs the FP32
// SIMT tile; the precision group runs tf32 / bf16 on the tile the device picks (tensor cores on
// sm_80+, as the CPU harness reports 9.0) and again on the SIMT tile; then the entry points'
// surroundings (margin_device_checks.cuh).  Then marginSoftmaxCudaDevice timed (margin_bench.cuh).
// Needs no Node.
//
//   margin_check [--quick] [--no-bench]     exit 0: every check passed, 1: a failure, 2: no CUDA

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "../../native/kernels/margin.h"
#include "check.cuh"

namespace {
using namespace fusedloss;

constexpr double kLossTolerance = 1e-5, kRowTolerance = 1e-5, kGradTolerance = 1e-4, kTieTolerance = 1e-5;
constexpr double kNone = -9.0;  // no interclass filter

using check::kPoison;
using check::compareVector;
using check::Rng;
using check::Tally;

struct Variant {
  const char* name;
  MarginType type;
  double m1, m2, m3;
  bool easy, straight;
  ScaleMode mode;
  double scale, smoothing, filter;
  bool curricular, rowAngular, rowAdditive, rowWeights;
  Reduction reduction;
};

constexpr MarginType kArc = MarginType::Combined;
constexpr ScaleMode kFixed = ScaleMode::Fixed, kFeature = ScaleMode::FeatureNorm, kProduct = ScaleMode::ProductNorm;
constexpr Reduction kMean = Reduction::Mean, kSum = Reduction::Sum;
const Variant kVariants[] = {
    {"arcface", kArc, 1, 0.5, 0, false, false, kFixed, 64, 0, kNone, false, false, false, false, kMean},
    {"arcface-easy", kArc, 1, 0.5, 0, true, false, kFixed, 64, 0, kNone, false, false, false, false, kMean},
    {"arcface-st-smooth", kArc, 1, 0.5, 0, false, true, kFixed, 32, 0.1, kNone, false, false, false, true, kMean},
    {"cosface-featnorm", MarginType::CosFace, 1, 0, 0.35, false, false, kFeature, 30, 0, kNone, false, false, false, false, kMean},
    {"combined-prodnorm", kArc, 1, 0.3, 0.2, false, false, kProduct, 10, 0.1, kNone, false, false, false, false, kMean},
    {"sphereface4-featnorm", MarginType::SphereFace, 4, 0, 0, false, false, kFeature, 16, 0, kNone, false, false, false, false, kMean},
    {"normface-sum", MarginType::None, 1, 0, 0, false, false, kFixed, 16, 0.2, kNone, false, false, false, true, kSum},
    {"arcface-filter", kArc, 1, 0.5, 0, false, false, kFixed, 64, 0, 0.2, false, false, false, false, kMean},
    {"curricular", kArc, 1, 0.5, 0, false, false, kFixed, 64, 0, kNone, true, false, false, false, kMean},
    {"elastic-adaface", kArc, 1, 0.3, 0.2, false, false, kFixed, 64, 0, kNone, false, true, true, true, kMean},
    {"cosface-rowadditive", MarginType::CosFace, 1, 0, 0.35, false, false, kFixed, 64, 0.05, kNone, false, false, true, false, kSum},
    {"combined-easy-st", kArc, 1.2, 0.2, 0.1, true, true, kFeature, 20, 0, kNone, false, false, false, true, kMean},
    {"sphereface2-prodnorm", MarginType::SphereFace, 2, 0, 0, false, false, kProduct, 8, 0, kNone, false, false, false, false, kMean},
    {"everything", kArc, 1.1, 0.3, 0.1, false, false, kProduct, 30, 0.05, 0.5, true, true, true, true, kSum},
};
constexpr int kVariantCount = sizeof kVariants / sizeof kVariants[0];

struct Case {
  int64_t rows = 1, dim = 1, classes = 1, subCenters = 1;
  int variant = 0;
  bool subset = false, columns = false, gradients = true, allIgnored = false, zeroRow = false;
  bool simt = false;  // options.simtGemm: the FP32 SIMT tile even on a tensor-core device
  Precision precision = Precision::Float32;  // options.precision: rounded GEMM operands
  double ignoredRate = 0.1;
  int64_t workBytes = int64_t{64} << 20;
  uint64_t seed = 1;
  std::string describe() const {
    char text[256];
    std::snprintf(text, sizeof text, "N=%lld D=%lld C=%lld K=%lld %s%s%s%s%s%s%s%s %s", static_cast<long long>(rows),
                  static_cast<long long>(dim), static_cast<long long>(classes), static_cast<long long>(subCenters),
                  kVariants[variant].name, subset ? " classIds" : "", columns ? " columns" : "", gradients ? "" : " no-grad",
                  allIgnored ? " all-ignored" : "", zeroRow ? " zero-row" : "",
                  workBytes < (int64_t{64} << 20) ? " small-work" : "", simt ? " simt" : "",
                  EnumNames<Precision>::names[static_cast<int>(precision)]);
    return text;
  }
};

struct Data {
  MarginSoftmaxShape shape;
  MarginSoftmaxOptions options;
  std::vector<float> embeddings, weights, rowWeights, rowAngular, rowAdditive;
  std::vector<int32_t> targets, classIds;
  int filterRedraws = 0;  // rows drawn again off the interclass filter's step (separateFromFilter)
  MarginSoftmaxInputs inputs() const {
    MarginSoftmaxInputs in;
    in.embeddings = embeddings.data(), in.weights = weights.data(), in.targets = targets.data();
    in.classIds = classIds.empty() ? nullptr : classIds.data();
    in.rowWeights = rowWeights.empty() ? nullptr : rowWeights.data();
    in.rowAngular = rowAngular.empty() ? nullptr : rowAngular.data();
    in.rowAdditive = rowAdditive.empty() ? nullptr : rowAdditive.data();
    return in;
  }
  // Element d of weight row `row` (a center of the full table), whatever the layout.
  float weight(int64_t row, int64_t d) const {
    return options.weightsColumns ? weights[d * shape.weightRows + row] : weights[row * shape.dim + d];
  }
  // Weight row of center k of computed class j.
  int64_t centerRow(int64_t j, int64_t k) const { return (classIds.empty() ? j : classIds[j]) * shape.subCenters + k; }
  // Center k of computed class j, element d (whatever the layout).
  float center(int64_t j, int64_t k, int64_t d) const {
    return weight(centerRow(j, k), d);
  }
};

// A row's draw: its class (whatever its target, ignored or not), the pull towards that class's first
// center and its norm; the noise comes from the generator.
struct RowDraw {
  int32_t towards;
  double pull, length;
};

void drawRow(Data& d, int64_t i, const RowDraw& draw, Rng& rng) {
  const int64_t D = d.shape.dim;
  const double invRoot = 1.0 / std::sqrt(static_cast<double>(D));
  for (int64_t e = 0; e < D; ++e) {
    const double x = invRoot * rng.normal() + draw.pull * d.center(draw.towards, 0, e);
    d.embeddings[i * D + e] = static_cast<float>(draw.length * x);
  }
}

// float64 norms of embedding row i and of weight row `row`, from the raw inputs.
double rowNorm(const Data& d, int64_t i) {
  double xx = 0.0;
  for (int64_t e = 0; e < d.shape.dim; ++e) xx += static_cast<double>(d.embeddings[i * d.shape.dim + e]) * d.embeddings[i * d.shape.dim + e];
  return std::max(std::sqrt(xx), 1e-12);
}
double weightNorm(const Data& d, int64_t row) {
  double ww = 0.0;
  for (int64_t e = 0; e < d.shape.dim; ++e) ww += static_cast<double>(d.weight(row, e)) * d.weight(row, e);
  return std::max(std::sqrt(ww), 1e-12);
}

// float64 cosine of row i (norm xNorm) with computed class j, the max over its centers, as the
// kernels take it; weightNorms (every weight row's, for callers that ask for many classes) or
// computed here.
double classCosine(const Data& d, int64_t i, int64_t j, double xNorm, const std::vector<double>* weightNorms = nullptr) {
  const int64_t D = d.shape.dim;
  double best = -2.0;
  for (int64_t k = 0; k < d.shape.subCenters; ++k) {
    const int64_t row = d.centerRow(j, k);
    double xw = 0.0;
    for (int64_t e = 0; e < D; ++e) xw += static_cast<double>(d.embeddings[i * D + e]) * d.weight(row, e);
    best = std::max(best, xw / (xNorm * (weightNorms ? (*weightNorms)[row] : weightNorm(d, row))));
  }
  return best;
}

// The interclass filter is a step: a non-target whose cosine passes τ turns from s·c into 0, and
// at C = 100k the classes just under τ are the ones that dominate the softmax denominator, so one
// class that the two backends round to either side of τ moves its whole row by ~1e-3 (an H200 run
// of 2026-12-04 failed on such rows).  Every row with a non-target class cosine (float64, max over
// the class's centers, as the kernels take it) within kFilterGap of τ is drawn again (fresh noise,
// same class, pull and norm) until none is; each row's redraws have their own generator, so the
// data stay one function of the case.  kFilterGap is ~20× the float32 cosines' own error at
// D = 512.  The zero row has no cosines to move.
constexpr double kFilterGap = 2e-6;

bool nearFilter(const Data& d, int64_t i, const std::vector<double>& weightNorms) {
  const double xNorm = rowNorm(d, i), tau = d.options.filterThreshold;
  for (int64_t j = 0; j < d.shape.classes; ++j) {
    if (j != d.targets[i] && std::fabs(classCosine(d, i, j, xNorm, &weightNorms) - tau) < kFilterGap) return true;
  }
  return false;
}

void separateFromFilter(const Case& c, Data& d, const std::vector<RowDraw>& draws) {
  const int64_t N = d.shape.rows;
  std::vector<double> weightNorms(static_cast<size_t>(d.shape.weightRows));
  for (int64_t row = 0; row < d.shape.weightRows; ++row) weightNorms[row] = weightNorm(d, row);
  // Rows in parallel (C = 100k at N = 1000 is ~10^10 multiply-adds); each thread its own rows.
  const int threads = static_cast<int>(std::max(1u, std::min(std::thread::hardware_concurrency(), 32u)));
  std::vector<std::thread> pool;
  std::vector<int> redraws(static_cast<size_t>(threads), 0);
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (int64_t i = t; i < N; i += threads) {
        if (c.zeroRow && i == N / 2) continue;
        Rng rng{c.seed * 0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(i) * 1000003 + 17};
        for (int attempt = 0; attempt < 64 && nearFilter(d, i, weightNorms); ++attempt) drawRow(d, i, draws[i], rng), ++redraws[t];
      }
    });
  for (std::thread& thread : pool) thread.join();
  for (int count : redraws) d.filterRedraws += count;
}

// Embeddings pulled towards their target's first center by a random amount (so target cosines
// cover about [−0.6, 1]: every margin branch), norms in [0.5, 2] for the norm-based scales.
Data generate(const Case& c) {
  const Variant& v = kVariants[c.variant];
  Rng rng{c.seed * 0x2545f4914f6cdd1dULL + 777};
  Data d;
  const int64_t N = c.rows, D = c.dim, C = c.classes, K = c.subCenters;
  const int64_t total = c.subset ? C + C / 2 + 3 : C;
  d.shape.rows = N, d.shape.dim = D, d.shape.classes = C, d.shape.subCenters = K, d.shape.weightRows = total * K;
  MarginSoftmaxOptions& o = d.options;
  o.margin = v.type, o.m1 = v.m1, o.m2 = v.m2, o.m3 = v.m3, o.easyMargin = v.easy, o.straightThrough = v.straight;
  o.scale = v.scale, o.scaleMode = v.mode, o.labelSmoothing = v.smoothing, o.reduction = v.reduction;
  o.interclassFilter = v.filter > -2, o.filterThreshold = v.filter > -2 ? v.filter : 1.0;
  o.curricular = v.curricular, o.curricularT = 0.05 + 0.3 * rng.uniform(), o.curricularMomentum = 0.01 + 0.5 * rng.uniform();
  o.gradients = c.gradients, o.weightsColumns = c.columns, o.workBytes = c.workBytes, o.simtGemm = c.simt;
  o.precision = c.precision;
  const bool norms = v.mode != kFixed;
  d.weights.resize(static_cast<size_t>(total * K * D));
  const double invRoot = 1.0 / std::sqrt(static_cast<double>(D));
  for (int64_t r = 0; r < total * K; ++r) {
    const double length = norms ? 0.5 + 1.5 * rng.uniform() : 1.0;
    for (int64_t e = 0; e < D; ++e) {
      (c.columns ? d.weights[e * total * K + r] : d.weights[r * D + e]) = static_cast<float>(length * invRoot * rng.normal());
    }
  }
  if (c.subset) {
    std::vector<int32_t> ids(static_cast<size_t>(total));
    for (int64_t j = 0; j < total; ++j) ids[j] = static_cast<int32_t>(j);
    for (int64_t j = total - 1; j > 0; --j) std::swap(ids[j], ids[rng.next() % (j + 1)]);
    d.classIds.assign(ids.begin(), ids.begin() + C);
  }
  d.targets.resize(N);
  d.embeddings.resize(static_cast<size_t>(N * D));
  std::vector<RowDraw> draws(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) {
    const bool ignored = c.allIgnored || rng.uniform() < c.ignoredRate;
    const int32_t y = static_cast<int32_t>(rng.next() % C);
    d.targets[i] = ignored ? -1 : y;
    draws[i] = {y, (D > 8 ? 0.4 : 1.0) * (4.0 * rng.uniform() - 1.0), norms ? 0.5 + 1.5 * rng.uniform() : 1.0};
    const bool zero = c.zeroRow && i == N / 2;  // the 1e-12 norm floor (its gradient is huge)
    drawRow(d, i, draws[i], rng);
    if (zero) std::fill_n(&d.embeddings[i * D], D, 0.0f);
  }
  if (o.interclassFilter) separateFromFilter(c, d, draws);
  if (v.rowWeights) for (int64_t i = 0; i < N; ++i) d.rowWeights.push_back(static_cast<float>(2.0 * rng.uniform()));
  if (v.rowAngular) for (int64_t i = 0; i < N; ++i) d.rowAngular.push_back(static_cast<float>(0.2 + 0.5 * rng.uniform()));
  if (v.rowAdditive) for (int64_t i = 0; i < N; ++i) d.rowAdditive.push_back(static_cast<float>(0.3 * rng.uniform()));
  return d;
}

struct Result {
  KernelStatus status;
  std::vector<float> losses, logSumExp, gradEmbeddings, gradWeights;
  std::vector<int32_t> predictions;
  double loss = 0.0, curricularT = 0.0;
};

Result run(bool cuda, const Data& d) {
  const MarginSoftmaxShape& s = d.shape;
  Result r;
  r.losses.assign(s.rows, kPoison), r.logSumExp.assign(s.rows, kPoison);
  r.predictions.assign(s.rows, INT32_MIN);
  if (d.options.gradients) {
    r.gradEmbeddings.assign(static_cast<size_t>(s.rows * s.dim), kPoison);
    r.gradWeights.assign(static_cast<size_t>(s.classes * s.subCenters * s.dim), kPoison);
  }
  MarginSoftmaxOutputs out;
  out.losses = r.losses.data(), out.logSumExp = r.logSumExp.data(), out.predictions = r.predictions.data();
  out.gradEmbeddings = r.gradEmbeddings.empty() ? nullptr : r.gradEmbeddings.data();
  out.gradWeights = r.gradWeights.empty() ? nullptr : r.gradWeights.data();
  out.loss = out.curricularT = kPoison;
  const MarginSoftmaxInputs in = d.inputs();
  r.status = cuda ? marginSoftmaxCuda(s, d.options, in, out) : marginSoftmaxCpu(s, d.options, in, out);
  r.loss = out.loss, r.curricularT = out.curricularT;
  return r;
}

int64_t positionOf(const Data& d, int32_t id) {
  if (d.classIds.empty()) return id;
  return std::find(d.classIds.begin(), d.classIds.end(), id) - d.classIds.begin();
}

bool compare(const Case& c, const Data& d, const Result& gpu, const Result& cpu, std::string& why, double& worst,
             int& ties) {
  if (!gpu.status.ok || !cpu.status.ok) {
    why = "status: cuda '" + gpu.status.message + "', cpu '" + cpu.status.message + "'";
    return false;
  }
  const int64_t N = d.shape.rows;
  const double lossDiff = std::fabs(gpu.loss - cpu.loss);
  if (!std::isfinite(gpu.loss) || !std::isfinite(cpu.loss) || lossDiff > kLossTolerance * std::max(std::fabs(cpu.loss), 1.0)) {
    char text[200];
    std::snprintf(text, sizeof text, "loss: cuda %.17g, cpu %.17g", gpu.loss, cpu.loss);
    return why = text, false;
  }
  worst = std::max(worst, lossDiff / std::max(std::fabs(cpu.loss), 1.0));
  const double rowsFloor = std::sqrt(static_cast<double>(N));
  if (!compareVector("losses", gpu.losses, cpu.losses, kRowTolerance, rowsFloor, why, worst)) return false;
  if (!compareVector("logSumExp", gpu.logSumExp, cpu.logSumExp, kRowTolerance, rowsFloor, why, worst)) return false;
  if (d.options.curricular && !(std::fabs(gpu.curricularT - cpu.curricularT) <= 1e-6 * std::max(1.0, std::fabs(cpu.curricularT)))) {
    char text[200];
    std::snprintf(text, sizeof text, "curricularT: cuda %.17g, cpu %.17g", gpu.curricularT, cpu.curricularT);
    return why = text, false;
  }
  for (int64_t i = 0; i < N; ++i) {
    if (gpu.predictions[i] == cpu.predictions[i]) continue;
    const int64_t a = positionOf(d, gpu.predictions[i]), b = positionOf(d, cpu.predictions[i]);
    if (a < 0 || a >= d.shape.classes || b >= d.shape.classes ||
        std::fabs(classCosine(d, i, a, rowNorm(d, i)) - classCosine(d, i, b, rowNorm(d, i))) > kTieTolerance) {
      char text[200];
      std::snprintf(text, sizeof text, "predictions[%lld]: cuda %d, cpu %d (not a near-tie)", static_cast<long long>(i),
                    gpu.predictions[i], cpu.predictions[i]);
      return why = text, false;
    }
    ++ties;
  }
  if (!c.gradients) return true;
  double maxCoef = 0.0, counted = 0.0;
  for (int64_t i = 0; i < N; ++i) {
    if (d.targets[i] < 0) continue;
    counted += 1.0;
    maxCoef = std::max(maxCoef, d.rowWeights.empty() ? 1.0 : static_cast<double>(d.rowWeights[i]));
  }
  if (d.options.reduction == Reduction::Mean && counted > 0) maxCoef /= counted;
  const double floor = 1e-2 * d.options.scale * maxCoef * std::sqrt(std::max(counted, 1.0));
  // Rounded G (the precision option): where the two float32 G straddle a rounding boundary they
  // round one ulp apart (2^-8 bf16, 2^-11 tf32), on a few elements; the forward stays at 1e-5.
  const double gradTolerance = c.precision == Precision::Bf16 ? 1e-3 : c.precision == Precision::Tf32 ? 2.5e-4 : kGradTolerance;
  if (!compareVector("gradEmbeddings", gpu.gradEmbeddings, cpu.gradEmbeddings, gradTolerance, floor, why, worst)) return false;
  return compareVector("gradWeights", gpu.gradWeights, cpu.gradWeights, gradTolerance, floor, why, worst);
}

void runGroup(const std::string& label, const std::vector<Case>& cases, Tally& tally) {
  int failures = 0, ties = 0, redraws = 0;
  double worst = 0.0;
  for (const Case& c : cases) {
    const Data d = generate(c);
    redraws += d.filterRedraws;
    const Result cpu = run(false, d), gpu = run(true, d);
    std::string why;
    if (!compare(c, d, gpu, cpu, why, worst, ties)) {
      if (++failures <= 20) std::printf("FAIL margin %s: %s\n", c.describe().c_str(), why.c_str());
    }
  }
  if (failures) {
    std::printf("FAIL margin %s: %d of %zu cases\n", label.c_str(), failures, cases.size());
    ++tally.failed;
  } else {
    std::printf("PASS margin %s: %zu cases, worst relative error %.3g, %d prediction near-ties, %d rows redrawn off the filter's step\n",
                label.c_str(), cases.size(), worst, ties, redraws);
    ++tally.passed;
  }
}

Case makeCase(int64_t n, int64_t d, int64_t c, int64_t k, int index, uint64_t& seed) {
  Case x;
  x.rows = n, x.dim = d, x.classes = c, x.subCenters = k;
  x.variant = index % kVariantCount;
  x.subset = index % 3 == 1;
  x.columns = index % 4 == 2;
  x.ignoredRate = index % 5 == 4 ? 0.0 : 0.15;
  x.seed = ++seed;
  return x;
}

// Two runs of one input give the same bits.
void checkDeterminism(const Case& c, Tally& tally) {
  const Data d = generate(c);
  const Result a = run(true, d), b = run(true, d);
  auto same = [](const auto& x, const auto& y) { return x.size() == y.size() && std::memcmp(x.data(), y.data(), sizeof(x[0]) * x.size()) == 0; };
  const bool ok = a.status.ok && b.status.ok && std::memcmp(&a.loss, &b.loss, sizeof a.loss) == 0 && same(a.losses, b.losses) &&
                  same(a.logSumExp, b.logSumExp) && same(a.predictions, b.predictions) &&
                  same(a.gradEmbeddings, b.gradEmbeddings) && same(a.gradWeights, b.gradWeights);
  std::printf("%s margin determinism %s: %s\n", ok ? "PASS" : "FAIL", c.describe().c_str(),
              ok ? "two runs bit-identical" : (a.status.ok ? "runs differ" : a.status.message.c_str()));
  ++(ok ? tally.passed : tally.failed);
}

}  // namespace

// The device entry point on a user stream, host threads, recovery after out-of-memory, > 2^31
// elements (they use Case, Data, run and compare above).
#include "margin_device_checks.cuh"

namespace {

// Invalid arguments: the CUDA entry points answer like the CPU; labels on the device are checked there.
void checkArguments(Tally& tally) {
  Case c;
  c.rows = 4, c.dim = 5, c.classes = 6, c.subset = true;
  const Data good = generate(c);
  int failures = 0, count = 0;
  auto expect = [&](const char* what, Data d, bool dropGradients) {
    Result r;
    for (int backend = 0; backend < 2; ++backend) {
      MarginSoftmaxOutputs out;
      std::vector<float> rows(d.shape.rows), ge(d.shape.rows * d.shape.dim);
      std::vector<int32_t> pred(d.shape.rows);
      out.losses = rows.data(), out.logSumExp = rows.data(), out.predictions = pred.data();
      out.gradEmbeddings = dropGradients ? nullptr : ge.data();
      out.gradWeights = nullptr;
      d.options.gradients = dropGradients;
      const KernelStatus s = backend ? marginSoftmaxCuda(d.shape, d.options, d.inputs(), out)
                                     : marginSoftmaxCpu(d.shape, d.options, d.inputs(), out);
      if (backend == 0) r.status = s;
      else if (s.ok || r.status.ok || s.message != r.status.message) {
        ++failures;
        std::printf("FAIL margin arguments %s: cpu '%s', cuda '%s'\n", what, r.status.message.c_str(), s.message.c_str());
      }
    }
    ++count;
  };
  Data d = good;
  d.targets[2] = 6;
  expect("target out of range", d, false);
  d = good, d.classIds[1] = 1000;
  expect("class id out of range", d, false);
  expect("gradients without buffers", good, true);
  d = good, d.options.scale = 0.0;
  expect("scale 0", d, false);
  d = good, d.shape.rows = 0;
  expect("empty shape", d, false);
  d = good, d.options.margin = MarginType::SphereFace, d.options.m1 = 2.5;
  expect("sphereface m 2.5", d, false);

  // The device entry point validates device-resident labels itself.
  Data bad = good;
  bad.targets[3] = -2;
  int32_t* targets = nullptr;
  float *x = nullptr, *w = nullptr, *o = nullptr;
  int32_t* pred = nullptr;
  std::string message = "cudaMalloc failed";
  if (cudaMalloc(&targets, 4 * bad.targets.size()) == cudaSuccess && cudaMalloc(&x, 4 * bad.embeddings.size()) == cudaSuccess &&
      cudaMalloc(&w, 4 * bad.weights.size()) == cudaSuccess && cudaMalloc(&o, 4 * 64) == cudaSuccess &&
      cudaMalloc(&pred, 4 * 64) == cudaSuccess) {
    cudaMemcpy(targets, bad.targets.data(), 4 * bad.targets.size(), cudaMemcpyHostToDevice);
    cudaMemcpy(x, bad.embeddings.data(), 4 * bad.embeddings.size(), cudaMemcpyHostToDevice);
    cudaMemcpy(w, bad.weights.data(), 4 * bad.weights.size(), cudaMemcpyHostToDevice);
    MarginSoftmaxInputs in;
    in.embeddings = x, in.weights = w, in.targets = targets;
    MarginSoftmaxOutputs out;
    out.losses = o, out.logSumExp = o + 16, out.predictions = pred;
    MarginSoftmaxOptions options = bad.options;
    options.gradients = false;
    MarginSoftmaxShape shape = bad.shape;
    shape.weightRows = shape.classes * shape.subCenters;
    message = marginSoftmaxCudaDevice(shape, options, in, out, nullptr).message;
  }
  for (void* ptr : {static_cast<void*>(targets), static_cast<void*>(x), static_cast<void*>(w), static_cast<void*>(o), static_cast<void*>(pred)}) cudaFree(ptr);
  ++count;
  if (message != "marginSoftmax: target out of range") {
    ++failures;
    std::printf("FAIL margin arguments device labels: '%s'\n", message.c_str());
  }
  std::printf("%s margin argument checks: %d cases\n", failures ? "FAIL" : "PASS", count);
  ++(failures ? tally.failed : tally.passed);
}

// Classes of the large-C cases under --quick.  The CPU execution harness (npm run test:cuda-emu,
// which defines FL_CUDA_EMU) runs every GPU thread as a fiber: there they are a fifth to a tenth,
// still several class slabs, stats parts and split partials.
#ifdef FL_CUDA_EMU
constexpr int64_t kQuickLargeClasses = 10007, kQuickBudgetClasses = 4001;
#else
constexpr int64_t kQuickLargeClasses = 100003, kQuickBudgetClasses = 20011;
#endif

// Whether the current device has TF32 tensor cores (sm_80+), where tf32 / bf16 take that tile.
bool deviceHasTensorCores() {
  int device = 0;
  cudaGetDevice(&device);
  const auto& devices = cudaInfo().devices;
  return device < static_cast<int>(devices.size()) && devices[device].computeMajor >= 8;
}

void runChecks(bool quick, Tally& tally) {
  const bool tensor = deviceHasTensorCores();
  std::printf("margin GEMMs: float32 on the FP32 SIMT tile; tf32 / bf16 on %s\n",
              tensor ? "tensor cores (sm_80+), and again on the SIMT tile" : "the SIMT tile (sm < 80)");
  uint64_t seed = 1000;
  int index = 0;
  // Every variant, with and without sub-centers, subsets and the columns layout.
  for (int64_t k : {int64_t{1}, int64_t{3}}) {
    std::vector<Case> cases;
    for (int v = 0; v < kVariantCount; ++v)
      for (int layout = 0; layout < 4; ++layout) {
        Case c = makeCase(quick ? 37 : 129, quick ? 24 : 64, quick ? 300 : 1000, k, index++, seed);
        c.variant = v, c.subset = layout & 1, c.columns = layout & 2;
        cases.push_back(c);
      }
    runGroup("all variants K=" + std::to_string(k), cases, tally);
  }
  // The size grid, options rotating.
  const std::vector<int64_t> dims = quick ? std::vector<int64_t>{3, 64} : std::vector<int64_t>{3, 64, 512};
  for (int64_t n : {1, 7, 129})
    for (int64_t d : dims) {
      std::vector<Case> cases;
      for (int64_t c : {1, 7, 1000})
        for (int64_t k : {1, 3}) cases.push_back(makeCase(n, d, c, k, index++, seed));
      runGroup("N=" + std::to_string(n) + " D=" + std::to_string(d) + " C=1,7,1000 K=1,3", cases, tally);
    }
  {
    std::vector<Case> cases;
    for (int64_t n : quick ? std::vector<int64_t>{7} : std::vector<int64_t>{1, 7, 129})
      for (int64_t d : quick ? std::vector<int64_t>{64} : std::vector<int64_t>{3, 64, 512})
        for (int64_t k : quick ? std::vector<int64_t>{3} : std::vector<int64_t>{1, 3}) cases.push_back(makeCase(n, d, quick ? kQuickLargeClasses : 100003, k, index++, seed));
    runGroup("C=" + std::to_string(quick ? kQuickLargeClasses : 100003), cases, tally);
  }
  // Small work budgets: many class slabs, row slabs, split partials; no gradients; all rows ignored.
  {
    std::vector<Case> cases;
    const int64_t mib = int64_t{1} << 20;
    // --sanitize (the race checks): one variant, the slabs and splits are the variants' same code.
    for (int v : check::sanitizeRun() ? std::vector<int>{0} : std::vector<int>{0, 4, 13}) {
      Case c = makeCase(quick ? 129 : 1000, 64, quick ? kQuickBudgetClasses : 100003, 1, index++, seed);
      c.variant = v, c.workBytes = mib;
      cases.push_back(c);
      c = makeCase(2000, 16, 1000, 2, index++, seed);
      c.variant = v, c.workBytes = mib;
      cases.push_back(c);
    }
    for (int v : {0, 3, 4}) {
      Case c = makeCase(33, 64, 1000, 2, index++, seed);
      c.variant = v, c.zeroRow = true, c.ignoredRate = 0.0;
      cases.push_back(c);
    }
    Case c = makeCase(129, 64, 1000, 3, index++, seed);
    c.gradients = false;
    cases.push_back(c);
    c = makeCase(129, 64, 1000, 1, index++, seed);
    c.allIgnored = true;
    cases.push_back(c);
    runGroup("work budget, zero rows, no gradients, all ignored", cases, tally);
  }
  // The precision option: x̂, ŵ and G rounded where written, one TF32 product per step on the
  // tensor-core tile, rounded operands in FP32 FMA on the SIMT tile.
  {
    std::vector<Case> cases;
    for (Precision precision : {Precision::Tf32, Precision::Bf16})
      for (int v : {0, 4, 13})
        for (int layout : {0, 3}) {
          Case c = makeCase(quick ? 37 : 129, quick ? 24 : 64, quick ? 300 : 1000, layout == 3 ? 3 : 1, index++, seed);
          c.variant = v, c.subset = layout & 1, c.columns = layout & 2, c.precision = precision;
          cases.push_back(c);
        }
    // A small work budget: class slabs on the GPU, recomputed cosine tiles on the CPU.
    for (Precision precision : {Precision::Tf32, Precision::Bf16}) {
      Case c = makeCase(129, 64, quick ? kQuickBudgetClasses : 20011, 1, index++, seed);
      c.workBytes = int64_t{1} << 20, c.precision = precision;
      cases.push_back(c);
    }
    runGroup("precision tf32, bf16", cases, tally);
    for (Case& x : cases) x.simt = true;
    if (tensor) runGroup("precision tf32, bf16 (SIMT tile)", cases, tally);
  }
  checkArguments(tally);
  checkTf32Rounding(tally);
  checkUserStream(seed, tally);
  checkHostThreads(seed, tally);
  checkRecoveryAfterFailure(seed, tally);
  if (!quick) checkHuge(seed, tally);  // ~24 GiB: the full run only, as crps's
  Case det = makeCase(quick ? 129 : 1000, quick ? 64 : 512, quick ? 5003 : 50021, 1, 13, seed);
  checkDeterminism(det, tally);
}

}  // namespace

#include "margin_bench.cuh"

int main(int argc, char** argv) { return check::run(argc, argv, runChecks, runBench); }
