// The option checks of every entry point, written once (the spec's error table): option objects
// read once with their unknown keys rejected, required keys, enums, booleans, numbers under a
// named rule, integer axes.  Each check throws the documented code with a message naming the option.
import { invalidArg, optionError } from './errors';
import { lookup } from './read-once';

/**
 * Where a call runs: 'auto' (default: FUSEDLOSS_BACKEND when set, else CUDA when built and a device
 * is present — crps and marginSoftmax only, pairs not yet —, else native CPU, else WebAssembly,
 * else TypeScript), 'cuda', 'cpu' (native addon),
 * 'wasm' (the WebAssembly kernels shipped in the package) or 'js' (TypeScript).
 * An unavailable explicit backend throws ERR_FUSEDLOSS_BACKEND.
 */
export type Backend = 'auto' | 'cuda' | 'cpu' | 'wasm' | 'js';
export const BACKENDS: readonly Backend[] = ['auto', 'cuda', 'cpu', 'wasm', 'js'];

/** What a planner returns: the validated call, the backend it asked for, and its `out` as read (lib/outputs.ts). */
export interface Planned<Plan> {
  plan: Plan;
  backend: Backend;
  out: Record<string, unknown> | null;
}

export function checkArgsObject(args: unknown, fn: string): Record<string, unknown> {
  if (typeof args !== 'object' || args === null || Array.isArray(args)) {
    throw invalidArg(`${fn}: args must be an options object`);
  }
  return args as Record<string, unknown>;
}

/** A nested option object (margin, miner, loss, rowMargins, curricular, out, ...). */
export function objectOption(value: unknown, name: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || ArrayBuffer.isView(value)) {
    throw invalidArg(`${name} must be an object`);
  }
  return value as Record<string, unknown>;
}

export function checkKnownKeys(obj: Record<string, unknown>, allowed: readonly string[], name: string): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) throw invalidArg(`${name}: unknown option '${key}' (known: ${allowed.join(', ')})`);
  }
}

/** `args[key]`, which must be given (not undefined); `prefix` goes before the key's name in the message. */
export function requiredOption(args: Record<string, unknown>, key: string, prefix = ''): unknown {
  if (args[key] === undefined) throw invalidArg(`${prefix}${key} is required`);
  return args[key];
}

/** Each of `keys` given (not undefined). */
export function requireKeys(args: Record<string, unknown>, keys: readonly string[], prefix = ''): void {
  for (const key of keys) requiredOption(args, key, prefix);
}

/**
 * An option object read once: its unknown own keys rejected, then each `known` key read once from
 * the object or its class (never from Object.prototype; see lookup()).  The snapshot has no
 * prototype and holds exactly the keys found, so everything after reads only what was read here.
 */
export function readOptions(obj: Record<string, unknown>, known: readonly string[], name: string): Record<string, unknown> {
  checkKnownKeys(obj, known, name);
  const snapshot: Record<string, unknown> = Object.create(null);
  for (const key of known) {
    const { found, value } = lookup(obj, key);
    if (found) snapshot[key] = value;
  }
  return snapshot;
}

export function enumOption<T extends string>(value: unknown, name: string, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (typeof value !== 'string') throw invalidArg(`${name} must be a string, one of ${allowed.join(', ')}`);
  if (!(allowed as readonly string[]).includes(value)) {
    throw optionError(`${name} = '${value}' is not one of ${allowed.join(', ')}`);
  }
  return value as T;
}

export function booleanOption(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalidArg(`${name} must be a boolean`);
  return value;
}

/**
 * What a number option must be: `accepts` holds for the allowed finite values (non-finite ones are
 * always refused), and `refusal` words the message for a refused one.  `unit`, when given, is
 * named in the type error ("must be a number (radians)").
 */
export interface NumberRule {
  accepts(value: number): boolean;
  refusal(name: string, value: number): string;
  unit?: string;
}

/** A rule for finite values that also pass `accepts`, refused as "<name> = <value> must be <description>". */
export function numberRule(accepts: (value: number) => boolean, description: string): NumberRule {
  return { accepts, refusal: (name, value) => `${name} = ${value} must be ${description}` };
}

export const FINITE = numberRule(() => true, 'finite');
export const POSITIVE = numberRule((v) => v > 0, 'finite and > 0');
export const NON_NEGATIVE = numberRule((v) => v >= 0, 'finite and >= 0');
export const UNIT_INTERVAL = numberRule((v) => v >= 0 && v <= 1, 'in [0, 1]');
export const POSITIVE_INTEGER = numberRule((v) => Number.isInteger(v) && v >= 1, 'an integer >= 1');
/** [min, max] (finite bounds), refused as "is outside [min, max]". */
export function closedRange(min: number, max: number): NumberRule {
  return { accepts: (v) => v >= min && v <= max, refusal: (name, value) => `${name} = ${value} is outside [${min}, ${max}]` };
}

/** A number option: `fallback` when absent, else a finite number the rule accepts. */
export function numberOption(value: unknown, name: string, fallback: number, rule: NumberRule = FINITE): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw invalidArg(`${name} must be a number${rule.unit ? ` (${rule.unit})` : ''}`);
  if (!Number.isFinite(value) || !rule.accepts(value)) throw optionError(rule.refusal(name, value));
  return value;
}

/** An axis index in [-rank, rank), normalized to [0, rank). */
export function axisOption(value: unknown, name: string, fallback: number, rank: number): number {
  const axis = value === undefined ? fallback : value;
  if (typeof axis !== 'number') throw invalidArg(`${name} must be an integer`);
  if (!Number.isInteger(axis)) throw optionError(`${name} = ${axis} is not an integer`);
  if (axis < -rank || axis >= rank) throw optionError(`${name} = ${axis} is outside [${-rank}, ${rank}) for a rank-${rank} tensor`);
  return axis < 0 ? axis + rank : axis;
}

export function backendOption(value: unknown): Backend {
  return enumOption(value, 'backend', BACKENDS, 'auto');
}
