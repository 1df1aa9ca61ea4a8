// Timings for bench/gpu_check (see gpu_check.cu), with CUDA events: crpsCudaDevice next to the
// device-to-device copy rate, marginSoftmaxCudaDevice next to the FP32 FMA peak, both measured in
// the same run, and the pair workloads (mineCudaDevice, pairLossCudaDevice) (docs/spec/gpu.md).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "../native/kernels/crps.h"
#include "../native/kernels/margin.h"
#include "../native/kernels/pairs.h"

#ifndef FL_LAUNCH  // overridable, as in cuda/*.cu, for a host emulator
#define FL_LAUNCH(kernel, grid, block, sharedBytes, stream) kernel<<<(grid), (block), (sharedBytes), (stream)>>>
#endif

using namespace fusedloss;

namespace {

// Standard normal values from a splitmix64 stream (Box–Muller).
float normal(uint64_t& state) {
  auto uniform = [&state] {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return static_cast<double>((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
  };
  const double u = 1.0 - uniform(), v = uniform();
  return static_cast<float>(std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * v));
}

#define BENCH_TRY(expr)                                                                 \
  do {                                                                                  \
    const cudaError_t err = (expr);                                                     \
    if (err != cudaSuccess) {                                                           \
      std::printf("FAIL bench: %s: %s\n", #expr, cudaGetErrorString(err));              \
      return false;                                                                     \
    }                                                                                   \
  } while (0)

double median(std::vector<float> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

bool copyBandwidth(cudaStream_t stream, double& gbPerSecond) {
  const size_t bytes = size_t{256} << 20;
  void *src = nullptr, *dst = nullptr;
  BENCH_TRY(cudaMalloc(&src, bytes));
  BENCH_TRY(cudaMalloc(&dst, bytes));
  BENCH_TRY(cudaMemsetAsync(src, 0, bytes, stream));
  cudaEvent_t start, stop;
  BENCH_TRY(cudaEventCreate(&start));
  BENCH_TRY(cudaEventCreate(&stop));
  std::vector<float> ms;
  for (int run = 0; run < 25; ++run) {
    BENCH_TRY(cudaEventRecord(start, stream));
    BENCH_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream));
    BENCH_TRY(cudaEventRecord(stop, stream));
    BENCH_TRY(cudaEventSynchronize(stop));
    float t = 0.0f;
    BENCH_TRY(cudaEventElapsedTime(&t, start, stop));
    if (run >= 3) ms.push_back(t);
  }
  gbPerSecond = 2.0 * bytes / (median(ms) * 1e-3) / 1e9;  // bytes read + bytes written
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaFree(src);
  cudaFree(dst);
  return true;
}

// Times crpsCudaDevice (whole call: launches, the mean's read-back and the stream sync).
bool benchOne(cudaStream_t stream, bool memberLast, int64_t members, int64_t points, bool gradients, double copyRate) {
  CrpsShape shape;
  shape.members = members;
  (memberLast ? shape.outer : shape.inner) = points;
  std::vector<float> ensemble(shape.elements()), observations(points);
  uint64_t state = 99;
  for (float& v : ensemble) v = normal(state);
  for (float& v : observations) v = normal(state);
  const size_t elementBytes = sizeof(float) * shape.elements(), pointBytes = sizeof(float) * shape.points();
  float *ens = nullptr, *obs = nullptr, *scores = nullptr, *gradEns = nullptr, *gradObs = nullptr;
  BENCH_TRY(cudaMalloc(&ens, elementBytes));
  BENCH_TRY(cudaMalloc(&obs, pointBytes));
  BENCH_TRY(cudaMalloc(&scores, pointBytes));
  BENCH_TRY(cudaMalloc(&gradEns, elementBytes));
  BENCH_TRY(cudaMalloc(&gradObs, pointBytes));
  BENCH_TRY(cudaMemcpy(ens, ensemble.data(), elementBytes, cudaMemcpyHostToDevice));
  BENCH_TRY(cudaMemcpy(obs, observations.data(), pointBytes, cudaMemcpyHostToDevice));
  CrpsOptions options;
  options.alpha = 0.95;
  options.gradients = gradients;
  CrpsInputs in;
  in.ensemble = ens;
  in.observations = obs;
  CrpsOutputs out;
  out.scores = scores;
  out.gradEnsemble = gradients ? gradEns : nullptr;
  out.gradObservations = gradients ? gradObs : nullptr;
  cudaEvent_t start, stop;
  BENCH_TRY(cudaEventCreate(&start));
  BENCH_TRY(cudaEventCreate(&stop));
  std::vector<float> ms;
  for (int run = 0; run < 28; ++run) {
    BENCH_TRY(cudaEventRecord(start, stream));
    const KernelStatus status = crpsCudaDevice(shape, options, in, out, stream);
    if (!status.ok) {
      std::printf("FAIL bench: %s\n", status.message.c_str());
      return false;
    }
    BENCH_TRY(cudaEventRecord(stop, stream));
    BENCH_TRY(cudaEventSynchronize(stop));
    float t = 0.0f;
    BENCH_TRY(cudaEventElapsedTime(&t, start, stop));
    if (run >= 3) ms.push_back(t);  // the first runs warm up
  }
  const double t = median(ms) * 1e-3;
  const double bytes = elementBytes + 2.0 * pointBytes + (gradients ? elementBytes + pointBytes : 0.0);
  std::printf("%-13s %4lld %5s %9lld %9.4f %12.4g %9.1f %6.1f%%\n", memberLast ? "member-last" : "member-first",
              static_cast<long long>(members), gradients ? "yes" : "no", static_cast<long long>(shape.points()),
              t * 1e3, shape.points() / t, bytes / t / 1e9, 100.0 * bytes / t / 1e9 / copyRate);
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  for (float* ptr : {ens, obs, scores, gradEns, gradObs}) cudaFree(ptr);
  return true;
}

}  // namespace

// --- margin softmax ---------------------------------------------------------------------------

// Independent FMA chains: the FP32 FMA peak of this device (2 flops per FMA).
__global__ void fmaPeakKernel(float* out, int iterations) {
  float a[8];
  for (int k = 0; k < 8; ++k) a[k] = threadIdx.x * 1e-7f + k;
  const float b = 0.999999f, c = 1e-7f;
  for (int i = 0; i < iterations; ++i)
#pragma unroll
    for (int k = 0; k < 8; ++k) a[k] = fmaf(a[k], b, c);
  float sum = 0.0f;
  for (int k = 0; k < 8; ++k) sum += a[k];
  if (sum == 1234.5f) out[0] = sum;  // keeps the chains alive
}

bool fmaPeak(cudaStream_t stream, double& gflops) {
  int device = 0, sms = 0;
  BENCH_TRY(cudaGetDevice(&device));
  BENCH_TRY(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  float* out = nullptr;
  BENCH_TRY(cudaMalloc(&out, 4));
  cudaEvent_t start, stop;
  BENCH_TRY(cudaEventCreate(&start));
  BENCH_TRY(cudaEventCreate(&stop));
  const int blocks = sms * 8, threads = 256, iterations = 1 << 14;
  std::vector<float> ms;
  for (int run = 0; run < 8; ++run) {
    BENCH_TRY(cudaEventRecord(start, stream));
    FL_LAUNCH(fmaPeakKernel, blocks, threads, 0, stream)(out, iterations);
    BENCH_TRY(cudaEventRecord(stop, stream));
    BENCH_TRY(cudaEventSynchronize(stop));
    float t = 0.0f;
    BENCH_TRY(cudaEventElapsedTime(&t, start, stop));
    if (run >= 2) ms.push_back(t);
  }
  gflops = 2.0 * 8 * double(blocks) * threads * iterations / (median(ms) * 1e-3) / 1e9;
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaFree(out);
  return true;
}

// Pseudo-normal values (sum of 4 uniforms, centered) scaled by `scale`, from a hash of the index.
__global__ void fillKernel(float* v, int64_t count, uint64_t seed, float scale) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count; i += int64_t{gridDim.x} * blockDim.x) {
    float sum = 0.0f;
    for (int k = 0; k < 4; ++k) {
      uint64_t z = seed + (4 * i + k) * 0x9e3779b97f4a7c15ULL;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      sum += static_cast<float>((z ^ (z >> 31)) >> 40) * 0x1.0p-24f;
    }
    v[i] = scale * (sum - 2.0f) * 1.7320508f;
  }
}

