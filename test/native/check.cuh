// What every CUDA-vs-CPU check (test/native/<family>_check.cu, docs/spec/gpu.md) shares: the
// random stream, the poison value host outputs are filled with before a kernel runs and the device
// poison (an element still equal to either was never written), the comparison of an output
// vector, the pass/fail tally, the command line and the CUDA-event timing.  Each check is one
// program in llm.c's shape: the CPU kernel and the CUDA kernel called through the same header
// signature on the same inputs, compared, then the CUDA kernel timed.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "../../cuda/device_memory.cuh"
#include "../../native/kernels/cuda_info.h"
#include "../../native/kernels/status.h"

namespace check {

constexpr float kPoison = -1.234567e31f;  // no kernel output can be this

// The CUDA entry points fill their device outputs with kOutputPoisonByte before the kernels run
// (cuda/device_memory.cuh), and the host arrays above are overwritten by the copy back: so an
// element the GPU never wrote arrives as this NaN bit pattern, which no kernel writes.
inline bool unwrittenOnDevice(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  return bits == 0x01010101u * static_cast<uint32_t>(fusedloss::kOutputPoisonByte);
}

// splitmix64: fast, and the same stream on every machine.
struct Rng {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double normal() {  // Box–Muller; the two draws in a fixed order
    const double u = 1.0 - uniform(), v = uniform();
    return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * v);
  }
};

// ‖a − b‖ ≤ tolerance·max(‖b‖, floor); any NaN, Inf or poison fails.
inline bool compareVector(const char* name, const std::vector<float>& a, const std::vector<float>& b, double tolerance,
                   double floor, std::string& why, double& worst) {
  if (a.size() != b.size()) return why = std::string(name) + ": sizes differ", false;
  double diff2 = 0.0, ref2 = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (unwrittenOnDevice(a[i])) return why = std::string(name) + "[" + std::to_string(i) + "]: not written by the GPU", false;
    if (!std::isfinite(a[i]) || !std::isfinite(b[i]) || a[i] == kPoison || b[i] == kPoison) {
      char text[200];
      std::snprintf(text, sizeof text, "%s[%zu]: cuda %g, cpu %g (NaN, Inf or unwritten)", name, i, a[i], b[i]);
      return why = text, false;
    }
    const double e = static_cast<double>(a[i]) - b[i];
    diff2 += e * e, ref2 += static_cast<double>(b[i]) * b[i];
  }
  const double rel = std::sqrt(diff2) / std::max(std::sqrt(ref2), floor > 0 ? floor : 1e-300);
  worst = std::max(worst, rel);
  if (rel <= tolerance) return true;
  char text[200];
  std::snprintf(text, sizeof text, "%s: ‖cuda − cpu‖/‖cpu‖ = %.3g > %g", name, rel, tolerance);
  return why = text, false;
}

// Checks passed and failed; each check prints its own PASS or FAIL line.
struct Tally {
  int passed = 0, failed = 0;
  void record(bool ok) { ++(ok ? passed : failed); }
};

// --sanitize: --quick --no-bench, and a family may cut its case grid further to the cases that
// run different kernels (compute-sanitizer's racecheck costs ~10 ms a launch); run-gpu-checks.sh
// passes it to every sanitizer tool, run-emu-checks.sh to the harness's shuffled pass.
inline bool& sanitizeRun() {
  static bool value = false;
  return value;
}

struct Args {
  bool quick = false;  // small sizes only (and short timings)
  bool checks = true;  // the comparisons with the CPU
  bool bench = true;   // the timings after the checks
};

// Reads `--quick`, `--no-bench`, `--bench-only` and `--sanitize`, prints the devices; false (with the reason)
// when the command line is wrong or CUDA is unusable, which the program reports with exit status 2.
inline bool start(int argc, char** argv, Args& args) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) args.quick = true;
    else if (!std::strcmp(argv[i], "--no-bench")) args.bench = false;
    else if (!std::strcmp(argv[i], "--bench-only")) args.checks = false;
    else if (!std::strcmp(argv[i], "--sanitize")) args.quick = true, args.bench = false, sanitizeRun() = true;
    else return std::fprintf(stderr, "usage: %s [--quick] [--no-bench | --bench-only] [--sanitize]\n", argv[0]), false;
  }
  const fusedloss::CudaInfo& info = fusedloss::cudaInfo();
  if (!info.available) return std::printf("FAIL CUDA unavailable: %s\n", info.reason.c_str()), false;
  for (const fusedloss::CudaDevice& device : info.devices) {
    std::printf("device %d: %s (sm_%d%d, %.1f GiB)\n", device.index, device.name.c_str(), device.computeMajor,
                device.computeMinor, device.totalMemory / 1073741824.0);
  }
  return true;
}

