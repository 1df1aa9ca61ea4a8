// CUDA-vs-CPU check of the CRPS (docs/spec/gpu.md): crpsCuda against crpsCpu, through the same
// signature (native/kernels/crps.h), on fresh random inputs over every estimator, NaN policy,
// gradient mode, layout and a spread of sizes; then crpsCudaDevice timed against the device's copy
// rate.  Needs no Node: links native/kernels/*.cc, native/runtime/*.cc and cuda/*.cu.
//
//   crps_check [--quick] [--no-bench | --bench-only] [--sanitize]
//                                         exit 0: every check passed, 1: a failure, 2: no CUDA
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "../../native/kernels/crps.h"
#include "check.cuh"
#include "crps_timings.cuh"

using namespace fusedloss;

namespace {

constexpr double kTolerance = 1e-6;         // ‖cuda − cpu‖/‖cpu‖ per output, and the mean
constexpr double kElementTolerance = 1e-5;  // per element, against max(|cpu|, rms(cpu)): catches a
                                            // few wrong elements that a norm over 1e6 would hide
using check::kPoison;
using check::Rng;
using check::Tally;

enum class Layout { MemberLast, MemberFirst, Middle };
const char* layoutName(Layout layout) {
  return layout == Layout::MemberLast ? "member-last" : layout == Layout::MemberFirst ? "member-first" : "middle";
}
const char* policyName(NanPolicy policy) {
  return policy == NanPolicy::Propagate ? "propagate" : policy == NanPolicy::Omit ? "omit" : "zero";
}
const char* gradName(int mode) {
  static const char* names[] = {"none", "mean", "mean+weights", "gradOutput"};
  return names[mode];
}

struct Case {
  int64_t members = 1;
  int64_t points = 1;
  Layout layout = Layout::MemberLast;
  double alpha = 0.0;
  NanPolicy policy = NanPolicy::Propagate;
  int gradMode = 0;  // 0 none, 1 of the mean, 2 of the weighted mean, 3 with gradOutput (and weights)
  bool components = false;
  double nanRate = 0.0;
  bool infinities = false;
  bool zeroWeights = false;  // Σw = 0: mean and gradients of the mean are NaN
  uint64_t seed = 1;