struct MarginRow {
  int64_t rows, classes, dim;
  bool gradients;
  double ms, gflops, work, logits;
};

// Times marginSoftmaxCudaDevice (ArcFace m 0.5, s 64; the whole call: allocation from the pool,
// every kernel, the loss read-back and the sync).
bool benchMargin(cudaStream_t stream, int64_t N, int64_t C, int64_t D, bool gradients, MarginRow& row) {
  MarginSoftmaxShape shape;
  shape.rows = N, shape.dim = D, shape.classes = C, shape.subCenters = 1, shape.weightRows = C;
  MarginSoftmaxOptions options;
  options.gradients = gradients;
  std::vector<int32_t> targets(N);
  uint64_t state = 7;
  for (int32_t& t : targets) t = static_cast<int32_t>((state = state * 6364136223846793005ULL + 1442695040888963407ULL) >> 33) % C;
  float *x = nullptr, *w = nullptr, *rowsOut = nullptr, *gx = nullptr, *gw = nullptr;
  int32_t *y = nullptr, *pred = nullptr;
  BENCH_TRY(cudaMalloc(&x, 4 * N * D));
  BENCH_TRY(cudaMalloc(&w, 4 * C * D));
  BENCH_TRY(cudaMalloc(&rowsOut, 8 * N));
  BENCH_TRY(cudaMalloc(&y, 4 * N));
  BENCH_TRY(cudaMalloc(&pred, 4 * N));
  if (gradients) {
    BENCH_TRY(cudaMalloc(&gx, 4 * N * D));
    BENCH_TRY(cudaMalloc(&gw, 4 * C * D));
  }
  FL_LAUNCH(fillKernel, 1024, 256, 0, stream)(x, N * D, 11, 1.0f);
  FL_LAUNCH(fillKernel, 4096, 256, 0, stream)(w, C * D, 12, 1.0f);
  BENCH_TRY(cudaMemcpyAsync(y, targets.data(), 4 * N, cudaMemcpyHostToDevice, stream));
  MarginSoftmaxInputs in;
  in.embeddings = x, in.weights = w, in.targets = y;
  MarginSoftmaxOutputs out;
  out.losses = rowsOut, out.logSumExp = rowsOut + N, out.predictions = pred, out.gradEmbeddings = gx, out.gradWeights = gw;
  cudaEvent_t start, stop;
  BENCH_TRY(cudaEventCreate(&start));
  BENCH_TRY(cudaEventCreate(&stop));
  const int runs = C >= 1000000 ? 7 : 15;
  std::vector<float> ms;
  for (int run = 0; run < runs + 2; ++run) {
    BENCH_TRY(cudaEventRecord(start, stream));
    const KernelStatus status = marginSoftmaxCudaDevice(shape, options, in, out, stream);
    if (!status.ok) return std::printf("FAIL bench margin: %s\n", status.message.c_str()), false;
    BENCH_TRY(cudaEventRecord(stop, stream));
    BENCH_TRY(cudaEventSynchronize(stop));
    float t = 0.0f;
    BENCH_TRY(cudaEventElapsedTime(&t, start, stop));
    if (run >= 2) ms.push_back(t);  // two warm-ups
  }
  row = MarginRow{N, C, D, gradients, median(ms), 0, 0, 0};
  row.gflops = (gradients ? 6.0 : 2.0) * N * C * D / (row.ms * 1e-3) / 1e9;
  row.work = static_cast<double>(marginSoftmaxCudaScratchBytes(shape, options, out));
  row.logits = 4.0 * N * C;
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  for (void* ptr : {static_cast<void*>(x), static_cast<void*>(w), static_cast<void*>(rowsOut), static_cast<void*>(y),
                    static_cast<void*>(pred), static_cast<void*>(gx), static_cast<void*>(gw)}) cudaFree(ptr);
  return true;
}

