// CUDA-vs-CPU check of pair mining and pair losses (docs/spec/gpu.md): mineCuda / pairLossCuda
// against mineCpu / pairLossCpu, through the same signatures (native/kernels/pairs.h), on fresh random
// inputs over every miner, loss and distance, with and without a reference set (selfIndex with
// −1 entries), sizes 1, 7, 129, 3 × 700 (and 300 × 1000 refs), tiny work budgets (many row blocks);
// near-duplicate pairs under every distance-based loss (pairs_neardup_checks.cuh).
//
// Two kinds of inputs:
//  • lattice: every normalized vector has 4^k entries ±2^−k (the rest 0) and a power-of-two norm,
//    so every dot product, norm and distance is exact in float32 whatever the summation order:
//    both backends see identical values, and mined sets must match EXACTLY, losses within 1e-5
//    relative, gradients ‖cuda − cpu‖/‖cpu‖ ≤ 1e-4 — including the many exact ties (classes are
//    sign patterns with a few flips, so similarities take few distinct values).
//  • gaussian: clustered normal vectors.  Values differ in the last bits between backends, so a
//    mined element may differ only where the float64 value puts its decision within 1e-5 of the
//    rule's threshold (a near-tie; counted and printed); losses are compared only where they are
//    continuous in the values (multi-similarity, NT-Xent, circle without a miner).
// The precision option (tf32, bf16: x̂, ŷ and G rounded): gaussian inputs for the miners (near-ties
// judged on the rounded vectors' values) and the smooth losses, lattice inputs for every loss (G's
// rounding; lattice vectors are bf16 values already); gradients within 2.5e-4 (tf32) / 1e-3 (bf16)
// normwise, since the two backends' float32 G may round to neighbouring values near a boundary.
// NaN, Inf or an unwritten gradient element never passes.  Then the runtime checks
// (pairs_runtime_checks.cuh: after an out-of-memory, several host threads, a user stream, over 2^31
// pairs) and, unless --no-bench, mineCudaDevice and pairLossCudaDevice timed on three workloads
// (pairs_bench.cuh).  Needs no Node.
//
//   pairs_check [--quick] [--no-bench]     exit 0: every check passed, 1: a failure, 2: no CUDA

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <vector>

#include "../../native/kernels/pairs.h"
#include "../../native/math/precision_math.h"
#include "check.cuh"

