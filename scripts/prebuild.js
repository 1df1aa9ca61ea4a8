#!/usr/bin/env node
// `npm run prebuild`: the prebuilt binary shipped in the npm package.  Runs prebuildify (Node-API,
// stripped, tagged with the libc) with scripts/prebuildify-cmake-js.js standing in for node-gyp,
// so the cmake-js build (CUDA required, static CUDA runtime and libstdc++) ends up as
// prebuilds/<platform>-<arch>/fusedloss.<libc>.node, then prints its size and glibc floor.
// FUSEDLOSS_CUDA_ARCHITECTURES narrows the CUDA architectures (CI builds one); it replaces the
// build/ folder of `npm run build:native` (rebuild that afterwards if you use it).
//
// `npm run prebuild:arm64` (--arch arm64) cross-compiles prebuilds/linux-arm64/ on an x86-64
// Linux host (CPU only; see scripts/prebuildify-cmake-js.js and cmake/aarch64-linux-gnu.cmake),
// in build-arm64/prebuild/ so that ./build stays as it was; it strips and inspects the binary with
// the cross binutils.
//
// npm (and yarn) also run a script named "prebuild" before `npm run build` (its pre-hook); that
// build is the TypeScript one and must not start a CUDA build, so when the command that started
// this was `run build`, this does nothing.  It tells by the command lines of its parent processes
// (/proc, else ps); where it cannot read them it does nothing either: run `node scripts/prebuild.js`.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

/** argv and parent pid of a process, from /proc (Linux) or ps; null when neither answers. */
function processInfo(pid) {
  try {
    // npm sets its process title ("npm run build"), which replaces argv with one string.
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split(/[\0\s]+/).filter(Boolean);
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return { argv, ppid };
  } catch {
    const ps = spawnSync('ps', ['-o', 'ppid=', '-o', 'args=', '-p', String(pid)], { encoding: 'utf8' });
    const match = ps.status === 0 && /^\s*(\d+)\s+(.*)$/.exec(ps.stdout.trim());
    return match ? { ppid: Number(match[1]), argv: match[2].split(/\s+/) } : null;
  }
}

/** 'build' or 'prebuild': what the nearest ancestor naming either names; null if unknown. */
function startedAs() {
  let pid = process.ppid;
  for (let depth = 0; depth < 8 && pid > 1; depth++) {
    const info = processInfo(pid);
    if (!info) return null;
    if (info.argv.includes('prebuild')) return 'prebuild';
    if (info.argv.includes('build')) return 'build';
    pid = info.ppid;
  }
  return null;
}

if (process.env.npm_lifecycle_event === 'prebuild') {
  const how = startedAs();
  if (how !== 'prebuild') {
    console.log(how === 'build'
      ? 'fusedloss: `npm run build` compiles the TypeScript only; the prebuilt binary is `npm run prebuild`'
      : 'fusedloss: cannot tell `npm run prebuild` from the pre-hook of `npm run build` here; run `node scripts/prebuild.js`');
    process.exit(0);
  }
}

const archFlag = process.argv.indexOf('--arch');
const arch = archFlag > 0 ? process.argv[archFlag + 1] : process.arch;
const cross = arch !== process.arch;
if (cross && !(process.platform === 'linux' && arch === 'arm64')) {
  console.error(`fusedloss: only the linux-arm64 cross build is set up (asked for ${process.platform}-${arch})`);
  process.exit(2);
}
// The GNU binutils of the cross toolchain: the host's strip and objdump know x86-64 only.
const binutil = (name) => (cross ? `aarch64-linux-gnu-${name}` : name);

const prebuildify = require.resolve('prebuildify/bin.js', { paths: [root] });
const shim = path.join(__dirname, 'prebuildify-cmake-js.js');
const args = [prebuildify, '--napi', '--strip', '--tag-libc', '--node-gyp', shim];
let cwd = root;
if (cross) {
  cwd = path.join(root, 'build-arm64', 'prebuild');
  fs.mkdirSync(cwd, { recursive: true });
  args.push('--arch', arch, '--strip-bin', binutil('strip'), '--out', root, '--name', require(path.join(root, 'package.json')).name);
}
const started = Date.now();
const result = spawnSync(process.execPath, args, { cwd, stdio: 'inherit' });
if (result.status !== 0) process.exit(result.status ?? 1);

const dir = path.join(root, 'prebuilds', `${process.platform}-${arch}`);
for (const name of fs.readdirSync(dir).filter((n) => n.endsWith('.node'))) {
  const file = path.join(dir, name);
  const mib = (fs.statSync(file).size / 2 ** 20).toFixed(1);
  let floor = '';
  const objdump = spawnSync(binutil('objdump'), ['-T', file], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (objdump.status === 0) {
    const versions = [...new Set(objdump.stdout.match(/\b(GLIBC|GLIBCXX|CXXABI)_[0-9.]+/g) ?? [])];
    const newest = (prefix) => versions.filter((v) => v.startsWith(`${prefix}_`))
      .sort((a, b) => a.localeCompare(b, undefined, { numeric: true })).pop();
    floor = `, needs ${['GLIBC', 'GLIBCXX', 'CXXABI'].map(newest).filter(Boolean).join(' ')}`;
  }
  console.log(`fusedloss: ${path.relative(root, file)}: ${mib} MiB${floor} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
}
