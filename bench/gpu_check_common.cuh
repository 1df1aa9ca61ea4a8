// What every part of bench/gpu_check shares: the random stream and the poison value outputs are
// filled with before a kernel runs (an element still equal to it was never written).
#pragma once

#include <cmath>
#include <cstdint>

namespace check {

constexpr float kPoison = -1.234567e31f;  // no kernel output can be this

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

}  // namespace check