  CrpsShape shape() const {
    CrpsShape s;
    s.members = members;
    if (layout == Layout::MemberLast) s.outer = points;
    if (layout == Layout::MemberFirst) s.inner = points;
    if (layout == Layout::Middle) {
      s.outer = points >= 3 ? 3 : 1;
      s.inner = (points + s.outer - 1) / s.outer;
    }
    return s;
  }
  std::string describe() const {
    char text[256];
    std::snprintf(text, sizeof text, "M=%lld P=%lld %s alpha=%g %s grad=%s%s%s", static_cast<long long>(members),
                  static_cast<long long>(shape().points()), layoutName(layout), alpha, policyName(policy),
                  gradName(gradMode), components ? " components" : "", infinities ? " inf" : zeroWeights ? " w=0" : "");
    return text;
  }
};

struct Data {
  std::vector<float> ensemble, observations, weights, gradOutput;
};

// Random forecasts with ties (quantized and repeated members, observations equal to a member),
// sometimes on a large common offset (kelvin-like), NaNs at nanRate and some nearly empty points.
Data generate(const Case& c) {
  const CrpsShape shape = c.shape();
  const int64_t members = shape.members, points = shape.points();
  Rng rng{c.seed * 0x2545f4914f6cdd1dULL + 12345};
  Data d;
  d.ensemble.resize(shape.elements());
  d.observations.resize(points);
  const double offset = c.seed % 3 == 0 ? 280.0 : 0.0;
  const double quantum = 0.25;
  for (int64_t point = 0; point < points; ++point) {
    const int64_t o = point / shape.inner, i = point % shape.inner;
    const double center = offset + rng.normal();
    const double spread = rng.uniform() < 0.1 ? 1e-3 : 1.0;
    const bool sparse = c.nanRate > 0 && rng.uniform() < 0.02;  // leaves 0 or 1 members
    const int64_t keep = sparse ? static_cast<int64_t>(rng.next() % 2) : members;
    float previous = 0.0f;
    for (int64_t k = 0; k < members; ++k) {
      double v = center + spread * rng.normal();
      const double u = rng.uniform();
      if (u < 0.15) v = std::round(v / quantum) * quantum;
      float x = static_cast<float>(v);
      if (k > 0 && u > 0.9) x = previous;
      if ((c.nanRate > 0 && rng.uniform() < c.nanRate) || k >= keep) x = NAN;
      if (c.infinities && rng.uniform() < 0.002) x = rng.uniform() < 0.5 ? INFINITY : -INFINITY;
      d.ensemble[(o * members + k) * shape.inner + i] = x;
      previous = x;
    }
    float y = static_cast<float>(center + rng.normal());
    if (rng.uniform() < 0.05) y = d.ensemble[(o * members) * shape.inner + i];
    if (c.nanRate > 0 && rng.uniform() < c.nanRate) y = NAN;
    d.observations[point] = y;
  }
  if (c.gradMode >= 2 || c.seed % 2 == 1) {
    d.weights.resize(points);
    for (float& w : d.weights) w = rng.uniform() < 0.1 || c.zeroWeights ? 0.0f : static_cast<float>(2.0 * rng.uniform());
  }
  if (c.gradMode == 3) {
    d.gradOutput.resize(points);
    for (float& g : d.gradOutput) g = static_cast<float>(rng.normal());
  }
  return d;
}

struct Result {
  KernelStatus status;
  std::vector<float> scores, gradEnsemble, gradObservations, skill, spread;
  double mean = 0.0;
};

CrpsOptions optionsOf(const Case& c) {
  CrpsOptions options;
  options.alpha = c.alpha;
  options.nanPolicy = c.policy;
  options.gradients = c.gradMode > 0;
  options.components = c.components;
  return options;
}

// The outputs the case asks for, filled with kPoison.
Result poisonedOutputs(const Case& c) {
  const CrpsShape shape = c.shape();
  Result r;
  const size_t points = static_cast<size_t>(shape.points());
  r.scores.assign(points, kPoison);
  if (c.gradMode > 0) {
    r.gradEnsemble.assign(static_cast<size_t>(shape.elements()), kPoison);
    r.gradObservations.assign(points, kPoison);
  }
  if (c.components) {
    r.skill.assign(points, kPoison);
    r.spread.assign(points, kPoison);
  }
  return r;
}

Result runBackend(bool cuda, const Case& c, const Data& d) {
  CrpsInputs in;
  in.ensemble = d.ensemble.data();
  in.observations = d.observations.data();
  in.weights = d.weights.empty() ? nullptr : d.weights.data();
  in.gradOutput = d.gradOutput.empty() ? nullptr : d.gradOutput.data();
  Result r = poisonedOutputs(c);
  CrpsOutputs out;
  out.scores = r.scores.data();
  out.gradEnsemble = r.gradEnsemble.empty() ? nullptr : r.gradEnsemble.data();
  out.gradObservations = r.gradObservations.empty() ? nullptr : r.gradObservations.data();
  out.skill = r.skill.empty() ? nullptr : r.skill.data();
  out.spread = r.spread.empty() ? nullptr : r.spread.data();
  out.mean = kPoison;
  r.status = cuda ? crpsCuda(c.shape(), optionsOf(c), in, out) : crpsCpu(c.shape(), optionsOf(c), in, out);
  r.mean = out.mean;
  return r;
}

// crpsCudaDevice on `stream` with device copies of the inputs and poisoned device outputs (the
// device entry point a binding holding device buffers calls).
Result runDevice(const Case& c, const Data& d, cudaStream_t stream) {
  Result r = poisonedOutputs(c);
  using Copy = check::DeviceCopy<float>;
  const Copy ensemble(d.ensemble, false, stream), observations(d.observations, false, stream),
      weights(d.weights, false, stream), gradOutput(d.gradOutput, false, stream);
  const Copy scores(r.scores, true, stream), gradEnsemble(r.gradEnsemble, true, stream),
      gradObservations(r.gradObservations, true, stream), skill(r.skill, true, stream), spread(r.spread, true, stream);
  for (const Copy* copy : {&ensemble, &observations, &weights, &gradOutput, &scores, &gradEnsemble, &gradObservations, &skill, &spread}) {
    if (!copy->ok) return r.status = KernelStatus::failure("device copies: cudaMalloc/cudaMemcpy failed"), r;
  }
  const CrpsInputs in{ensemble.get(), observations.get(), weights.get(), gradOutput.get()};
  CrpsOutputs out{scores.get(), gradEnsemble.get(), gradObservations.get(), skill.get(), spread.get()};
  r.status = crpsCudaDevice(c.shape(), optionsOf(c), in, out, stream);
  r.mean = out.mean;
  const bool copied = scores.copyTo(r.scores) && gradEnsemble.copyTo(r.gradEnsemble) &&
                      gradObservations.copyTo(r.gradObservations) && skill.copyTo(r.skill) && spread.copyTo(r.spread);
  if (r.status.ok && !copied) r.status = KernelStatus::failure("copying the device outputs back failed");
  return r;
}

// ‖a − b‖/‖b‖ over the finite entries, with NaN/Inf positions and values required to match exactly,
// every element within kElementTolerance·max(|b|, rms(b)), and no sentinel left in either.  (The CPU
// computes some gradients in float32, so near-cancelling elements differ by a few float ulps of the
// terms: an element's own magnitude is too strict a scale.)
bool compareArray(const char* name, const std::vector<float>& a, const std::vector<float>& b, std::string& why,
                  double& worst) {
  if (a.size() != b.size()) return why = std::string(name) + ": size differs", false;
  double diff2 = 0.0, ref2 = 0.0;
  int64_t finite = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] == kPoison || b[i] == kPoison || check::unwrittenOnDevice(a[i])) {
      return why = std::string(name) + ": element " + std::to_string(i) + " not written (" +
                   (b[i] == kPoison ? "cpu" : "cuda") + ")", false;
    }
    const bool nanA = std::isnan(a[i]), nanB = std::isnan(b[i]);
    if (nanA != nanB || ((std::isinf(a[i]) || std::isinf(b[i])) && a[i] != b[i])) {
      char text[200];
      std::snprintf(text, sizeof text, "%s[%zu]: cuda %g, cpu %g", name, i, a[i], b[i]);
      return why = text, false;
    }
    if (nanA || std::isinf(b[i])) continue;
    const double d = static_cast<double>(a[i]) - b[i];
    diff2 += d * d;
    ref2 += static_cast<double>(b[i]) * b[i];
    ++finite;
  }
  const double floor = finite ? std::sqrt(ref2 / finite) : 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(b[i]) || std::isinf(b[i])) continue;
    const double d = std::fabs(static_cast<double>(a[i]) - b[i]);
    if (d > kElementTolerance * std::max<double>(std::fabs(b[i]), floor)) {
      char text[200];
      std::snprintf(text, sizeof text, "%s[%zu]: cuda %.9g, cpu %.9g", name, i, a[i], b[i]);
      return why = text, false;
    }
  }
  const double rel = ref2 > 0 ? std::sqrt(diff2 / ref2) : (diff2 > 0 ? INFINITY : 0.0);
  worst = std::max(worst, rel);
  if (rel > kTolerance) return why = std::string(name) + ": relative error " + std::to_string(rel), false;
  return true;
}

