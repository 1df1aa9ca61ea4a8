// Option checks shared by every kernel's validation (the spec's error table): unknown keys at any
// depth, enums, numbers in range, booleans, integer axes.
import { invalidArg, optionError } from './errors';
import { lookup } from './read-once';

/**
 * Where a call runs: 'auto' (default: FUSEDLOSS_BACKEND when set, else CUDA when built and a device
 * is present, else native CPU, else TypeScript), 'cuda', 'cpu' (native addon) or 'js' (TypeScript).
 * An unavailable explicit backend throws ERR_FUSEDLOSS_BACKEND.
 */
export type Backend = 'auto' | 'cuda' | 'cpu' | 'js';
export const BACKENDS: readonly Backend[] = ['auto', 'cuda', 'cpu', 'js'];

export function checkArgsObject(args: unknown, fn: string): Record<string, unknown> {
  if (typeof args !== 'object' || args === null || Array.isArray(args)) {
    throw invalidArg(`${fn}: args must be an options object`);
  }
  return args as Record<string, unknown>;
}

export function checkKnownKeys(obj: Record<string, unknown>, allowed: readonly string[], name: string): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) throw invalidArg(`${name}: unknown option '${key}' (known: ${allowed.join(', ')})`);
  }
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

export function numberOption(value: unknown, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw invalidArg(`${name} must be a number`);
  if (!(value >= min && value <= max)) throw optionError(`${name} = ${value} is outside [${min}, ${max}]`);
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
