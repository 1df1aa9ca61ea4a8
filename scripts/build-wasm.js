#!/usr/bin/env node
// `npm run build:wasm`: the CPU kernels of native/ compiled with Emscripten (emcc, Debian's
// `emscripten` package) to WebAssembly with SIMD128, twice, both embedded as base64 in
// lib/wasm/generated/fusedloss-wasm.js (git-ignored), so CommonJS, ES modules, browsers and
// bundlers load them the same way, without reading a file.  scripts/build-ts.js copies it into
// dist/; this script also does when dist/ is already built.  No emcc: it says so and exits 1.
//
// - The single-threaded module: standalone (no Emscripten JS glue; it imports two functions,
//   which lib/wasm/execute.ts provides), native/wasm/thread_pool_single.cc in place of the
//   std::thread pool.  For hosts without SharedArrayBuffer (pages that are not cross-origin
//   isolated).
// - The threaded module: -pthread, on shared memory, with native/runtime/thread_pool.cc as the
//   native build has it and native/wasm/async_exports.cc.  Emscripten 3.1.6 makes pthreads only
//   with its JS glue, which is discarded: lib/wasm/threads.ts provides the module's imports and
//   starts its workers itself (the glue would need a worker script file and its own loader).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const generatedName = 'fusedloss-wasm.js';
const outputDir = path.join(root, 'lib/wasm/generated');
const distDir = path.join(root, 'dist/cjs/wasm/generated');

const kernelSources = [
  'native/kernels/crps.cc',
  'native/kernels/crps_scalar.cc',
  'native/kernels/margin.cc',
  'native/kernels/margin_prepass.cc',
  'native/kernels/margin_epilogue.cc',
  'native/kernels/pairs_loss.cc',
  'native/kernels/pairs_ms_row.cc',
  'native/kernels/pairs_distance_lanes.cc',
  'native/kernels/pairs_mine.cc',
  'native/runtime/gemm.cc',
  'native/runtime/gemm_bf16.cc',
  'native/runtime/memory.cc',
  'native/runtime/simd.cc',
  'native/wasm/runtime_exports.cc',
  'native/wasm/crps_exports.cc',
  'native/wasm/margin_exports.cc',
  'native/wasm/pairs_exports.cc',
];
const exported = ['fl_crps', 'fl_margin_softmax', 'fl_mine', 'fl_pair_loss', 'fl_error_message', 'fl_error_length', 'fl_alloc', 'fl_free'];
// Linear memory: 16 MiB at first, growing as calls need it up to wasm32's 4 GiB.
const memoryPages = { initial: 256, maximum: 65536 };
// Each pthread's stack (the main thread's is TOTAL_STACK); the kernels keep large buffers on the heap.
const threadStackBytes = 2 * 1024 * 1024;
const commonFlags = [
  '-O3', '-std=c++17', '-msimd128',
  // The kernels catch std::bad_alloc (a call too large reports ERR_FUSEDLOSS_TOO_LARGE): native
  // WebAssembly exceptions, which need no JS glue.
  '-fwasm-exceptions',
  // As the native build (CMakeLists.txt): no a·b + c fused unless written so.
  '-ffp-contract=off',
  '--no-entry',
  // Memory grows as calls need it; malloc returns null beyond the maximum (no abort).
  '-sALLOW_MEMORY_GROWTH=1', `-sINITIAL_MEMORY=${memoryPages.initial * 65536}`, `-sMAXIMUM_MEMORY=${memoryPages.maximum * 65536}`, '-sABORTING_MALLOC=0',
  // 3.1.6's default, written out: later Emscripten releases default to 64 KiB.
  '-sTOTAL_STACK=5MB',
];
const exportFlag = (names) => `-sEXPORTED_FUNCTIONS=${names.map((name) => `_${name}`).join(',')}`;
const singleBuild = {
  sources: [...kernelSources, 'native/wasm/thread_pool_single.cc'],
  flags: [...commonFlags, '-sSTANDALONE_WASM', exportFlag(exported)],
  output: 'fusedloss.wasm',
};
const threadedBuild = {
  sources: [...kernelSources, 'native/runtime/thread_pool.cc', 'native/wasm/async_exports.cc'],
  flags: [
    ...commonFlags, '-pthread', `-sDEFAULT_PTHREAD_STACK_SIZE=${threadStackBytes}`,
    // Imports and exports keep their names (the glue that knows the minified ones is discarded),
    // and i64 crosses as BigInt rather than through legalizing stubs.
    '-sDECLARE_ASM_MODULE_EXPORTS=0', '-sWASM_BIGINT',
    '-Wno-pthreads-mem-growth',
    exportFlag([...exported, 'fl_start_threads', 'fl_call_async', 'fl_thread_stack']),
  ],
  // A .js target: Emscripten 3.1.6 refuses pthreads in a standalone module.
  output: 'fusedloss-threads.js',
};

