#!/usr/bin/env bash
# Builds the CUDA-vs-CPU checks (test/native/<family>_check.cu: the CPU and the CUDA kernel of one
# family through the same signature, compared, then timed; no Node needed) and runs each one.
# For a GPU machine with nvcc and g++; see docs/spec/gpu.md.  `npm run test:gpu` runs this script;
# bench/gpu-check.sh forwards to it.  The full log goes to $OUT/gpu-check.log when OUT is set.
#
#   test/native/run-gpu-checks.sh [--quick] [--no-bench] [--only crps|margin|pairs]
#   env: CUDA_ARCH (default sm_90), BUILD_DIR (default build/gpu-check), NVCC, CXX,
#        SANITIZE=1 to also run compute-sanitizer memcheck and racecheck on each check --quick,
#        TORCH_BASELINE=0 to skip the unfused PyTorch ArcFace timings (bench/torch_margin_baseline.py,
#        run after the margin timings when python3 has torch with CUDA).
# Exit status: 0 when every check passes, 1 on a failure, 2 when CUDA is unusable.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

ARCH=${CUDA_ARCH:-sm_90}
BUILD=${BUILD_DIR:-build/gpu-check}
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
CXX=${CXX:-g++}
FAMILIES=(crps margin pairs)
CHECK_ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick|--no-bench) CHECK_ARGS+=("$1") ;;
    --only) case "${2:-}" in crps|margin|pairs) FAMILIES=("$2"); shift ;; *) echo "--only takes crps, margin or pairs" >&2; exit 2 ;; esac ;;
    *) echo "usage: $0 [--quick] [--no-bench] [--only crps|margin|pairs]" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$BUILD"
if [ -n "${OUT:-}" ]; then mkdir -p "$OUT"; LOG="$OUT/gpu-check.log"; else LOG="$BUILD/gpu-check.log"; fi

# Same arithmetic as the addon: no contraction into FMAs on either side (the CPU reference is
# compiled with -ffp-contract=off), no fast math.
CXXFLAGS=(-std=c++17 -O3 -ffp-contract=off -pthread -fPIC -Wall -Wextra -Wno-psabi)
NVCCFLAGS=(-std=c++17 -O3 -arch="$ARCH" --fmad=false -Xcompiler -fPIC,-ffp-contract=off,-Wall,-Wextra)

build() {
  # Every CPU kernel and runtime source and every CUDA source, as CMake's globs take them, once;
  # then each check linked against them.
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

main() {
  echo "== gpu checks $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname): ${FAMILIES[*]}"
  command -v nvidia-smi >/dev/null &&
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv,noheader
  "$NVCC" --version | tail -n 1
  echo "== build (-arch=$ARCH)"
  local start=$SECONDS rc=0 family status
  build || { echo "FAIL build"; return 1; }
  echo "built in $((SECONDS - start)) s"
  for family in "${FAMILIES[@]}"; do
    echo "== ${family}_check ${CHECK_ARGS[*]}"
    start=$SECONDS
    "$BUILD/${family}_check" "${CHECK_ARGS[@]}"
    status=$?
    echo "${family}_check exited $status after $((SECONDS - start)) s"
    [ "$status" -gt "$rc" ] && rc=$status
    if [ "$family" = margin ] && [[ " ${CHECK_ARGS[*]} " != *" --no-bench "* ]] && [ "${TORCH_BASELINE:-1}" != 0 ] &&
      python3 -c 'import torch, sys; sys.exit(not torch.cuda.is_available())' 2>/dev/null; then
      echo "== PyTorch baseline (unfused ArcFace)"
      python3 bench/torch_margin_baseline.py || echo "torch baseline failed"
      python3 bench/torch_margin_baseline.py --tf32 || echo "torch baseline (TF32) failed"
    fi
  done
  # The Node package's per-family CUDA self-tests (lib/cuda-self-test.ts), when Node, the addon
  # and the TypeScript build are there: each family called once, then the self-test records printed.
  if command -v node >/dev/null && [ -f dist/cjs/index.js ] && [ -f build/Release/fusedloss.node ]; then
    echo "== CUDA self-tests through Node"
    node -e "
      const f = require('./dist/cjs/index.js');
      if (!f.backendInfo().cuda.available) { console.log('CUDA unavailable: ' + f.backendInfo().cuda.reason); process.exit(0); }
      f.crps({ ensemble: { data: [1, 2, 3, 4], shape: [2, 2] }, observations: [1, 2] });
      f.marginSoftmax({ embeddings: { data: [1, 0, 0, 1], shape: [2, 2] }, weights: { data: [1, 0, 0, 1], shape: [2, 2] }, labels: [0, 1] });
      f.mine({ embeddings: { data: [1, 0, 0, 1], shape: [2, 2] }, labels: [0, 1], miner: { type: 'batch-hard' } });
      const tests = f.backendInfo().cuda.selfTest;
      console.log(JSON.stringify(tests, null, 1));
      process.exit(Object.values(tests).every((t) => t.status === 'passed') ? 0 : 1);
    " || { echo "FAIL a CUDA self-test"; [ "$rc" -lt 1 ] && rc=1; }
  fi
  if [ "${SANITIZE:-0}" = 1 ] && command -v compute-sanitizer >/dev/null; then
    for family in "${FAMILIES[@]}"; do
      for tool in memcheck racecheck; do
        echo "== compute-sanitizer --tool $tool (${family}_check --quick --no-bench)"
        compute-sanitizer --tool "$tool" --error-exitcode 3 "$BUILD/${family}_check" --quick --no-bench | tail -n 5
        [ "${PIPESTATUS[0]}" = 0 ] || { [ "$rc" -lt 1 ] && rc=1; }
      done
    done
  fi
  return "$rc"
}

main 2>&1 | tee "$LOG"
exit "${PIPESTATUS[0]}"
