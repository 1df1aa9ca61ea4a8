// The three source lists besides CMake's glob (CMakeLists.txt compiles native/kernels/*.cc and
// native/runtime/*.cc): binding.gyp's (the node-gyp source build) and scripts/build-wasm.js's (both
// WebAssembly modules) must name every C++ file they need, or a split file links in one build and
// not in the others.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..');

function sourcesIn(dir: string): string[] {
  return fs
    .readdirSync(path.join(root, dir))
    .filter((name) => name.endsWith('.cc'))
    .map((name) => `${dir}/${name}`)
    .sort();
}

// The quoted paths ending in .cc in a build file.
function listed(file: string): string[] {
  const text = fs.readFileSync(path.join(root, file), 'utf8');
  return [...text.matchAll(/["']([\w/.-]+\.cc)["']/g)].map((m) => m[1]).sort();
}

describe('build source lists', () => {
  it('binding.gyp names exactly the glue, the kernels and the runtime', () => {
    const wanted = [...sourcesIn('native/napi'), ...sourcesIn('native/kernels'), ...sourcesIn('native/runtime')].sort();
    expect(listed('binding.gyp')).toEqual(wanted);
  });

  it('build-wasm.js names every kernel (not the CUDA stub), the runtime and the wasm exports', () => {
    const wanted = [
      ...sourcesIn('native/kernels').filter((file) => !file.endsWith('/cuda_absent.cc')),
      ...sourcesIn('native/runtime'),
      ...sourcesIn('native/wasm'),
    ].sort();
    expect(listed('scripts/build-wasm.js')).toEqual(wanted);
  });
});

// Every thread_local of the native code sits behind one out-of-line function, threadScratch
// (native/runtime/memory.cc says why).  The WebAssembly exports are exempt: WebAssembly has no
// TLS-descriptor call.
describe('thread-local storage', () => {
  it('only native/runtime/memory.cc (threadScratch) and native/wasm/ declare thread_local', () => {
    const files = ['native/napi', 'native/kernels', 'native/runtime', 'native/math', 'cuda']
      .flatMap((dir) => fs.readdirSync(path.join(root, dir)).map((name) => `${dir}/${name}`))
      .filter((file) => /\.(cc|h|cu|cuh)$/.test(file));
    expect(files.length).toBeGreaterThan(20);
    const declaring = files.filter((file) =>
      fs.readFileSync(path.join(root, file), 'utf8').split('\n').some((line) => /^[^/]*\bthread_local\b/.test(line)));
    expect(declaring).toEqual(['native/runtime/memory.cc']);
  });
});
