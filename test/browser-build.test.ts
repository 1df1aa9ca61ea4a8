// The browser build (dist/browser, scripts/build-ts.js) as files: ES modules a page can import
// without a bundler and without Node.js, and lib/platform.browser.ts's behaviour where Node.js
// has the same web APIs.  test/browser/run.mjs (npm run test:browser) runs the build in Chromium.
import * as fs from 'node:fs';
import * as path from 'node:path';

import ts from 'typescript';
import { describe, expect, it } from 'vitest';

import { platform } from '../lib/platform.browser';

const ROOT = process.cwd();
const BROWSER = path.join(ROOT, 'dist/browser');

function builtFiles(): string[] {
  if (!fs.existsSync(path.join(BROWSER, 'index.js'))) throw new Error('dist/browser is missing: run npm run build');
  return (fs.readdirSync(BROWSER, { recursive: true }) as string[]).filter((file) => file.endsWith('.js')).sort();
}

/** Every module specifier of an ES module's source (static imports and re-exports, import()), as TypeScript's scanner reads them. */
function specifiers(source: string): string[] {
  return ts.preProcessFile(source, true, true).importedFiles.map((file) => file.fileName);
}

const NODE_GLOBALS = new Set(['require', 'process', 'Buffer', 'setImmediate', '__dirname', '__filename', 'module', 'global']);

/** The Node.js globals a module's code names (identifiers, not property names, strings or comments). */
function nodeGlobals(source: string): string[] {
  const file = ts.createSourceFile('module.js', source, ts.ScriptTarget.ES2022, true, ts.ScriptKind.JS);
  // A name the file declares itself (a variable, parameter or destructured binding: the wasm
  // backend's `module`) is not the global.
  const declared = new Set<string>();
  const collect = (node: ts.Node): void => {
    if ((ts.isVariableDeclaration(node) || ts.isParameter(node) || ts.isBindingElement(node) || ts.isFunctionDeclaration(node)) && node.name && ts.isIdentifier(node.name)) declared.add(node.name.text);
    ts.forEachChild(node, collect);
  };
  collect(file);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isIdentifier(node) && NODE_GLOBALS.has(node.text) && !declared.has(node.text)) {
      const parent = node.parent;
      const isPropertyName = (ts.isPropertyAccessExpression(parent) && parent.name === node) || (ts.isPropertyAssignment(parent) && parent.name === node);
      if (!isPropertyName) found.push(node.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

describe('the browser build (dist/browser)', () => {
  it('its checks find node: imports and Node.js globals where they are (they cannot pass by reading nothing)', () => {
    const sample = "import { x } from 'node:fs';\nexport * from './a.js';\nconst m = import('./b.js');\nconst s = 'require(1)'; // process\nprocess.env.A; require('c'); obj.require = setImmediate;\nfunction f(module) { return { module }; }\nmodule.exports = 1;";
    expect(specifiers(sample)).toEqual(['node:fs', './a.js', './b.js', 'c']);
    expect(nodeGlobals(sample)).toEqual(['process', 'require', 'setImmediate']);
    expect(nodeGlobals("module.exports = 1;")).toEqual(['module']);
  });

  it('imports no node: module and nothing but its own files and @tensorflow/tfjs; no Node.js global', () => {
    const files = builtFiles();
    expect(files).toContain('index.js');
    expect(files).toContain('tfjs.js');
    const problems: string[] = [];
    let relative = 0;
    for (const file of files) {
      const source = fs.readFileSync(path.join(BROWSER, file), 'utf8');
      for (const specifier of specifiers(source)) {
        if (specifier.startsWith('./') || specifier.startsWith('../')) {
          relative++;
          const target = path.resolve(path.dirname(path.join(BROWSER, file)), specifier);
          // A browser takes the specifier as a URL: the file it names must be there, extension included.
          if (!target.startsWith(BROWSER + path.sep) || !fs.existsSync(target) || !target.endsWith('.js')) problems.push(`${file}: '${specifier}'`);
        } else if (!(specifier === '@tensorflow/tfjs' && file === 'tf-module.browser.js')) {
          problems.push(`${file}: '${specifier}'`);
        }
      }
      for (const name of nodeGlobals(source)) problems.push(`${file}: ${name}`);
    }
    expect(problems).toEqual([]);
    // The parser read the imports (index.js alone re-exports from several modules).
    expect(relative).toBeGreaterThan(files.length);
  });

  it('has the version of package.json and marks its .js files as ES modules', () => {
    const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const platformSource = fs.readFileSync(path.join(BROWSER, 'platform.browser.js'), 'utf8');
    expect(platformSource).toContain(`version: ${JSON.stringify(version)}`);
    expect(platformSource).not.toContain('__FUSEDLOSS_PACKAGE_VERSION__');
    expect(JSON.parse(fs.readFileSync(path.join(BROWSER, 'package.json'), 'utf8'))).toEqual({ type: 'module' });
  });

  it("is what package.json's exports give a browser, before import and require", () => {
    const { exports } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, Record<string, { default: string }>> };
    for (const [subpath, file] of [['.', 'index'], ['./tfjs', 'tfjs']]) {
      expect(Object.keys(exports[subpath])[0]).toBe('browser');
      expect(exports[subpath].browser.default).toBe(`./dist/browser/${file}.js`);
    }
  });
});

describe('the browser platform (lib/platform.browser.ts)', () => {
  it('has no addon and says why', () => {
    const load = platform.loadAddon(undefined);
    expect(load.addon).toBeNull();
    expect(load.binary).toBeNull();
    expect(load.loadError).toMatch(/no native addon in the browser/);
    expect(platform.backendOverride()).toBeUndefined();
  });

  it('tells ArrayBuffers and SharedArrayBuffers apart by their internal slots', () => {
    const shared = new SharedArrayBuffer(8);
    const plain = new ArrayBuffer(8);
    const impostor = { byteLength: 8, [Symbol.toStringTag]: 'SharedArrayBuffer' };
    expect([platform.isSharedArrayBuffer(shared), platform.isSharedArrayBuffer(plain), platform.isSharedArrayBuffer(impostor)]).toEqual([true, false, false]);
    expect([platform.isArrayBuffer(plain), platform.isArrayBuffer(shared), platform.isArrayBuffer(new Float32Array(2)), platform.isArrayBuffer(null)]).toEqual([true, false, false, false]);
  });

  it('nextTurn resolves after the tasks queued before it', async () => {
    const order: string[] = [];
    setTimeout(() => order.push('timer'), 0);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const queued = new Promise<void>((resolve) => setTimeout(() => (order.push('queued'), resolve()), 0));
    await platform.nextTurn();
    order.push('turn');
    await queued;
    expect(order[0]).toBe('timer');
    expect(order).toContain('turn');
  });
});
