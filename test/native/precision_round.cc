// precision_math.h's rounding as a filter for test/precision.rounding.test.ts: reads float32 bit
// patterns (hex, one a line) and prints each one's bf16 and tf32 roundings as bit patterns, so
// the TypeScript mirror (lib/precision.ts) is held against the C++ definition bit for bit.
#include <cstdint>
#include <cstdio>

#include "../../native/math/precision_math.h"

int main() {
  unsigned bits;
  while (std::scanf("%x", &bits) == 1) {
    const float x = fusedloss::precision::bitsFloat(bits);
    std::printf("%08x %08x\n", fusedloss::precision::floatBits(fusedloss::precision::roundToBf16(x)),
                fusedloss::precision::floatBits(fusedloss::precision::roundToTf32(x)));
  }
  return 0;
}