bool compareResults(const Case& c, const Result& gpu, const Result& cpu, std::string& why, double& worst) {
  if (gpu.status.ok != cpu.status.ok) {
    why = "status: cuda " + (gpu.status.ok ? std::string("ok") : gpu.status.message) + ", cpu " +
          (cpu.status.ok ? std::string("ok") : cpu.status.message);
    return false;
  }
  if (!cpu.status.ok) return true;  // both rejected the arguments (e.g. M = 1 with a fair estimator)
  if (!compareArray("scores", gpu.scores, cpu.scores, why, worst)) return false;
  if (c.gradMode > 0) {
    if (!compareArray("gradEnsemble", gpu.gradEnsemble, cpu.gradEnsemble, why, worst)) return false;
    if (!compareArray("gradObservations", gpu.gradObservations, cpu.gradObservations, why, worst)) return false;
  }
  if (c.components) {
    if (!compareArray("skill", gpu.skill, cpu.skill, why, worst)) return false;
    if (!compareArray("spread", gpu.spread, cpu.spread, why, worst)) return false;
  }
  const bool meanOk = (std::isnan(gpu.mean) && std::isnan(cpu.mean)) || gpu.mean == cpu.mean ||
                      std::fabs(gpu.mean - cpu.mean) <= kTolerance * std::fabs(cpu.mean);
  if (!meanOk) {
    char text[200];
    std::snprintf(text, sizeof text, "mean: cuda %.17g, cpu %.17g", gpu.mean, cpu.mean);
    return why = text, false;
  }
  if (std::isfinite(cpu.mean) && cpu.mean != 0.0) worst = std::max(worst, std::fabs(gpu.mean - cpu.mean) / std::fabs(cpu.mean));
  return true;
}

