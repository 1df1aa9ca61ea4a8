// Reading the caller's objects once.  Every property an option object, tensor-like or array
// supplies is read exactly once and only the value read is used afterwards, so getters, Proxies
// and other threads writing shared memory cannot make validation and use see different values.
// Typed arrays are examined through the built-in accessors captured here (no caller code runs:
// a Proxy or a subclass cannot pass for a typed array or lie about its length).
import { platform } from './platform';

const TypedArrayPrototype = Object.getPrototypeOf(Int8Array.prototype) as object;

function intrinsicGetter(prototype: object, key: PropertyKey): (this: unknown) => unknown {
  const get = Reflect.getOwnPropertyDescriptor(prototype, key)?.get;
  if (!get) throw new Error(`fusedloss: this JavaScript engine has no ${String(key)} accessor on typed arrays`);
  return get;
}

const tagOf = intrinsicGetter(TypedArrayPrototype, Symbol.toStringTag);
const lengthOf = intrinsicGetter(TypedArrayPrototype, 'length');
const bufferOf = intrinsicGetter(TypedArrayPrototype, 'buffer');
const byteOffsetOf = intrinsicGetter(TypedArrayPrototype, 'byteOffset');
const typedArraySet = (TypedArrayPrototype as { set: (source: ArrayLike<unknown>, offset?: number) => void }).set;

/** The typed array classes by name, captured at load (a later reassignment of the globals changes nothing). */
const TYPED_ARRAYS = {
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
} as const;
export type TypedArrayName = keyof typeof TYPED_ARRAYS;
export type AnyTypedArray =
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

/** The class name of a real typed array ('Float32Array', ...); undefined for anything else, Proxies included. */
export function typedArrayName(value: unknown): TypedArrayName | undefined {
  return tagOf.call(value) as TypedArrayName | undefined;
}

/** The element count of a real typed array, from its internal slots (0 when detached or out of bounds). */
export function typedArrayLength(view: AnyTypedArray): number {
  return lengthOf.call(view) as number;
}

/** Whether a real typed array's buffer is a SharedArrayBuffer (another thread may write it at any time). */
export function isShared(view: AnyTypedArray): boolean {
  return platform.isSharedArrayBuffer(bufferOf.call(view));
}

/** Whether a real typed array's buffer is detached (transferred away). */
export function isDetachedView(view: AnyTypedArray): boolean {
  const buffer = bufferOf.call(view) as ArrayBufferLike;
  if (platform.isSharedArrayBuffer(buffer) || (buffer as ArrayBuffer).byteLength !== 0) return false;
  try {
    new Uint8Array(buffer);
    return false;
  } catch {
    return true;
  }
}

// Node 20 has resizable ArrayBuffers; an engine without them has no such getter.
const resizableOf = Reflect.getOwnPropertyDescriptor(ArrayBuffer.prototype, 'resizable')?.get;

/** Whether a real typed array's buffer is a resizable ArrayBuffer (a resize may move or shrink its memory). */
export function isResizable(view: AnyTypedArray): boolean {
  const buffer = bufferOf.call(view);
  return resizableOf !== undefined && !platform.isSharedArrayBuffer(buffer) && resizableOf.call(buffer) === true;
}

/** A plain typed array of the same class over the same memory (no copy; a subclass's methods play no part). */
export function plainView<T extends AnyTypedArray>(view: T): T {
  const name = typedArrayName(view) as TypedArrayName;
  return new TYPED_ARRAYS[name](bufferOf.call(view) as ArrayBuffer, byteOffsetOf.call(view) as number, typedArrayLength(view)) as T;
}

/** The memory a real typed array spans: its buffer and byte range [start, end). */
export function memoryOf(view: AnyTypedArray): { buffer: ArrayBufferLike; start: number; end: number } {
  const start = byteOffsetOf.call(view) as number;
  return { buffer: bufferOf.call(view) as ArrayBufferLike, start, end: start + typedArrayLength(view) * TYPED_ARRAYS[typedArrayName(view) as TypedArrayName].BYTES_PER_ELEMENT };
}

