#!/usr/bin/env bash
# All of a GPU machine's work in one command (docs/spec/gpu.md): builds the CUDA-vs-CPU checks
# (test/native/<family>_check.cu: the CPU and the CUDA kernel of one family through the same
# signature, compared, then timed; no Node needed), runs each family's checks, the timings, the
# compute-sanitizer tools when asked and the Node self-tests when Node is there.  One PASS, FAIL or
# SKIP line per group, each group under a time cap so that one hang cannot eat the machine's time,
# a summary at the end, and the whole log in $OUT/gpu-check.log (OUT: the device tool's output
# folder), else in the build folder.  `npm run test:gpu` runs this script; bench/gpu-check.sh
# forwards to it.
#
#   test/native/run-gpu-checks.sh [--quick] [--no-bench] [--only crps|margin|pairs]
#     --quick: the checks' small sizes and short timings (H200, 2026-12-04: 3 min 10 s, of which the
#     build 166 s, most of it the CPU crps.cc, since cut to ~1 min); without it the full checks and
#     timings (about 5 min after the build).
#   env: CUDA_ARCH (default sm_90), BUILD_DIR (default build/gpu-check), NVCC, CXX,
#        SANITIZE=1: also compute-sanitizer memcheck, racecheck, initcheck and synccheck on each
#          check --sanitize (--quick --no-bench with a family's smaller grid; with --quick
#          --no-bench the whole run stays under 10 min),
#        TORCH_BASELINE=0: skip the unfused PyTorch ArcFace timings (bench/torch_margin_baseline.py),
#        GPU_CHECK_EMU=1: the same flow against the CPU harness (test/native/run-emu-checks.sh's
#          g++ build; no GPU, nvcc or compute-sanitizer), to test this script's logic anywhere,
#        GPU_CHECK_REUSE=1: no build, the binaries an earlier run (or emu build) left in BUILD_DIR
#          (so --quick and then the full run in one device call build once).
# Exit status: 0 when every group passes, 1 on a failure (a check, a build, a time cap), 2 when
# there is no usable GPU (nothing run).
set -uo pipefail
SELF=$(realpath "$0")
cd "$(dirname "$0")/../.." || exit 1

EMU=${GPU_CHECK_EMU:-0}
ARCH=${CUDA_ARCH:-sm_90}
BUILD=${BUILD_DIR:-$([ "$EMU" = 1 ] && echo build/cuda-emu || echo build/gpu-check)}
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
CXX=${CXX:-g++}
FAMILIES=(crps margin pairs)
QUICK=0
BENCH=1
STEP=""
ARGS=("$@")
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --no-bench) BENCH=0 ;;
    --only) case "${2:-}" in crps|margin|pairs) FAMILIES=("$2"); shift ;; *) echo "--only takes crps, margin or pairs" >&2; exit 2 ;; esac ;;
    --step) STEP=${2:-}; shift ;;  # internal: one of the functions below, run by `group` under its cap
    *) echo "usage: $0 [--quick] [--no-bench] [--only crps|margin|pairs]" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$BUILD"
if [ -n "${OUT:-}" ]; then mkdir -p "$OUT"; LOG="$OUT/gpu-check.log"; else LOG="$BUILD/gpu-check.log"; fi

# Time caps per group, in seconds (each overridable by its variable): the expected times are far
# below them (docs/spec/gpu.md).
if [ "$EMU" = 1 ]; then CHECK_CAP=${CHECK_CAP:-300} BENCH_CAP=${BENCH_CAP:-25}  # the harness is slower
elif [ "$QUICK" = 1 ]; then CHECK_CAP=${CHECK_CAP:-40} BENCH_CAP=${BENCH_CAP:-25}
else CHECK_CAP=${CHECK_CAP:-240} BENCH_CAP=${BENCH_CAP:-45}; fi  # full margin: 142 s on an H200
# The build took 166 s on an H200 machine's 16 cores (2026-12-04).
BUILD_CAP=${BUILD_CAP:-300} SANITIZE_CAP=${SANITIZE_CAP:-30} NODE_CAP=${NODE_CAP:-60} TORCH_CAP=${TORCH_CAP:-60}
CHECK_ARGS=()
[ "$QUICK" = 1 ] && CHECK_ARGS+=(--quick)