namespace {
using namespace fusedloss;
using check::kPoison;
using check::Rng;
using check::Tally;

constexpr double kLossTolerance = 1e-5, kGradTolerance = 1e-4, kTieTolerance = 1e-5;

template <typename Enum>
const char* nameOf(Enum value) {
  return EnumNames<Enum>::names[static_cast<int>(value)];
}

struct Case {
  int64_t rows = 7, refs = 0, dim = 16;  // refs 0: no reference set
  bool lattice = true, normalize = true, selfIndex = true;
  int classes = 3;
  MinerOptions miner;
  PairLossOptions loss;
  int64_t workBytes = int64_t{64} << 20;
  Precision precision = Precision::Float32;
  uint64_t seed = 1;
  std::string describe(bool withLoss) const {
    char text[320];
    std::snprintf(text, sizeof text, "N=%lld M=%lld D=%lld %s%s miner=%s/%s%s%s loss=%s/%s work=%lld precision=%s",
                  static_cast<long long>(rows), static_cast<long long>(refs ? refs : rows), static_cast<long long>(dim),
                  lattice ? "lattice" : "gaussian", normalize ? "" : " raw", nameOf(miner.type),
                  nameOf(miner.distance), refs ? " ref" : "", refs && selfIndex ? "+self" : "",
                  withLoss ? nameOf(loss.type) : "-", withLoss ? nameOf(loss.distance) : "-",
                  static_cast<long long>(workBytes), nameOf(precision));
    return text;
  }
};

struct Data {
  PairShape shape;
  std::vector<float> embeddings, ref;
  std::vector<int32_t> labels, refLabels, selfIndex;
  PairInputs inputs() const {
    PairInputs in;
    in.embeddings = embeddings.data(), in.labels = labels.data();
    in.ref = ref.empty() ? nullptr : ref.data();
    in.refLabels = refLabels.empty() ? nullptr : refLabels.data();
    in.selfIndex = selfIndex.empty() ? nullptr : selfIndex.data();
    return in;
  }
  const float* refRow(int64_t j) const { return ref.empty() ? &embeddings[j * shape.dim] : &ref[j * shape.dim]; }
  int32_t refLabel(int64_t j) const { return refLabels.empty() ? labels[j] : refLabels[j]; }
  int64_t excluded(int64_t i) const { return ref.empty() ? i : (selfIndex.empty() ? -1 : selfIndex[i]); }
};

// Class prototypes and members.  lattice: a prototype is a random sign pattern on the first 4^k
// features (4^k ≤ D), a member flips 0–3 of its signs (sometimes an exact copy of an earlier
// member), scaled by 2^e; gaussian: prototype + noise.
void fill(const Case& c, Rng& rng, const std::vector<std::vector<float>>& protos, int64_t count,
          std::vector<float>& vectors, std::vector<int32_t>& labels) {
  const int64_t D = c.dim;
  int64_t active = 1;
  while (active * 4 <= D) active *= 4;
  vectors.assign(static_cast<size_t>(count * D), 0.0f);
  labels.resize(count);
  for (int64_t r = 0; r < count; ++r) {
    const int label = static_cast<int>(rng.next() % protos.size());
    labels[r] = label;
    float* v = &vectors[r * D];
    if (r > 0 && rng.uniform() < 0.1) {  // an exact repeat of an earlier vector (and its label)
      const int64_t source = static_cast<int64_t>(rng.next() % r);
      std::copy(&vectors[source * D], &vectors[source * D] + D, v);
      labels[r] = labels[source];
      continue;
    }
    if (c.lattice) {
      const float scale = std::ldexp(1.0f, static_cast<int>(rng.next() % 5) - 2);
      for (int64_t e = 0; e < active; ++e) v[e] = protos[label][e];
      const int flips = static_cast<int>(rng.next() % 4);
      for (int f = 0; f < flips; ++f) {
        const int64_t e = static_cast<int64_t>(rng.next() % active);
        v[e] = -v[e];
      }
      for (int64_t e = 0; e < active; ++e) v[e] *= scale;
    } else {
      const double length = c.normalize ? 0.5 + rng.uniform() : 1.0;
      for (int64_t e = 0; e < D; ++e) v[e] = static_cast<float>(length * (protos[label][e] + 0.6 * rng.normal() / std::sqrt(double(D))));
    }
  }
}

Data generate(const Case& c) {
  Rng rng{c.seed * 0x2545f4914f6cdd1dULL + 4242};
  Data d;
  d.shape.rows = c.rows, d.shape.refs = c.refs ? c.refs : c.rows, d.shape.dim = c.dim;
  int64_t active = 1;
  while (active * 4 <= c.dim) active *= 4;
  std::vector<std::vector<float>> protos(static_cast<size_t>(c.classes), std::vector<float>(static_cast<size_t>(c.dim), 0.0f));
  for (auto& p : protos) {
    if (c.lattice) {
      // Without normalization the raw lattice values are the vectors themselves: ±1 (× 2^e).
      for (int64_t e = 0; e < active; ++e) p[e] = (rng.next() & 1 ? 1.0f : -1.0f);
    } else {
      for (float& v : p) v = static_cast<float>(rng.normal() / std::sqrt(double(c.dim)));
    }
  }
  fill(c, rng, protos, c.rows, d.embeddings, d.labels);
  if (c.refs) {
    fill(c, rng, protos, c.refs, d.ref, d.refLabels);
    if (c.selfIndex) {
      d.selfIndex.resize(c.rows);
      for (int64_t i = 0; i < c.rows; ++i) {
        // Half the queries sit in the reference set (their slot overwritten with the query, as a
        // cross-batch memory does), the others have none.
        if (rng.uniform() < 0.5) {
          d.selfIndex[i] = -1;
          continue;
        }
        const int64_t j = static_cast<int64_t>(rng.next() % c.refs);
        d.selfIndex[i] = static_cast<int32_t>(j);
        std::copy(&d.embeddings[i * c.dim], &d.embeddings[i * c.dim] + c.dim, &d.ref[j * c.dim]);
        d.refLabels[j] = d.labels[i];
      }
    }
  }
  return d;
}

// --- mining -------------------------------------------------------------------------------------

using Triple = std::tuple<int32_t, int32_t, int32_t>;  // (anchor, partner, kind) or (a, p, n)

struct Mined {
  KernelStatus status;
  std::vector<Triple> pos, neg, triplets;
};

Mined mine(bool cuda, const Case& c, const Data& d) {
  PairSimilarityOptions similarity;
  similarity.normalize = c.normalize, similarity.workBytes = c.workBytes, similarity.precision = c.precision;
  MineOutputs out;
  Mined m;
  m.status = cuda ? mineCuda(d.shape, similarity, c.miner, int64_t{1} << 26, d.inputs(), out)
                  : mineCpu(d.shape, similarity, c.miner, int64_t{1} << 26, d.inputs(), out);
  const MinedPairs& p = out.pairs;
  for (size_t k = 0; k < p.positives.size(); ++k) m.pos.emplace_back(p.positiveAnchors[k], p.positives[k], 0);
  for (size_t k = 0; k < p.negatives.size(); ++k) m.neg.emplace_back(p.negativeAnchors[k], p.negatives[k], 0);
  const MinedTriplets& t = out.triplets;
  for (size_t k = 0; k < t.anchors.size(); ++k) m.triplets.emplace_back(t.anchors[k], t.positives[k], t.negatives[k]);
  return m;
}

// float64 values of row i (the miner's distance), from the raw inputs (their unit vectors rounded
// to the case's precision, as the kernels' operands).
std::vector<double> rowValues(const Case& c, const Data& d, int64_t i, PairDistance distance) {
  const int64_t D = d.shape.dim, M = d.shape.refs;
  auto unit = [&](const float* v, std::vector<double>& out) {
    double length = 0.0;
    for (int64_t e = 0; e < D; ++e) length += static_cast<double>(v[e]) * v[e];
    length = std::max(std::sqrt(length), 1e-12);
    out.resize(D);
    for (int64_t e = 0; e < D; ++e) {
      out[e] = precision::roundOperand(static_cast<float>(c.normalize ? v[e] / length : v[e]), c.precision);
    }
  };
  std::vector<double> x, y, values(static_cast<size_t>(M));
  unit(&d.embeddings[i * D], x);
  double xx = 0.0;
  for (double v : x) xx += v * v;
  for (int64_t j = 0; j < M; ++j) {
    unit(d.refRow(j), y);
    double dot = 0.0, yy = 0.0;
    for (int64_t e = 0; e < D; ++e) dot += x[e] * y[e], yy += y[e] * y[e];
    const double sq = std::max(xx + yy - 2.0 * dot, 0.0);
    values[j] = isSimilarity(distance) ? dot : distance == PairDistance::Euclidean ? std::sqrt(sq) : sq;
  }
  return values;
}

// Whether the decision on mined element e (a pair of `kind` 0 positive / 1 negative, or a
// triplet) is within kTieTolerance of its rule's threshold for the float64 values.
bool nearTie(const Case& c, const Data& d, const std::vector<double>& v, int64_t i, const Triple& e, int kind,
             const std::vector<Triple>& gpuRow, const std::vector<Triple>& cpuRow) {
  const MinerOptions& o = c.miner;
  const bool sim = isSimilarity(o.distance);
  const double tol = kTieTolerance * std::max(1.0, std::fabs(v[std::get<1>(e)]));
  auto close = [tol](double a, double b) { return std::fabs(a - b) <= tol; };
  if (o.type == MinerType::PairMargin) return close(v[std::get<1>(e)], kind == 0 ? o.posMargin : o.negMargin);
  if (o.type == MinerType::MultiSimilarity) {
    double maxNeg = -INFINITY, minPos = INFINITY, minNeg = INFINITY, maxPos = -INFINITY;
    for (int64_t j = 0; j < d.shape.refs; ++j) {
      if (j == d.excluded(i)) continue;
      if (d.refLabel(j) == d.labels[i]) minPos = std::min(minPos, v[j]), maxPos = std::max(maxPos, v[j]);
      else maxNeg = std::max(maxNeg, v[j]), minNeg = std::min(minNeg, v[j]);
    }
    const double x = v[std::get<1>(e)];
    if (kind == 0) return sim ? close(x - o.epsilon, maxNeg) : close(x + o.epsilon, minNeg);
    return sim ? close(x + o.epsilon, minPos) : close(x - o.epsilon, maxPos);
  }
  const double vp = v[std::get<1>(e)], vn = v[std::get<2>(e)];
  if (o.type == MinerType::TripletMargin) {
    const double t = sim ? vp - vn : vn - vp;
    return close(t, o.margin) || ((o.triplets == TripletSelect::Hard || o.triplets == TripletSelect::Semihard) && close(t, 0.0));
  }
  // batch-hard: the other backend's choice for this anchor must be as extreme within tolerance.
  for (const auto* row : {&gpuRow, &cpuRow}) {
    for (const Triple& other : *row) {
      if (!close(v[std::get<1>(other)], vp) || !close(v[std::get<2>(other)], vn)) return false;
    }
  }
  return true;
}

// Exact equality (lattice), or differences confined to near-ties (gaussian).
bool compareMined(const Case& c, const Data& d, const Mined& gpu, const Mined& cpu, std::string& why, int& ties) {
  if (!gpu.status.ok || !cpu.status.ok) {
    why = "status: cuda '" + gpu.status.message + "', cpu '" + cpu.status.message + "'";
    return gpu.status.ok == cpu.status.ok && gpu.status.message == cpu.status.message;
  }
  const std::vector<Triple>* lists[3][2] = {{&gpu.pos, &cpu.pos}, {&gpu.neg, &cpu.neg}, {&gpu.triplets, &cpu.triplets}};
  const char* names[3] = {"positive pairs", "negative pairs", "triplets"};
  for (int kind = 0; kind < 3; ++kind) {
    const std::vector<Triple>& a = *lists[kind][0];
    const std::vector<Triple>& b = *lists[kind][1];
    if (!std::is_sorted(a.begin(), a.end()) || std::adjacent_find(a.begin(), a.end()) != a.end()) {
      return why = std::string(names[kind]) + ": cuda output not in canonical order (or repeated)", false;
    }
    if (a == b) continue;
    char text[300];
    if (c.lattice) {
      std::snprintf(text, sizeof text, "%s differ (cuda %zu, cpu %zu)", names[kind], a.size(), b.size());
      return why = text, false;
    }
    std::vector<Triple> diff;
    std::set_symmetric_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(diff));
    for (const Triple& e : diff) {
      const int64_t i = std::get<0>(e);
      std::vector<Triple> gpuRow, cpuRow;
      for (const Triple& x : a) if (std::get<0>(x) == i) gpuRow.push_back(x);
      for (const Triple& x : b) if (std::get<0>(x) == i) cpuRow.push_back(x);
      const std::vector<double> v = rowValues(c, d, i, c.miner.distance);
      if (!nearTie(c, d, v, i, e, kind, gpuRow, cpuRow)) {
        std::snprintf(text, sizeof text, "%s differ at (%d, %d, %d) in %s, not a near-tie", names[kind], std::get<0>(e),
                      std::get<1>(e), std::get<2>(e), std::binary_search(a.begin(), a.end(), e) ? "cuda only" : "cpu only");
        return why = text, false;
      }
      ++ties;
    }
  }
  return true;
}

