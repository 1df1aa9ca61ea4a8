// Caller-owned outputs (`out`): a kernel call may be given the arrays its results go into, keyed
// by result name (`out: { scores, gradEnsemble }`).  Each must be a typed array of the result's
// exact type and length, in memory of its own (no other output's, no input's), backed by a plain
// ArrayBuffer: not detached, not a SharedArrayBuffer (another thread could write it while the
// kernel does, and the returned values would not be the ones computed), not resizable (a resize
// could move or shrink the memory under a running kernel).  The backends write into them in
// place, and the result returns those very arrays.  Why: a fresh output maps fresh pages, and in
// a tight synchronous loop nothing is collected until the event loop turns (docs/spec/README.md).
import { invalidArg, shapeError } from './errors';
import { describe, isDetachedView, isResizable, isShared, memoryOf, plainView, typedArrayLength, typedArrayName, type AnyTypedArray } from './read-once';
import { objectOption, readOptions } from './validate';

export type OutputArray = Float32Array | Int32Array;
/** The caller's output arrays this call writes, by result name; empty without `out`. */
export type OutArrays = Readonly<Record<string, OutputArray>>;

/** One result array of a kernel: its name, element type, length for a plan, and when a call returns it. */
export interface OutputSpec<Plan> {
  name: string;
  type: 'Float32Array' | 'Int32Array';
  length(plan: Plan): number;
  /** Whether this call returns it (absent: always). */
  returned?(plan: Plan): boolean;
  /** The option that makes a call return it, for the message when it does not. */
  requires?: string;
}

/**
 * `out` read once (as every option object is): its keys checked against the kernel's result
 * names, each value read once.  Called by the planners with the other arguments, before the
 * inputs' final detach check, so no getter of `out` runs after that.  Null when not given.
 */
export function readOut(value: unknown, outputs: readonly OutputSpec<never>[]): Record<string, unknown> | null {
  if (value === undefined) return null;
  return readOptions(objectOption(value, 'out'), outputs.map((output) => output.name), 'out');
}

type Span = { label: string; memory: ReturnType<typeof memoryOf> };

function overlaps(a: Span['memory'], b: Span['memory']): boolean {
  return a.buffer === b.buffer && a.start < b.end && b.start < a.end;
}

/**
 * The given output arrays, each checked against what this call returns: type, length, attached,
 * plain memory, and no overlap with another output or with any array of the plan (an input the
 * kernel reads while it writes).  Runs no caller code (intrinsic accessors only).
 */
export function checkOut<Plan extends object>(given: Record<string, unknown> | null, outputs: readonly OutputSpec<Plan>[], plan: Plan): OutArrays {
  const checked: Record<string, OutputArray> = {};
  if (!given) return checked;
  const spans: Span[] = [];
  for (const output of outputs) {
    if (!(output.name in given) || given[output.name] === undefined) continue;
    const name = `out.${output.name}`;
    if (output.returned && !output.returned(plan)) {
      throw invalidArg(`${name} is given, but this call returns no ${output.name}${output.requires ? ` (it needs ${output.requires})` : ''}`);
    }
    const array = given[output.name];
    const length = output.length(plan);
    const kind = typedArrayName(array);
    if (kind !== output.type) throw invalidArg(`${name} must be a ${output.type} of ${length} elements, got ${describe(array)}`);
    const view = array as OutputArray;
    if (isDetachedView(view)) throw invalidArg(`${name} is backed by a detached ArrayBuffer`);
    if (isShared(view)) {
      throw invalidArg(`${name} is backed by a SharedArrayBuffer; outputs must be memory no other thread writes: pass a plain ${output.type} and copy the result into shared memory`);
    }
    if (isResizable(view)) throw invalidArg(`${name} is backed by a resizable ArrayBuffer; pass a ${output.type} over a fixed-length one`);
    const actual = typedArrayLength(view);
    if (actual !== length) throw shapeError(`${name} has ${actual} elements, expected ${length} (the length of ${output.name} for this call)`);
    spans.push({ label: name, memory: memoryOf(view) });
    checked[output.name] = view;
  }
  const inputs: Span[] = Object.entries(plan)
    .filter(([, value]) => typedArrayName(value) !== undefined)
    .map(([key, value]) => ({ label: `the input ${key}`, memory: memoryOf(value as AnyTypedArray) }));
  spans.forEach((span, i) => {
    for (const other of [...spans.slice(0, i), ...inputs]) {
      if (span.memory.end > span.memory.start && overlaps(span.memory, other.memory)) {
        throw invalidArg(`${span.label} shares memory with ${other.label}; every output needs memory of its own`);
      }
    }
  });
  return checked;
}

/** Throws if an output was detached while an async call was pending (its results would be lost). */
export function checkStillAttached(out: OutArrays): void {
  for (const [name, view] of Object.entries(out)) {
    if (isDetachedView(view)) throw invalidArg(`out.${name} was detached while the call was pending; an async call's outputs must not be transferred before it settles`);
  }
}

/**
 * The array a fallback writes result `name` into: a plain view of the caller's (zeroed, as a fresh
 * one would be) or a new one.  runKernel puts the caller's own object in the result.
 */
export function outputArray<T extends OutputArray>(out: OutArrays, name: string, length: number, type: { new (length: number): T }): T {
  const given = out[name] as T | undefined;
  return given ? (plainView(given).fill(0) as T) : new type(length);
}
