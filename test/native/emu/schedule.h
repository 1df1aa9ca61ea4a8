// The order in which the CPU harness (emulator.cc) runs a launch's blocks and, in every barrier
// interval, a block's threads; FL_EMU_SCHEDULE chooses it.
//  - "alternate" (the default): blocks in index order; threads forward in even blocks, backward in
//    odd ones.  A race between two threads of one interval shows when the reader runs on the wrong
//    side of the writer, i.e. in one of the two directions only: a race that happens only in
//    launches of one block (single-block reductions, the checks' small sizes) or only in the last,
//    partial block of a launch is seen in one direction, and missed when that block is even (or odd).
//  - "shuffle:SEED": blocks in a random order, and in every interval the threads in a fresh random
//    permutation (warps and lanes mixed), so such races show in any block, with any thread
//    numbering, and so do a block that reads what another block of the same launch writes, and a
//    race that three or more threads make.  The same seed and launch sequence give the same order.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

namespace fl_emu {

class Schedule {
 public:
  Schedule() {
    const char* value = std::getenv("FL_EMU_SCHEDULE");
    if (!value || !*value || std::strcmp(value, "alternate") == 0) return;
    char* end = nullptr;
    if (std::strncmp(value, "shuffle:", 8) == 0) {
      const unsigned long long seed = std::strtoull(value + 8, &end, 10);
      if (end != value + 8 && *end == '\0') {
        shuffle_ = true;
        rng_.seed(seed);
        return;
      }
    }
    std::fprintf(stderr, "cuda-emu: FL_EMU_SCHEDULE=%s: expected alternate or shuffle:SEED\n", value);
    std::exit(3);
  }

  // A launch of `blocks` blocks starts: picks its block order, b ↦ (a·b + c) mod blocks with a
  // coprime to blocks (a permutation in O(1) memory, whatever the grid).
  void beginLaunch(uint64_t blocks) {
    blocks_ = blocks, a_ = 1, c_ = 0;
    if (!shuffle_ || blocks < 2) return;
    do a_ = std::uniform_int_distribution<uint64_t>(1, blocks - 1)(rng_); while (std::gcd(a_, blocks) != 1);
    c_ = std::uniform_int_distribution<uint64_t>(0, blocks - 1)(rng_);
  }
  // The linear index of the b-th block to run.
  uint64_t block(uint64_t b) const {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(a_) * b + c_) % blocks_);
  }

  // The order of the threads in one barrier interval of block `linearBlock`.
  const std::vector<unsigned>& threadOrder(uint64_t linearBlock, unsigned threads) {
    order_.resize(threads);
    std::iota(order_.begin(), order_.end(), 0u);
    if (shuffle_) {
      std::shuffle(order_.begin(), order_.end(), rng_);
    } else if (linearBlock & 1) {
      std::reverse(order_.begin(), order_.end());
    }
    return order_;
  }

 private:
  bool shuffle_ = false;
  std::mt19937_64 rng_;
  uint64_t blocks_ = 1, a_ = 1, c_ = 0;
  std::vector<unsigned> order_;
};

}  // namespace fl_emu