// --- losses ----------------------------------------------------------------------------------------

struct LossResult {
  KernelStatus status;
  double loss = 0.0;
  std::vector<float> gradEmbeddings, gradRef;
};

LossResult lossOf(bool cuda, const Case& c, const Data& d) {
  PairSimilarityOptions similarity;
  similarity.normalize = c.normalize, similarity.workBytes = c.workBytes, similarity.precision = c.precision;
  LossResult r;
  PairLossOutputs out;
  if (c.loss.gradients) {
    r.gradEmbeddings.assign(static_cast<size_t>(d.shape.rows * d.shape.dim), kPoison);
    out.gradEmbeddings = r.gradEmbeddings.data();
    if (!d.ref.empty()) {
      r.gradRef.assign(static_cast<size_t>(d.shape.refs * d.shape.dim), kPoison);
      out.gradRef = r.gradRef.data();
    }
  }
  out.loss = kPoison;
  r.status = cuda ? pairLossCuda(d.shape, similarity, c.miner, c.loss, d.inputs(), out)
                  : pairLossCpu(d.shape, similarity, c.miner, c.loss, d.inputs(), out);
  r.loss = out.loss;
  return r;
}

bool compareLoss(const LossResult& gpu, const LossResult& cpu, std::string& why, double& worst,
                 Precision precision = Precision::Float32) {
  if (!gpu.status.ok || !cpu.status.ok) {
    why = "status: cuda '" + gpu.status.message + "', cpu '" + cpu.status.message + "'";
    return false;
  }
  const double diff = std::fabs(gpu.loss - cpu.loss);
  if (!std::isfinite(gpu.loss) || !std::isfinite(cpu.loss) || diff > kLossTolerance * std::fabs(cpu.loss)) {
    char text[200];
    std::snprintf(text, sizeof text, "loss: cuda %.17g, cpu %.17g", gpu.loss, cpu.loss);
    return why = text, false;
  }
  if (cpu.loss != 0.0) worst = std::max(worst, diff / std::fabs(cpu.loss));
  // Rounded G (the precision option): where the two float32 G straddle a rounding boundary they
  // round to neighbouring values (one ulp of G: 2^-7 or 2^-10 relative).
  const double tolerance = precision == Precision::Bf16 ? 1e-3 : precision == Precision::Tf32 ? 2.5e-4 : kGradTolerance;
  return check::compareVector("gradEmbeddings", gpu.gradEmbeddings, cpu.gradEmbeddings, tolerance, 0.0, why, worst) &&
         check::compareVector("gradRef", gpu.gradRef, cpu.gradRef, tolerance, 0.0, why, worst);
}