// A check program's main: unless --bench-only the checks (runChecks(quick, tally)), then unless
// --no-bench the timings (runBench(stream, quick), on a stream of their own; a SKIP line on the CPU
// harness), then the summary line.  Exit
// status 0 when every check passed, 1 on a failure, 2 when CUDA is unusable or the command line
// is wrong.
template <typename Checks, typename Bench>
int run(int argc, char** argv, Checks runChecks, Bench runBench) {
  Args args;
  if (!start(argc, argv, args)) return 2;
  Tally tally;
  if (args.checks) runChecks(args.quick, tally);
#ifdef FL_CUDA_EMU
  if (args.bench) std::printf("SKIP timings: the CPU harness does not time kernels (FL_CUDA_EMU)\n");
  args.bench = false;
#endif
  if (args.bench) {
    cudaStream_t stream;
    const bool created = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) == cudaSuccess;
    if (!created) std::printf("FAIL bench: cudaStreamCreateWithFlags\n");
    tally.record(created && runBench(stream, args.quick));
    if (created) cudaStreamDestroy(stream);
  }
  std::printf("\n%d passed, %d failed\n", tally.passed, tally.failed);
  return tally.failed ? 1 : 0;
}

// --- calls from several host threads, calls on a user stream ----------------------------------------

// Runs call(i) for i = 0 .. count − 1 from `threads` host threads at once (thread j takes i ≡ j
// mod threads), as a user's worker threads would call an entry point; call returns true when its
// case passed (and prints why not).  Returns how many failed.  On the CPU harness the launches of
// the threads take turns (one launch at a time), everything else runs concurrently.
template <typename Call>
int fromThreads(int threads, int count, Call call) {
  std::vector<int> failures(static_cast<size_t>(threads), 0);
  std::vector<std::thread> workers;
  for (int j = 0; j < threads; ++j) {
    workers.emplace_back([&, j] {
      for (int i = j; i < count; i += threads) failures[j] += !call(i);
    });
  }
  for (std::thread& worker : workers) worker.join();
  int total = 0;
  for (int f : failures) total += f;
  return total;
}

// A non-blocking stream of the caller's (not the default or per-thread stream), destroyed with
// this object; ok() false when it could not be created.
struct UserStream {
  cudaStream_t stream = nullptr;
  bool created = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) == cudaSuccess;
  ~UserStream() {
    if (created) cudaStreamDestroy(stream);
  }
  bool ok() const { return created; }
};

// Device copy of a host array (and back) on `stream`, for the device entry points; outputs start
// filled with the device poison (kOutputPoisonByte) so that an element the kernels never write fails.
template <typename T>
struct DeviceCopy {
  T* device = nullptr;
  size_t count = 0;
  cudaStream_t stream;
  bool ok = true;
  DeviceCopy(const std::vector<T>& host, bool poison, cudaStream_t s) : count(host.size()), stream(s) {
    if (count == 0) return;
    const size_t bytes = count * sizeof(T);
    ok = cudaMalloc(&device, bytes) == cudaSuccess &&
         (poison ? cudaMemsetAsync(device, fusedloss::kOutputPoisonByte, bytes, stream)
                 : cudaMemcpyAsync(device, host.data(), bytes, cudaMemcpyHostToDevice, stream)) == cudaSuccess &&
         cudaStreamSynchronize(stream) == cudaSuccess;
  }
  ~DeviceCopy() {
    if (device) cudaFree(device);
  }
  T* get() const { return count ? device : nullptr; }
  bool copyTo(std::vector<T>& host) const {
    return count == 0 || (cudaMemcpyAsync(host.data(), device, count * sizeof(T), cudaMemcpyDeviceToHost, stream) == cudaSuccess &&
                          cudaStreamSynchronize(stream) == cudaSuccess);
  }
};

