// The package's root folder, found by walking up from this file, so the same code works from
// lib/ (tests run the TypeScript sources) and from dist/cjs/ (the published build).
import * as fs from 'node:fs';
import * as path from 'node:path';

function findPackageRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest)) {
      try {
        if ((JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: string }).name === 'fusedloss') return dir;
      } catch {
        // not ours or unreadable: keep walking up
      }
    }
    if (path.dirname(dir) === dir) return path.resolve(start, '..', '..');
  }
}

export const packageRoot: string = findPackageRoot(__dirname);

export const packageVersion: string = (JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
