// gemm()'s bfloat16 path (gemm_bf16.cc), for operands the caller marked bf16Operands: the
// AVX512_BF16 micro-kernel where the CPU has it.  Internal to runtime/: callers use gemm.h.
#pragma once

#include "gemm.h"

namespace fusedloss {

// True when this CPU has AVX512_BF16 (and AVX512BW for the packing) and FUSEDLOSS_GEMM_BF16 is not
// "off" (the test switch that makes bf16Operands run the float32 path on any machine).  Decided
// once per process.
bool bf16GemmActive();

// C (+)= A·B through vdpbf16ps and true when bf16GemmActive(); otherwise false, nothing done
// (gemm() then runs its float32 path).
bool gemmBf16IfActive(const GemmOperands& op);

}  // namespace fusedloss
