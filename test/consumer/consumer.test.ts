// Issue 5, point 6: a typed consumer compiles with `tsc --noEmit` against the built package
// (dist/, `npm run build`) both as an ES module (consumer.mts, the "import" condition of
// package.json exports) and as CommonJS (consumer.cts, the "require" condition), for `fusedloss`
// and `fusedloss/tfjs`.  The consumer's @ts-expect-error lines fail the compile if the package's
// types degrade to `any`.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
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

const body = (file: string): string => fs.readFileSync(path.join(DIR, file), 'utf8').split('\n\n').slice(1).join('\n\n');

describe('typed consumer (test/consumer)', () => {
  it('consumer.mts and consumer.cts hold the same code below their headers', () => {
    expect(body('consumer.cts')).toBe(body('consumer.mts'));
  });

  it.skipIf(!hasTfjs())('tsc --noEmit compiles it as ESM and as CJS, resolving the built types through package.json exports', () => {
    const tsc = require.resolve('typescript/bin/tsc', { paths: [ROOT] });
    const out = spawnSync(process.execPath, [tsc, '-p', path.join(DIR, 'tsconfig.json'), '--traceResolution'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 120_000,
      maxBuffer: 256 * 1024 * 1024,
    });
    const errors = out.stdout.split('\n').filter((line) => /error TS\d+/.test(line));
    expect(errors).toEqual([]);
    expect(out.status, out.stderr).toBe(0);
    // Which file each package specifier resolved to (once per module kind).
    const targets = (specifier: string): string[] => {
      const re = new RegExp(`Module name '${specifier}' was successfully resolved to '([^']+)'`, 'g');
      return [...new Set([...out.stdout.matchAll(re)].map((m) => path.relative(ROOT, m[1]).split(path.sep).join('/')))].sort();
    };
    expect(targets('fusedloss')).toEqual(['dist/cjs/index.d.ts', 'dist/esm/index.d.mts']);
    expect(targets('fusedloss/tfjs')).toEqual(['dist/cjs/tfjs.d.ts', 'dist/esm/tfjs.d.mts']);
  });
});
