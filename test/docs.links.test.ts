// Issue 11, point 1: the repository is self-contained. Its contract lives in docs/spec/, so no
// tracked file may point at the folder it was first written in, outside the repository (a clone
// cannot read it); the one allowed mention is a fixture's citation of origin ("copied from
// shared/fixtures/…"). And every relative link in README.md and docs/**/*.md reaches an existing
// file, and a #fragment a heading of that file.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

const ROOT = process.cwd();

/** Regular files git tracks, and new ones it does not ignore (so a check runs before the commit too). */
function repositoryFiles(): string[] {
  const output = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' });
  return [...new Set(output.split('\0').filter(Boolean))].filter((file) => fs.lstatSync(path.join(ROOT, file), { throwIfNoEntry: false })?.isFile());
}

// Written in pieces so that this file does not match itself.
const OUTSIDE = 'shared';
const OUTSIDE_REFERENCE = new RegExp(`(?:\\.\\./)+${OUTSIDE}/|\\b${OUTSIDE}/(?:spec|fixtures|data|hooks)\\b`, 'g');
const ORIGIN_CITATION = /(?:copied (?:verbatim )?from|origin:) `?$/;

/** `file:line: text` of each reference to the outside folder that is not a citation of origin. */
function outsideReferences(file: string, text: string): string[] {
  const found: string[] = [];
  for (const match of text.matchAll(OUTSIDE_REFERENCE)) {
    const lineStart = text.lastIndexOf('\n', match.index) + 1;
    if (ORIGIN_CITATION.test(text.slice(lineStart, match.index))) continue;
    const line = text.slice(0, match.index).split('\n').length;
    found.push(`${file}:${line}: ${text.slice(lineStart, text.indexOf('\n', match.index)).trim()}`);
  }
  return found;
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, each space a hyphen. */
function anchorOf(heading: string): string {
  const text = heading.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/`/g, '');
  return text.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
}

/** Markdown outside fenced code blocks. */
const withoutCodeBlocks = (markdown: string): string => markdown.replace(/^```[\s\S]*?^```/gm, '');
/** Markdown outside code blocks and inline code spans, where links are links. */
const proseOf = (markdown: string): string => withoutCodeBlocks(markdown).replace(/`[^`\n]*`/g, '');

function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  for (const [, heading] of withoutCodeBlocks(markdown).matchAll(/^#{1,6}\s+(.+)$/gm)) {
    const base = anchorOf(heading);
    let anchor = base;
    for (let n = 1; anchors.has(anchor); n++) anchor = `${base}-${n}`;
    anchors.add(anchor);
  }
  return anchors;
}

// Written by `npm run docs`, not tracked: a link into it resolves once the reference is generated.
const GENERATED = ['docs/api/'];

/** `file: [text](target) — why` for each relative link that does not resolve. */
function brokenLinks(file: string, markdown = fs.readFileSync(path.join(ROOT, file), 'utf8')): string[] {
  const broken: string[] = [];
  for (const [link, target] of proseOf(markdown).matchAll(/\[[^\]]*\]\(([^)\s]+)\)/g)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
    if (GENERATED.some((folder) => path.join(path.dirname(file), target).startsWith(folder))) continue;
    const [pathPart, fragment] = target.split('#', 2);
    const resolved = pathPart === '' ? path.join(ROOT, file) : path.resolve(path.dirname(path.join(ROOT, file)), decodeURIComponent(pathPart));
    if (!resolved.startsWith(ROOT + path.sep) && resolved !== ROOT) {
      broken.push(`${file}: ${link} leaves the repository`);
    } else if (!fs.existsSync(resolved)) {
      broken.push(`${file}: ${link} — no such file`);
    } else if (fragment !== undefined && resolved.endsWith('.md') && !anchorsOf(fs.readFileSync(resolved, 'utf8')).has(fragment)) {
      broken.push(`${file}: ${link} — no heading with anchor #${fragment}`);
    }
  }
  return broken;
}

describe('the repository is self-contained (issue 11, point 1)', () => {
  const files = repositoryFiles();

  it('no file refers to the spec folder outside the repository (fixture origin notes aside)', () => {
    const self = path.relative(ROOT, __filename);
    const found = files
      .filter((file) => file !== self)
      .flatMap((file) => {
        const bytes = fs.readFileSync(path.join(ROOT, file));
        return bytes.includes(0) ? [] : outsideReferences(file, bytes.toString('utf8'));
      });
    expect(found, `cite docs/spec/ instead:\n  ${found.join('\n  ')}`).toEqual([]);
  });

  it('every relative link in README.md and docs/**/*.md resolves, fragments included', () => {
    const markdown = files.filter((file) => file === 'README.md' || (file.startsWith('docs/') && file.endsWith('.md')));
    expect(markdown).toContain('docs/spec/README.md');
    const broken = markdown.flatMap((file) => brokenLinks(file));
    expect(broken, broken.join('\n')).toEqual([]);
  });

  it('the checks catch what they are for', () => {
    expect(outsideReferences('a.h', `// Contract: ../../${OUTSIDE}/spec/crps.md`)).toHaveLength(1);
    expect(outsideReferences('a.md', `Schema: \`${OUTSIDE}/fixtures/README.md\``)).toHaveLength(1);
    expect(outsideReferences('a.md', `- copied from \`${OUTSIDE}/fixtures/crps.json\``)).toEqual([]);
    expect(brokenLinks('docs/x.md', '[a](spec/README.md#errors) [b](../README.md) `[c](nowhere.md)`')).toEqual([]);
    expect(brokenLinks('docs/x.md', '[a](spec/nowhere.md) [b](spec/README.md#nowhere) [c](../../outside.md)')).toHaveLength(3);
    expect(anchorOf('PML\'s miners and losses, and `ours`')).toBe('pmls-miners-and-losses-and-ours');
    expect(anchorOf('TensorFlow.js: `fusedloss/tfjs`')).toBe('tensorflowjs-fusedlosstfjs');
  });
});