// --- groups ----------------------------------------------------------------------------------------

void runMineGroup(const std::string& label, const std::vector<Case>& cases, Tally& tally) {
  int failures = 0, ties = 0;
  size_t outputs = 0;
  for (const Case& c : cases) {
    const Data d = generate(c);
    const Mined cpu = mine(false, c, d), gpu = mine(true, c, d);
    outputs += cpu.pos.size() + cpu.neg.size() + cpu.triplets.size();
    std::string why;
    if (!compareMined(c, d, gpu, cpu, why, ties)) {
      if (++failures <= 20) std::printf("FAIL pairs mine %s: %s\n", c.describe(false).c_str(), why.c_str());
    }
  }
  if (failures) {
    std::printf("FAIL pairs %s: %d of %zu cases\n", label.c_str(), failures, cases.size());
    ++tally.failed;
  } else {
    std::printf("PASS pairs %s: %zu cases, %zu mined elements, %d near-tie differences\n", label.c_str(), cases.size(),
                outputs, ties);
    ++tally.passed;
  }
}

void runLossGroup(const std::string& label, const std::vector<Case>& cases, Tally& tally) {
  int failures = 0;
  double worst = 0.0;
  for (const Case& c : cases) {
    const Data d = generate(c);
    const LossResult cpu = lossOf(false, c, d), gpu = lossOf(true, c, d);
    std::string why;
    if (!compareLoss(gpu, cpu, why, worst, c.precision)) {
      if (++failures <= 20) std::printf("FAIL pairs loss %s: %s\n", c.describe(true).c_str(), why.c_str());
    }
  }
  if (failures) {
    std::printf("FAIL pairs %s: %d of %zu cases\n", label.c_str(), failures, cases.size());
    ++tally.failed;
  } else {
    std::printf("PASS pairs %s: %zu cases, worst relative error %.3g\n", label.c_str(), cases.size(), worst);
    ++tally.passed;
  }
}