// Runs the cases as one group and prints one PASS line, or a FAIL line per failing case.
void runGroup(const std::string& label, const std::vector<Case>& cases, Tally& tally) {
  int failures = 0;
  double worst = 0.0;
  for (const Case& c : cases) {
    const Data d = generate(c);
    const Result cpu = runBackend(false, c, d);
    const Result gpu = runBackend(true, c, d);
    std::string why;
    if (!compareResults(c, gpu, cpu, why, worst)) {
      if (++failures <= 20) std::printf("FAIL crps %s: %s\n", c.describe().c_str(), why.c_str());
    }
  }
  if (failures) {
    std::printf("FAIL %s: %d of %zu cases\n", label.c_str(), failures, cases.size());
    ++tally.failed;
  } else {
    std::printf("PASS %s: %zu cases, worst relative error %.3g\n", label.c_str(), cases.size(), worst);
    ++tally.passed;
  }
}

const double kAlphas[] = {0.0, 1.0, 0.95};
const NanPolicy kPolicies[] = {NanPolicy::Propagate, NanPolicy::Omit, NanPolicy::Zero};
const Layout kLayouts[] = {Layout::MemberLast, Layout::MemberFirst, Layout::Middle};

// Every estimator × NaN policy × gradient mode × components for one size and layout.
std::vector<Case> allOptions(int64_t members, int64_t points, Layout layout, uint64_t& seed) {
  std::vector<Case> cases;
  for (double alpha : kAlphas)
    for (NanPolicy policy : kPolicies)
      for (int gradMode = 0; gradMode < 4; ++gradMode)
        for (int components = 0; components < 2; ++components) {
          Case c;
          c.members = members;
          c.points = points;
          c.layout = layout;
          c.alpha = alpha;
          c.policy = policy;
          c.gradMode = gradMode;
          c.components = components;
          c.nanRate = policy == NanPolicy::Propagate && !components ? 0.0 : 0.03;
          c.seed = ++seed;
          cases.push_back(c);
        }
  return cases;
}

// One case per size, the options rotating with the index.
Case rotated(int64_t members, int64_t points, Layout layout, int index, uint64_t& seed) {
  Case c;
  c.members = members;
  c.points = points;
  c.layout = layout;
  c.alpha = members == 1 ? 0.0 : kAlphas[index % 3];
  c.policy = kPolicies[(index / 3) % 3];
  c.gradMode = 1 + index % 3;
  c.components = index % 2 == 1;
  c.nanRate = c.policy == NanPolicy::Propagate && index % 4 != 1 ? 0.0 : 0.01;
  c.seed = ++seed;
  return c;
}

std::string groupLabel(int64_t members, int64_t points, const char* what) {
  return "crps M=" + std::to_string(members) + " P=" + std::to_string(points) + " " + what;
}

