#!/usr/bin/env node
// A node-gyp stand-in for prebuildify (`npm run prebuild` passes it as `--node-gyp`): prebuildify
// only knows how to call `node-gyp rebuild --target=… --devdir=… --arch=… --release`; this turns
// that into a cmake-js build of the same addon into build/Release, where prebuildify picks up the
// .node file, strips it and moves it to prebuilds/<platform>-<arch>/.
//
// What it builds differs from a plain `npm install` build on purpose (a binary for other machines):
//   - CUDA is required (FUSEDLOSS_CUDA=ON, fails without nvcc), compiled for the architectures of
//     FUSEDLOSS_CUDA_ARCHITECTURES (CMakeLists.txt's default: real code for 75…100 plus PTX),
//     with the CUDA runtime linked statically; FUSEDLOSS_PREBUILD_CUDA=OFF builds a CPU-only one.
//   - On Linux, libstdc++ is linked statically (its symbols kept private), so the binary needs no
//     GLIBCXX version, only glibc and libgcc_s; scripts/glibc-compat.c keeps libstdc++.a's
//     reference to arc4random (glibc 2.36) from raising the glibc floor.  libgcc stays shared:
//     a static libgcc_eh needs _dl_find_object (glibc 2.35).  A version script exports the two
//     Node-API entry points only (no template instantiations for other libraries to bind to).
//     FUSEDLOSS_PREBUILD_STATIC=0 turns this off.  Check the result with
//     objdump -T prebuilds/linux-x64/*.node | grep -o 'GLIBC[XX]*_[0-9.]*' | sort -V | uniq
//   - --arch=arm64 on an x86-64 Linux host cross-compiles (`npm run prebuild:arm64`) with
//     cmake/aarch64-linux-gnu.cmake (Clang for Debian's aarch64 cross toolchain), CPU only: there
//     is no aarch64 CUDA toolkit on the build host.  Node-API headers are the same for every
//     architecture and a Linux addon does not link against node, so nothing else changes.
// --target and --devdir are ignored: the addon uses Node-API only, and cmake-js takes the
// Node-API headers from the node-api-headers package, so nothing is downloaded.  cmake-js builds
// in build/ under the directory prebuildify runs this in (the package root for `npm run
// prebuild`; a staging folder for the cross build, so that ./build stays as it was).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const argv = process.argv.slice(2);
const flag = (name) => {
  const hit = argv.find((a) => a.startsWith(`--${name}=`));
  return hit ? hit.slice(name.length + 3) : undefined;
};

if (argv[0] !== 'rebuild') {
  console.error(`prebuildify-cmake-js: only 'rebuild' is supported, got: ${argv.join(' ')}`);
  process.exit(2);
}

const arch = flag('arch');
const cross = arch !== undefined && arch !== process.arch;
if (cross && !(process.platform === 'linux' && process.arch === 'x64' && arch === 'arm64')) {
  console.error(`prebuildify-cmake-js: cross-compiling is set up for linux-x64 → arm64 only, not ${process.platform}-${process.arch} → ${arch}`);
  process.exit(2);
}
const crossTriple = 'aarch64-linux-gnu';
const jobs = process.env.FUSEDLOSS_JOBS || String(os.availableParallelism());
const cuda = cross || process.env.FUSEDLOSS_PREBUILD_CUDA === 'OFF' ? 'OFF' : 'ON';
const args = [
  require.resolve('cmake-js/bin/cmake-js', { paths: [root] }),
  'rebuild',
  '--directory', root,
  '--out', path.join(process.cwd(), 'build'),
  '--config', argv.includes('--debug') ? 'Debug' : 'Release',
  '--parallel', jobs,
  `--CDFUSEDLOSS_CUDA=${cuda}`,
];
if (arch) args.push('--arch', arch);
if (cross) args.push(`--CDCMAKE_TOOLCHAIN_FILE=${path.join(root, 'cmake', `${crossTriple}.cmake`)}`);
let tmp = null;
if (process.platform === 'linux' && process.env.FUSEDLOSS_PREBUILD_STATIC !== '0') {
  // Outside build/, which `cmake-js rebuild` empties first.
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fusedloss-prebuild-'));
  const compat = path.join(tmp, 'glibc-compat.o');
  const cc = cross ? `${crossTriple}-gcc` : process.env.CC || 'cc';
  const compiled = spawnSync(cc, ['-c', '-O2', '-fPIC', '-fvisibility=hidden', path.join(__dirname, 'glibc-compat.c'), '-o', compat], { stdio: 'inherit' });
  if (compiled.status !== 0) {
    console.error(`prebuildify-cmake-js: ${cc} could not compile scripts/glibc-compat.c`);
    process.exit(1);
  }
  const exports = path.join(tmp, 'exports.map');
  fs.writeFileSync(exports, '{ global: napi_register_module_v1; node_api_module_get_api_version_v1; local: *; };\n');
  args.push(`--CDCMAKE_SHARED_LINKER_FLAGS=-static-libstdc++ -Wl,--exclude-libs,ALL -Wl,--version-script=${exports} ${compat}`);
}

console.log(`prebuildify-cmake-js: cmake-js ${args.slice(1).join(' ')}`);
const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
process.exit(result.status ?? 1);