# Same arithmetic as the addon: no contraction into FMAs on either side (the CPU reference is
# compiled with -ffp-contract=off), no fast math.
CXXFLAGS=(-std=c++17 -O3 -ffp-contract=off -pthread -fPIC -Wall -Wextra -Wno-psabi)
NVCCFLAGS=(-std=c++17 -O3 -arch="$ARCH" --fmad=false -Xcompiler -fPIC,-ffp-contract=off,-Wall,-Wextra)

build_nvcc() {
  # Every CPU kernel and runtime source and every CUDA source, as CMake's globs take them, and the
  # checks: one compiler a file, all at once (16 cores); then each check linked against them.
  local pids=() failed=0 objects=() src obj family
  for src in native/kernels/*.cc native/runtime/*.cc; do
    [ "$(basename "$src")" = cuda_absent.cc ] && continue
    obj="$BUILD/cpu_$(basename "$src" .cc).o"
    objects+=("$obj")
    "$CXX" "${CXXFLAGS[@]}" -c "$src" -o "$obj" & pids+=($!)
  done
  for src in cuda/*.cu; do
    obj="$BUILD/cuda_$(basename "$src" .cu).o"
    objects+=("$obj")
    "$NVCC" "${NVCCFLAGS[@]}" -c "$src" -o "$obj" & pids+=($!)
  done
  for family in "${FAMILIES[@]}"; do
    "$NVCC" "${NVCCFLAGS[@]}" -c "test/native/${family}_check.cu" -o "$BUILD/${family}_check.o" & pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  [ "$failed" = 0 ] || return 1
  # nvcc links the static CUDA runtime by default: the binaries need only the driver.
  for family in "${FAMILIES[@]}"; do
    "$NVCC" -arch="$ARCH" "$BUILD/${family}_check.o" "${objects[@]}" -o "$BUILD/${family}_check" -lpthread || return 1
  done
}

build_emu() {
  local only=()
  [ "${#FAMILIES[@]}" = 1 ] && only=(--only "${FAMILIES[0]}")
  BUILD_DIR="$BUILD" test/native/run-emu-checks.sh --build-only "${only[@]}"
}

SUMMARY=()
RC=0
# group NAME CAP COMMAND...: runs COMMAND under the cap and records one PASS/FAIL line.  A
# function of this script runs as `this script --step FUNCTION` (timeout runs programs only).
group() {
  local name=$1 cap=$2 start=$SECONDS status result
  shift 2
  echo "== $name (cap ${cap} s)"
  if [ "$(type -t "$1")" = function ]; then
    timeout --kill-after=10 "$cap" bash "$SELF" "${ARGS[@]}" --step "$1"
  else
    timeout --kill-after=10 "$cap" "$@"
  fi
  status=$?
  if [ "$status" = 0 ]; then result=PASS
  elif [ "$status" = 124 ] || [ "$status" = 137 ]; then result="FAIL (over its ${cap} s cap)"
  else result="FAIL (exit $status)"
  fi
  [ "$status" = 0 ] || RC=1
  SUMMARY+=("$result $name ($((SECONDS - start)) s)")
  echo "${SUMMARY[-1]}"
}
skip() {
  SUMMARY+=("SKIP $1")
  echo "${SUMMARY[-1]}"
}

node_self_tests() {
  # The Node package's per-family CUDA self-tests (lib/cuda-self-test.ts): each family called
  # once, then the self-test records printed; fails unless every one passed.
  node -e "
    const f = require('./dist/cjs/index.js');
    if (!f.backendInfo().cuda.available) { console.log('CUDA unavailable: ' + f.backendInfo().cuda.reason); process.exit(1); }
    f.crps({ ensemble: { data: [1, 2, 3, 4], shape: [2, 2] }, observations: [1, 2] });
    f.marginSoftmax({ embeddings: { data: [1, 0, 0, 1], shape: [2, 2] }, weights: { data: [1, 0, 0, 1], shape: [2, 2] }, labels: [0, 1] });
    f.mine({ embeddings: { data: [1, 0, 0, 1], shape: [2, 2] }, labels: [0, 1], miner: { type: 'batch-hard' } });
    const tests = f.backendInfo().cuda.selfTest;
    console.log(JSON.stringify(tests, null, 1));
    process.exit(Object.values(tests).every((t) => t.status === 'passed') ? 0 : 1);
  "
}

torch_baseline() {
  python3 bench/torch_margin_baseline.py && python3 bench/torch_margin_baseline.py --tf32
}

main() {
  local family tool
  echo "== gpu checks $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname): ${FAMILIES[*]}$([ "$QUICK" = 1 ] && echo ' --quick')$([ "$EMU" = 1 ] && echo ' (CPU harness: GPU_CHECK_EMU=1)')"
  local build=build_emu name=build
  if [ "$EMU" != 1 ]; then
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv,noheader
    "$NVCC" --version | tail -n 1
    build=build_nvcc name="build (-arch=$ARCH)"
  fi
  if [ "${GPU_CHECK_REUSE:-0}" = 1 ]; then skip "$name (reusing the binaries in $BUILD)"
  else group "$name" "$BUILD_CAP" "$build"; fi
  if [ "$RC" != 0 ]; then printf '%s\n' "== summary" "${SUMMARY[@]}"; return 1; fi

  for family in "${FAMILIES[@]}"; do
    group "${family} checks${CHECK_ARGS[*]:+ ${CHECK_ARGS[*]}}" "$CHECK_CAP" "$BUILD/${family}_check" "${CHECK_ARGS[@]}" --no-bench
  done
  if [ "$BENCH" = 1 ]; then
    for family in "${FAMILIES[@]}"; do
      group "${family} timings${CHECK_ARGS[*]:+ ${CHECK_ARGS[*]}}" "$BENCH_CAP" "$BUILD/${family}_check" "${CHECK_ARGS[@]}" --bench-only
    done
    if [[ " ${FAMILIES[*]} " == *" margin "* ]] && [ "$QUICK" = 0 ] && [ "$EMU" = 0 ] && [ "${TORCH_BASELINE:-1}" != 0 ] &&
      python3 -c 'import torch, sys; sys.exit(not torch.cuda.is_available())' 2>/dev/null; then
      group "PyTorch baseline (unfused ArcFace)" "$TORCH_CAP" torch_baseline
    fi
  fi
  if [ "${SANITIZE:-0}" = 1 ]; then
    for family in "${FAMILIES[@]}"; do
      for tool in memcheck racecheck initcheck synccheck; do
        if [ "$EMU" = 1 ]; then skip "compute-sanitizer $tool $family (the CPU harness has no sanitizer)"; continue; fi
        group "compute-sanitizer --tool $tool ${family}_check --sanitize" "$SANITIZE_CAP" \
          compute-sanitizer --tool "$tool" --error-exitcode 3 "$BUILD/${family}_check" --sanitize
      done
    done
  fi
  if [ "$EMU" = 0 ] && command -v node >/dev/null && [ -f dist/cjs/index.js ] && [ -f build/Release/fusedloss.node ]; then
    group "CUDA self-tests through Node" "$NODE_CAP" node_self_tests
  else
    skip "CUDA self-tests through Node (needs node, dist/ and build/Release/fusedloss.node built with CUDA)"
  fi
  printf '%s\n' "== summary ($([ "$RC" = 0 ] && echo 'all passed' || echo 'FAILED'))" "${SUMMARY[@]}"
  return "$RC"
}

if [ -n "$STEP" ]; then
  case "$STEP" in build_nvcc|build_emu|node_self_tests|torch_baseline) "$STEP"; exit ;; *) exit 2 ;; esac
fi

# No GPU: nothing to run (the caller tells this from a failure by the status).
if [ "$EMU" != 1 ]; then
  if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
    echo "no GPU: nvidia-smi lists none (GPU_CHECK_EMU=1 runs this flow on the CPU harness)" | tee "$LOG"
    exit 2
  fi
  if [ ! -x "$NVCC" ]; then echo "no nvcc at $NVCC (set NVCC)" | tee "$LOG"; exit 2; fi
  if [ "${SANITIZE:-0}" = 1 ] && ! command -v compute-sanitizer >/dev/null; then
    echo "SANITIZE=1 but compute-sanitizer is not on PATH" | tee "$LOG"; exit 2
  fi
fi
main 2>&1 | tee "$LOG"
exit "${PIPESTATUS[0]}"
