// Issue 11, point 3: lib/ has no import circle.  Every import and re-export of lib/**/*.ts (type-only
// ones too: a circle of types still ties two modules together) is read off the source, resolved
// to its file (x.ts or x/index.ts), and the graph is searched for a cycle; the first found is
// reported as a path.  The parser is checked on a known circle so the test cannot pass by reading nothing.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

const LIB = path.join(process.cwd(), 'lib');

/** Every specifier of `import … from`, `export … from`, bare `import '…'` and `import('…')`. */
export function importSpecifiers(source: string): string[] {
  const withoutComments = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  const pattern = /\b(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g;
  const specifiers: string[] = [];
  for (const match of withoutComments.matchAll(pattern)) specifiers.push(match[1] ?? match[2]);
  return specifiers;
}

function libFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return libFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** The lib/ file a relative specifier names, or null for packages and node: modules. */
function resolve(from: string, specifier: string): string | null {
  if (!specifier.startsWith('.')) return null;
  const base = path.resolve(path.dirname(from), specifier);
  for (const candidate of [`${base}.ts`, path.join(base, 'index.ts')]) if (fs.existsSync(candidate)) return candidate;
  throw new Error(`${path.relative(LIB, from)}: cannot resolve '${specifier}'`);
}

/** The graph's first cycle as a list of files (first = last), or null. */
export function findCycle(graph: Map<string, string[]>): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): string[] | null => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'open') return [...stack.slice(stack.indexOf(next)), next];
      if (!state.has(next)) {
        const cycle = visit(next);
        if (cycle) return cycle;
      }
    }
    stack.pop();
    state.set(node, 'done');
    return null;
  };
  for (const node of graph.keys()) {
    if (!state.has(node)) {
      const cycle = visit(node);
      if (cycle) return cycle;
    }
  }
  return null;
}

describe('lib/ imports', () => {
  it('reads every form of import and finds a circle', () => {
    const source = [
      "import { a } from './a';",
      "import type { B } from '../b';",
      "export { c } from './c';",
      "export type {\n  D,\n  E,\n} from './d';",
      "export * from './e';",
      "import './f';",
      "const g = import('./g');",
      "// import { h } from './h';",
      "/* import { i } from './i'; */",
      "import * as fs from 'node:fs';",
    ].join('\n');
    expect(importSpecifiers(source)).toEqual(['./a', '../b', './c', './d', './e', './f', './g', 'node:fs']);
    const circle = new Map([['x', ['y']], ['y', ['z']], ['z', ['y']]]);
    expect(findCycle(circle)).toEqual(['y', 'z', 'y']);
    expect(findCycle(new Map([['x', ['y', 'z']], ['y', ['z']], ['z', []]]))).toBeNull();
  });

  it('has no import circle', () => {
    const graph = new Map<string, string[]>();
    for (const file of libFiles(LIB)) {
      const targets = importSpecifiers(fs.readFileSync(file, 'utf8')).map((specifier) => resolve(file, specifier));
      graph.set(file, targets.filter((target): target is string => target !== null));
    }
    expect(graph.size).toBeGreaterThan(20);
    const cycle = findCycle(graph);
    expect(cycle && cycle.map((file) => path.relative(LIB, file)).join(' → ')).toBeNull();
  });
});
