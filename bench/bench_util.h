// What the C++ kernel benchmarks (margin_cpu_bench, pair_cpu_bench) share: the process' memory
// from /proc and a median timer.
#pragma once

#include <algorithm>
#include <chrono>
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

}  // namespace benchutil