// Two runs of one input must give the same bits (fixed reduction order).
void checkDeterminism(Tally& tally, int64_t points) {
  Case c;
  c.members = 51;
  c.points = points;
  c.layout = Layout::MemberFirst;
  c.alpha = 0.95;
  c.gradMode = 2;
  c.components = true;
  c.seed = 4242;
  const Data d = generate(c);
  const Result a = runBackend(true, c, d), b = runBackend(true, c, d);
  auto sameBits = [](const std::vector<float>& x, const std::vector<float>& y) {
    return x.size() == y.size() && std::memcmp(x.data(), y.data(), sizeof(float) * x.size()) == 0;
  };
  const bool same = a.status.ok && b.status.ok && std::memcmp(&a.mean, &b.mean, sizeof a.mean) == 0 &&
                    sameBits(a.scores, b.scores) && sameBits(a.gradEnsemble, b.gradEnsemble) &&
                    sameBits(a.gradObservations, b.gradObservations) && sameBits(a.skill, b.skill) &&
                    sameBits(a.spread, b.spread);
  std::printf("%s crps determinism M=51 P=%lld: %s\n", same ? "PASS" : "FAIL", static_cast<long long>(points),
              same ? "two runs bit-identical" : (a.status.ok ? "runs differ" : a.status.message.c_str()));
  ++(same ? tally.passed : tally.failed);
}

// Mixed cases (every kernel and layout), each on fresh inputs: the device entry point on a user
// stream, then (several host threads at once) crpsCuda and crpsCudaDevice on a stream per thread.
std::vector<Case> mixedCases(int& index, uint64_t& seed) {
  std::vector<Case> cases;
  for (int64_t m : {1, 4, 16, 51, 100, 600})
    for (Layout layout : kLayouts) cases.push_back(rotated(m, m > 512 ? 23 : 301, layout, index++, seed));
  return cases;
}

bool checkOne(const Case& c, bool device, cudaStream_t stream, const char* what) {
  const Data d = generate(c);
  const Result cpu = runBackend(false, c, d);
  const Result gpu = device ? runDevice(c, d, stream) : runBackend(true, c, d);
  std::string why;
  double worst = 0.0;
  if (compareResults(c, gpu, cpu, why, worst)) return true;
  std::printf("FAIL crps %s %s: %s\n", what, c.describe().c_str(), why.c_str());
  return false;
}

void checkStreamsAndThreads(Tally& tally, int& index, uint64_t& seed) {
  const std::vector<Case> cases = mixedCases(index, seed);
  check::UserStream user;
  int failures = user.ok() ? 0 : 1;
  for (size_t i = 0; user.ok() && i < cases.size(); ++i) failures += !checkOne(cases[i], true, user.stream, "user stream");
  std::printf("%s crps device entry on a user stream: %zu cases\n", failures ? "FAIL" : "PASS", cases.size());
  tally.record(failures == 0);

  constexpr int kThreads = 4;
  std::vector<check::UserStream> streams(kThreads);
  failures = check::fromThreads(kThreads, static_cast<int>(cases.size()), [&](int i) {
    const bool device = i % 2 == 1;
    return checkOne(cases[i], device, streams[i % kThreads].stream, device ? "threads, user stream" : "threads");
  });
  std::printf("%s crps from %d host threads at once: %zu cases (crpsCuda and crpsCudaDevice)\n", failures ? "FAIL" : "PASS",
              kThreads, cases.size());
  tally.record(failures == 0);
}

// One call over 2^31 elements (member-first, so member offsets k·inner pass 2^31 too), scores and
// gradients against the CPU.  GPU runs only: ~24 GB of host and 16 GB of device memory.
void checkOver2To31(Tally& tally) {
#ifdef FL_CUDA_EMU
  (void)tally;
  std::printf("SKIP crps over 2^31 elements: GPU runs only\n");
#else
  Case c;
  c.members = 16;
  c.points = (int64_t{1} << 27) + 5;
  c.layout = Layout::MemberFirst;
  c.alpha = 0.95;
  c.gradMode = 1;
  Data d;
  d.ensemble.resize(static_cast<size_t>(c.members * c.points));
  d.observations.resize(static_cast<size_t>(c.points));
  Rng rng{99};  // uniform draws (a normal per element would take a minute here)
  for (float& v : d.ensemble) v = static_cast<float>(2.0 * rng.uniform() - 1.0);
  for (float& v : d.observations) v = static_cast<float>(2.0 * rng.uniform() - 1.0);
  const Result cpu = runBackend(false, c, d), gpu = runBackend(true, c, d);
  std::string why;
  double worst = 0.0;
  const bool ok = compareResults(c, gpu, cpu, why, worst);
  std::printf("%s crps over 2^31 elements (M=16, P=2^27+5, member-first, gradients): %s\n", ok ? "PASS" : "FAIL",
              ok ? "matches the CPU" : why.c_str());
  tally.record(ok);
#endif
}

