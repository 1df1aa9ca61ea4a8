// Kernel-only throughput and memory of the native CPU margin softmax (ArcFace, forward +
// backward), beside an unfused baseline that materializes the N×C logits with the same GEMM
// micro-kernel, and the machine's FMA peak, all measured in this process.
// `npm run bench:kernel:margin` builds and runs it.
//
//   margin_cpu_bench [N=1024] [D=512] [C=100000] [threads=all] [runs=3] [fused-only] [--gemm] [--bf16]
//                    [--work-mib A,B,...]
//
// --gemm: instead of the kernels, the margin kernel's three GEMMs alone, float32 vs bf16 operands
// (margin_gemm_bench.h).
// --bf16: a second fused row at precision bf16 (operands rounded, bf16Operands GEMMs), its calls
// alternating with the float32 row's, and the speed-up.
// --work-mib: instead, float32 fused rows at each work budget (MarginSoftmaxOptions::workBytes, the
// TypeScript option workMemory), calls alternating, with each budget's peak memory (first call) and
// process CPU seconds per call (all threads; less sensitive than wall time to other processes
// taking the cores, not to their memory traffic).
//
// GFLOP/s count 6·N·C·D (one N×D·D×C product forward, two for the gradients).  Memory is the
// growth of the process' peak resident set (VmHWM, reset before each method) over the inputs; with
// --bf16, of each precision's first call.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/margin.h"
#include "runtime/gemm.h"
#include "bench_util.h"
#include "margin_gemm_bench.h"
#include "runtime/thread_pool.h"

namespace {

using namespace fusedloss;
using namespace benchutil;

// The unfused formulation (what the Python references do): normalize, materialize the logits
// [N, C], softmax, then the two gradient products — same GEMM, same margin (ArcFace 0.5, s 64).
double unfused(int64_t n, int64_t d, int64_t c, const std::vector<float>& x, const std::vector<float>& w,
               const std::vector<int32_t>& labels, std::vector<float>& gradX, std::vector<float>& gradW) {
  const std::vector<float> xn = benchutil::normalizedRows(x, n, d), wn = benchutil::normalizedRows(w, c, d);
  std::vector<float> wT(d * c);
  for (int64_t j = 0; j < c; ++j)
    for (int64_t k = 0; k < d; ++k) wT[k * c + j] = wn[j * d + k];
  std::vector<float> logits(n * c);
  const int64_t rowChunks = std::min<int64_t>(n, 64);
  parallelFor(rowChunks, [&](int64_t chunk) {
    const int64_t r0 = chunk * n / rowChunks, r1 = (chunk + 1) * n / rowChunks;
    for (int64_t c0 = 0; c0 < c; c0 += 4096) {
      GemmOperands op;
      op.m = r1 - r0, op.n = std::min<int64_t>(4096, c - c0) / 16 * 16, op.k = d;
      op.a = xn.data() + r0 * d, op.aRowStride = d, op.aDepthStride = 1;
      op.b = wT.data() + c0, op.ldb = c, op.c = logits.data() + r0 * c + c0, op.ldc = c;
      if (op.n > 0) gemm(op);
    }
  });
  double loss = 0;
  for (int64_t i = 0; i < n; ++i) {
    float* row = logits.data() + i * c;
    const float ct = std::clamp(row[labels[i]], -1.0f, 1.0f);
    for (int64_t j = 0; j < c; ++j) row[j] *= 64.0f;
    row[labels[i]] = 64.0f * float(std::cos(std::acos(ct) + 0.5));
    const float mx = *std::max_element(row, row + c);
    double s = 0;
    for (int64_t j = 0; j < c; ++j) s += std::exp(double(row[j] - mx));
    const double lse = mx + std::log(s);
    loss += lse - row[labels[i]];
    for (int64_t j = 0; j < c; ++j) row[j] = float(std::exp(row[j] - lse) * 64.0 / n);
    row[labels[i]] -= 64.0f / n;
  }
  gradX.assign(n * d, 0.0f);
  gradW.assign(c * d, 0.0f);
  parallelFor(rowChunks, [&](int64_t chunk) {  // gradX = G·Ŵ
    const int64_t r0 = chunk * n / rowChunks, r1 = (chunk + 1) * n / rowChunks;
    GemmOperands op;
    op.m = r1 - r0, op.n = d / 16 * 16, op.k = c;
    op.a = logits.data() + r0 * c, op.aRowStride = c, op.aDepthStride = 1;
    op.b = wn.data(), op.ldb = d, op.c = gradX.data() + r0 * d, op.ldc = d;
    gemm(op);
  });
  const int64_t classChunks = std::min<int64_t>(c, 256);
  parallelFor(classChunks, [&](int64_t chunk) {  // gradW = Gᵀ·X̂
    const int64_t j0 = chunk * c / classChunks, j1 = (chunk + 1) * c / classChunks;
    GemmOperands op;
    op.m = j1 - j0, op.n = d / 16 * 16, op.k = n;
    op.a = logits.data() + j0, op.aRowStride = 1, op.aDepthStride = c;
    op.b = xn.data(), op.ldb = d, op.c = gradW.data() + j0 * d, op.ldc = d;
    gemm(op);
  });
  return loss / n;
}

// Fused float32 rows at each work budget, calls alternating over the budgets (the load reaches all
// alike); peak memory over `base` from each budget's first call.
void printWorkBudgetRows(const MarginSoftmaxShape& shape, const MarginSoftmaxOptions& options, const MarginSoftmaxInputs& inputs,
                         MarginSoftmaxOutputs& outputs, const std::vector<int64_t>& workMiB, int runs, double flops, double peak,
                         double base) {
  std::vector<std::vector<double>> times(workMiB.size()), cpu(workMiB.size());
  std::vector<double> peaks(workMiB.size()), losses(workMiB.size());
  for (int run = 0; run < runs; ++run) {
    for (size_t b = 0; b < workMiB.size(); ++b) {
      MarginSoftmaxOptions o = options;
      o.workBytes = workMiB[b] << 20;
      resetPeak();
      const std::clock_t cpuStart = std::clock();
      times[b].push_back(medianSeconds([&] { marginSoftmaxCpu(shape, o, inputs, outputs); }, 1));
      cpu[b].push_back(double(std::clock() - cpuStart) / CLOCKS_PER_SEC);
      if (run == 0) peaks[b] = (statusKiB("VmHWM:") - base) / 1024, losses[b] = outputs.loss;
    }
  }
  for (size_t b = 0; b < workMiB.size(); ++b) {
    std::vector<double> t = times[b], u = cpu[b];
    std::sort(t.begin(), t.end());
    std::sort(u.begin(), u.end());
    std::printf("| fused, workBytes %lld MiB | %.3f (best %.3f; CPU s %.3f) | %.1f | %.1f | %.0f |\n", (long long)workMiB[b], t[t.size() / 2], t[0],
                u[u.size() / 2], flops / t[t.size() / 2] / 1e9, 100 * flops / t[t.size() / 2] / 1e9 / peak, peaks[b]);
  }
  for (size_t b = 0; b < workMiB.size(); ++b) std::printf("loss at %lld MiB: %.9g\n", (long long)workMiB[b], losses[b]);
}

}  // namespace

