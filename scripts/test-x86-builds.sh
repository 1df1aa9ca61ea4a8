#!/usr/bin/env bash
# npm run test:x86-builds [-- --emulated]: the AVX2 and the baseline (SSE2) builds of the CPU
# kernels (runtime/simd.h), which a machine with AVX-512 does not pick, run the fixture, NaN/Inf
# and extremes tests of the three families, and CRPS's 16 MiB gradient case, against ./build/Release
# (the README's install builds it).
#   default     natively, under FUSEDLOSS_SIMD=avx2 and =scalar: the builds below this CPU's
#               (about 40 s each).  CI runs this.
#   --emulated  qemu-user runs the host's Node on emulated CPUs without AVX-512: Haswell (AVX2 +
#               FMA: the AVX2 build and GEMM micro-kernel) and Nehalem (SSE4.2, no AVX: the
#               baseline build and the scalar GEMM), which also shows that neither build uses an
#               instruction its CPU lacks (about 7 min per CPU on 2 cores; by hand).  Vitest runs
#               its files in worker threads there (--pool=threads): a forked child would run natively.
#               Needs qemu-user (qemu-x86_64 with AVX2 in TCG: QEMU ≥ 7.2), an x86-64 Linux host.
# Answers only, not speed (docs/performance-backends.md has the builds' speed).
set -euo pipefail
cd "$(dirname "$0")/.."

files=()
for family in crps margin pairs; do
  files+=("test/$family.fixtures.test.ts" "test/$family.nan-inf.test.ts" "test/$family.extremes.test.ts")
done
[[ -d dist/cjs ]] || node scripts/build-ts.js

simdOf() { "$@" -e "const i = require('.').backendInfo(); console.log(i.native ? i.simd : 'not loaded: ' + i.loadError)"; }

if [[ ${1:-} != --emulated ]]; then
  own=$(env -u FUSEDLOSS_SIMD node -e "const i = require('.').backendInfo(); console.log(i.native ? i.simd : 'not loaded')")
  case $own in
    avx512) levels=(avx2 scalar) ;;
    avx2) levels=(scalar) ;;
    *) echo "test:x86-builds: this CPU's build is '$own': no x86-64 build below it to run"; exit 0 ;;
  esac
  for level in "${levels[@]}"; do
    simd=$(FUSEDLOSS_SIMD=$level simdOf node)
    echo "== FUSEDLOSS_SIMD=$level: the addon runs its '$simd' build"
    [[ $simd == "$level" ]] || { echo "test:x86-builds: expected the '$level' build, got: $simd"; exit 1; }
    FUSEDLOSS_SIMD=$level npx vitest run "${files[@]}"
    # The CRPS gradients' streamed stores (one movntps form per build) run only from 16 MiB on.
    FUSEDLOSS_SIMD=$level npx vitest run test/crps.random.test.ts -t '16 MiB and more'
  done
  exit 0
fi

# qemu warns once per emulated CPU feature that TCG lacks (pcid, x2apic…); those lines only.
quiet() { grep -v "^qemu-x86_64: warning: TCG doesn't support requested feature" || true; }

for pair in Haswell:avx2 Nehalem:scalar; do
  cpu=${pair%%:*} want=${pair##*:}
  emulated() { qemu-x86_64 -cpu "$cpu" "$(command -v node)" "$@"; }
  simd=$(simdOf emulated 2>&1 | quiet)
  echo "== qemu-x86_64 -cpu $cpu: the addon runs its '$simd' build"
  if [[ $simd != "$want" ]]; then
    echo "test:x86-builds: expected the '$want' build on $cpu, got: $simd"
    exit 1
  fi
  started=$SECONDS
  # pipefail: vitest's status, not grep's, decides.
  env -u FUSEDLOSS_SIMD qemu-x86_64 -cpu "$cpu" "$(command -v node)" node_modules/vitest/vitest.mjs run --pool=threads "${files[@]}" 2>&1 | quiet
  env -u FUSEDLOSS_SIMD qemu-x86_64 -cpu "$cpu" "$(command -v node)" node_modules/vitest/vitest.mjs run --pool=threads test/crps.random.test.ts -t '16 MiB and more' 2>&1 | quiet
  echo "$cpu: $((SECONDS - started)) s"
done
