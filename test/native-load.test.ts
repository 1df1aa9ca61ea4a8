// Loading the native addon: a binary that is present but does not load falls back to the
// WebAssembly (or TypeScript) backend with exactly one warning that names the binary and the loader's own error
// (no build advice: the user has a binary); no binary at all falls back silently, with the build
// advice in backendInfo().loadError.  And a CUDA build on a machine without an NVIDIA driver says
// that, not that the driver is too old.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';

import { resetNativeForTesting } from '../lib/native';
import { backendInfo, crps, ErrorCode } from './api';

const ROOT = process.cwd();
const temporary: string[] = [];
let warnings: (Error & { code?: string })[] = [];
const onWarning = (warning: Error) => warnings.push(warning);
const loadWarnings = () => warnings.filter((w) => w.code === 'FUSEDLOSS_NATIVE_LOAD_FAILED');
const tick = () => new Promise((resolve) => setImmediate(resolve));
// Without the addon 'auto' runs on WebAssembly where the package has it (npm run build:wasm), else TypeScript.
const fallback = () => (backendInfo().wasm.available ? 'wasm' : 'js');
const call = (backend: 'auto' | 'cpu' = 'auto') => crps({ ensemble: { data: [1, 2, 3, 4], shape: [2, 2] }, observations: [1, 2], backend });

/** A package folder holding only build/Release/fusedloss.node with `contents` (or nothing). */
function packageWith(contents: Buffer | null): { root: string; binary: string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'fusedloss-load-'));
  temporary.push(root);
  const binary = path.join(root, 'build', 'Release', 'fusedloss.node');
  if (contents) {
    fs.mkdirSync(path.dirname(binary), { recursive: true });
    fs.writeFileSync(binary, contents);
  }
  return { root, binary };
}

/** What Node itself says when loading the file. */
function loaderError(binary: string): string {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(binary);
  } catch (error) {
    return (error as Error).message.split('\n')[0];
  }
  throw new Error(`${binary} loaded`);
}

beforeEach(() => {
  warnings = [];
  process.on('warning', onWarning);
});
afterEach(() => {
  process.off('warning', onWarning);
  resetNativeForTesting();
});
afterAll(() => {
  for (const dir of temporary) fs.rmSync(dir, { recursive: true, force: true });
});

describe('a native binary that is present but cannot load', () => {
  const cases: [string, Buffer][] = [
    ['a corrupt file', Buffer.from('this is not a shared library\n'.repeat(40))],
    ['a truncated ELF header', Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0])],
  ];
  it.each(cases)("%s: 'auto' falls back to wasm (or js) with exactly one warning naming the binary and the loader's error", async (_, contents) => {
    const { root, binary } = packageWith(contents);
    const expected = loaderError(binary);
    resetNativeForTesting({ root });
    expect(call().backend).toBe(fallback());
    expect(call().backend).toBe(fallback());
    const info = backendInfo();
    expect(info.native).toBe(false);
    expect(info.loadError).toContain(binary);
    expect(info.loadError).toContain(expected);
    expect(info.loadError).not.toMatch(/cmake|rebuild/i);
    await tick();
    expect(loadWarnings()).toHaveLength(1);
    expect(loadWarnings()[0].message).toContain(binary);
    expect(loadWarnings()[0].message).toContain(expected);
    expect(loadWarnings()[0].message).not.toMatch(/cmake|rebuild/i);
    // An explicit native backend says why it is not there.
    expect(() => call('cpu')).toThrow(expect.objectContaining({ code: ErrorCode.BACKEND, message: expect.stringContaining(expected) }));
    await tick();
    expect(loadWarnings()).toHaveLength(1);
  });
});

describe('npm install with a prebuilt binary that does not load', () => {
  it.skipIf(process.platform !== 'linux' || process.arch !== 'x64')('scripts/install.js says which binary and why, then goes on', () => {
    const { root } = packageWith(null);
    fs.mkdirSync(path.join(root, 'scripts'));
    fs.copyFileSync(path.join(ROOT, 'scripts', 'install.js'), path.join(root, 'scripts', 'install.js'));
    fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(root, 'package.json'));
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(root, 'node_modules'));
    const binary = path.join(root, 'prebuilds', 'linux-x64', 'fusedloss.glibc.node');
    fs.mkdirSync(path.dirname(binary), { recursive: true });
    fs.writeFileSync(binary, 'not a shared library\n');
    const expected = loaderError(binary);
    // PREBUILDS_ONLY: no compiler run in the test.
    const out = spawnSync(process.execPath, [path.join(root, 'scripts', 'install.js')], { cwd: root, env: { ...process.env, PREBUILDS_ONLY: '1' }, encoding: 'utf8', timeout: 60000 });
    expect(out.status, out.stderr).toBe(0);
    expect(out.stdout).toContain(`the prebuilt binary does not load here: ${expected}`);
    expect(out.stdout).toContain(binary);
    expect(out.stdout).toMatch(/no prebuilt binary loads here; the TypeScript backend will serve/);
  });
});

describe('no native binary at all', () => {
  it('falls back to wasm (or js) silently; loadError gives the build advice', async () => {
    const { root } = packageWith(null);
    resetNativeForTesting({ root });
    expect(call().backend).toBe(fallback());
    expect(backendInfo().loadError).toMatch(/cmake.*npm rebuild fusedloss/);
    await tick();
    expect(loadWarnings()).toEqual([]);
  });

  it('a binary that loads gives no warning', async () => {
    resetNativeForTesting();
    const native = backendInfo().native;
    expect(call().backend).toBe(native ? (backendInfo().cuda.available ? 'cuda' : 'cpu') : fallback());
    await tick();
    expect(loadWarnings()).toEqual([]);
  });
});

// CUDA builds of the addon in this checkout (the installed one, and build-cuda*/ folders that
// developers build with --CDFUSEDLOSS_CUDA=ON -O build-cuda-…): each probed in a child process.
function cudaBuilds(): string[] {
  const found = fs
    .readdirSync(ROOT)
    .filter((dir) => dir.startsWith('build'))
    .map((dir) => path.join(ROOT, dir, 'Release', 'fusedloss.node'))
    .filter((file) => fs.existsSync(file));
  return found.filter((file) => probe(file).built);
}

function probe(binary: string): { built: boolean; available: boolean; reason: string | null } {
  const out = spawnSync(process.execPath, ['-e', `process.stdout.write(JSON.stringify(require(${JSON.stringify(binary)}).cudaInfo()))`], { encoding: 'utf8', timeout: 60000 });
  if (out.status !== 0) return { built: false, available: false, reason: out.stderr };
  return JSON.parse(out.stdout);
}

/** No NVIDIA kernel driver here (the user-space libcuda comes with it). */
const noDriver = !fs.existsSync('/proc/driver/nvidia/version');
const builds = noDriver ? cudaBuilds() : [];

describe('a CUDA build without an NVIDIA driver', () => {
  it.skipIf(builds.length === 0)(`cuda.reason says no driver is installed (${builds.map((b) => path.relative(ROOT, b)).join(', ') || 'no CUDA build here'})`, () => {
    for (const binary of builds) {
      const info = probe(binary);
      expect(info.available).toBe(false);
      expect(info.reason).toMatch(/no NVIDIA driver is installed/);
      expect(info.reason).not.toMatch(/insufficient|older than/);
    }
  });
});
