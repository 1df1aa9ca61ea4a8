// Timings for bench/gpu_check (see gpu_check.cu): crpsCudaDevice timed with CUDA events, next to
// the device-to-device copy rate measured in the same run (../../shared/spec/gpu.md).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "../native/kernels/crps.h"

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

bool runGpuBench() {
  cudaStream_t stream;
  BENCH_TRY(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
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
  cudaStreamDestroy(stream);
  return ok;
}

