// Run by scripts/test-arm64.sh in the arm64 Node under qemu, with FUSEDLOSS_ADDON_PATH set: the
// package (dist/) loads that binary natively, on arm64, with the NEON kernels.  With
// `--prebuilt <file>` also: node-gyp-build, which an installed package loads through, picks
// <file> from a folder that has prebuilds/ only.  Exits 1 with the reasons otherwise.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const info = require(path.join(root, 'dist', 'cjs', 'index.js')).backendInfo();
const gemm = info.native ? require(info.binary).runtimeInfo().gemm : null;
console.log(JSON.stringify({ arch: process.arch, native: info.native, simd: info.simd, gemm, threads: info.threads, binary: info.binary }));
const wrong = [];
if (process.arch !== 'arm64') wrong.push(`process.arch is ${process.arch}`);
if (!info.native) wrong.push(`the addon did not load: ${info.loadError}`);
if (info.native && info.simd !== 'neon') wrong.push(`simd is ${info.simd}, not neon`);
if (info.native && gemm !== 'neon') wrong.push(`the GEMM runs ${gemm}, not neon`);

const prebuilt = process.argv.indexOf('--prebuilt');
if (prebuilt > 0) {
  // In a clone build/ holds the host's binary and would win, hence FUSEDLOSS_ADDON_PATH above.
  const expected = process.argv[prebuilt + 1];
  const installed = fs.mkdtempSync(path.join(os.tmpdir(), 'fusedloss-arm64-'));
  fs.cpSync(path.join(root, 'prebuilds'), path.join(installed, 'prebuilds'), { recursive: true });
  const chosen = path.relative(installed, require('node-gyp-build').path(installed));
  fs.rmSync(installed, { recursive: true });
  console.log(`node-gyp-build chooses ${chosen}`);
  if (chosen !== expected) wrong.push(`node-gyp-build chose ${chosen}, not ${expected}`);
}
if (wrong.length) {
  console.error(wrong.join('; '));
  process.exit(1);
}
