// Input adapters: everything a caller may pass for float data becomes a { data: Float32Array,
// shape } view.  Float32Array data is used without copying (unless it is shared with other
// threads); Float64Array and number[] are converted.  Accepted as-is: { data, shape },
// onnxruntime tensors ({ data, dims, type }) and TensorFlow.js tensors (anything with `shape` and
// `dataSync()`).  Each property and element is read once (read-once.ts).
import { invalidArg, shapeError, tooLarge, type FusedLossError } from './errors';
import { platform } from './platform';
import { copyTypedArray, describe, elementOnce, isDetachedView, lookup, ownIndicesOnly, plainFloat32, readArray, toFloat32, typedArrayName, type AnyTypedArray } from './read-once';

export interface Float32Tensor {
  data: Float32Array;
  shape: number[];
}

/**
 * An onnxruntime `Tensor` (onnxruntime-node, -web, -common), structurally: `data` is typed as
 * onnxruntime types it (any element type), and checked at run time: float inputs take 'float32'
 * (read in place) or 'float64' tensors, integer inputs (labels) 'int32' / 'int64' / any integer
 * type; the tensor must be on the CPU (location 'cpu' or 'cpu-pinned') and not disposed.
 */
export interface OrtTensorLike {
  /** The elements, row-major (onnxruntime's typed array; float32 data is read in place). */
  readonly data: ArrayLike<unknown>;
  /** The shape: positive integers whose product is the element count. */
  readonly dims: readonly number[];
  /** Element type: 'float32' or 'float64' for float inputs, an integer type ('int32', 'int64', ...) for labels. */
  readonly type: string;
  /** Where the data lives: 'cpu' or 'cpu-pinned' (or absent); GPU locations and 'none' (disposed) are rejected. */
  readonly location?: string;
}

/** A TensorFlow.js tensor, structurally (anything with `shape` and `dataSync()`). */
export interface TfTensorLike {
  /** The shape (TensorFlow.js): positive integers. */
  readonly shape: readonly number[];
  /** 'float32' for float inputs (tfjs's dtype); labels may be 'int32'. */
  readonly dtype?: string;
  /** A disposed tensor is rejected. */
  readonly isDisposed?: boolean;
  /** The elements, row-major (read once per call; no copy on tfjs's cpu backend). */
  dataSync(): ArrayLike<number>;
}

/** What the API accepts wherever the spec says "tensor-like". */
export type TensorLike =
  | {
      /** The elements, row-major: Float32Array (used without copying), Float64Array or number[] (converted). */
      data: Float32Array | Float64Array | readonly number[];
      /** The shape: positive integers whose product is data.length. */
      shape: readonly number[];
    }
  | {
      /** The elements, row-major: Float32Array (used without copying), Float64Array or number[] (converted). */
      data: Float32Array | Float64Array | readonly number[];
      /** The shape (onnxruntime's name): positive integers whose product is data.length. */
      dims: readonly number[];
      /** Element type, 'float32' or 'float64' for float inputs. Default: taken from `data`. */
      type?: string;
    }
  | OrtTensorLike
  | TfTensorLike;

/** Typed arrays accepted for labels and ids (their values must be integers in the int32 range). */
export type IntegerArrayLike =
  | Int32Array
  | readonly number[]
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | Float32Array
  | Float64Array;

/** What the API accepts wherever the spec says "vector". */
export type VectorLike = Float32Array | Float64Array | readonly number[] | TensorLike;

// The most elements one typed array may hold on this host (Node.js: buffer.constants.MAX_LENGTH).
const MAX_ELEMENTS = Math.min(Number.MAX_SAFE_INTEGER, platform.maxArrayLength);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/**
 * The data of an onnxruntime tensor ({ data, dims, type, location }), read once (`data` is a
 * getter returning the tensor's own typed array: no copy).  A tensor on a GPU ('gpu-buffer',
 * 'texture', 'ml-tensor') or disposed ('none') has no CPU data and its getter throws; that
 * becomes ERR_FUSEDLOSS_INVALID_ARG naming the argument.
 */
