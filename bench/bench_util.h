// What the C++ kernel benchmarks (margin_cpu_bench, pairs_cpu_bench) share: the process' memory
// from /proc, a median timer and the unfused baselines' row normalization.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace benchutil {

// A "Key:  value kB" line of /proc/self/status (VmRSS:, VmHWM:), in KiB.
inline double statusKiB(const char* key) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(key, 0) == 0) return std::atof(line.c_str() + std::string(key).size());
  }
  return 0.0;
}

// Resets VmHWM to the current resident set, so the next peak is the next method's own.
inline void resetPeak() { std::ofstream("/proc/self/clear_refs") << "5"; }

template <typename Fn>
double medianSeconds(Fn&& fn, int runs) {
  using Clock = std::chrono::steady_clock;
  std::vector<double> times;
  for (int r = 0; r < runs; ++r) {
    const auto start = Clock::now();
    fn();
    times.push_back(std::chrono::duration<double>(Clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// Rows of `in` ([rows, d]) scaled to unit L2 norm (norm floored at 1e-12, sum in float64), as
// the Python references normalize before their dense products.
inline std::vector<float> normalizedRows(const std::vector<float>& in, int64_t rows, int64_t d) {
  std::vector<float> out(in.size());
  for (int64_t r = 0; r < rows; ++r) {
    double s = 0;
    for (int64_t k = 0; k < d; ++k) s += double(in[r * d + k]) * in[r * d + k];
    const double inv = 1.0 / std::max(std::sqrt(s), 1e-12);
    for (int64_t k = 0; k < d; ++k) out[r * d + k] = float(in[r * d + k] * inv);
  }
  return out;
}

}  // namespace benchutil