bool runMarginBench(cudaStream_t stream) {
  double peak = 0.0;
  if (!fmaPeak(stream, peak)) return false;
  std::vector<MarginRow> rows;
  bool ok = true;
  for (int64_t n : {256, 1024})
    for (int64_t c : {10000, 100000, 1000000}) {
      MarginRow row{};
      if (benchMargin(stream, n, c, 512, true, row)) rows.push_back(row); else ok = false;
    }
  MarginRow forward{};
  if (benchMargin(stream, 1024, 100000, 512, false, forward)) rows.push_back(forward); else ok = false;
  std::printf("\nmarginSoftmaxCudaDevice, ArcFace m 0.5 s 64, K 1, median of 15 (7 at C=1M) after 2 warm-ups, whole call;\n"
              "GFLOP/s counts 6·N·C·D with gradients (2·N·C·D without; the kernel runs 8·N·C·D resp. 2·N·C·D);\n"
              "FP32 FMA peak measured here: %.0f GFLOP/s.  'extra' = device memory the call allocates beyond inputs and\n"
              "outputs (normalized copies + work buffer); 'logits' = one N×C float32 matrix, what an unfused\n"
              "formulation stores (twice, with its gradient)\n", peak);
  std::printf("%6s %8s %4s %5s %9s %9s %7s %10s %10s\n", "N", "C", "D", "grad", "ms", "GFLOP/s", "%peak", "extra MiB", "logits MiB");
  for (const MarginRow& r : rows) {
    std::printf("%6lld %8lld %4lld %5s %9.3f %9.0f %6.1f%% %10.1f %10.1f\n", static_cast<long long>(r.rows),
                static_cast<long long>(r.classes), static_cast<long long>(r.dim), r.gradients ? "yes" : "no", r.ms, r.gflops,
                100.0 * r.gflops * (r.gradients ? 8.0 / 6.0 : 1.0) / peak, r.work / 1048576.0, r.logits / 1048576.0);
  }
  return ok;
}

