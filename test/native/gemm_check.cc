// gemm() with bf16Operands against a float64 reference of the same bf16 operands (npm run
// test:gemm = test/native/run-gemm-checks.sh, which runs it on the AVX512_BF16 path where the CPU
// has it and again with FUSEDLOSS_GEMM_BF16=off, the float32 emulation).
//
// Every shape of m × n × k below (m = 1021 with the narrow n only), C = A·B and C += A·B, B as
// rows, packB's layout, packBBf16's or repackBf16's, A with its depth contiguous, its rows
// contiguous (transposed), neither, or pre-packed by packRowsBf16 (aBf16: the same bits as A with
// its depth contiguous, which gemm() packs itself); C poisoned around and (when overwritten) inside the
// product.  Each result must be within gemm.h's bound of the exact sum, NaN where the exact sum
// is NaN and the same infinity where it is infinite; the float32 path (bf16Operands off) must
// meet the same bound, and when the bf16 path is not active the two must be the same bits.
// Inputs: normal values rounded to bf16, with cases of NaN and ±Inf, subnormals and large
// exponents.  Also transposeInto (the pair kernels' Gᵀ copy) against its definition.
// Seed: FUSEDLOSS_TEST_SEED (else a fresh one, printed).
//
//   gemm_check [--quick]    exit status 0 when all pass, 1 otherwise
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../../native/math/precision_math.h"
#include "../../native/runtime/gemm.h"

namespace {

using namespace fusedloss;

constexpr uint32_t kPoisonBits = 0x7fc0deadu;

enum class Values { Normal, NanInf, Subnormal, Large };
enum class ALayout { DepthContiguous, RowsContiguous, Strided, PairsBf16 };
enum class BLayout { Rows, Packed, PackedBf16, RepackedBf16 };

const char* name(Values v) {
  return v == Values::Normal ? "normal" : v == Values::NanInf ? "nan-inf" : v == Values::Subnormal ? "subnormal" : "large";
}
const char* name(ALayout a) {
  return a == ALayout::DepthContiguous ? "A rows" : a == ALayout::RowsContiguous ? "A transposed" : a == ALayout::Strided ? "A strided" : "A packRowsBf16";
}
const char* name(BLayout b) {
  return b == BLayout::Rows ? "B rows" : b == BLayout::Packed ? "B packB" : b == BLayout::PackedBf16 ? "B packBBf16" : "B repackBf16";
}

float poison() {
  float x;
  std::memcpy(&x, &kPoisonBits, 4);
  return x;
}
bool isPoison(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  return bits == kPoisonBits;
}

bool subnormal(float x) { return x != 0.0f && std::fabs(x) < 0x1p-126f; }

struct Problem {
  int64_t m, n, k;
  bool accumulate;
  Values values;
  std::vector<float> a, b, cIn;                  // logical: a [m×k], b [k×n], cIn [m×n]
  std::vector<double> exact, magnitude, flushed;  // cIn + Σ a·b, |cIn| + Σ|a·b|, F of gemm.h
};

float drawValue(std::mt19937& rng, Values values) {
  std::normal_distribution<float> normal;
  float v = normal(rng);
  if (values == Values::Subnormal && rng() % 4 == 0) v *= 0x1p-128f;  // subnormal after rounding
  if (values == Values::Large) v = std::ldexp(v, static_cast<int>(rng() % 80) - 40);
  return precision::roundToBf16(v);
}

Problem makeProblem(std::mt19937& rng, int64_t m, int64_t n, int64_t k, bool accumulate, Values values) {
  Problem pr{m, n, k, accumulate, values, {}, {}, {}, {}, {}, {}};
  pr.a.resize(m * k), pr.b.resize(k * n), pr.cIn.resize(m * n, 0.0f);
  for (float& v : pr.a) v = drawValue(rng, values);
  for (float& v : pr.b) v = drawValue(rng, values);
  if (values == Values::NanInf) {
    // A few specials: a NaN in A, ±Inf in A and B, and zeros that meet an Inf (0·Inf = NaN).
    const float inf = std::numeric_limits<float>::infinity();
    for (int t = 0; t < 3 && m * k > 0; ++t) pr.a[rng() % (m * k)] = (t == 0) ? std::nanf("") : (t == 1 ? inf : -inf);
    for (int t = 0; t < 3 && k * n > 0; ++t) pr.b[rng() % (k * n)] = (t == 0) ? inf : (t == 1 ? -inf : 0.0f);
  }
  if (accumulate) {
    std::normal_distribution<float> normal;
    for (float& v : pr.cIn) v = normal(rng) * 4;
  }
  pr.exact.resize(m * n), pr.magnitude.resize(m * n), pr.flushed.resize(m * n);
  std::vector<double> row(n);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double sum = pr.cIn[i * n + j], mag = std::fabs(sum), flush = 0.0;
      for (int64_t p = 0; p < k; ++p) {
        const float av = pr.a[i * k + p], bv = pr.b[p * n + j];
        const double product = static_cast<double>(av) * bv;
        sum += product;
        mag += std::fabs(product);
        if (subnormal(av) || subnormal(bv) || std::fabs(product) < 0x1p-126) flush += std::fabs(product);
      }
      pr.exact[i * n + j] = sum, pr.magnitude[i * n + j] = mag, pr.flushed[i * n + j] = flush;
    }
  }
  return pr;
}

