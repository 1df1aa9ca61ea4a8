#!/usr/bin/env bash
# Builds bench/gpu_check (the CPU reference and the CUDA backend in one executable, no Node needed)
# and runs it: the CUDA-vs-CPU checks, then the timing table.  For a GPU machine with nvcc and g++;
# see docs/spec/gpu.md.  The full log goes to $OUT/gpu-check.log when OUT is set.
#
#   bench/gpu-check.sh [--quick] [--no-bench] [--only crps|margin|pairs]   (arguments go to gpu_check)
#   env: CUDA_ARCH (default sm_90), BUILD_DIR (default build/gpu-check), NVCC, CXX,
#        SANITIZE=1 to also run compute-sanitizer memcheck and racecheck on `gpu_check --quick`,
#        TORCH_BASELINE=0 to skip the unfused PyTorch ArcFace timings (bench/torch_margin_baseline.py,
#        run after the timings when python3 has torch with CUDA).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

ARCH=${CUDA_ARCH:-sm_90}
BUILD=${BUILD_DIR:-build/gpu-check}
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
CXX=${CXX:-g++}
mkdir -p "$BUILD"
if [ -n "${OUT:-}" ]; then mkdir -p "$OUT"; LOG="$OUT/gpu-check.log"; else LOG="$BUILD/gpu-check.log"; fi

# Same arithmetic as the addon: no contraction into FMAs on either side (the CPU reference is
# compiled with -ffp-contract=off), no fast math.
CXXFLAGS=(-std=c++17 -O3 -ffp-contract=off -pthread -fPIC -Wall -Wextra -Wno-psabi)
NVCCFLAGS=(-std=c++17 -O3 -arch="$ARCH" --fmad=false -Xcompiler -fPIC,-ffp-contract=off,-Wall,-Wextra)

build() {
  # Every CPU kernel and runtime source and every CUDA source, as CMake's globs take them.
  local pids=() failed=0 objects=() src obj
  for src in native/kernels/*.cc native/runtime/*.cc; do
    [ "$(basename "$src")" = cuda_absent.cc ] && continue
    obj="$BUILD/cpu_$(basename "$src" .cc).o"
    objects+=("$obj")
    "$CXX" "${CXXFLAGS[@]}" -c "$src" -o "$obj" & pids+=($!)
  done
  for src in cuda/*.cu bench/gpu_check.cu bench/gpu_check_bench.cu; do
    obj="$BUILD/cuda_$(basename "$src" .cu).o"
    objects+=("$obj")
    "$NVCC" "${NVCCFLAGS[@]}" -c "$src" -o "$obj" & pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  [ "$failed" = 0 ] || return 1
  # nvcc links the static CUDA runtime by default: the binary needs only the driver.
  "$NVCC" -arch="$ARCH" "${objects[@]}" -o "$BUILD/gpu_check" -lpthread
}

main() {
  echo "== gpu-check $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
  command -v nvidia-smi >/dev/null &&
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv,noheader
  "$NVCC" --version | tail -n 1
  echo "== build (-arch=$ARCH)"
  local start=$SECONDS
  build || { echo "FAIL build"; return 1; }
  echo "built in $((SECONDS - start)) s"
  echo "== run"
  start=$SECONDS
  "$BUILD/gpu_check" "$@"
  local rc=$?
  echo "gpu_check exited $rc after $((SECONDS - start)) s"
  case " $* " in *" --no-bench "*|*" --only crps "*|*" --only pairs "*) ;; *)
    if [ "${TORCH_BASELINE:-1}" != 0 ] && python3 -c 'import torch, sys; sys.exit(not torch.cuda.is_available())' 2>/dev/null; then
      echo "== PyTorch baseline (unfused ArcFace)"
      python3 bench/torch_margin_baseline.py || echo "torch baseline failed"
      python3 bench/torch_margin_baseline.py --tf32 || echo "torch baseline (TF32) failed"
    fi ;;
  esac
  # The Node package's per-family CUDA self-tests (lib/cuda-self-test.ts), when the addon and the
  # TypeScript build are there: each family called once, then the self-test records printed.
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
    " || { echo "FAIL a CUDA self-test"; rc=1; }
  fi
  if [ "${SANITIZE:-0}" = 1 ] && command -v compute-sanitizer >/dev/null; then
    for tool in memcheck racecheck; do
      echo "== compute-sanitizer --tool $tool (gpu_check --quick --no-bench)"
      compute-sanitizer --tool "$tool" --error-exitcode 3 "$BUILD/gpu_check" --quick --no-bench | tail -n 5
      [ "${PIPESTATUS[0]}" = 0 ] || rc=1
    done
  fi
  return "$rc"
}

main "$@" 2>&1 | tee "$LOG"
exit "${PIPESTATUS[0]}"