// Invalid arguments get the CPU's answer (and touch no device memory).
void checkArguments(Tally& tally) {
  const float values[4] = {1.0f, 2.0f, 3.0f, 4.0f};
  float out[4];
  struct Bad {
    const char* what;
    CrpsShape shape;
    CrpsOptions options;
    bool buffers;
  };
  CrpsShape four;
  four.members = 4;
  CrpsShape none;
  none.outer = 0;
  CrpsOptions alpha;
  alpha.alpha = 1.5;
  CrpsOptions gradients;
  gradients.gradients = true;
  CrpsOptions components;
  components.components = true;
  const Bad cases[] = {{"empty shape", none, {}, true},
                       {"alpha 1.5", four, alpha, true},
                       {"gradients without buffers", four, gradients, true},
                       {"components without buffers", four, components, true},
                       {"missing buffers", four, {}, false}};
  int failures = 0;
  for (const Bad& bad : cases) {
    CrpsInputs in;
    in.ensemble = bad.buffers ? values : nullptr;
    in.observations = values;
    CrpsOutputs cpuOut, gpuOut;
    cpuOut.scores = gpuOut.scores = out;
    const KernelStatus cpu = crpsCpu(bad.shape, bad.options, in, cpuOut);
    const KernelStatus gpu = crpsCuda(bad.shape, bad.options, in, gpuOut);
    if (cpu.ok || gpu.ok || cpu.message != gpu.message) {
      ++failures;
      std::printf("FAIL crps arguments %s: cpu '%s', cuda '%s'\n", bad.what, cpu.message.c_str(), gpu.message.c_str());
    }
  }
  std::printf("%s crps argument checks: %zu cases\n", failures ? "FAIL" : "PASS", sizeof cases / sizeof cases[0]);
  ++(failures ? tally.failed : tally.passed);
}

// A handled CUDA failure must not fail the thread's next call (the runtime keeps one last error
// per thread, and launches are checked by reading it): with nearly all device memory taken, a
// call whose arrays cannot be allocated is refused as out of memory; once it is freed, a good
// call must succeed and match the CPU.
void checkRecoveryAfterFailure(Tally& tally) {
  CrpsShape big;
  big.outer = int64_t{1} << 23;  // 8M points × 16 members: 1 GiB of device arrays, past any pool reserve
  big.members = 16;
  std::vector<float> ensemble(static_cast<size_t>(big.elements()), 1.0f), observations(static_cast<size_t>(big.points()), 0.5f);
  std::vector<float> scores(observations.size()), gradEnsemble(ensemble.size()), gradObservations(observations.size());
  CrpsOptions options;
  options.gradients = true;
  CrpsInputs in;
  in.ensemble = ensemble.data(), in.observations = observations.data();
  CrpsOutputs out;
  out.scores = scores.data(), out.gradEnsemble = gradEnsemble.data(), out.gradObservations = gradObservations.data();

  std::string refusal;
  if (!check::refusedWhenFull("crps", [&] { return crpsCuda(big, options, in, out); }, refusal)) return;
  Case c;
  c.members = 16;
  c.points = 1000;
  c.gradMode = 1;
  c.seed = 777;
  const Data d = generate(c);
  const Result cpu = runBackend(false, c, d), gpu = runBackend(true, c, d);
  std::string why;
  double worst = 0.0;
  const bool ok = compareResults(c, gpu, cpu, why, worst);
  std::printf("%s crps recovery after a failure ('%s'): %s\n", ok ? "PASS" : "FAIL", refusal.c_str(),
              ok ? "the next call succeeds" : why.c_str());
  ++(ok ? tally.passed : tally.failed);
}