bool runGpuBench(bool crps, bool margin) {
  cudaStream_t stream;
  BENCH_TRY(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  if (!crps) {
    const bool ok = runMarginBench(stream);
    cudaStreamDestroy(stream);
    return ok;
  }
  double copyRate = 0.0;
  if (!copyBandwidth(stream, copyRate)) return false;
  std::printf("\ndevice-to-device cudaMemcpy (bytes read + written): %.1f GB/s\n", copyRate);
  std::printf("crpsCudaDevice, alpha 0.95, median of 25 after 3 warm-ups, whole call (launches, the mean's "
              "read-back, the sync: the P=1 row is that fixed cost); GB/s counts ensemble + observations read, "
              "scores written, and with gradients gradEnsemble + gradObservations written\n");
  std::printf("%-13s %4s %5s %9s %9s %12s %9s %7s\n", "layout", "M", "grad", "P", "ms", "points/s", "GB/s", "%copy");
  bool ok = benchOne(stream, true, 2, 1, true, copyRate);
  for (bool memberLast : {true, false})
    for (int64_t m : {2, 4, 16, 51})
      for (bool gradients : {false, true}) ok = benchOne(stream, memberLast, m, 1000000, gradients, copyRate) && ok;
  if (margin) ok = runMarginBench(stream) && ok;  // printed last
  cudaStreamDestroy(stream);
  return ok;
}


// --- pair mining and pair losses ---------------------------------------------------------------

// Times one pair workload (0: multi-similarity miner + loss + gradients, cosine; 1: batch-hard
// mining, euclidean; 2: all-triplets margin loss + gradients, euclidean) on device inputs: the
// whole call (allocation from the pool, every kernel, the host-side scan or loss sum, mined
// arrays copied back).  Labels: about 16 rows per class.  M > N: a memory bank (ref) of M rows.
bool benchPairs(cudaStream_t stream, int64_t N, int64_t M, int64_t D, int workload, int runs) {
  const bool ref = M != N;
  PairShape shape;
  shape.rows = N, shape.refs = M, shape.dim = D;
  std::vector<int32_t> labels(N), refLabels(ref ? M : 0);
  const int32_t classes = static_cast<int32_t>(std::max<int64_t>(2, M / 16));
  uint64_t state = 5;
  auto draw = [&state, classes] {
    return static_cast<int32_t>((state = state * 6364136223846793005ULL + 1442695040888963407ULL) >> 33) % classes;
  };
  for (int32_t& l : labels) l = draw();
  for (int32_t& l : refLabels) l = draw();
  float *x = nullptr, *y = nullptr, *gx = nullptr, *gy = nullptr;
  int32_t *lx = nullptr, *ly = nullptr;
  BENCH_TRY(cudaMalloc(&x, 4 * N * D));
  BENCH_TRY(cudaMalloc(&lx, 4 * N));
  BENCH_TRY(cudaMalloc(&gx, 4 * N * D));
  if (ref) {
    BENCH_TRY(cudaMalloc(&y, 4 * M * D));
    BENCH_TRY(cudaMalloc(&ly, 4 * M));
    BENCH_TRY(cudaMalloc(&gy, 4 * M * D));
    FL_LAUNCH(fillKernel, 4096, 256, 0, stream)(y, M * D, 22, 1.0f);
    BENCH_TRY(cudaMemcpyAsync(ly, refLabels.data(), 4 * M, cudaMemcpyHostToDevice, stream));
  }
  FL_LAUNCH(fillKernel, 1024, 256, 0, stream)(x, N * D, 21, 1.0f);
  BENCH_TRY(cudaMemcpyAsync(lx, labels.data(), 4 * N, cudaMemcpyHostToDevice, stream));
  PairInputs in;
  in.embeddings = x, in.labels = lx, in.ref = y, in.refLabels = ly;
  PairSimilarityOptions similarity;
  MinerOptions miner;
  PairLossOptions loss;
  const char* name = "ms miner+loss+grad";
  if (workload == 0) {
    miner.type = MinerType::MultiSimilarity, miner.distance = PairDistance::Cosine;
    loss.type = PairLossType::MultiSimilarity, loss.distance = PairDistance::Cosine;
  } else if (workload == 1) {
    name = "batch-hard mine";
    miner.type = MinerType::BatchHard, miner.distance = PairDistance::Euclidean;
  } else {
    name = "triplet all+grad";
    loss.type = PairLossType::TripletMargin, loss.distance = PairDistance::Euclidean;
  }
  cudaEvent_t start, stop;
  BENCH_TRY(cudaEventCreate(&start));
  BENCH_TRY(cudaEventCreate(&stop));
  std::vector<float> ms;
  size_t outputs = 0;
  double value = 0.0;
  for (int run = 0; run < runs + 1; ++run) {
    BENCH_TRY(cudaEventRecord(start, stream));
    KernelStatus status;
    if (workload == 1) {
      MineOutputs mined;
      status = mineCudaDevice(shape, similarity, miner, int64_t{1} << 26, in, mined, stream);
      outputs = mined.triplets.anchors.size();
    } else {
      PairLossOutputs out;
      out.gradEmbeddings = gx, out.gradRef = gy;
      status = pairLossCudaDevice(shape, similarity, miner, loss, in, out, stream);
      value = out.loss;
    }
    if (!status.ok) return std::printf("FAIL bench pairs: %s\n", status.message.c_str()), false;
    BENCH_TRY(cudaEventRecord(stop, stream));
    BENCH_TRY(cudaEventSynchronize(stop));
    float t = 0.0f;
    BENCH_TRY(cudaEventElapsedTime(&t, start, stop));
    if (run >= 1) ms.push_back(t);  // one warm-up
  }
  const double extra = static_cast<double>(pairCudaScratchBytes(shape, similarity, miner, workload == 1 ? nullptr : &loss, ref));
  char result[64];
  if (workload == 1) std::snprintf(result, sizeof result, "%zu triplets", outputs);
  else std::snprintf(result, sizeof result, "loss %.6g", value);
  std::printf("%6lld %6lld %4lld %-20s %10.3f %10.1f %10.1f  %s\n", static_cast<long long>(N), static_cast<long long>(M),
              static_cast<long long>(D), name, median(ms), extra / 1048576.0, 4.0 * N * M / 1048576.0, result);
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  for (void* ptr : {static_cast<void*>(x), static_cast<void*>(y), static_cast<void*>(gx), static_cast<void*>(gy),
                    static_cast<void*>(lx), static_cast<void*>(ly)}) cudaFree(ptr);
  return true;
}

bool runPairBench(bool quick) {
  cudaStream_t stream;
  BENCH_TRY(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  const int runs = quick ? 3 : 5;
  std::printf("\npairs (CUDA, thread-per-row pairs_math), default workBytes 64 MiB, median of %d after 1 warm-up, whole\n"
              "call on device inputs; 'extra' = device memory the call allocates beyond inputs, outputs and mined arrays;\n"
              "'N×M' = one float32 similarity matrix, what an unfused formulation stores\n", runs);
  std::printf("%6s %6s %4s %-20s %10s %10s %10s\n", "N", "M", "D", "workload", "ms", "extra MiB", "N×M MiB");
  bool ok = true;
  struct Size {
    int64_t n, m;
  };
  const std::vector<Size> sizes = quick ? std::vector<Size>{{1024, 1024}} : std::vector<Size>{{1024, 1024}, {4096, 4096}, {512, 65536}};
  for (const Size& size : sizes)
    for (int64_t d : {128, 512})
      for (int workload = 0; workload < 3; ++workload) ok = benchPairs(stream, size.n, size.m, d, workload, runs) && ok;
  cudaStreamDestroy(stream);
  return ok;
}
