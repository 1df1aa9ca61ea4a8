// The CRPS timings of crps_check (test/native/crps_check.cu, the only includer; it runs them
// unless --no-bench): crpsCudaDevice against the device's own device-to-device copy rate.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <vector>

#include "../../native/kernels/crps.h"
#include "check.cuh"

namespace crps_timings {

using namespace fusedloss;

// --- timings ----------------------------------------------------------------------------------

// The device-to-device copy rate (bytes read + written), the bound a CRPS pass is compared with.
bool copyBandwidth(cudaStream_t stream, double& gbPerSecond) {
  const size_t bytes = size_t{256} << 20;
  check::DeviceArrays arrays;
  char* src = arrays.allocate<char>(bytes);
  char* dst = arrays.allocate<char>(bytes);
  if (!src || !dst) return std::printf("FAIL bench: cudaMalloc of 2 x 256 MiB\n"), false;
  CHECK_CUDA(cudaMemsetAsync(src, 0, bytes, stream));
  double ms = 0.0;
  if (!check::medianMs(stream, 3, 22, [&] { return cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream) == cudaSuccess; }, ms)) {
    return false;
  }
  gbPerSecond = 2.0 * bytes / (ms * 1e-3) / 1e9;
  return true;
}

struct BenchCase {
  bool memberLast;
  int64_t members, points;
  bool gradients;
};

// Times crpsCudaDevice (whole call: launches, the mean's read-back and the stream sync).
bool benchOne(cudaStream_t stream, const BenchCase& c, double copyRate, int runs) {
  CrpsShape shape;
  shape.members = c.members;
  (c.memberLast ? shape.outer : shape.inner) = c.points;
  const size_t elements = static_cast<size_t>(shape.elements()), points = static_cast<size_t>(shape.points());
  check::DeviceArrays arrays;
  float* ensemble = arrays.allocate<float>(elements);
  float* observations = arrays.allocate<float>(points);
  CrpsOutputs out;
  out.scores = arrays.allocate<float>(points);
  out.gradEnsemble = c.gradients ? arrays.allocate<float>(elements) : nullptr;
  out.gradObservations = c.gradients ? arrays.allocate<float>(points) : nullptr;
  if (!ensemble || !observations || !out.scores || (c.gradients && (!out.gradEnsemble || !out.gradObservations))) {
    return std::printf("FAIL bench crps: cudaMalloc\n"), false;
  }
  FL_LAUNCH(check::fillKernel, 4096, 256, 0, stream)(ensemble, shape.elements(), 31, 1.0f);
  FL_LAUNCH(check::fillKernel, 1024, 256, 0, stream)(observations, shape.points(), 32, 1.0f);
  CrpsOptions options;
  options.alpha = 0.95;
  options.gradients = c.gradients;
  CrpsInputs in;
  in.ensemble = ensemble;
  in.observations = observations;
  double ms = 0.0;
  const bool ok = check::medianMs(stream, 3, runs, [&] {
    const KernelStatus status = crpsCudaDevice(shape, options, in, out, stream);
    if (!status.ok) std::printf("FAIL bench crps: %s\n", status.message.c_str());
    return status.ok;
  }, ms);
  if (!ok) return false;
  const double t = ms * 1e-3, elementBytes = 4.0 * elements, pointBytes = 4.0 * points;
  const double bytes = elementBytes + 2.0 * pointBytes + (c.gradients ? elementBytes + pointBytes : 0.0);
  std::printf("%-13s %4lld %5s %9lld %9.4f %12.4g %9.1f %6.1f%%\n", c.memberLast ? "member-last" : "member-first",
              static_cast<long long>(c.members), c.gradients ? "yes" : "no", static_cast<long long>(points), ms,
              points / t, bytes / t / 1e9, 100.0 * bytes / t / 1e9 / copyRate);
  return true;
}

// The rows a GPU session records (docs/performance-cuda.md): M ≤ 16 against the 70 % target, M = 51
// against 40 %; --quick times fewer sizes with fewer runs.
bool runBench(cudaStream_t stream, bool quick) {
  std::vector<BenchCase> cases = {{true, 2, 1, true}};  // P = 1: the call's fixed cost
  const std::vector<int64_t> members = quick ? std::vector<int64_t>{4, 16, 51} : std::vector<int64_t>{2, 4, 8, 16, 32, 51, 64, 100, 300};
  for (bool memberLast : {true, false})
    for (int64_t m : members)
      for (bool gradients : {false, true}) cases.push_back({memberLast, m, 1000000, gradients});
  if (!quick) cases.push_back({false, 51, 4000000, true});
  const int runs = quick ? 7 : 25;
  double copyRate = 0.0;
  bool ok = copyBandwidth(stream, copyRate);
  if (ok) {
    std::printf("\ndevice-to-device cudaMemcpy (bytes read + written): %.1f GB/s\n", copyRate);
    std::printf("crpsCudaDevice, alpha 0.95, median of %d after 3 warm-ups, whole call (launches, the mean's "
                "read-back, the sync: the P=1 row is that fixed cost); GB/s counts ensemble + observations read, "
                "scores written, and with gradients gradEnsemble + gradObservations written; targets: %%copy ≥ 70 "
                "at M ≤ 16, ≥ 40 at M = 51\n", runs);
    std::printf("%-13s %4s %5s %9s %9s %12s %9s %7s\n", "layout", "M", "grad", "P", "ms", "points/s", "GB/s", "%copy");
    for (const BenchCase& c : cases) ok = benchOne(stream, c, copyRate, runs) && ok;
  }
  return ok;
}

}  // namespace crps_timings
