// The precision option's operand rounding: lib/precision.ts (the TypeScript backend's) against
// native/math/precision_math.h (every native and CUDA kernel's, compiled here with the system's
// C++ compiler) bit for bit, on the edge values (ties either way and negative, NaN payloads
// including signalling ones, ±Inf, ±FLT_MAX and the roundings that overflow to Inf, subnormals)
// and on fresh random bit patterns; and both against test/precision-reference.ts's arithmetic
// definition for every non-NaN value.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

import { bf16Bits, operandRounding, tf32Bits } from '../lib/precision';
import { Rng, testSeed } from './helpers';
import { referenceRound } from './precision-reference';

const SEED = testSeed('precision.rounding');
const ROOT = path.resolve(__dirname, '..');

const EDGES = [
  0x00000000, 0x80000000, 0x3f800000, 0xbf800000,
  // bf16 ties (the dropped half is exactly 0x8000): kept bit even → down, odd → up; negative too.
  0x3f808000, 0x3f818000, 0xbf808000, 0xbf818000, 0x3f807fff, 0x3f808001,
  // tf32 ties (dropped 13 bits exactly 0x1000): away from zero either sign.
  0x3f801000, 0x3f803000, 0xbf801000, 0xbf803000, 0x3f800fff, 0x3f801001,
  // the largest values, and the roundings that overflow to ±Inf.
  0x7f7fffff, 0xff7fffff, 0x7f7f8000, 0x7f7f7fff, 0xff7f8000, 0x7f7ff000, 0x7f7fefff, 0xff7ff000,
  0x7f800000, 0xff800000,
  // NaNs: quiet, signalling (payload only in the dropped bits must stay NaN), negative, all ones.
  0x7fc00000, 0x7fc00001, 0x7f800001, 0x7f801000, 0x7f808000, 0x7fbfffff, 0xffc00000, 0xff800001, 0xffffffff, 0x7fffffff,
  // subnormals and the normal boundary.
  0x00000001, 0x80000001, 0x00008000, 0x00018000, 0x00001000, 0x00003000, 0x007fffff, 0x807fffff, 0x00800000, 0x00ff8000,
];

function randomBits(rng: Rng, count: number): number[] {
  return Array.from({ length: count }, () => (Math.floor(rng.next() * 2 ** 16) * 2 ** 16 + Math.floor(rng.next() * 2 ** 16)) >>> 0);
}

/** precision_math.h's roundings of `inputs`, as [bf16, tf32] bit patterns, from the compiled filter. */
function nativeRoundings(inputs: number[]): [number, number][] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fusedloss-precision-'));
  try {
    const exe = path.join(dir, 'precision_round');
    const compiler = process.env.CXX || 'c++';
    const build = spawnSync(compiler, ['-std=c++17', '-O2', '-o', exe, path.join(ROOT, 'test/native/precision_round.cc')], { encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`${compiler} failed: ${build.error?.message ?? build.stderr}`);
    const run = spawnSync(exe, [], { input: inputs.map((b) => b.toString(16)).join('\n') + '\n', encoding: 'utf8', maxBuffer: 1 << 26 });
    if (run.status !== 0) throw new Error(`precision_round failed: ${run.stderr}`);
    return run.stdout.trim().split('\n').map((line) => line.split(' ').map((h) => parseInt(h, 16)) as [number, number]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const hex = (b: number) => `0x${(b >>> 0).toString(16).padStart(8, '0')}`;
const asFloat = (bits: number) => new Float32Array(new Uint32Array([bits]).buffer)[0];
const isNanBits = (bits: number) => ((bits & 0x7fffffff) >>> 0) > 0x7f800000;

describe('precision rounding: lib/precision.ts = native/math/precision_math.h', () => {
  const rng = new Rng(SEED);
  const inputs = [...EDGES, ...randomBits(rng, 20000)];
  const native = nativeRoundings(inputs);

  it('bit for bit on the edge values and on random bit patterns', () => {
    expect(native.length).toBe(inputs.length);
    const wrong: string[] = [];
    inputs.forEach((bits, k) => {
      const [bf16, tf32] = native[k];
      if (bf16Bits(bits) !== bf16) wrong.push(`bf16(${hex(bits)}): TypeScript ${hex(bf16Bits(bits))}, C++ ${hex(bf16)}`);
      if (tf32Bits(bits) !== tf32) wrong.push(`tf32(${hex(bits)}): TypeScript ${hex(tf32Bits(bits))}, C++ ${hex(tf32)}`);
    });
    expect(wrong.slice(0, 10)).toEqual([]);
  });

  it('both equal the arithmetic definition; NaN stays NaN, low bits dropped', () => {
    const wrong: string[] = [];
    inputs.forEach((bits, k) => {
      const [bf16, tf32] = native[k];
      if (isNanBits(bits)) {
        if (!isNanBits(bf16) || (bf16 & 0xffff) !== 0) wrong.push(`bf16(${hex(bits)}) = ${hex(bf16)}: not a bf16 NaN`);
        if (!isNanBits(tf32) || (tf32 & 0x1fff) !== 0) wrong.push(`tf32(${hex(bits)}) = ${hex(tf32)}: not a tf32 NaN`);
        return;
      }
      const x = asFloat(bits);
      const expectBf16 = referenceRound(x, 8, 'even');
      const expectTf32 = referenceRound(x, 11, 'away');
      if (!Object.is(asFloat(bf16), expectBf16)) wrong.push(`bf16(${hex(bits)} = ${x}) = ${asFloat(bf16)}, expected ${expectBf16}`);
      if (!Object.is(asFloat(tf32), expectTf32)) wrong.push(`tf32(${hex(bits)} = ${x}) = ${asFloat(tf32)}, expected ${expectTf32}`);
    });
    expect(wrong.slice(0, 10)).toEqual([]);
  });

  it('the fallback rounding of a float64 rounds to float32 first, then to the precision', () => {
    const bf16 = operandRounding('bf16');
    const tf32 = operandRounding('tf32');
    for (let k = 0; k < 5000; k++) {
      const x = (rng.next() - 0.5) * 2 ** (rng.int(80) - 40);
      expect(bf16(x)).toBe(referenceRound(x, 8, 'even'));
      expect(tf32(x)).toBe(referenceRound(x, 11, 'away'));
    }
    // The named edges: ties of the float32 value, ±0, ±Inf, NaN.
    expect(bf16(1 + 2 ** -8)).toBe(1);
    expect(bf16(1 + 3 * 2 ** -8)).toBe(1 + 2 ** -6);
    expect(tf32(-(1 + 2 ** -11))).toBe(-(1 + 2 ** -10));
    expect(Object.is(bf16(-0), -0)).toBe(true);
    expect(tf32(3.4028234663852886e38)).toBe(Infinity);
    expect(bf16(-Infinity)).toBe(-Infinity);
    expect(Number.isNaN(tf32(NaN))).toBe(true);
  });
});
