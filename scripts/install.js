#!/usr/bin/env node
// `npm install` hook.  Order: a prebuilt binary that loads (prebuilds/) → a source build with
// cmake-js (CUDA too when nvcc is found) → a CPU-only node-gyp source build → nothing.  It never
// fails the install: without a native addon the pure-TypeScript backend serves, and
// backendInfo().loadError says why.  The prebuilt binary does not need this script (node-gyp-build
// finds it at load time; installs with --ignore-scripts or pnpm work); it exists for the source
// build, and because without an install script npm would run `node-gyp rebuild` itself (the
// package has a binding.gyp).  PREBUILDS_ONLY=1: never compile.  --build-from-source (npm config)
// or FUSEDLOSS_BUILD_FROM_SOURCE=1: compile even when a prebuilt binary loads (cmake-js and
// node-addon-api are optional dependencies: present unless the install was offline or omitted them).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const log = (msg) => console.log(`fusedloss: ${msg}`);

function loads(file) {
  const probe = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(file)})`], { stdio: 'pipe' });
  return probe.status === 0;
}

// A prebuilt binary for this platform that is there but does not load (wrong glibc, a corrupt
// file) is reported once with the loader's error, so that a source build that follows, or its
// absence, is not a mystery.
let prebuiltReported = false;
function prebuiltLoads() {
  if (!fs.existsSync(path.join(root, 'prebuilds'))) return false;
  const probe = spawnSync(process.execPath,
    ['-e', `const p=require('node-gyp-build').path(${JSON.stringify(root)}); if(!p.includes('prebuilds')) process.exit(1);
            try { require(p) } catch (e) { const m = e.message.split('\\n')[0]; process.stderr.write(m.includes(p) ? m : p + ': ' + m); process.exit(3) }`],
    { cwd: root, stdio: 'pipe', encoding: 'utf8' });
  if (probe.status === 3 && !prebuiltReported) {
    prebuiltReported = true;
    log(`the prebuilt binary does not load here: ${probe.stderr}`);
  }
  return probe.status === 0;
}

function run(label, command, args) {
  log(`${label}: ${[path.basename(command), ...args].join(' ')}`);
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env: process.env });
  return result.status === 0;
}

function buildWithCmakeJs() {
  let cli;
  try { cli = require.resolve('cmake-js/bin/cmake-js', { paths: [root] }); } catch { return false; }
  const args = [cli, 'compile', '--parallel', String(Math.max(1, require('node:os').availableParallelism()))];
  return run('building from source with cmake-js', process.execPath, args) && loads(path.join(root, 'build/Release/fusedloss.node'));
}

function buildWithNodeGyp() {
  const candidates = [process.env.npm_config_node_gyp, safeResolve('node-gyp/bin/node-gyp.js')].filter(Boolean);
  for (const cli of candidates) {
    if (fs.existsSync(cli) && run('building from source with node-gyp (CPU only)', process.execPath, [cli, 'rebuild'])) {
      if (loads(path.join(root, 'build/Release/fusedloss.node'))) return true;
    }
  }
  return false;
}

function safeResolve(id) {
  try { return require.resolve(id, { paths: [root] }); } catch { return null; }
}

function main() {
  if (process.env.FUSEDLOSS_SKIP_BUILD === '1') return log('FUSEDLOSS_SKIP_BUILD=1: not building; the TypeScript backend will serve');
  const fromSource = process.env.FUSEDLOSS_BUILD_FROM_SOURCE === '1' || process.env.npm_config_build_from_source === 'true';
  if (!fromSource && prebuiltLoads()) return log('using the prebuilt binary');
  if (process.env.PREBUILDS_ONLY === '1') {
    return log(fromSource && prebuiltLoads()
      ? 'PREBUILDS_ONLY=1: not compiling although a source build was asked for; using the prebuilt binary'
      : 'PREBUILDS_ONLY=1: not compiling, and no prebuilt binary loads here; the TypeScript backend will serve');
  }
  if (buildWithCmakeJs()) return log('native addon built');
  if (buildWithNodeGyp()) return log('native addon built (CPU only)');
  log('WARNING: no native addon could be built or loaded; the pure-TypeScript backend will be used. ' +
      'Install cmake and a C++17 compiler (and nvcc for CUDA), then run `npm rebuild fusedloss`.');
}

main();
