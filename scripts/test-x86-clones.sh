#!/usr/bin/env bash
# npm run test:x86-clones: the AVX2 and the baseline (SSE2) clones of the CPU kernels, which a
# machine with AVX-512 never runs (runtime/simd.h: target_clones picks the best one at load time).
# qemu-user runs the host's Node on an emulated CPU without AVX-512 — Haswell (AVX2 + FMA: the
# AVX2 clones and the AVX2 GEMM micro-kernel) and Nehalem (SSE4.2, no AVX: the baseline clones and
# the scalar GEMM) — and the fixture, NaN/Inf and extremes tests of the three families run there
# against ./build/Release (the README's install builds it).  Answers only, not speed: TCG
# emulation says nothing about timing (docs/performance-backends.md has the clones' speed).
# Vitest runs its files in worker threads (--pool=threads): a forked child would run natively.
# Needs: qemu-user (qemu-x86_64 with AVX2 in TCG: QEMU ≥ 7.2), an x86-64 Linux host.
set -euo pipefail
cd "$(dirname "$0")/.."

files=()
for family in crps margin pairs; do
  files+=("test/$family.fixtures.test.ts" "test/$family.nan-inf.test.ts" "test/$family.extremes.test.ts")
done
[[ -d dist/cjs ]] || node scripts/build-ts.js

# qemu warns once per emulated CPU feature that TCG lacks (pcid, x2apic…); those lines only.
quiet() { grep -v "^qemu-x86_64: warning: TCG doesn't support requested feature" || true; }

for pair in Haswell:avx2 Nehalem:scalar; do
  cpu=${pair%%:*} want=${pair##*:}
  emulated() { qemu-x86_64 -cpu "$cpu" "$(command -v node)" "$@"; }
  simd=$(emulated -e "const i = require('.').backendInfo(); console.log(i.native ? i.simd : 'not loaded: ' + i.loadError)" 2>&1 | quiet)
  echo "== qemu-x86_64 -cpu $cpu: the addon runs its '$simd' clones"
  if [[ $simd != "$want" ]]; then
    echo "test:x86-clones: expected the '$want' clones on $cpu, got: $simd"
    exit 1
  fi
  started=$SECONDS
  # pipefail: vitest's status, not grep's, decides.
  emulated node_modules/vitest/vitest.mjs run --pool=threads "${files[@]}" 2>&1 | quiet
  echo "$cpu: $((SECONDS - started)) s"
done