int main(int argc, char** argv) {
  bool gemmOnly = false, bf16 = false;
  std::vector<int64_t> workMiB;
  int positional = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--work-mib" && i + 1 < argc) {
      std::stringstream list(argv[++i]);
      for (std::string item; std::getline(list, item, ',');) workMiB.push_back(std::atoll(item.c_str()));
    } else if (std::string(argv[i]) == "--gemm") {
      gemmOnly = true;
    } else if (std::string(argv[i]) == "--bf16") {
      bf16 = true;
    } else {
      argv[positional++] = argv[i];
    }
  }
  argc = positional;
  const int64_t n = argc > 1 ? std::atoll(argv[1]) : 1024;
  const int64_t d = argc > 2 ? std::atoll(argv[2]) : 512;
  const int64_t c = argc > 3 ? std::atoll(argv[3]) : 100000;
  if (argc > 4) setThreadCount(std::atoi(argv[4]));
  const int runs = argc > 5 ? std::atoi(argv[5]) : 3;
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  std::vector<float> x(n * d), w(c * d);
  for (float& v : x) v = normal(rng);
  for (float& v : w) v = normal(rng);
  std::vector<int32_t> labels(n);
  for (int32_t& l : labels) l = static_cast<int32_t>(rng() % c);
  std::vector<float> losses(n), lse(n), gradX(n * d), gradW(c * d);
  std::vector<int32_t> predictions(n);
  std::fill(gradX.begin(), gradX.end(), 1.0f);
  std::fill(gradW.begin(), gradW.end(), 1.0f);  // fault the outputs in before measuring memory

  std::vector<double> peaks;
  parallelFor(threadCount(), [&](int64_t) {});
  const double peak = [&] {
    std::vector<double> per(threadCount());
    parallelFor(threadCount(), [&](int64_t t) { per[t] = measureFmaPeakGflops(0.5); });
    double total = 0;
    for (double v : per) total += v;
    return total;
  }();
  const double flops = 6.0 * n * c * d;
  std::printf("margin softmax (ArcFace m 0.5, s 64), N %lld, D %lld, C %lld, %d threads, gemm %s\n", (long long)n,
              (long long)d, (long long)c, threadCount(), gemmLevel());
  std::printf("FMA peak (all threads, same process): %.1f GFLOP/s\n", peak);
  if (gemmOnly) {
    benchgemm::printGemmTable(n, d, c, runs);
    return 0;
  }
  std::printf("\n");
  std::printf("| method | time s | GFLOP/s (6NCD) | %% of FMA peak | peak extra memory MiB |\n|:--|--:|--:|--:|--:|\n");

  MarginSoftmaxShape shape;
  shape.rows = n, shape.dim = d, shape.classes = c, shape.subCenters = 1, shape.weightRows = c;
  MarginSoftmaxOptions options;
  options.workBytes = marginCpuDefaultWorkBytes(shape);  // as the API calls it (native/napi/margin_binding.cc)
  MarginSoftmaxInputs inputs;
  inputs.embeddings = x.data(), inputs.weights = w.data(), inputs.targets = labels.data();
  MarginSoftmaxOutputs outputs;
  outputs.losses = losses.data(), outputs.logSumExp = lse.data(), outputs.predictions = predictions.data();
  outputs.gradEmbeddings = gradX.data(), outputs.gradWeights = gradW.data();
  const double base = statusKiB("VmRSS:");
  resetPeak();
  if (!workMiB.empty()) {
    printWorkBudgetRows(shape, options, inputs, outputs, workMiB, runs, flops, peak, base);
    return 0;
  }
  MarginSoftmaxOptions bf16Options = options;
  bf16Options.precision = Precision::Bf16;
  std::vector<double> fp32Times, bf16Times;
  double bf16Loss = 0, fusedPeak = 0, bf16Peak = 0;
  // Each precision's peak memory over `base` (MiB) in its first call (float32's first): later calls
  // find the other precision's freed blocks still resident in the buffer cache (runtime/memory.h).
  const auto measured = [&](const MarginSoftmaxOptions& o, double& peakMiB, bool first) {
    resetPeak();
    const double seconds = medianSeconds([&] { marginSoftmaxCpu(shape, o, inputs, outputs); }, 1);
    if (first) peakMiB = (statusKiB("VmHWM:") - base) / 1024;
    return seconds;
  };
  for (int run = 0; run < runs; ++run) {  // alternating, so a change in the machine's load reaches both
    fp32Times.push_back(measured(options, fusedPeak, run == 0));
    if (!bf16) continue;
    bf16Times.push_back(measured(bf16Options, bf16Peak, run == 0));
    bf16Loss = outputs.loss;
  }
  const auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  const double fused = median(fp32Times);
  marginSoftmaxCpu(shape, options, inputs, outputs);
  const double fusedLoss = outputs.loss;
  std::printf("| fused (fusedloss) | %.3f | %.1f | %.1f | %.0f |\n", fused, flops / fused / 1e9, 100 * flops / fused / 1e9 / peak, fusedPeak);
  if (bf16) {
    const double t = median(bf16Times);
    std::printf("| fused, precision bf16 (%s) | %.3f | %.1f | %.1f | %.0f |\n", gemmBf16Level(), t, flops / t / 1e9, 100 * flops / t / 1e9 / peak,
                bf16Peak);
    std::printf("\nbf16 speed-up %.2fx (medians of %d alternating runs), loss fp32 %.6f, bf16 %.6f\n", fused / t, runs, fusedLoss, bf16Loss);
  }

  const bool baseline = !(argc > 6 && std::string(argv[6]) == "fused-only");
  if (baseline && static_cast<double>(n) * c * 4 < 8e9) {
    std::vector<float> gx, gw;
    double loss = 0;
    const double before = statusKiB("VmRSS:");
    resetPeak();
    const double t = medianSeconds([&] { loss = unfused(n, d, c, x, w, labels, gx, gw); }, 1);
    const double unfusedPeak = (statusKiB("VmHWM:") - before) / 1024;
    std::printf("| unfused (materialized logits) | %.3f | %.1f | %.1f | %.0f |\n", t, flops / t / 1e9, 100 * flops / t / 1e9 / peak,
                unfusedPeak);
    std::printf("\nloss fused %.6f, unfused %.6f\n", fusedLoss, loss);
  }
  return 0;
}
