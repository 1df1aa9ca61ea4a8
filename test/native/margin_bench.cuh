// The timings of margin_check (test/native/margin_check.cu, after its checks unless --no-bench):
// marginSoftmaxCudaDevice at the bench sizes against the device's FP32 FMA peak: float32 (the FP32
// SIMT tile) and precision 'tf32' and 'bf16' (the tensor-core tile on sm_80+, else the SIMT tile).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <vector>

#include "../../native/kernels/margin.h"
#include "check.cuh"

namespace {
using namespace fusedloss;

// --- timings ----------------------------------------------------------------------------------

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
  CHECK_CUDA(cudaGetDevice(&device));
  CHECK_CUDA(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  check::DeviceArrays arrays;
  float* out = arrays.allocate<float>(1);
  if (!out) return std::printf("FAIL bench: cudaMalloc\n"), false;
  const int blocks = sms * 8, threads = 256, iterations = 1 << 14;
  double ms = 0.0;
  if (!check::medianMs(stream, 2, 6, [&] {
        FL_LAUNCH(fmaPeakKernel, blocks, threads, 0, stream)(out, iterations);
        return true;
      }, ms)) {
    return false;
  }
  gflops = 2.0 * 8 * double(blocks) * threads * iterations / (ms * 1e-3) / 1e9;
  return true;
}

struct BenchCase {
  int64_t rows, classes, dim;
  bool gradients;
  Precision precision;
};

// Times marginSoftmaxCudaDevice (ArcFace m 0.5, s 64; the whole call: allocation from the pool,
// every kernel, the loss read-back and the sync) and prints its row.
bool benchOne(cudaStream_t stream, const BenchCase& c, double peak, bool tensor) {
  const int64_t N = c.rows, C = c.classes, D = c.dim;
  MarginSoftmaxShape shape;
  shape.rows = N, shape.dim = D, shape.classes = C, shape.subCenters = 1, shape.weightRows = C;
  MarginSoftmaxOptions options;
  options.gradients = c.gradients;
  options.precision = c.precision;
  std::vector<int32_t> targets(N);
  uint64_t state = 7;
  for (int32_t& t : targets) t = static_cast<int32_t>((state = state * 6364136223846793005ULL + 1442695040888963407ULL) >> 33) % C;
  check::DeviceArrays arrays;
  MarginSoftmaxInputs in;
  float* embeddings = arrays.allocate<float>(N * D);
  float* weights = arrays.allocate<float>(C * D);
  int32_t* labels = arrays.allocate<int32_t>(N);
  in.embeddings = embeddings, in.weights = weights, in.targets = labels;
  MarginSoftmaxOutputs out;
  out.losses = arrays.allocate<float>(N), out.logSumExp = arrays.allocate<float>(N), out.predictions = arrays.allocate<int32_t>(N);
  if (c.gradients) out.gradEmbeddings = arrays.allocate<float>(N * D), out.gradWeights = arrays.allocate<float>(C * D);
  if (!embeddings || !weights || !labels || !out.losses || !out.logSumExp || !out.predictions ||
      (c.gradients && (!out.gradEmbeddings || !out.gradWeights))) {
    return std::printf("FAIL bench margin: cudaMalloc\n"), false;
  }
  FL_LAUNCH(check::fillKernel, 1024, 256, 0, stream)(embeddings, N * D, 11, 1.0f);
  FL_LAUNCH(check::fillKernel, 4096, 256, 0, stream)(weights, C * D, 12, 1.0f);
  CHECK_CUDA(cudaMemcpyAsync(labels, targets.data(), 4 * N, cudaMemcpyHostToDevice, stream));
  double ms = 0.0;
  const bool ok = check::medianMs(stream, 2, C >= 1000000 ? 7 : 15, [&] {
    const KernelStatus status = marginSoftmaxCudaDevice(shape, options, in, out, stream);
    if (!status.ok) std::printf("FAIL bench margin: %s\n", status.message.c_str());
    return status.ok;
  }, ms);
  if (!ok) return false;
  const double gflops = (c.gradients ? 6.0 : 2.0) * N * C * D / (ms * 1e-3) / 1e9;
  const double work = static_cast<double>(marginSoftmaxCudaScratchBytes(shape, options, out)), logits = 4.0 * N * C;
  std::printf("%6lld %8lld %4lld %5s %4s %6s %9.3f %9.0f %6.1f%% %10.1f %10.1f\n", static_cast<long long>(N),
              static_cast<long long>(C), static_cast<long long>(D), c.gradients ? "yes" : "no",
              EnumNames<Precision>::names[static_cast<int>(c.precision)], c.precision != Precision::Float32 && tensor ? "tensor" : "simt", ms, gflops,
              100.0 * gflops * (c.gradients ? 8.0 / 6.0 : 1.0) / peak, work / 1048576.0, logits / 1048576.0);
  return true;
}

bool runBench(cudaStream_t stream, bool /*quick: the same sizes*/) {
  // Each size in float32 (the SIMT tile), then with the operands rounded (tf32, bf16: the tile the
  // device picks, tensor cores on sm_80+).
  const bool tensor = deviceHasTensorCores();
  std::vector<BenchCase> cases;
  for (Precision precision : {Precision::Float32, Precision::Tf32, Precision::Bf16}) {
    for (int64_t rows : {256, 1024})
      for (int64_t classes : {10000, 100000, 1000000}) cases.push_back({rows, classes, 512, true, precision});
    cases.push_back({1024, 100000, 512, false, precision});
  }
  double peak = 0.0;
  bool ok = fmaPeak(stream, peak);
  if (ok) {
    std::printf("\nmarginSoftmaxCudaDevice, ArcFace m 0.5 s 64, K 1, median of 15 (7 at C=1M) after 2 warm-ups, whole call;\n"
                "GFLOP/s counts 6·N·C·D with gradients (2·N·C·D without); '%%peak' = 8·N·C·D resp. 2·N·C·D (the GEMMs\n"
                "before the backward's reuse of the last slab's cosines) per second over the FP32 FMA peak measured\n"
                "here, %.0f GFLOP/s: tensor-core rows may pass 100 %%.  'extra' = device memory the call allocates beyond inputs and\n"
                "outputs (normalized copies + work buffer); 'logits' = one N×C float32 matrix, what an unfused\n"
                "formulation stores (twice, with its gradient)\n", peak);
    std::printf("%6s %8s %4s %5s %4s %6s %9s %9s %7s %10s %10s\n", "N", "C", "D", "grad", "prec", "gemm", "ms", "GFLOP/s", "%peak", "extra MiB",
                "logits MiB");
    for (const BenchCase& c : cases) ok = benchOne(stream, c, peak, tensor) && ok;
  }
  return ok;
}

}  // namespace