struct Storage {
  std::vector<float> a, b, c;
  std::vector<uint32_t> aBf16, bBf16;
  GemmOperands op;
};

Storage store(const Problem& pr, ALayout aLayout, BLayout bLayout) {
  Storage s;
  GemmOperands& op = s.op;
  op.m = pr.m, op.n = pr.n, op.k = pr.k, op.accumulate = pr.accumulate;
  // Strides that are no multiple of anything the kernel could assume.
  // PairsBf16: A's rows as for DepthContiguous (the float32 path reads them) and as packRowsBf16's pairs.
  if (aLayout == ALayout::DepthContiguous || aLayout == ALayout::PairsBf16) op.aRowStride = pr.k + 3, op.aDepthStride = 1;
  if (aLayout == ALayout::RowsContiguous) op.aRowStride = 1, op.aDepthStride = pr.m + 5;
  if (aLayout == ALayout::Strided) op.aRowStride = 2 * pr.k + 1, op.aDepthStride = 2;
  s.a.assign(std::max<int64_t>(1, pr.m * op.aRowStride + pr.k * op.aDepthStride), poison());
  for (int64_t i = 0; i < pr.m; ++i)
    for (int64_t p = 0; p < pr.k; ++p) s.a[i * op.aRowStride + p * op.aDepthStride] = pr.a[i * pr.k + p];
  if (aLayout == ALayout::PairsBf16) {
    op.aBf16RowStride = (pr.k + 1) / 2 + 3;
    s.aBf16.assign(std::max<int64_t>(1, pr.m * op.aBf16RowStride), kPoisonBits);
    packRowsBf16(s.a.data(), op.aRowStride, pr.m, pr.k, s.aBf16.data(), op.aBf16RowStride);
    op.aBf16 = s.aBf16.data();
  }
  op.ldb = pr.n + 16;
  std::vector<float> rows(std::max<int64_t>(1, pr.k * op.ldb), poison());
  for (int64_t p = 0; p < pr.k; ++p)
    for (int64_t j = 0; j < pr.n; ++j) rows[p * op.ldb + j] = pr.b[p * pr.n + j];
  if (bLayout == BLayout::Packed) {
    s.b.resize(std::max<int64_t>(1, packedSize(pr.k, pr.n)));
    packB(rows.data(), op.ldb, pr.k, pr.n, s.b.data());
    op.bPacked = true;
  } else {
    s.b = rows;
  }
  if (bLayout == BLayout::PackedBf16 || bLayout == BLayout::RepackedBf16) {
    s.bBf16.resize(std::max<int64_t>(1, packedBf16Size(pr.k, pr.n)));
    if (bLayout == BLayout::PackedBf16) {
      packBBf16(rows.data(), op.ldb, pr.k, pr.n, s.bBf16.data());
    } else {  // from packB's layout, which the float32 path then reads
      s.b.resize(std::max<int64_t>(1, packedSize(pr.k, pr.n)));
      packB(rows.data(), op.ldb, pr.k, pr.n, s.b.data());
      op.bPacked = true;
      repackBf16(s.b.data(), pr.k, pr.n, s.bBf16.data());
    }
    op.bBf16 = s.bBf16.data();
  }
  op.ldc = pr.n + 7;
  s.c.assign((pr.m + 2) * op.ldc, poison());  // poisoned: padding columns and two rows past m
  for (int64_t i = 0; pr.accumulate && i < pr.m; ++i)
    for (int64_t j = 0; j < pr.n; ++j) s.c[i * op.ldc + j] = pr.cIn[i * pr.n + j];
  op.a = s.a.data(), op.b = s.b.data(), op.c = s.c.data();
  return s;
}

