// What every part of bench/gpu_check shares: the random stream, the poison value host outputs are
// filled with before a kernel runs and the device poison (an element still equal to either was
// never written), and the CUDA-vs-CPU comparison of an output vector.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "../cuda/device_memory.cuh"

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
bool compareVector(const char* name, const std::vector<float>& a, const std::vector<float>& b, double tolerance,
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

}  // namespace check
