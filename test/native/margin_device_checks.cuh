// Part of margin_check.cu (included after its Case, Data, generate, run and compare): the checks of
// the CUDA entry points' surroundings (issue 13 point 5) — the device entry point on a user
// stream, several host threads at once, a call after a handled out-of-memory, and one case over
// 2^31 elements (GPU runs only) — and of the TF32 rounding (precision_math.h's tf32 is the
// hardware's cvt.rna, which this pins).
#pragma once

#include <mma.h>

#include <thread>
#include <type_traits>

namespace {

// wmma::__float_to_tf32 of each value (cvt.rna.tf32.f32); NaN where the device has no TF32.
__global__ void tf32Kernel(const float* in, float* out, int count) {
  const int i = threadIdx.x;
  if (i >= count) return;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
  out[i] = NAN;
#else
  out[i] = nvcuda::wmma::__float_to_tf32(in[i]);
#endif
}

// marginSoftmaxCudaDevice on device copies of d's arrays, on `stream`; outputs filled with the
// device poison first (an unwritten element fails the comparison).
Result runDevice(const Data& d, cudaStream_t stream) {
  const MarginSoftmaxShape& s = d.shape;
  const size_t N = static_cast<size_t>(s.rows), grads = d.options.gradients ? 1 : 0;
  const size_t gradWeights = static_cast<size_t>(s.classes * s.subCenters * s.dim);
  Result r;
  check::DeviceArrays arrays;
  auto upload = [&](const auto& host) {
    using T = std::remove_cv_t<std::remove_reference_t<decltype(host[0])>>;
    T* p = host.empty() ? nullptr : arrays.allocate<T>(host.size());
    if (p && cudaMemcpyAsync(p, host.data(), sizeof(T) * host.size(), cudaMemcpyHostToDevice, stream) != cudaSuccess) p = nullptr;
    return p;
  };
  MarginSoftmaxInputs in;
  in.embeddings = upload(d.embeddings), in.weights = upload(d.weights), in.targets = upload(d.targets);
  in.classIds = upload(d.classIds), in.rowWeights = upload(d.rowWeights);
  in.rowAngular = upload(d.rowAngular), in.rowAdditive = upload(d.rowAdditive);
  MarginSoftmaxOutputs out;
  out.losses = arrays.allocate<float>(N), out.logSumExp = arrays.allocate<float>(N), out.predictions = arrays.allocate<int32_t>(N);
  out.gradEmbeddings = grads ? arrays.allocate<float>(N * s.dim) : nullptr;
  out.gradWeights = grads ? arrays.allocate<float>(gradWeights) : nullptr;
  const bool allocated = in.embeddings && in.weights && in.targets && out.losses && out.logSumExp && out.predictions &&
                         (!grads || (out.gradEmbeddings && out.gradWeights));
  if (!allocated) return r.status = KernelStatus::failure("check: device arrays"), r;
  for (float* p : {out.losses, out.logSumExp, out.gradEmbeddings, out.gradWeights}) {
    const size_t count = p == out.gradEmbeddings ? N * s.dim * grads : p == out.gradWeights ? gradWeights * grads : N;
    if (p) cudaMemsetAsync(p, kOutputPoisonByte, 4 * count, stream);
  }
  cudaMemsetAsync(out.predictions, kOutputPoisonByte, 4 * N, stream);
  r.status = marginSoftmaxCudaDevice(s, d.options, in, out, stream);
  r.loss = out.loss, r.curricularT = out.curricularT;
  auto download = [&](std::vector<float>& host, const float* p, size_t count) {
    host.assign(count, kPoison);
    if (count) cudaMemcpyAsync(host.data(), p, 4 * count, cudaMemcpyDeviceToHost, stream);
  };
  download(r.losses, out.losses, N), download(r.logSumExp, out.logSumExp, N);
  download(r.gradEmbeddings, out.gradEmbeddings, N * s.dim * grads), download(r.gradWeights, out.gradWeights, gradWeights * grads);
  r.predictions.assign(N, INT32_MIN);
  cudaMemcpyAsync(r.predictions.data(), out.predictions, 4 * N, cudaMemcpyDeviceToHost, stream);
  if (cudaStreamSynchronize(stream) != cudaSuccess && r.status.ok) r.status = KernelStatus::failure("check: copying back");
  return r;
}

// compare() for one case, its description prefixed to the reason.
bool matches(const Case& c, const Data& d, const Result& gpu, const Result& cpu, std::string& why) {
  double worst = 0.0;
  int ties = 0;
  if (compare(c, d, gpu, cpu, why, worst, ties)) return true;
  why = c.describe() + ": " + why;
  return false;
}

void report(const char* what, bool ok, const std::string& why, Tally& tally) {
  std::printf("%s margin %s%s%s\n", ok ? "PASS" : "FAIL", what, ok ? "" : ": ", ok ? "" : why.c_str());
  tally.record(ok);
}

// The device entry point on a user stream (non-blocking) against the CPU, for both GEMM tiles:
// float32 (the SIMT tile) and tf32 (the tensor-core tile on sm_80+).
void checkUserStream(uint64_t& seed, Tally& tally) {
  cudaStream_t stream;
  if (cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) != cudaSuccess) return report("user stream", false, "cudaStreamCreateWithFlags", tally);
  std::string why;
  bool ok = true;
  for (Precision precision : {Precision::Float32, Precision::Tf32}) {
    Case c = makeCase(129, 40, 1000, 2, 13, seed);
    c.precision = precision, c.subset = true;
    const Data d = generate(c);
    const Result cpu = run(false, d), gpu = runDevice(d, stream);
    ok = matches(c, d, gpu, cpu, why) && ok;
  }
  cudaStreamDestroy(stream);
  report("device entry point on a user stream (float32 and tf32)", ok, why, tally);
}