int failures = 0;

void fail(const std::string& what, const char* format, double x, double y, double z) {
  if (++failures <= 20) {
    std::printf("FAIL %s: ", what.c_str());
    std::printf(format, x, y, z);
    std::printf("\n");
  }
}

// Checks one result against the exact sums; returns false at the first failure.
bool checkResult(const Problem& pr, const Storage& s, const std::string& what) {
  const double u = 0x1p-24;
  const double r = static_cast<double>(pr.k + (pr.k + 255) / 256 + 1);
  const double gamma = r * u / (1 - r * u);
  const int64_t ldc = s.op.ldc;
  for (int64_t i = 0; i < pr.m + 2; ++i) {
    for (int64_t j = 0; j < ldc; ++j) {
      const float got = s.c[i * ldc + j];
      if (i >= pr.m || j >= pr.n) {
        if (!isPoison(got)) return fail(what + " wrote outside C", "row %g column %g: %g", double(i), double(j), got), false;
        continue;
      }
      const double exact = pr.exact[i * pr.n + j];
      if (std::isnan(exact) || std::isinf(exact)) {
        const bool same = std::isnan(exact) ? std::isnan(got) : got == exact;
        if (!same) return fail(what + " special", "C[%g][.] = %g, exact %g", double(i), got, exact), false;
        continue;
      }
      const double bound = gamma * pr.magnitude[i * pr.n + j] + pr.flushed[i * pr.n + j] + r * 0x1p-126;
      if (!(std::fabs(got - exact) <= bound)) {
        return fail(what, "C = %.9g, exact %.9g, bound %.3g", got, exact, bound), false;
      }
    }
  }
  return true;
}

bool sameBits(const Storage& x, const Storage& y) { return std::memcmp(x.c.data(), y.c.data(), x.c.size() * 4) == 0; }

