#!/usr/bin/env bash
# npm run test:gemm: gemm()'s bf16Operands path against a float64 reference (test/native/
# gemm_check.cc), built with ASan + UBSan, run twice: on the AVX512_BF16 path where this CPU has
# it, then with FUSEDLOSS_GEMM_BF16=off (the float32 emulation, on any CPU; its --quick shapes), then
# under FUSEDLOSS_SIMD=avx2 and =scalar.  No Node needed.
#   env: BUILD_DIR (default build/gemm-check), CXX (default g++), FUSEDLOSS_TEST_SEED
set -euo pipefail
cd "$(dirname "$0")/../.."

BUILD=${BUILD_DIR:-build/gemm-check}
CXX=${CXX:-g++}
mkdir -p "$BUILD"
# The addon's floating-point flags (no FMA contraction), sanitizers aborting on any report.
"$CXX" -std=c++17 -O2 -ffp-contract=off -pthread -Wall -Wextra -Wno-psabi \
  -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all -fno-omit-frame-pointer \
  test/native/gemm_check.cc native/runtime/gemm.cc native/runtime/gemm_bf16.cc native/runtime/memory.cc native/runtime/simd.cc -o "$BUILD/gemm_check"
seed=${FUSEDLOSS_TEST_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
export FUSEDLOSS_TEST_SEED=$seed ASAN_OPTIONS=detect_leaks=1:halt_on_error=1
"$BUILD/gemm_check" "$@"
# The float32 path itself was checked in full above (every case runs it beside the bf16 one);
# what the emulation adds is the routing of each bf16 layout to it, which the --quick shapes
# cover at a fifth of the time.
FUSEDLOSS_GEMM_BF16=off "$BUILD/gemm_check" --quick
# The AVX2 and scalar micro-kernels, which a CPU with AVX-512 does not pick (FUSEDLOSS_SIMD lowers
# the build: runtime/simd.h), on the --quick shapes.
for level in avx2 scalar; do FUSEDLOSS_SIMD=$level "$BUILD/gemm_check" --quick; done
