#!/usr/bin/env bash
# `npm run test:pack` (and .ci/run): the npm package as a user gets it.  Needs the prebuilt
# binary in prebuilds/ (`npm run prebuild`).
#   1. `npm pack`; the tarball holds the built JS + types (with dist/browser's package.json), the
#      prebuilds, the native sources, CMakeLists.txt, binding.gyp, README, LICENSE,
#      scripts/install.js and the bundled node-gyp-build, and nothing else.
#   2. Installs it into an empty project offline, with an empty npm cache (so it needs nothing
#      from a registry), no compiler, cmake or nvcc on PATH and PREBUILDS_ONLY=1: the install
#      script must pass, compile nothing and report the prebuilt binary.
#   3. scripts/pack-smoke/: backendInfo().native from prebuilds/ and every kernel (crps,
#      marginSoftmax, mine, pairLoss) against the TypeScript backend, from require and import
#      (on 'wasm' too when the package holds it; FUSEDLOSS_REQUIRE_WASM=1 requires it).
#   4. Again with --ignore-scripts (pnpm's default for dependencies, npm's allowScripts): the
#      prebuilt binary needs no install script.
# FUSEDLOSS_SMOKE_EXPECT_CUDA=1 also requires the binary to have been built with CUDA.
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "pack-smoke: FAILED: $*" >&2; exit 1; }

shopt -s nullglob
prebuilt=(prebuilds/*/*.node)
shopt -u nullglob
[ ${#prebuilt[@]} -gt 0 ] || fail "no prebuilt binary in prebuilds/: run \`npm run prebuild\` first"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "-- npm pack"
npm pack --silent --pack-destination "$work" >/dev/null
tarball=$(echo "$work"/*.tgz)
[ -f "$tarball" ] || fail "npm pack wrote no tarball"
tar tzf "$tarball" | sed 's|^package/||' | sort >"$work/contents"
unexpected=$(grep -v -E '^(dist/.+\.(js|mjs|d\.ts|d\.mts)|dist/browser/package\.json|native/.+\.(cc|h)|cuda/.+\.(cu|cuh)|prebuilds/[^/]+/[^/]+\.node|node_modules/node-gyp-build/.+|scripts/install\.js|CMakeLists\.txt|binding\.gyp|README\.md|LICENSE|package\.json)$' "$work/contents" || true)
[ -z "$unexpected" ] || fail "unexpected files in the tarball:"$'\n'"$unexpected"
for required in package.json README.md LICENSE CMakeLists.txt binding.gyp scripts/install.js \
  dist/cjs/index.js dist/cjs/index.d.ts dist/esm/index.mjs dist/esm/index.d.mts dist/browser/index.js dist/browser/tfjs.js \
  native/napi/addon.cc node_modules/node-gyp-build/index.js "${prebuilt[@]}"; do
  grep -qxF "$required" "$work/contents" || fail "$required is missing from the tarball"
done
grep -qE '^cuda/.+\.cu$' "$work/contents" || fail "no CUDA sources in the tarball"
echo "$(wc -l <"$work/contents") files, $(du -k "$tarball" | cut -f1) KiB packed; prebuilt: ${prebuilt[*]}"

# A PATH with node, npm and sh only: no compiler, cmake, nvcc, make or ninja.
bin="$work/bin"
mkdir "$bin"
for tool in node npm sh; do ln -s "$(command -v "$tool")" "$bin/$tool"; done
for tool in cc c++ gcc g++ clang cmake nvcc make ninja; do
  ! PATH="$bin" command -v "$tool" >/dev/null 2>&1 || fail "$tool is reachable on the test PATH"
done

install_into() { # <dir> <npm install flags...>
  local dir=$1
  shift
  mkdir -p "$dir"
  echo '{ "name": "consumer", "version": "1.0.0", "private": true }' >"$dir/package.json"
  (cd "$dir" && env PATH="$bin" PREBUILDS_ONLY=1 npm install --offline --cache "$work/npm-cache" \
    --no-audit --no-fund --foreground-scripts "$@" "$tarball") >"$dir/install.log" 2>&1 ||
    { cat "$dir/install.log"; fail "npm install of the tarball failed"; }
  [ ! -e "$dir/node_modules/fusedloss/build" ] || fail "the install compiled something (node_modules/fusedloss/build exists)"
  cp scripts/pack-smoke/kernels.cjs scripts/pack-smoke/require.cjs scripts/pack-smoke/import.mjs "$dir/"
}

echo "-- offline install, no compiler on PATH, PREBUILDS_ONLY=1"
install_into "$work/consumer"
sed 's/^/   | /' "$work/consumer/install.log"
grep -q 'fusedloss: using the prebuilt binary' "$work/consumer/install.log" || fail "the install script did not use the prebuilt binary"
! grep -qiE 'building from source|WARNING' "$work/consumer/install.log" || fail "the install script tried to build or warned"
(cd "$work/consumer" && node require.cjs && node import.mjs)

echo "-- the same with --ignore-scripts (no install script at all)"
install_into "$work/consumer-no-scripts" --ignore-scripts
(cd "$work/consumer-no-scripts" && node require.cjs && node import.mjs)
echo "pack-smoke: passed"