// transposeInto against its definition, bit for bit: the 16×16 register tiles, the edges a value
// at a time, strides wider than the matrices, and every destination element outside the
// transpose left as poisoned.  Returns the number of shapes checked.
int64_t checkTransposeInto(std::mt19937& rng) {
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  int64_t shapes = 0;
  for (const int64_t rows : {1, 15, 16, 17, 33, 100}) {
    for (const int64_t columns : {1, 15, 16, 31, 48, 70}) {
      for (const int64_t sourcePad : {0, 5}) {
        for (const int64_t destinationPad : {0, 3}) {
          const int64_t sourceStride = columns + sourcePad, destinationStride = rows + destinationPad;
          std::vector<float> source(rows * sourceStride);
          for (float& v : source) v = uniform(rng);
          std::vector<float> destination(columns * destinationStride + 1, poison());
          transposeInto(source.data(), sourceStride, rows, columns, destination.data(), destinationStride);
          ++shapes;
          for (int64_t j = 0; j < columns; ++j) {
            for (int64_t r = 0; r < destinationStride; ++r) {
              const float got = destination[j * destinationStride + r];
              const bool inside = r < rows;
              if (inside ? std::memcmp(&got, &source[r * sourceStride + j], 4) != 0 : !isPoison(got)) {
                fail("transposeInto rows " + std::to_string(rows) + " columns " + std::to_string(columns), "column %g row %g: %g", double(j), double(r), got);
                j = columns;
                break;
              }
            }
          }
          if (!isPoison(destination.back())) fail("transposeInto wrote past the destination", "rows %g columns %g%g", double(rows), double(columns), 0);
        }
      }
    }
  }
  return shapes;
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  const char* seedText = std::getenv("FUSEDLOSS_TEST_SEED");
  const uint32_t seed = seedText ? static_cast<uint32_t>(std::strtoul(seedText, nullptr, 10)) : std::random_device{}();
  std::printf("gemm_check: bf16 path %s, float32 path %s, seed %u (FUSEDLOSS_TEST_SEED)\n", gemmBf16Level(), gemmLevel(), seed);
  std::mt19937 rng(seed);
  const bool emulated = std::string(gemmBf16Level()) != "avx512bf16";
  // 1021: taller than the bf16 path's row chunk (1008), so A is packed in two parts.
  const std::vector<int64_t> ms = {1, 7, 13, 129, 1021}, ns = {16, 48, 1008}, ks = {0, 1, 255, 256, 257, 513};
  int64_t cases = 0;
  for (const Values values : {Values::Normal, Values::NanInf, Values::Subnormal, Values::Large}) {
    for (const int64_t m : ms) {
      for (const int64_t n : ns) {
        for (const int64_t k : ks) {
          // The specials on the smaller shapes only: each case's float64 reference is the time.
          if (values != Values::Normal && (quick || m * n * k > 13 * 1008 * 257)) continue;
          if (quick && m * n * k > 13 * 48 * 513) continue;
          if (m > 129 && n > 48) continue;
          for (const bool accumulate : {false, true}) {
            const Problem pr = makeProblem(rng, m, n, k, accumulate, values);
            for (const ALayout aLayout : {ALayout::DepthContiguous, ALayout::RowsContiguous, ALayout::Strided, ALayout::PairsBf16}) {
              for (const BLayout bLayout : {BLayout::Rows, BLayout::Packed, BLayout::PackedBf16, BLayout::RepackedBf16}) {
                if (bLayout == BLayout::RepackedBf16 && aLayout != ALayout::DepthContiguous && aLayout != ALayout::PairsBf16) continue;
                char label[160];
                std::snprintf(label, sizeof label, "m %lld n %lld k %lld %s, %s, %s, %s", (long long)m, (long long)n, (long long)k,
                              accumulate ? "C +=" : "C =", name(values), name(aLayout), name(bLayout));
                Storage bf16 = store(pr, aLayout, bLayout), fp32 = store(pr, aLayout, bLayout);
                bf16.op.bf16Operands = true;
                fp32.op.bBf16 = nullptr;
                gemm(bf16.op);
                gemm(fp32.op);
                ++cases;
                checkResult(pr, bf16, std::string(label) + " (bf16Operands)");
                checkResult(pr, fp32, std::string(label) + " (float32 path)");
                if (emulated && !sameBits(bf16, fp32)) fail(std::string(label) + ": emulation differs from the float32 path", "%g%g%g", 0, 0, 0);
                if (aLayout == ALayout::PairsBf16) {  // pre-packed A: the same pairs as gemm() packs itself, the same bits
                  Storage packedHere = store(pr, ALayout::DepthContiguous, bLayout);
                  packedHere.op.bf16Operands = true;
                  gemm(packedHere.op);
                  if (!sameBits(bf16, packedHere)) fail(std::string(label) + ": differs from A packed by gemm()", "%g%g%g", 0, 0, 0);
                }
              }
            }
          }
        }
      }
    }
  }
  const int64_t transposeShapes = checkTransposeInto(rng);
  std::printf("%s: %lld cases and %lld transposeInto shapes, %d failures\n", failures ? "FAIL" : "PASS", (long long)cases,
              (long long)transposeShapes, failures);
  return failures ? 1 : 0;
}