// --- timing ---------------------------------------------------------------------------------------

#define CHECK_CUDA(expr)                                                          \
  do {                                                                            \
    const cudaError_t err = (expr);                                               \
    if (err != cudaSuccess) {                                                     \
      std::printf("FAIL bench: %s: %s\n", #expr, cudaGetErrorString(err));        \
      return false;                                                               \
    }                                                                             \
  } while (0)

// The median of `runs` timings of call() (each bracketed by CUDA events on `stream`) after
// `warmups` untimed calls; false when call() (which prints why) or CUDA fails.
template <typename Call>
bool medianMs(cudaStream_t stream, int warmups, int runs, Call call, double& ms) {
  cudaEvent_t startEvent, stopEvent;
  CHECK_CUDA(cudaEventCreate(&startEvent));
  CHECK_CUDA(cudaEventCreate(&stopEvent));
  std::vector<float> times;
  bool ok = true;
  for (int run = 0; ok && run < warmups + runs; ++run) {
    float t = 0.0f;
    ok = cudaEventRecord(startEvent, stream) == cudaSuccess && call() && cudaEventRecord(stopEvent, stream) == cudaSuccess &&
         cudaEventSynchronize(stopEvent) == cudaSuccess && cudaEventElapsedTime(&t, startEvent, stopEvent) == cudaSuccess;
    if (run >= warmups) times.push_back(t);
  }
  cudaEventDestroy(startEvent);
  cudaEventDestroy(stopEvent);
  if (!ok) {  // a failing call() has printed why; a CUDA failure is printed here
    const cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) std::printf("FAIL bench: %s\n", cudaGetErrorString(err));
    return false;
  }
  std::sort(times.begin(), times.end());
  ms = times[times.size() / 2];
  return true;
}

// The first half of every family's recovery check: `call` (returning a KernelStatus) run with all
// device memory but 64 to 128 MiB taken, so that its allocation fails.  True, with the refusal's
// message, when it was refused as out of memory; otherwise it prints the family's SKIP line and
// returns false: under compute-sanitizer (taking the memory would starve the sanitizer's own), or
// when the call could not be made to fail.  The refused attempts to take the memory are cleared
// from the last error, so only the call's own failure can be pending after it.
template <typename Call>
bool refusedWhenFull(const char* family, Call call, std::string& message) {
  if (sanitizeRun()) {
    std::printf("SKIP %s recovery after a failure: not under compute-sanitizer\n", family);
    return false;
  }
  constexpr size_t kSlack = size_t{64} << 20;
  size_t freeBytes = 0, totalBytes = 0;
  void* hog = nullptr;
  if (cudaMemGetInfo(&freeBytes, &totalBytes) == cudaSuccess) {
    for (size_t bytes = freeBytes > 2 * kSlack ? freeBytes - kSlack : 0; bytes > kSlack; bytes -= kSlack) {
      if (cudaMalloc(&hog, bytes) == cudaSuccess) break;
      hog = nullptr;
    }
  }
  cudaGetLastError();
  const fusedloss::KernelStatus refused = call();
  if (hog) cudaFree(hog);
  if (!hog || refused.ok || !refused.outOfMemory()) {
    std::printf("SKIP %s recovery after a failure: could not make the allocation fail (%s)\n", family,
                refused.ok ? "the call ran" : refused.message.c_str());
    return false;
  }
  message = refused.message;
  return true;
}

// Device arrays of the timings, freed together.
struct DeviceArrays {
  std::vector<void*> pointers;
  ~DeviceArrays() {
    for (void* p : pointers) cudaFree(p);
  }
  template <typename T>
  T* allocate(size_t count) {
    void* p = nullptr;
    if (cudaMalloc(&p, count * sizeof(T)) != cudaSuccess) return nullptr;
    pointers.push_back(p);
    return static_cast<T*>(p);
  }
};

}  // namespace check

#ifndef FL_LAUNCH  // overridable, as in cuda/*.cu, for a host emulator
#define FL_LAUNCH(kernel, grid, block, sharedBytes, stream) kernel<<<(grid), (block), (sharedBytes), (stream)>>>
#endif

namespace check {

// Pseudo-normal values (sum of 4 uniforms, centered) scaled by `scale`, from a hash of the index:
// the timings' inputs, drawn on the device.
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

}  // namespace check