// Four host threads call marginSoftmaxCuda at once, each on its own inputs; each answer must match
// the CPU's (computed before, on this thread).  On the CPU harness the launches are serialized (a
// launch holds the harness's lock), so this checks the host side's thread safety only there.
void checkHostThreads(uint64_t& seed, Tally& tally) {
  constexpr int kThreadsAtOnce = 4;
  std::vector<Case> cases;
  std::vector<Data> data;
  std::vector<Result> cpu(kThreadsAtOnce), gpu(kThreadsAtOnce);
  for (int t = 0; t < kThreadsAtOnce; ++t) {
    cases.push_back(makeCase(33 + 16 * t, 24 + 8 * t, 300 + 100 * t, 1 + t % 2, t, seed));
    data.push_back(generate(cases.back()));
    cpu[t] = run(false, data[t]);
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreadsAtOnce; ++t) threads.emplace_back([&, t] { gpu[t] = run(true, data[t]); });
  for (std::thread& thread : threads) thread.join();
  std::string why;
  bool ok = true;
  for (int t = 0; t < kThreadsAtOnce && ok; ++t) ok = matches(cases[t], data[t], gpu[t], cpu[t], why);
  report("4 host threads calling at once", ok, why, tally);
}

// A handled out-of-memory must not fail the thread's next call: with nearly all device memory
// taken, a call whose arrays cannot be allocated is refused as out of memory; once it is freed, a
// good call must succeed and match the CPU.
void checkRecoveryAfterFailure(uint64_t& seed, Tally& tally) {
  constexpr int64_t kBigClasses = int64_t{1} << 23;  // 128 MiB of weights (4 features), past the slack
  Data bigData;
  bigData.shape.rows = 1, bigData.shape.dim = 4, bigData.shape.classes = kBigClasses, bigData.shape.weightRows = kBigClasses;
  bigData.options.gradients = false;
  bigData.weights.assign(static_cast<size_t>(4 * kBigClasses), 0.5f);
  bigData.embeddings.assign(4, 1.0f);
  bigData.targets.assign(1, 0);
  std::string refusal;
  if (!check::refusedWhenFull("margin", [&] { return run(true, bigData).status; }, refusal)) return;
  const Case c = makeCase(65, 32, 700, 1, 4, seed);
  const Data d = generate(c);
  const Result cpu = run(false, d), gpu = run(true, d);
  std::string why;
  const bool ok = matches(c, d, gpu, cpu, why);
  report(("recovery after a failure ('" + refusal + "'): the next call succeeds").c_str(), ok, why, tally);
}

// Over 2^31 elements in one array (embeddings and their gradient: 2^21 + 1 rows of 1024
// features), through the device entry point: 64-bit indexing everywhere.  GPU runs only (about
// 24 GiB of device memory); the harness prints SKIP.
void checkHuge(uint64_t& seed, Tally& tally) {
#ifdef FL_CUDA_EMU
  (void)seed, (void)tally;
  std::printf("SKIP margin over 2^31 elements: GPU runs only (the CPU harness has 0.5 GiB)\n");
#else
  Case c = makeCase((int64_t{1} << 21) + 1, 1024, 7, 1, 0, seed);
  c.subset = false, c.columns = false;
  const Data d = generate(c);
  const Result cpu = run(false, d), gpu = runDevice(d, nullptr);
  std::string why;
  const bool ok = matches(c, d, gpu, cpu, why);
  report(("over 2^31 elements, " + c.describe()).c_str(), ok, why, tally);
#endif
}

// TF32 rounding as PTX documents cvt.rna: to 10 mantissa bits, to nearest, ties away from zero;
// NaN and infinities kept.  On a GPU this pins the hardware, on the harness its model.
void checkTf32Rounding(Tally& tally) {
  const float one = 1.0f, ulp = 0x1.0p-10f;
  // The ties (1 + ulp/2 and its negative) tell ties-away from ties-to-even, which gives 1.
  const std::vector<float> in = {one + 0x1.0p-11f, -(one + 0x1.0p-11f), one + 0x1.0p-12f, one + 0x1.8p-11f,
                                 one + ulp + 0x1.0p-11f, 0.3f, INFINITY, -INFINITY, 0.0f};
  const std::vector<float> want = {one + ulp, -(one + ulp), one, one + ulp, one + 2 * ulp, 0x1.334p-2f, INFINITY, -INFINITY, 0.0f};
  check::DeviceArrays arrays;
  float *din = arrays.allocate<float>(in.size() + 1), *dout = arrays.allocate<float>(in.size() + 1);
  std::vector<float> got(in.size() + 1, kPoison);
  std::vector<float> values = in;
  values.push_back(NAN);
  bool ok = din && dout && cudaMemcpy(din, values.data(), 4 * values.size(), cudaMemcpyHostToDevice) == cudaSuccess;
  if (ok) {
    FL_LAUNCH(tf32Kernel, 1, 32, 0, nullptr)(din, dout, static_cast<int>(values.size()));
    ok = cudaGetLastError() == cudaSuccess && cudaMemcpy(got.data(), dout, 4 * got.size(), cudaMemcpyDeviceToHost) == cudaSuccess;
  }
  std::string why = ok ? "" : "CUDA failed";
  for (size_t i = 0; ok && i < in.size(); ++i) {
    if (std::memcmp(&got[i], &want[i], 4) == 0) continue;
    char text[160];
    std::snprintf(text, sizeof text, "tf32(%a) = %a, want %a", in[i], got[i], want[i]);
    ok = false, why = text;
  }
  if (ok && !std::isnan(got.back())) ok = false, why = "tf32(NaN) is not NaN";
  report("TF32 rounding (to nearest, ties away from zero)", ok, why, tally);
}

}  // namespace
