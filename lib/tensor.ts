// Input adapters: everything a caller may pass for float data becomes a { data: Float32Array,
// shape } view.  Float32Array data is used without copying; Float64Array and number[] are
// converted.  Accepted as-is: { data, shape }, onnxruntime tensors ({ data, dims, type }) and
// TensorFlow.js tensors (anything with `shape` and `dataSync()`).
import { constants as bufferConstants } from 'node:buffer';

import { invalidArg, shapeError, tooLarge } from './errors';

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

// The most elements one typed array may hold in this Node.js (buffer.constants.MAX_LENGTH).
const MAX_ELEMENTS = Math.min(Number.MAX_SAFE_INTEGER, bufferConstants.MAX_LENGTH);

export function isDetached(buffer: ArrayBufferLike): boolean {
  if (buffer.byteLength !== 0 || typeof SharedArrayBuffer !== 'undefined' && buffer instanceof SharedArrayBuffer) return false;
  try {
    new Uint8Array(buffer);
    return false;
  } catch {
    return true;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/**
 * The data of an onnxruntime tensor ({ data, dims, type, location }), read once (`data` is a
 * getter returning the tensor's own typed array: no copy).  A tensor on a GPU ('gpu-buffer',
 * 'texture', 'ml-tensor') or disposed ('none') has no CPU data and its getter throws; that
 * becomes ERR_FUSEDLOSS_INVALID_ARG naming the argument.
 */
export function ortTensorData(value: Record<string, unknown>, name: string): unknown {
  const location = value.location;
  if (location === 'none') throw invalidArg(`${name} is a disposed onnxruntime tensor`);
  if (location !== undefined && location !== 'cpu' && location !== 'cpu-pinned') {
    throw invalidArg(`${name} is an onnxruntime tensor on '${String(location)}': download it first (await tensor.getData()) or request CPU outputs`);
  }
  try {
    return value.data;
  } catch (error) {
    throw invalidArg(`${name}.data cannot be read: ${error instanceof Error ? error.message : String(error)}`);
  }
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

function floatData(data: unknown, name: string): Float32Array {
  if (data instanceof Float32Array) {
    if (isDetached(data.buffer)) throw invalidArg(`${name} is backed by a detached ArrayBuffer`);
    return data;
  }
  if (data instanceof Float64Array) {
    if (isDetached(data.buffer)) throw invalidArg(`${name} is backed by a detached ArrayBuffer`);
    return Float32Array.from(data);
  }
  if (ArrayBuffer.isView(data)) {
    throw invalidArg(`${name} must be a Float32Array, Float64Array or number[], got ${data.constructor.name}`);
  }
  if (Array.isArray(data)) {
    const out = new Float32Array(data.length);
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (typeof v !== 'number') throw invalidArg(`${name}[${i}] is not a number`);
      out[i] = v;
    }
    return out;
  }
  throw invalidArg(`${name} must be a Float32Array, Float64Array or number[]`);
}

function shapeArray(shape: unknown, name: string): unknown[] {
  if (!Array.isArray(shape) && !(ArrayBuffer.isView(shape) && !(shape instanceof DataView))) {
    throw invalidArg(`${name} must be an array of positive integers`);
  }
  return Array.from(shape as ArrayLike<unknown>);
}

/** A float tensor from any accepted tensor-like. */
export function toTensor(value: unknown, name: string): Float32Tensor {
  if (!isObject(value)) throw invalidArg(`${name} must be a tensor-like { data, shape }`);
  if (ArrayBuffer.isView(value) || Array.isArray(value)) {
    throw invalidArg(`${name} must be a tensor-like { data, shape }, not a bare array`);
  }
  let rawShape: unknown;
  let rawData: unknown;
  if (typeof value.dataSync === 'function' && 'shape' in value) {
    rawShape = value.shape; // TensorFlow.js
    const dtype = value.dtype;
    if (dtype !== undefined && dtype !== 'float32') throw invalidArg(`${name} must be a float32 tensor, got dtype ${String(dtype)}`);
    if (value.isDisposed === true) throw invalidArg(`${name} is a disposed tensor`);
    rawData = (value.dataSync as () => unknown)();
  } else if ('dims' in value && 'data' in value) {
    rawShape = value.dims; // onnxruntime
    if (value.type !== undefined && value.type !== 'float32' && value.type !== 'float64') {
      throw invalidArg(`${name} must be a float32 or float64 tensor, got type ${String(value.type)}`);
    }
    rawData = ortTensorData(value, name);
  } else if ('data' in value && 'shape' in value) {
    rawShape = value.shape;
    rawData = value.data;
  } else {
    throw invalidArg(`${name} must be a tensor-like { data, shape }`);
  }
  const shape = shapeArray(rawShape, `${name}.shape`);
  if (shape.length === 0) throw shapeError(`${name}.shape must have at least one axis`);
  const size = shapeSize(shape, `${name}.shape`);
  const data = floatData(rawData, `${name}.data`);
  if (data.length !== size) {
    throw shapeError(`${name}.data has ${data.length} elements but shape [${shape.join(', ')}] needs ${size}`);
  }
  return { data, shape: shape as number[] };
}

/** A float vector (typed array, number[] or tensor-like), flattened. */
export function toVector(value: unknown, name: string): Float32Tensor {
  if (value instanceof Float32Array || value instanceof Float64Array || Array.isArray(value)) {
    const data = floatData(value, name);
    if (data.length === 0) throw shapeError(`${name} is empty`);
    return { data, shape: [data.length] };
  }
  if (ArrayBuffer.isView(value)) floatData(value, name); // throws the dtype error
  return toTensor(value, name);
}