const PairDistance kDistances[] = {PairDistance::Cosine, PairDistance::Dot, PairDistance::Euclidean, PairDistance::SquaredEuclidean};
const MinerType kMiners[] = {MinerType::MultiSimilarity, MinerType::TripletMargin, MinerType::BatchHard, MinerType::PairMargin};
const TripletSelect kSelects[] = {TripletSelect::All, TripletSelect::Hard, TripletSelect::Semihard, TripletSelect::Easy};

// Miner parameters that select a fair part of the pairs for `distance` (lattice similarities are
// 1 − 2·flips/4^k, distances up to 2 for unit vectors).
void setMiner(MinerOptions& m, MinerType type, PairDistance distance, int index) {
  m.type = type, m.distance = distance;
  const bool sim = isSimilarity(distance);
  m.epsilon = index % 2 ? 0.1 : 0.35;
  m.margin = sim ? 0.2 : (distance == PairDistance::SquaredEuclidean ? 0.4 : 0.3);
  m.triplets = kSelects[index % 4];
  m.posMargin = sim ? 0.6 : 0.5;
  m.negMargin = sim ? 0.2 : 1.2;
}

// Loss parameters; the cosine-only losses get cosine.
void setLoss(PairLossOptions& l, PairLossType type, PairDistance distance) {
  l.type = type;
  l.distance = (type == PairLossType::Circle || type == PairLossType::ThresholdConsistent) ? PairDistance::Cosine : distance;
  const bool sim = isSimilarity(l.distance);
  l.posMargin = sim ? 0.8 : 0.1, l.negMargin = sim ? 0.3 : 1.0;
  l.margin = 0.1;
  l.temperature = 0.2;
  l.gradients = true;
}

