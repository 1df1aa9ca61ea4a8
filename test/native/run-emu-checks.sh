#!/usr/bin/env bash
# npm run test:cuda-emu: the CUDA kernels (cuda/*.cu, unchanged) and the CUDA-vs-CPU checks
# (test/native/<family>_check.cu) compiled as C++ by g++ against the CPU execution harness
# (test/native/emu/: blocks of fiber threads meeting at every __syncthreads(), poisoned shared and
# device memory, guard zones, barrier-divergence reports; docs/spec/gpu.md), then each check run
# with --quick --no-bench, then in shuffled orders with --sanitize (each family's race-check grid;
# below).  No GPU and no CUDA toolkit needed.
#
#   test/native/run-emu-checks.sh [--only crps|margin|pairs] [--build-only]
#     --build-only: leave the binaries in BUILD_DIR (run-gpu-checks.sh's GPU_CHECK_EMU=1 runs them)
#   env: BUILD_DIR (default build/cuda-emu), CXX (default g++), JOBS (default 2),
#        EMU_SHUFFLE_SEED (default 1: the second pass's seed; none: no second pass)
# Exit status: 0 when every check passes, 1 on a failure (a difference from the CPU kernel, or a
# harness report: status 3 of a check program).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

BUILD=${BUILD_DIR:-build/cuda-emu}
CXX=${CXX:-g++}
JOBS=${JOBS:-2}
FAMILIES=(crps margin pairs)
BUILD_ONLY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --only) case "${2:-}" in crps|margin|pairs) FAMILIES=("$2"); shift ;; *) echo "--only takes crps, margin or pairs" >&2; exit 2 ;; esac ;;
    --build-only) BUILD_ONLY=1 ;;
    *) echo "usage: $0 [--only crps|margin|pairs] [--build-only]" >&2; exit 2 ;;
  esac
  shift
done

# The CPU reference exactly as the addon builds it; the emulated side at -O2 (compile time),
# both without FMA contraction (the kernels' fmaf calls stay fused, as on the GPU).
CPU_FLAGS=(-std=c++17 -O3 -ffp-contract=off -pthread -fPIC -w -Wno-psabi)
EMU_FLAGS=(-std=c++17 -O2 -ffp-contract=off -fno-strict-aliasing -pthread -Wall -Wextra -Wno-unknown-pragmas
           -Wno-unused-function -Wno-sign-compare -Wno-psabi -DFL_CUDA_EMU -I test/native/emu)

# Copies of cuda/ and test/native/ with any k<<<g, b, s, st>>>(args) written as the harness's
# FL_LAUNCH(k, g, b, s, st)(args); native/ is linked in so the relative includes resolve.
SRC="$BUILD/src"
rm -rf "$SRC" && mkdir -p "$SRC/cuda" "$SRC/test/native" || exit 1
ln -s "$PWD/native" "$SRC/native"
rewrite() { sed -E 's/([A-Za-z_][A-Za-z0-9_:]*(<[^<>]*>)?)<<<([^;]*)>>>/FL_LAUNCH(\1, \3)/g' "$1" >"$2"; }
for f in cuda/*.cu cuda/*.cuh; do rewrite "$f" "$SRC/$f"; done
for f in test/native/*.cu test/native/*.cuh; do rewrite "$f" "$SRC/$f"; done
if grep -n '<<<' "$SRC"/cuda/* "$SRC"/test/native/* | grep -v '#define FL_LAUNCH'; then
  echo "FAIL: a launch the rewrite did not handle (above)"; exit 1
fi

started=$SECONDS
objects=()
jobs_list=()
compile() { # src obj flags...
  local src=$1 obj=$2; shift 2
  objects+=("$obj")
  jobs_list+=("$CXX $* -c $src -o $obj")
}
mkdir -p "$BUILD/obj"
for src in native/kernels/*.cc native/runtime/*.cc; do
  [ "$(basename "$src")" = cuda_absent.cc ] && continue
  compile "$src" "$BUILD/obj/cpu_$(basename "$src" .cc).o" "${CPU_FLAGS[@]}"
done
cpu_objects=("${objects[@]}")
objects=()
for src in "$SRC"/cuda/*.cu; do
  compile "$src" "$BUILD/obj/cuda_$(basename "$src" .cu).o" "${EMU_FLAGS[@]}" -x c++
done
compile test/native/emu/emulator.cc "$BUILD/obj/emulator.o" "${EMU_FLAGS[@]}" -O3
emu_objects=("${objects[@]}")
for family in "${FAMILIES[@]}"; do
  jobs_list+=("$CXX ${EMU_FLAGS[*]} -x c++ -c $SRC/test/native/${family}_check.cu -o $BUILD/obj/${family}_check.o")
done
# Everything is compiled on every run (about 20 s on 2 cores): no stale object can hide a change.
printf '%s\n' "${jobs_list[@]}" | xargs -P "$JOBS" -I{} sh -c '{}' || { echo "FAIL build"; exit 1; }
for family in "${FAMILIES[@]}"; do
  "$CXX" -pthread "$BUILD/obj/${family}_check.o" "${emu_objects[@]}" "${cpu_objects[@]}" -o "$BUILD/${family}_check" ||
    { echo "FAIL link ${family}_check"; exit 1; }
done
echo "built in $((SECONDS - started)) s"
[ "$BUILD_ONLY" = 1 ] && exit 0

# Two passes.  1: blocks in order, threads forward in even blocks and backward in odd ones.
# 2: blocks and threads in random orders (FL_EMU_SCHEDULE=shuffle:SEED, test/native/emu/schedule.h),
# which shows the races pass 1 sees in one direction only, in blocks of either parity; margin's
# kernels in it as a build whose code is compute_75 PTX JIT-compiled for the sm_90 device
# (FL_EMU_PTX_VERSION=75): no TF32 WMMA may run, i.e. the SIMT tile must be chosen.
rc=0
SHUFFLE_SEED=${EMU_SHUFFLE_SEED:-1}  # "none": pass 1 only
for pass in 1 2; do
  [ "$pass" = 2 ] && [ "$SHUFFLE_SEED" = none ] && break
  for family in "${FAMILIES[@]}"; do
    environment=()
    [ "$pass" = 2 ] && environment=(FL_EMU_SCHEDULE="shuffle:$SHUFFLE_SEED")
    [ "$pass" = 2 ] && [ "$family" = margin ] && environment+=(FL_EMU_PTX_VERSION=75)
    mode=--quick
    [ "$pass" = 2 ] && mode=--sanitize  # the race-check grid (quick, no timings, fewer value-only cases)
    echo "== ${environment[*]} ${family}_check $mode --no-bench (CUDA kernels on the CPU harness)"
    start=$SECONDS
    env "${environment[@]}" "$BUILD/${family}_check" "$mode" --no-bench
    status=$?
    echo "${family}_check exited $status after $((SECONDS - start)) s"
    [ "$status" = 0 ] || rc=1
  done
done
exit "$rc"
