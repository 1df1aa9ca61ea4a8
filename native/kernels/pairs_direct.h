// Near-duplicate pairs' gradients for the CPU pair losses (pairs::directGradientPair): the pairs of
// a row block whose w·(x̂ − ŷ) the gradient GEMMs would form with cancellation.  Internal to
// pairs_blocks.h (blockGradients) and pairs_loss.cc.
//
// The row pass marks such a pair here and leaves its G (= −w) in the block for these sums, but out
// of Σ_j H_ij; blockGradients then keeps it out of both GEMMs and of Σ_i H_ij and adds
//   gx̂_i += Σ_j w_ij (x̂_i − ŷ_j)   (columns ascending)   gŷ_j += Σ_i w_ij (ŷ_j − x̂_i)   (rows ascending)
// in float64 from the differences, rounded once onto the GEMMs' float32 sums: O(marked pairs · D)
// work, a bit per pair of memory, and an order fixed by the sizes.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace fusedloss {
namespace pairblocks {

class DirectPairs {
 public:
  DirectPairs(int64_t rowBlock, int64_t refs)
      : words_((refs + 63) / 64), bits_(static_cast<size_t>(rowBlock * words_)), counts_(static_cast<size_t>(rowBlock)) {}

  void clearRow(int64_t r) {
    std::fill(bits_.begin() + r * words_, bits_.begin() + (r + 1) * words_, uint64_t{0});
    counts_[r] = 0;
  }
  void mark(int64_t r, int64_t j) {
    bits_[r * words_ + j / 64] |= uint64_t{1} << (j % 64);
    ++counts_[r];
  }
  bool marked(int64_t r, int64_t j) const { return (bits_[r * words_ + j / 64] >> (j % 64)) & 1u; }
  int64_t rowCount(int64_t r) const { return counts_[r]; }
  bool any(int64_t rows) const {
    return std::any_of(counts_.begin(), counts_.begin() + rows, [](int64_t c) { return c > 0; });
  }

  // f(j) for each marked column of row r, ascending.
  template <typename F>
  void forMarked(int64_t r, const F& f) const {
    for (int64_t w = 0; w < words_; ++w) {
      for (uint64_t word = bits_[r * words_ + w]; word != 0; word &= word - 1) f(w * 64 + __builtin_ctzll(word));
    }
  }

 private:
  int64_t words_;
  std::vector<uint64_t> bits_;
  std::vector<int64_t> counts_;
};

// sum[d] += w·(a[d] − b[d]) for d < dim, in float64 (the difference of two floats is exact there).
inline void addDifference(double* sum, double w, const float* a, const float* b, int64_t dim) {
  for (int64_t d = 0; d < dim; ++d) sum[d] += w * (static_cast<double>(a[d]) - static_cast<double>(b[d]));
}

// Row r's direct terms Σ_j w_rj (x̂ − ŷ_j) into sum (dim doubles, overwritten), w_rj = −gRow[j];
// each gRow[j] of a marked pair becomes 0 for the GEMM.
inline void directRowSum(const DirectPairs& direct, int64_t r, float* gRow, const float* x, const float* y,
                         int64_t dimPad, int64_t dim, double* sum) {
  std::fill(sum, sum + dim, 0.0);
  direct.forMarked(r, [&](int64_t j) {
    addDifference(sum, -static_cast<double>(gRow[j]), x, y + j * dimPad, dim);
    gRow[j] = 0.0f;
  });
}

// Column j's direct terms Σ_r w_rj (ŷ_j − x̂_r) over the block's rows (ascending) into sum (dim
// doubles, overwritten); g is the block's G [blockRows, refsPad], x the block's x̂ rows.
inline void directColumnSum(const DirectPairs& direct, int64_t j, const float* g, int64_t refsPad, int64_t blockRows,
                            const float* x, const float* y, int64_t dimPad, int64_t dim, double* sum) {
  std::fill(sum, sum + dim, 0.0);
  for (int64_t r = 0; r < blockRows; ++r) {
    if (direct.rowCount(r) > 0 && direct.marked(r, j)) {
      addDifference(sum, -static_cast<double>(g[r * refsPad + j]), y + j * dimPad, x + r * dimPad, dim);
    }
  }
}

// out[d] = out[d] + sum[d], rounded once.
inline void addSum(float* out, const double* sum, int64_t dim) {
  for (int64_t d = 0; d < dim; ++d) out[d] = static_cast<float>(static_cast<double>(out[d]) + sum[d]);
}

}  // namespace pairblocks
}  // namespace fusedloss
