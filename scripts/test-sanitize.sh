#!/usr/bin/env bash
# npm run test:sanitize: builds the addon with AddressSanitizer + UndefinedBehaviorSanitizer (CPU
# kernels only, in its own build directory, so ./build stays as it is), runs every test file
# against it (the cpu backend's cases; js and wasm run nothing instrumented) and fails on any
# sanitizer report.
#
# - Every UBSan check aborts (-fno-sanitize-recover=all, CMakeLists.txt).  float-cast-overflow
#   is added because GCC leaves it out of -fsanitize=undefined, and a NaN or huge float converted
#   to an integer is undefined behaviour.  Float division by zero is not checked: the kernels
#   rely on IEEE results.
# - Node itself is not instrumented, so the ASan runtime is preloaded (it must come first).
#   detect_leaks=0: Node does not free its isolate, platform and handles at exit, and
#   LeakSanitizer would report those allocations of the uninstrumented binary in every process;
#   the addon's memory is checked for overflow and use-after-free, not for leaks.
# - allocator_may_return_null=1: the tests ask for impossible sizes on purpose and expect
#   ERR_FUSEDLOSS_TOO_LARGE; ASan would otherwise stop at the first such request.
# - Reports go to files (log_path) as well as failing the process, so a report from a child
#   process whose stderr a test swallows still fails this script; the output is also scanned
#   for 'runtime error:' in case a UBSan check did not abort.
# - Timeouts are raised (guards only): everything runs several times slower.
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=build-sanitize
addon="$PWD/$build_dir/Release/fusedloss.node"
sanitizers="address,undefined,float-cast-overflow"

echo "== test:sanitize: building the addon with -fsanitize=$sanitizers into $build_dir/"
# configure, then build: `compile` skips configuring a directory configured before, and with it
# the sanitizer flags.
{
  npx --no-install cmake-js configure --out "$build_dir" --CDFUSEDLOSS_CUDA=OFF "--CDFUSEDLOSS_SANITIZE=$sanitizers" &&
    npx --no-install cmake-js build --out "$build_dir" --parallel "${FUSEDLOSS_JOBS:-2}"
} >"$build_dir.log" 2>&1 || { cat "$build_dir.log"; exit 1; }
# The tests run on dist/ (child-process and worker tests load the built package).
npm run --silent build

libasan=$("${CXX:-c++}" -print-file-name=libasan.so)
# Instrumented code, not only linked runtimes: ASan's checks and UBSan's handlers are called.
symbols=$(nm "$addon")
if [ ! -f "$libasan" ] || ! grep -q __asan_report_load <<<"$symbols" || ! grep -q __ubsan_handle <<<"$symbols"; then
  echo "test:sanitize: $addon is not instrumented with ASan and UBSan (libasan: $libasan)"
  exit 1
fi

reports=$(mktemp -d)
log="$reports/vitest.log"
run_sanitized() {
  FUSEDLOSS_ADDON_PATH="$addon" LD_PRELOAD="$libasan" \
    ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:halt_on_error=1:log_path=$reports/asan:log_exe_name=1" \
    UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$reports/ubsan:log_exe_name=1" \
    "$@"
}

# The tests must really load this build, with the runtime active.
loaded=$(run_sanitized node -e "const i = require('.').backendInfo(); console.log(i.native ? i.binary : 'not loaded: ' + i.loadError)")
if [ "$loaded" != "$addon" ]; then
  echo "test:sanitize: the package did not load the sanitized addon: $loaded"
  exit 1
fi

echo "== test:sanitize: every test file against $addon (ASan preloaded: $libasan)"
start=$SECONDS
set +e
# Only the addon is instrumented, so the js and wasm backends' cases are left out
# (FUSEDLOSS_TEST_BACKENDS, test/helpers.ts): 2–3 min less, nothing the sanitizers could see.
FUSEDLOSS_TEST_BACKENDS=cpu,cuda run_sanitized node node_modules/vitest/vitest.mjs run --testTimeout=300000 --hookTimeout=300000 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
echo "test:sanitize: the suite took $((SECONDS - start)) s"

found=0
for report in "$reports"/asan* "$reports"/ubsan*; do
  [ -f "$report" ] || continue
  found=1
  echo "== sanitizer report $(basename "$report")"
  cat "$report"
done
if grep -qE 'runtime error:|ERROR: AddressSanitizer|ERROR: LeakSanitizer|SUMMARY: (Address|UndefinedBehavior)Sanitizer' "$log"; then
  echo "test:sanitize: sanitizer output in the test log (above)"
  found=1
fi
if [ "$found" != 0 ] || [ "$status" != 0 ]; then
  echo "test:sanitize: FAILED (vitest status $status, sanitizer reports: $([ "$found" != 0 ] && echo yes || echo none))"
  exit 1
fi
rm -rf "$reports"
echo "test:sanitize: passed, no sanitizer report"
