// Issue 5, point 6: a typed consumer compiles with `tsc --noEmit` against the built package
// (dist/, `npm run build`) both as an ES module (consumer.mts, the "import" condition of
// package.json exports) and as CommonJS (consumer.cts, the "require" condition), for `fusedloss`
// and `fusedloss/tfjs`; so do a node10 project (node10/) and a browser project (browser/).  The consumer's @ts-expect-error lines fail the compile if the package's
// types degrade to `any`.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

const ROOT = process.cwd();
const DIR = path.join(ROOT, 'test/consumer');

function hasTfjs(): boolean {
  try {
    require.resolve('@tensorflow/tfjs', { paths: [ROOT] });
    return true;
  } catch {
    return false;
  }
}

/** Runs tsc on a tsconfig with --traceResolution; returns its error lines and the resolved file of a specifier. */
function compile(tsconfig: string, cwd: string): { errors: string[]; status: number | null; stderr: string; targets: (specifier: string) => string[] } {
  const tsc = require.resolve('typescript/bin/tsc', { paths: [ROOT] });
  const out = spawnSync(process.execPath, [tsc, '-p', tsconfig, '--traceResolution'], { cwd, encoding: 'utf8', timeout: 120_000, maxBuffer: 256 * 1024 * 1024 });
  const targets = (specifier: string): string[] => {
    const re = new RegExp(`Module name '${specifier}' was successfully resolved to '([^']+)'`, 'g');
    return [...new Set([...out.stdout.matchAll(re)].map((m) => path.relative(ROOT, fs.realpathSync(m[1])).split(path.sep).join('/')))].sort();
  };
  return { errors: out.stdout.split('\n').filter((line) => /error TS\d+/.test(line)), status: out.status, stderr: out.stderr, targets };
}

const body = (file: string): string => fs.readFileSync(path.join(DIR, file), 'utf8').split('\n\n').slice(1).join('\n\n');

describe('typed consumer (test/consumer)', () => {
  it('consumer.mts and consumer.cts hold the same code below their headers', () => {
    expect(body('consumer.cts')).toBe(body('consumer.mts'));
  });

  it.skipIf(!hasTfjs())('tsc --noEmit compiles it as ESM and as CJS, resolving the built types through package.json exports', () => {
    const out = compile(path.join(DIR, 'tsconfig.json'), ROOT);
    expect(out.errors).toEqual([]);
    expect(out.status, out.stderr).toBe(0);
    // Which file each package specifier resolved to (once per module kind).
    expect(out.targets('fusedloss')).toEqual(['dist/cjs/index.d.ts', 'dist/esm/index.d.mts']);
    expect(out.targets('fusedloss/tfjs')).toEqual(['dist/cjs/tfjs.d.ts', 'dist/esm/tfjs.d.mts']);
  });

  /** Compiles test/consumer/<name> in a scratch project whose node_modules/fusedloss links to this package. */
  function compileScratch(name: string): ReturnType<typeof compile> {
    const project = fs.mkdtempSync(path.join(os.tmpdir(), `fusedloss-${name}-`));
    try {
      for (const file of ['consumer.ts', 'tsconfig.json']) fs.copyFileSync(path.join(DIR, name, file), path.join(project, file));
      fs.mkdirSync(path.join(project, 'node_modules'));
      fs.symlinkSync(ROOT, path.join(project, 'node_modules', 'fusedloss'), 'dir');
      return compile(path.join(project, 'tsconfig.json'), project);
    } finally {
      fs.rmSync(project, { recursive: true, force: true });
    }
  }

  // Issue 10, point 10: node10 resolution ignores "exports"; without package.json "typesVersions"
  // `fusedloss/tfjs` does not resolve there (TS2307).  Issue 12, point 5: a browser project
  // (bundler resolution with the "browser" condition, no Node.js types) gets the ES module types.
  it.skipIf(!hasTfjs()).each([
    ['node10', 'a CommonJS consumer on moduleResolution node10: fusedloss/tfjs resolves through typesVersions', 'dist/cjs/index.d.ts', 'dist/cjs/tfjs.d.ts'],
    ['browser', 'a browser consumer (bundler resolution, the "browser" condition): the ES module types, without Node.js types', 'dist/esm/index.d.mts', 'dist/esm/tfjs.d.mts'],
  ])('tsc compiles %s: %s', (name, _what, main, tfjs) => {
    const out = compileScratch(name);
    expect(out.errors).toEqual([]);
    expect(out.status, out.stderr).toBe(0);
    expect(out.targets('fusedloss')).toEqual([main]);
    expect(out.targets('fusedloss/tfjs')).toEqual([tfjs]);
  });
});