function run(command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  if (result.error) return { ok: false, error: result.error.message, stdout: '' };
  return { ok: result.status === 0, error: `exit status ${result.status}`, stdout: result.stdout };
}

const version = run('emcc', ['--version']);
if (!version.ok) {
  console.error(`fusedloss: build:wasm needs emcc (Emscripten; apt-get install emscripten): ${version.error}`);
  process.exit(1);
}
const compiler = version.stdout.split('\n')[0].replace(/^emcc \(Emscripten gcc\/clang-like replacement[^)]*\)\s*/, 'emcc ');

// The glue's JS passes need Debian's acorn (node-acorn), which Node finds only on NODE_PATH.
const emccEnv = { ...process.env, NODE_PATH: [process.env.NODE_PATH, '/usr/share/nodejs'].filter(Boolean).join(path.delimiter) };

/** One emcc build in `workDir`; the module's bytes, compiled once here so a bad build fails now rather than at load. */
function build(workDir, { sources, flags, output }) {
  const target = path.join(workDir, output);
  const result = spawnSync('emcc', [...flags, ...sources, '-o', target], { cwd: root, env: emccEnv, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  if (result.status !== 0) {
    console.error(`fusedloss: emcc failed for ${output} (${result.error ? result.error.message : `exit status ${result.status}`})`);
    process.exit(1);
  }
  const bytes = fs.readFileSync(target.replace(/\.js$/, '.wasm'));
  new WebAssembly.Module(bytes);
  return bytes;
}

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fusedloss-wasm-'));
try {
  const single = build(workDir, singleBuild);
  const threaded = build(workDir, threadedBuild);
  const text =
    `// Generated by scripts/build-wasm.js (${compiler}; ${commonFlags.slice(0, 5).join(' ')}) from native/: do not edit.\n` +
    `'use strict';\n` +
    `module.exports = { simd: true, compiler: ${JSON.stringify(compiler)},\n` +
    `  wasm: '${single.toString('base64')}',\n` +
    `  threaded: { memory: ${JSON.stringify(memoryPages)}, threadStackBytes: ${threadStackBytes},\n` +
    `    wasm: '${threaded.toString('base64')}' } };\n`;
  fs.mkdirSync(outputDir, { recursive: true });
  fs.writeFileSync(path.join(outputDir, generatedName), text);
  console.log(`fusedloss: lib/wasm/generated/${generatedName} (${single.length} + ${threaded.length} bytes of WebAssembly: single-threaded + threaded)`);
  if (fs.existsSync(path.join(root, 'dist/cjs'))) {
    fs.mkdirSync(distDir, { recursive: true });
    fs.copyFileSync(path.join(outputDir, generatedName), path.join(distDir, generatedName));
    console.log(`fusedloss: copied to dist/cjs/wasm/generated/`);
  }
} finally {
  fs.rmSync(workDir, { recursive: true, force: true });
}
