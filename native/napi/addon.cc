// Module entry: runtime information, thread control and every kernel's bindings.  Node-API
// addons are context-aware, and nothing here keeps per-context state, so the addon loads in
// worker_threads as well as on the main thread.
#include <napi.h>

#if defined(_WIN32)
#define NOMINMAX  // std::min / std::max below
#include <windows.h>
#else
#include <dlfcn.h>
#endif

#include <algorithm>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "../kernels/crps_types.h"
#include "../kernels/cuda_info.h"
#include "../kernels/enum_names.h"
#include "../kernels/margin_types.h"
#include "../kernels/pairs_types.h"
#include "../runtime/gemm.h"
#include "../runtime/simd.h"
#include "../runtime/thread_pool.h"
#include "args.h"
#include "bindings.h"

namespace fusedloss {
namespace napi {
namespace {

// CUDA is probed here, on the first call, never at load time.
Napi::Value cudaInfoValue(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const CudaInfo& cuda = cudaInfo();
  Napi::Object result = Napi::Object::New(env);
  result.Set("built", cuda.built);
  result.Set("available", cuda.available);
  result.Set("reason", cuda.available ? env.Null() : Napi::String::New(env, cuda.reason));
  Napi::Array devices = Napi::Array::New(env, cuda.devices.size());
  for (size_t i = 0; i < cuda.devices.size(); ++i) {
    const CudaDevice& d = cuda.devices[i];
    Napi::Object device = Napi::Object::New(env);
    device.Set("index", d.index);
    device.Set("name", d.name);
    device.Set("computeCapability", std::to_string(d.computeMajor) + "." + std::to_string(d.computeMinor));
    device.Set("totalMemory", static_cast<double>(d.totalMemory));
    devices.Set(static_cast<uint32_t>(i), device);
  }
  result.Set("devices", devices);
  return result;
}

// The CUDA self-tests' results (lib/cuda-self-test.ts), kept for the whole process so that worker
// threads, each with its own JavaScript state, share one self-test per kernel family.
// cudaSelfTestRecord(family) reads it (undefined when none); cudaSelfTestRecord(family, passed,
// reason) records it unless one is there already, and returns the one kept.
Napi::Value cudaSelfTestRecord(const Napi::CallbackInfo& info) {
  static std::mutex mutex;
  static std::map<std::string, std::pair<bool, std::string>> records;
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw codedError(env, kInvalidArg, "family must be a string");
  const std::string family = info[0].As<Napi::String>().Utf8Value();
  std::pair<bool, std::string> record;
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto found = records.find(family);
    if (found == records.end() && info.Length() >= 2) {
      if (!info[1].IsBoolean()) throw codedError(env, kInvalidArg, "passed must be a boolean");
      const std::string reason = info.Length() >= 3 && info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
      found = records.emplace(family, std::make_pair(info[1].As<Napi::Boolean>().Value(), reason)).first;
    }
    if (found == records.end()) return env.Undefined();
    record = found->second;
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("passed", record.first);
  result.Set("reason", record.first ? env.Null() : Napi::String::New(env, record.second));
  return result;
}

Napi::Value runtimeInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object result = Napi::Object::New(env);
  result.Set("simd", simdLevelName(simdLevel()));
  result.Set("threads", threadCount());
  result.Set("cores", availableCores());
  result.Set("gemm", gemmLevel());
  result.Set("gemmBf16", gemmBf16Level());  // what bf16Operands run: "avx512bf16" or "float32"
  return result;
}

// The machine's float32 FMA peak in GFLOP/s with the GEMM's instruction set, all pool threads
// running FMA chains at once for about `seconds` (benchmarks report efficiency against it).
Napi::Value fmaPeak(const Napi::CallbackInfo& info) {
  const double seconds = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 0.5;
  const int threads = threadCount();
  std::vector<double> perThread(threads, 0.0);
  parallelFor(threads, [&](int64_t t) { perThread[t] = measureFmaPeakGflops(std::min(std::max(seconds, 0.01), 10.0)); });
  double total = 0.0;
  for (double v : perThread) total += v;
  return Napi::Number::New(info.Env(), total);
}

Napi::Value setThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throw codedError(env, kInvalidArg, "threads must be a number");
  const double n = info[0].As<Napi::Number>().DoubleValue();
  if (!(n >= 1 && n <= 1024) || static_cast<double>(static_cast<int>(n)) != n) {
    throw codedError(env, kOption, "threads must be an integer in [1, 1024]");
  }
  setThreadCount(static_cast<int>(n));
  return env.Undefined();
}

// addon.codes[EnumNames<Enum>::key]: the names of Enum's codes in code order, frozen.
template <typename Enum>
void addCodes(Napi::Env env, Napi::Object& codes) {
  Napi::Array names = Napi::Array::New(env, enumCount<Enum>());
  for (int32_t code = 0; code < enumCount<Enum>(); ++code) names.Set(static_cast<uint32_t>(code), EnumNames<Enum>::names[code]);
  names.Freeze();
  codes.Set(EnumNames<Enum>::key, names);
}

// Every enum the TypeScript layer sends as an integer code (test/native-codes.test.ts holds
// lib/'s codes against these names).
Napi::Object codesObject(Napi::Env env) {
  Napi::Object codes = Napi::Object::New(env);
  addCodes<Device>(env, codes);
  addCodes<Precision>(env, codes);
  addCodes<NanPolicy>(env, codes);
  addCodes<MarginType>(env, codes);
  addCodes<ScaleMode>(env, codes);
  addCodes<Reduction>(env, codes);
  addCodes<MinerType>(env, codes);
  addCodes<PairDistance>(env, codes);
  addCodes<TripletSelect>(env, codes);
  addCodes<PairLossType>(env, codes);
  codes.Freeze();
  return codes;
}

// Keeps this library mapped until the process ends.  Node unloads an addon when the last
// environment that loaded it goes away (a worker_thread exiting), but the CPU thread pool, the
// output-block cache and the finalizers of output buffers handed to other threads all run this
// library's code after that, so unloading it would crash them.
bool pinLibrary() {
#if defined(_WIN32)
  HMODULE self = nullptr;
  return GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_PIN,
                            reinterpret_cast<LPCWSTR>(&pinLibrary), &self) != 0;
#else
  Dl_info self;
  // RTLD_NOLOAD: only takes a reference to the mapping already there, with NODELETE set on it.
  return dladdr(reinterpret_cast<void*>(&pinLibrary), &self) != 0 && self.dli_fname &&
         dlopen(self.dli_fname, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE) != nullptr;
#endif
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  static const bool pinned = pinLibrary();  // once per process: every load is the same mapping
  (void)pinned;
  exports.Set("runtimeInfo", Napi::Function::New(env, runtimeInfo, "runtimeInfo"));
  exports.Set("cudaInfo", Napi::Function::New(env, cudaInfoValue, "cudaInfo"));
  exports.Set("cudaSelfTestRecord", Napi::Function::New(env, cudaSelfTestRecord, "cudaSelfTestRecord"));
  exports.Set("setThreads", Napi::Function::New(env, setThreads, "setThreads"));
  exports.Set("fmaPeak", Napi::Function::New(env, fmaPeak, "fmaPeak"));
  exports.Set("codes", codesObject(env));
  registerCrps(env, exports);
  registerMargin(env, exports);
  registerPairs(env, exports);
  return exports;
}

}  // namespace
}  // namespace napi
}  // namespace fusedloss

static Napi::Object InitFusedloss(Napi::Env env, Napi::Object exports) { return fusedloss::napi::init(env, exports); }

NODE_API_MODULE(fusedloss, InitFusedloss)