Case makeCase(int64_t n, int64_t refs, int64_t dim, bool lattice, int index, uint64_t& seed) {
  Case c;
  c.rows = n, c.refs = refs, c.dim = dim, c.lattice = lattice;
  c.classes = static_cast<int>(std::max<int64_t>(2, std::min<int64_t>(12, (refs ? refs : n) / 4)));
  c.normalize = index % 5 != 3;
  c.selfIndex = index % 3 != 1;
  c.seed = ++seed;
  return c;
}

void checkDeterminism(Tally& tally, uint64_t& seed) {
  Case c = makeCase(300, 0, 64, false, 0, seed);
  c.workBytes = 64 * 1024;
  setMiner(c.miner, MinerType::MultiSimilarity, PairDistance::Cosine, 1);
  setLoss(c.loss, PairLossType::TripletMargin, PairDistance::Euclidean);
  const Data d = generate(c);
  const LossResult a = lossOf(true, c, d), b = lossOf(true, c, d);
  const Mined ma = mine(true, c, d), mb = mine(true, c, d);
  const bool ok = a.status.ok && b.status.ok && std::memcmp(&a.loss, &b.loss, sizeof a.loss) == 0 &&
                  a.gradEmbeddings == b.gradEmbeddings && ma.pos == mb.pos && ma.neg == mb.neg;
  std::printf("%s pairs determinism %s: %s\n", ok ? "PASS" : "FAIL", c.describe(true).c_str(),
              ok ? "two runs bit-identical" : (a.status.ok ? "runs differ" : a.status.message.c_str()));
  ++(ok ? tally.passed : tally.failed);
}

// More outputs than maxOutputs: both backends refuse with a memory failure naming the count.
void checkMaxOutputs(Tally& tally, uint64_t& seed) {
  Case c = makeCase(129, 0, 16, true, 0, seed);
  setMiner(c.miner, MinerType::PairMargin, PairDistance::Cosine, 0);
  c.miner.posMargin = 2.0, c.miner.negMargin = -2.0;  // every pair: 129·128
  const Data d = generate(c);
  PairSimilarityOptions similarity;
  MineOutputs a, b;
  const KernelStatus cpu = mineCpu(d.shape, similarity, c.miner, 1000, d.inputs(), a);
  const KernelStatus gpu = mineCuda(d.shape, similarity, c.miner, 1000, d.inputs(), b);
  const bool ok = !cpu.ok && !gpu.ok && gpu.outOfMemory() && cpu.outOfMemory() && gpu.message == cpu.message &&
                  gpu.message.find("16512") != std::string::npos && b.pairs.positives.empty();
  std::printf("%s pairs maxOutputs: cpu '%s', cuda '%s'\n", ok ? "PASS" : "FAIL", cpu.message.c_str(), gpu.message.c_str());
  ++(ok ? tally.passed : tally.failed);
}