void runChecks(bool quick, Tally& tally) {
  uint64_t seed = 0;
  const std::vector<int64_t> members = quick ? std::vector<int64_t>{1, 2, 3, 4, 16, 32, 51, 64, 129}
                                             : std::vector<int64_t>{1, 2, 3, 4, 16, 51, 64, 100, 128, 129, 300};
  const std::vector<int64_t> smallPoints = quick ? std::vector<int64_t>{1, 37} : std::vector<int64_t>{1, 37, 1000};
  for (int64_t m : members)
    for (int64_t p : smallPoints)
      for (Layout layout : kLayouts) {
        std::vector<Case> cases = allOptions(m, p, layout, seed);
        if (check::sanitizeRun()) cases.resize(4);  // every kernel and layout, a few launches each
        runGroup(groupLabel(m, p, layoutName(layout)) + (check::sanitizeRun() ? " 4 options" : " all options"), cases, tally);
      }

  // Several blocks per call, a partial last block, and outer boundaries inside a block, for each
  // kernel: the register network (M ≤ 32), the group network (33..512; 512 the largest), the
  // block-per-point sort (513 on, in shared memory up to 8192).
  int index = 0;
  for (int64_t m : {1, 5, 17, 32, 33, 51, 100, 256, 300, 512, 513, 1000}) {
    std::vector<Case> cases;
    for (Layout layout : kLayouts) cases.push_back(rotated(m, m > 512 ? 41 : 601, layout, index++, seed));
    runGroup(groupLabel(m, m > 512 ? 41 : 601, "3 layouts"), cases, tally);
  }

  // Ensembles past the shared-memory sort (global scratch path), and its boundary.
  std::vector<Case> huge;
  for (int64_t m : {int64_t{8192}, int64_t{8193}, int64_t{9000}})
    for (int64_t p : {int64_t{1}, int64_t{5}}) huge.push_back(rotated(m, p, kLayouts[index % 3], index, seed)), ++index;
  runGroup("crps large ensembles M=8192..9000", huge, tally);

  // Infinite members.
  std::vector<Case> infinite;
  for (int64_t m : {int64_t{4}, int64_t{51}, int64_t{300}, int64_t{1000}})
    for (NanPolicy policy : kPolicies) {
      Case c = rotated(m, quick ? 37 : 1000, Layout::MemberLast, index++, seed);
      c.policy = policy;
      c.infinities = true;
      infinite.push_back(c);
    }
  runGroup("crps infinite members", infinite, tally);

  // All weights zero: Σw = 0 gives a NaN mean and NaN gradients of the mean.
  std::vector<Case> weightless;
  for (int64_t m : {int64_t{4}, int64_t{51}, int64_t{300}})
    for (NanPolicy policy : kPolicies) {
      Case c = rotated(m, 37, kLayouts[index % 3], index, seed);
      ++index;
      c.policy = policy;
      c.gradMode = 2;
      c.zeroWeights = true;
      weightless.push_back(c);
    }
  runGroup("crps zero weights", weightless, tally);
  checkArguments(tally);
  checkRecoveryAfterFailure(tally);
  checkStreamsAndThreads(tally, index, seed);
  if (quick) return;
  checkOver2To31(tally);

  for (int64_t m : {1, 2, 3, 4, 16, 51, 64, 100, 129, 300}) {
    std::vector<Case> cases;
    for (Layout layout : kLayouts) cases.push_back(rotated(m, 100003, layout, index++, seed));
    runGroup(groupLabel(m, 100003, "3 layouts"), cases, tally);
  }
  for (int64_t m : {1, 2, 3, 4, 16, 51, 64, 100}) {
    runGroup(groupLabel(m, 1 << 20, layoutName(kLayouts[index % 3])),
             {rotated(m, 1 << 20, kLayouts[index % 3], index, seed)}, tally);
    ++index;
  }
  checkDeterminism(tally, 100003);
}

}  // namespace

int main(int argc, char** argv) { return check::run(argc, argv, runChecks, crps_timings::runBench); }