function ortTensorData(value: object, name: string): unknown {
  const location = lookup(value, 'location').value;
  if (location === 'none') throw invalidArg(`${name} is a disposed onnxruntime tensor`);
  if (location !== undefined && location !== 'cpu' && location !== 'cpu-pinned') {
    throw invalidArg(`${name} is an onnxruntime tensor on '${String(location)}': download it first (await tensor.getData()) or request CPU outputs`);
  }
  try {
    return lookup(value, 'data').value;
  } catch (error) {
    throw invalidArg(`${name}.data cannot be read: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** A tensor-like's fields, each read once: its kind, shape (as given), data (as given) and element type, if it says. */
export interface TensorFields {
  kind: 'tfjs' | 'ort' | 'plain';
  shape: unknown;
  data: unknown;
  /** tfjs `dtype` or onnxruntime `type`; undefined for { data, shape }. */
  dtype: unknown;
}

/**
 * Reads a tensor-like once: a TensorFlow.js tensor (`dataSync` a function and a `shape`; dataSync
 * called once), an onnxruntime tensor ({ data, dims }) or { data, shape }.  Properties count when
 * the object or its class has them, never when only Object.prototype does.
 */
export function readTensorFields(value: unknown, name: string, what: string): TensorFields {
  if (!isObject(value)) throw invalidArg(`${name} must be ${what}`);
  const dataSync = lookup(value, 'dataSync');
  const shape = lookup(value, 'shape');
  if (typeof dataSync.value === 'function' && shape.found) {
    const dtype = lookup(value, 'dtype').value;
    if (lookup(value, 'isDisposed').value === true) throw invalidArg(`${name} is a disposed tensor`);
    return { kind: 'tfjs', shape: shape.value, dtype, data: Reflect.apply(dataSync.value, value, []) };
  }
  const dims = lookup(value, 'dims');
  if (dims.found) {
    const dtype = lookup(value, 'type').value;
    return { kind: 'ort', shape: dims.value, dtype, data: ortTensorData(value, name) };
  }
  const data = lookup(value, 'data');
  if (!data.found || !shape.found) throw invalidArg(`${name} must be ${what}`);
  return { kind: 'plain', shape: shape.value, dtype: undefined, data: data.value };
}

/** Product of a shape, rejecting non-positive, fractional or overflowing dimensions. */
export function shapeSize(shape: readonly unknown[], name: string): number {
  let size = 1;
  // Check every dimension's type first, so `[2, 0.5]` is a shape error and `[2, 'x']` too.
  for (let axis = 0; axis < shape.length; axis++) {
    const dim = shape[axis];
    if (typeof dim !== 'number' || !Number.isInteger(dim) || dim < 1) {
      throw shapeError(`${name}[${axis}] = ${String(dim)} is not a positive integer`);
    }
  }
  for (const dim of shape as number[]) {
    size *= dim;
    if (size > MAX_ELEMENTS) throw tooLarge(`${name} describes more than ${MAX_ELEMENTS} elements, over what one float32 array can address`);
  }
  return size;
}

/** A shape (an array or a typed array of dimensions), read once into a plain array. */
export function readShape(shape: unknown, name: string): unknown[] {
  if (Array.isArray(shape)) return readArray(shape);
  const kind = typedArrayName(shape);
  if (kind !== undefined) {
    const dims = copyTypedArray(shape as AnyTypedArray);
    return Array.from(dims as ArrayLike<number | bigint>, (d) => (typeof d === 'bigint' ? Number(d) : d));
  }
  throw invalidArg(`${name} must be an array of positive integers, got ${describe(shape)}`);
}

export function detachedError(name: string): FusedLossError {
  return invalidArg(`${name} is backed by a detached ArrayBuffer`);
}

/**
 * Float data as a Float32Array the call may keep: a Float32Array is used in place (a plain view
 * of its memory, so a subclass's accessors play no part; copied when shared with other threads),
 * Float64Array and number[] are converted, each element read once.
 */
function floatData(data: unknown, name: string): Float32Array {
  const kind = typedArrayName(data);
  if (kind === 'Float32Array' || kind === 'Float64Array') {
    const view = data as Float32Array | Float64Array;
    if (isDetachedView(view)) throw detachedError(name);
    return kind === 'Float32Array' ? plainFloat32(view as Float32Array) : toFloat32(view);
  }
  if (kind !== undefined) throw invalidArg(`${name} must be a Float32Array, Float64Array or number[], got ${kind}`);
  if (!Array.isArray(data)) throw invalidArg(`${name} must be a Float32Array, Float64Array or number[], got ${describe(data)}`);
  const length = data.length;
  const ownOnly = ownIndicesOnly(data);
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    const v = elementOnce(data, i, ownOnly);
    if (typeof v !== 'number') throw invalidArg(`${name}[${i}] is not a number`);
    out[i] = v;
  }
  return out;
}

/** A float tensor from any accepted tensor-like. */
export function toTensor(value: unknown, name: string): Float32Tensor {
  if (Array.isArray(value) || typedArrayName(value) !== undefined) {
    throw invalidArg(`${name} must be a tensor-like { data, shape }, not a bare array`);
  }
  const fields = readTensorFields(value, name, 'a tensor-like { data, shape }');
  const isOrt = fields.kind === 'ort';
  if (fields.dtype !== undefined && fields.dtype !== 'float32' && !(isOrt && fields.dtype === 'float64')) {
    throw invalidArg(`${name} must be a float32${isOrt ? ' or float64' : ''} tensor, got ${isOrt ? 'type' : 'dtype'} ${String(fields.dtype)}`);
  }
  const shape = readShape(fields.shape, `${name}.shape`);
  if (shape.length === 0) throw shapeError(`${name}.shape must have at least one axis`);
  const size = shapeSize(shape, `${name}.shape`);
  const data = floatData(fields.data, `${name}.data`);
  if (data.length !== size) {
    throw shapeError(`${name}.data has ${data.length} elements but shape [${shape.join(', ')}] needs ${size}`);
  }
  return { data, shape: shape as number[] };
}

/** A float vector (typed array, number[] or tensor-like), flattened. */
export function toVector(value: unknown, name: string): Float32Tensor {
  const kind = typedArrayName(value);
  if (kind !== undefined || Array.isArray(value)) {
    const data = floatData(value, name);
    if (data.length === 0) throw shapeError(`${name} is empty`);
    return { data, shape: [data.length] };
  }
  return toTensor(value, name);
}

/** A float tensor of rank 2; `layout` ('[N, D]', '[M, D]', 'rank 2') is what the refusal asks for. */
export function toMatrix(value: unknown, name: string, layout = '[N, D]'): Float32Tensor {
  const tensor = toTensor(value, name);
  if (tensor.shape.length !== 2) throw shapeError(`${name} must be ${layout}, got shape [${tensor.shape.join(', ')}]`);
  return tensor;
}

/** The refusal of `count` values where one per `per` (`expected` in all) is needed. */
export function perRowError(name: string, count: number, expected: number, per = 'row'): FusedLossError {
  return shapeError(`${name} has ${count} values, expected one per ${per} (${expected})`);
}

/** A float vector of one value per row (`rows` values). */
export function toRowVector(value: unknown, name: string, rows: number): Float32Array {
  const vector = toVector(value, name).data;
  if (vector.length !== rows) throw perRowError(name, vector.length, rows);
  return vector;
}

/**
 * `data` once every argument of the call has been read: a Float32Array used in place is empty
 * when a getter or dataSync that ran after it was converted detached (transferred) or shrank its
 * buffer.  The kernels never see such an array.
 */
export function stillAttached(data: Float32Array, name: string): Float32Array {
  if (data.length === 0) {
    throw invalidArg(`${name} was detached or shrunk while the call's arguments were read (a getter or dataSync transferred its buffer); keep it attached until the call returns`);
  }
  return data;
}