#include "pairs_neardup_checks.cuh"
#include "pairs_runtime_checks.cuh"

void runChecks(bool quick, Tally& tally) {
  uint64_t seed = 7000;
  int index = 0;
  // Work budgets: one row per block (tiny), or several blocks of many rows each worked in several
  // waves (64 KiB: pairs_math's row scratch is ~28 bytes per column).
  auto budget = [](int index) { return index % 3 == 0 ? int64_t{768} : index % 3 == 1 ? int64_t{64} << 10 : int64_t{64} << 20; };
  struct Size {
    int64_t n, refs, dim;
  };
  // 3 × 700: rows of several thread-block chunks, triplet ranges longer than a block (the
  // mining kernels' second emission path).
  const std::vector<Size> sizes = quick ? std::vector<Size>{{1, 0, 16}, {7, 0, 33}, {129, 0, 64}, {7, 129, 16}, {3, 700, 16}}
                                        : std::vector<Size>{{1, 0, 16}, {7, 0, 33}, {129, 0, 64}, {1, 7, 16},
                                                            {7, 129, 16}, {3, 700, 16}, {129, 300, 128}, {300, 1000, 64}};
  // --sanitize (the race checks: compute-sanitizer, the harness's shuffled pass) keeps the groups
  // that run different kernels and drops those that only feed the same kernels other values:
  // gaussian inputs and the precision option's second rounding.
  const bool raceRun = check::sanitizeRun();
  // Mining: every miner × distance × size, lattice (exact) and gaussian (near-ties only).
  for (bool lattice : raceRun ? std::vector<bool>{true} : std::vector<bool>{true, false})
    for (MinerType type : kMiners) {
      std::vector<Case> cases;
      for (const Size& s : sizes)
        for (PairDistance distance : kDistances) {
          // All-triplet outputs grow as N·M²: the largest size only for the other miners.
          if (type == MinerType::TripletMargin && s.n * (s.refs ? s.refs : s.n) > 100000) continue;
          Case c = makeCase(s.n, s.refs, s.dim, lattice, index++, seed);
          setMiner(c.miner, type, distance, index);
          c.workBytes = budget(index);
          cases.push_back(c);
        }
      runMineGroup(std::string("mine ") + nameOf(type) + (lattice ? " lattice" : " gaussian"), cases, tally);
    }
  // Losses: every loss × (no miner, each miner) × distance, lattice inputs (exact values).
  const PairLossType losses[] = {PairLossType::MultiSimilarity, PairLossType::Contrastive, PairLossType::TripletMargin,
                                 PairLossType::Circle, PairLossType::NtXent, PairLossType::ThresholdConsistent};
  for (PairLossType type : losses) {
    std::vector<Case> cases;
    for (const Size& s : sizes)
      for (int m = 0; m <= 4; ++m)
        for (PairDistance distance : kDistances) {
          if (quick && (index % 3 != 0)) { ++index; continue; }
          Case c = makeCase(s.n, s.refs, s.dim, true, index++, seed);
          setLoss(c.loss, type, distance);
          if (m > 0) setMiner(c.miner, kMiners[m - 1], kDistances[(index / 4) % 4], index);
          c.workBytes = budget(index);
          c.loss.gradients = index % 7 != 0;
          cases.push_back(c);
        }
    runLossGroup(std::string("loss ") + nameOf(type) + " lattice", cases, tally);
  }
  // Gaussian inputs for the losses that are continuous in the values.
  if (!raceRun) {
    std::vector<Case> cases;
    for (const Size& s : sizes)
      for (PairLossType type : {PairLossType::MultiSimilarity, PairLossType::NtXent, PairLossType::Circle})
        for (PairDistance distance : kDistances) {
          Case c = makeCase(s.n, s.refs, s.dim, false, index++, seed);
          setLoss(c.loss, type, distance);
          c.workBytes = budget(index);
          cases.push_back(c);
        }
    runLossGroup("loss smooth gaussian", cases, tally);
  }
  // Blocks of ≥ 512 rows and ≥ 512 columns: both gradient GEMMs split over k into partials.
  {
    std::vector<Case> cases;
    for (const Size& s : {Size{600, 0, 64}, Size{520, 700, 40}})
      for (PairLossType type : {PairLossType::MultiSimilarity, PairLossType::TripletMargin, PairLossType::Contrastive}) {
        Case c = makeCase(s.n, s.refs, s.dim, true, index++, seed);
        setLoss(c.loss, type, kDistances[index % 4]);
        if (type == PairLossType::Contrastive) setMiner(c.miner, MinerType::BatchHard, PairDistance::Euclidean, index);
        cases.push_back(c);
      }
    runLossGroup("loss split GEMMs", cases, tally);
  }
  // The precision option: every miner and distance on gaussian inputs; every loss on lattice inputs
  // (with and without a miner), the smooth ones on gaussian inputs too.
  // The two roundings share every kernel, so each loss case runs under one of them (alternate slots).
  for (Precision precision : raceRun ? std::vector<Precision>{Precision::Bf16} : std::vector<Precision>{Precision::Tf32, Precision::Bf16}) {
    const std::vector<Size> few = {{129, 0, 64}, {7, 129, 16}, {3, 700, 16}};
    for (MinerType type : kMiners) {
      std::vector<Case> cases;
      for (const Size& s : few)
        for (PairDistance distance : kDistances) {
          Case c = makeCase(s.n, s.refs, s.dim, false, index++, seed);
          setMiner(c.miner, type, distance, index);
          c.workBytes = budget(index), c.precision = precision;
          cases.push_back(c);
        }
      runMineGroup(std::string("precision ") + nameOf(precision) + " mine " + nameOf(type) + " gaussian", cases, tally);
    }
    std::vector<Case> cases;
    int slot = 0;  // a slot: a loss, size and miner-or-not, the same in both precisions' lists
    for (PairLossType type : losses)
      for (const Size& s : few)
        for (int m = 0; m <= 1; ++m) {
          if ((slot++ + (precision == Precision::Bf16)) % 2 != 0) { ++index; continue; }
          Case c = makeCase(s.n, s.refs, s.dim, true, index++, seed);
          setLoss(c.loss, type, kDistances[index % 4]);
          if (m > 0) setMiner(c.miner, kMiners[index % 4], kDistances[(index / 4) % 4], index);
          c.workBytes = budget(index), c.precision = precision;
          cases.push_back(c);
        }
    for (const Size& s : few)
      for (PairLossType type : {PairLossType::MultiSimilarity, PairLossType::NtXent, PairLossType::Circle})
        for (PairDistance distance : kDistances) {
          if ((slot++ + (precision == Precision::Bf16)) % 2 != 0) { ++index; continue; }
          Case c = makeCase(s.n, s.refs, s.dim, false, index++, seed);
          setLoss(c.loss, type, distance);
          c.workBytes = budget(index), c.precision = precision;
          cases.push_back(c);
        }
    runLossGroup(std::string("precision ") + nameOf(precision) + " losses", cases, tally);
  }
  checkNearDuplicates(tally, seed, quick);
  checkMaxOutputs(tally, seed);
  checkDeterminism(tally, seed);
  checkRecoveryAfterFailure(tally, seed);
  checkHostThreads(tally, seed);
  checkUserStream(tally, seed);
  if (!quick) checkOver2Pow31(tally, seed);  // a long call: the full run only, as crps's
}

#include "pairs_bench.cuh"

}  // namespace

int main(int argc, char** argv) { return check::run(argc, argv, runChecks, runBench); }
