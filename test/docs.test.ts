// Issue 5, point 6: the .d.ts document every option.  The TypeScript checker loads the two public
// entries (lib/index.ts, lib/tfjs.ts), takes every export (function, type alias, interface, const)
// and walks every type reachable from it: interface and type-literal properties, union and
// intersection members, Omit/Pick-derived (mapped) types, both branches of conditional types
// (CrpsResultOf, MineResultOf, ...), type arguments (Promise<...>, arrays), type-parameter
// constraints (`A extends CrpsArgs`), and the parameters and return types of lib-declared
// signatures.  Each export and each property declared in lib/ must carry a non-empty JSDoc
// comment; properties declared elsewhere (Float32Array's, tfjs's) are skipped.
import * as path from 'node:path';

import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = process.cwd();
const LIB = path.join(ROOT, 'lib') + path.sep;
const ENTRIES = ['lib/index.ts', 'lib/tfjs.ts'].map((file) => path.join(ROOT, file));

const inLib = (node: ts.Node): boolean => path.resolve(node.getSourceFile().fileName).startsWith(LIB);
const where = (node: ts.Node): string => {
  const file = node.getSourceFile();
  return `${path.relative(ROOT, file.fileName)}:${file.getLineAndCharacterOfPosition(node.getStart()).line + 1}`;
};
const hasDoc = (checker: ts.TypeChecker, symbol: ts.Symbol): boolean =>
  ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim() !== '';

/** `Owner.property (file:line)` of every export and reachable lib/ property without a doc comment. */
function undocumented(): string[] {
  const { config } = ts.readConfigFile(path.join(ROOT, 'tsconfig.json'), ts.sys.readFile);
  const { options } = ts.parseJsonConfigFileContent(config, ts.sys, ROOT); // the build's options
  const program = ts.createProgram(ENTRIES, { ...options, noEmit: true });
  const checker = program.getTypeChecker();
  const missing = new Map<string, string>(); // declaration position → message
  const seen = new Set<ts.Type>();
  const report = (node: ts.Node, label: string): void => {
    const key = `${node.getSourceFile().fileName}:${node.pos}`;
    if (!missing.has(key)) missing.set(key, `${label} (${where(node)})`);
  };

  // `Owner.property`, read off the declaration: the interface or alias (or property, parameter) holding it.
  const ownerOf = (node: ts.Node): string => {
    for (let at = node.parent; at; at = at.parent) {
      if (ts.isInterfaceDeclaration(at) || ts.isTypeAliasDeclaration(at) || ts.isFunctionDeclaration(at)) return at.name?.text ?? '?';
      if (ts.isVariableDeclaration(at)) return at.name.getText();
      if (ts.isPropertySignature(at) || ts.isPropertyAssignment(at)) return `${ownerOf(at)}.${at.name.getText()}`;
      if (ts.isParameter(at)) return `${ownerOf(at)}(${at.name.getText()})`;
    }
    return path.basename(node.getSourceFile().fileName);
  };
  const nameOf = (node: ts.Node): string => `${ownerOf(node)}.${(node as ts.NamedDeclaration).name?.getText() ?? '?'}`;

  function walkSignature(signature: ts.Signature): void {
    const declaration = signature.getDeclaration();
    if (!declaration || !inLib(declaration)) return;
    for (const parameter of signature.getParameters()) walk(checker.getTypeOfSymbolAtLocation(parameter, declaration));
    walk(checker.getReturnTypeOfSignature(signature));
  }

  // `inherited`: names a sibling of an intersection documents (in CrpsResult & (A extends { gradients:
  // true } ? { gradEnsemble: Float32Array } : unknown), CrpsResult documents gradEnsemble).
  function walk(type: ts.Type, inherited: ReadonlySet<string> = new Set()): void {
    if (seen.has(type)) return;
    seen.add(type);
    type.aliasTypeArguments?.forEach((argument) => walk(argument));
    if (type.flags & ts.TypeFlags.TypeParameter) {
      const constraint = checker.getBaseConstraintOfType(type);
      if (constraint) walk(constraint);
    } else if (type.flags & ts.TypeFlags.Conditional) {
      const { node } = (type as ts.ConditionalType).root;
      for (const branch of [node.trueType, node.falseType]) walk(checker.getTypeFromTypeNode(branch), inherited);
    } else if (type.isUnion()) {
      type.types.forEach((member) => walk(member, inherited));
    } else if (type.isIntersection()) {
      const documented = new Set(inherited);
      for (const member of type.types) {
        if (member.flags & ts.TypeFlags.Object) for (const p of checker.getPropertiesOfType(member)) if (hasDoc(checker, p)) documented.add(p.name);
      }
      type.types.forEach((member) => walk(member, documented));
    } else if (type.flags & ts.TypeFlags.Object) {
      if ((type as ts.ObjectType).objectFlags & ts.ObjectFlags.Reference) checker.getTypeArguments(type as ts.TypeReference).forEach((t) => walk(t));
      for (const property of checker.getPropertiesOfType(type)) {
        const declarations = (property.getDeclarations() ?? []).filter(inLib);
        if (declarations.length === 0) continue; // Float32Array's, Promise's, tfjs's members
        if (!hasDoc(checker, property) && !inherited.has(property.name)) report(declarations[0], nameOf(declarations[0]));
        walk(checker.getTypeOfSymbol(property));
      }
      for (const signature of [...type.getCallSignatures(), ...type.getConstructSignatures()]) walkSignature(signature);
    }
  }

  for (const entry of ENTRIES) {
    const source = program.getSourceFile(entry);
    const moduleSymbol = source && checker.getSymbolAtLocation(source);
    if (!moduleSymbol) throw new Error(`cannot load ${entry}`);
    for (const exported of checker.getExportsOfModule(moduleSymbol)) {
      const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      const declaration = symbol.getDeclarations()?.[0];
      if (!declaration || !inLib(declaration)) continue;
      if (!hasDoc(checker, symbol)) report(declaration, symbol.name);
      if (symbol.flags & ts.SymbolFlags.Type) walk(checker.getDeclaredTypeOfSymbol(symbol));
      if (symbol.flags & ts.SymbolFlags.Value) walk(checker.getTypeOfSymbol(symbol));
    }
  }
  return [...missing.values()].sort();
}

describe('public .d.ts documentation (issue 5, point 6)', () => {
  it('every export of fusedloss and fusedloss/tfjs, and every option and result field they reach, has a doc comment', () => {
    const list = undocumented();
    expect(list, `${list.length} undocumented:\n  ${list.join('\n  ')}`).toEqual([]);
    // A guard, not a timing: a whole TypeScript program, several times slower under
    // `npm run test:sanitize` (ASan preloaded into Node).
  }, 180_000);
});