/** A private, unshared copy of a real typed array, of the same class (no caller code runs). */
export function copyTypedArray<T extends AnyTypedArray>(view: T): T {
  const name = typedArrayName(view) as TypedArrayName;
  const copy = new TYPED_ARRAYS[name](typedArrayLength(view)) as T;
  typedArraySet.call(copy, view);
  return copy;
}

/** A real typed array converted element by element into a new Float32Array (no caller code runs). */
export function toFloat32(view: Float64Array | Float32Array): Float32Array {
  const out = new Float32Array(typedArrayLength(view));
  typedArraySet.call(out, view);
  return out;
}

/**
 * A plain Float32Array over the same memory as `view` (a real Float32Array, maybe of a subclass
 * with its own accessors), without copying; a copy when the memory is shared with other threads,
 * so that a kernel reads one snapshot.
 */
export function plainFloat32(view: Float32Array): Float32Array {
  if (isShared(view)) return copyTypedArray<Float32Array>(view);
  return new Float32Array(bufferOf.call(view) as ArrayBuffer, byteOffsetOf.call(view) as number, typedArrayLength(view));
}

const INDEX_KEY = /^(?:0|[1-9][0-9]*)$/;

/**
 * Whether `array[i]` can only read the array's own elements: it is no Proxy and no prototype on
 * its chain holds an index (so a hole reads undefined, not a value a prototype supplies).
 * Checked once per array, so the loops over elements stay plain indexed reads.
 */
export function ownIndicesOnly(array: readonly unknown[]): boolean {
  if (platform.isProxy(array)) return false;
  for (let proto = Reflect.getPrototypeOf(array); proto !== null; proto = Reflect.getPrototypeOf(proto)) {
    if (platform.isProxy(proto) || Reflect.ownKeys(proto).some((key) => typeof key === 'string' && INDEX_KEY.test(key))) return false;
  }
  return true;
}

/**
 * Element `index` of an array (a Proxy around one too), read once; a hole gives undefined,
 * whatever a prototype holds at that index.  `ownOnly`: ownIndicesOnly(array), checked once.
 */
export function elementOnce(array: readonly unknown[], index: number, ownOnly: boolean): unknown {
  return ownOnly || Object.hasOwn(array, index) ? array[index] : undefined;
}

/** The elements of an array, each read once (`length` once, then elementOnce). */
export function readArray(array: readonly unknown[]): unknown[] {
  const length = array.length;
  const ownOnly = ownIndicesOnly(array);
  const out = new Array<unknown>(length);
  for (let i = 0; i < length; i++) out[i] = elementOnce(array, i, ownOnly);
  return out;
}

/**
 * `key` of `obj`, read once: from the object itself or a prototype below the root of its chain
 * (a class's getters and methods: onnxruntime's `data`, TensorFlow.js's `dataSync`), never from
 * the root, which is Object.prototype (of whichever realm), so a polluted Object.prototype
 * supplies nothing.  `found` is false when nothing but the root has the key.
 */
export function lookup(obj: object, key: string): { found: boolean; value: unknown } {
  let holder: object | null = obj;
  while (holder !== null) {
    const parent: object | null = Reflect.getPrototypeOf(holder);
    if (parent === null && holder !== obj) break;
    if (Reflect.getOwnPropertyDescriptor(holder, key) !== undefined) return { found: true, value: Reflect.get(obj, key) };
    holder = parent;
  }
  return { found: false, value: undefined };
}

/** What a value is, for messages, without running any of its code. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  if (platform.isProxy(value)) return 'a Proxy';
  if (Array.isArray(value)) return 'an Array';
  return typedArrayName(value) ?? (platform.isArrayBuffer(value) || platform.isSharedArrayBuffer(value) ? 'an ArrayBuffer' : 'an object');
}
