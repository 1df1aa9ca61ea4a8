// onnxruntime interop.  Every kernel already takes onnxruntime tensors as inputs (CPU float32 or
// float64 data, int32 / int64 labels; float32 data is read in place, not copied).  The other
// direction is toOrtTensor(): a result array (scores, gradients, mined indices) as an
// onnxruntime Tensor, to feed back into an InferenceSession.  The onnxruntime namespace is passed
// in (`require('onnxruntime-node')`, onnxruntime-web, onnxruntime-react-native...), so fusedloss
// neither depends on nor loads any onnxruntime package itself.
import { invalidArg, shapeError } from './errors';
import { isDetached, shapeSize } from './tensor';

/** The element types toOrtTensor() maps, by typed-array class. */
export type OrtTensorType = 'float32' | 'float64' | 'int32' | 'int64' | 'uint8' | 'int8' | 'uint16' | 'int16' | 'uint32' | 'uint64';

/** The part of an onnxruntime namespace toOrtTensor() uses: its Tensor constructor. */
export interface OrtNamespace<T> {
  /**
   * onnxruntime's Tensor constructor, called as new Tensor(type, data, dims).  (`data: never`:
   * the real constructor is overloaded per element type, and any such constructor is assignable
   * to this one; toOrtTensor() pairs each array with its own type.)
   */
  Tensor: new (type: OrtTensorType, data: never, dims?: readonly number[]) => T;
}

/** Typed arrays toOrtTensor() accepts: the result arrays of every kernel, and the usual input types. */
export type OrtCompatibleArray =
  | Float32Array
  | Float64Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | BigUint64Array;

function ortType(array: unknown): OrtTensorType | undefined {
  if (array instanceof Float32Array) return 'float32';
  if (array instanceof Float64Array) return 'float64';
  if (array instanceof Int32Array) return 'int32';
  if (array instanceof BigInt64Array) return 'int64';
  if (array instanceof Uint8Array) return 'uint8';
  if (array instanceof Int8Array) return 'int8';
  if (array instanceof Uint16Array) return 'uint16';
  if (array instanceof Int16Array) return 'int16';
  if (array instanceof Uint32Array) return 'uint32';
  if (array instanceof BigUint64Array) return 'uint64';
  return undefined;
}

/**
 * `array` as an onnxruntime Tensor of the given shape, without copying: the tensor views the same
 * memory (writing one changes the other).  The element type follows the array: Float32Array →
 * 'float32', Int32Array → 'int32' (mined indices, predictions), BigInt64Array → 'int64', and so on.
 *
 * @param ort   the onnxruntime namespace, e.g. `require('onnxruntime-node')`.
 * @param array the data, row-major.
 * @param shape the dims; default `[array.length]`.  Their product must equal `array.length`.
 * @throws ERR_FUSEDLOSS_INVALID_ARG for a missing namespace, an unsupported or detached array;
 *         ERR_FUSEDLOSS_SHAPE for a bad shape or a length that does not match it.
 */
export function toOrtTensor<T>(ort: OrtNamespace<T>, array: OrtCompatibleArray, shape?: readonly number[]): T {
  if (typeof ort !== 'object' || ort === null || typeof ort.Tensor !== 'function') {
    throw invalidArg('ort must be an onnxruntime namespace with a Tensor constructor (e.g. require(\'onnxruntime-node\'))');
  }
  const type = ortType(array);
  if (type === undefined) {
    const got = typeof array === 'object' && array !== null ? (array as object).constructor.name : typeof array;
    throw invalidArg(`array must be a typed array (Float32Array, Int32Array, BigInt64Array, ...), got ${got}`);
  }
  if (isDetached(array.buffer)) throw invalidArg('array is backed by a detached ArrayBuffer');
  if (shape !== undefined && !Array.isArray(shape)) throw invalidArg('shape must be an array of positive integers');
  const dims: unknown[] = shape === undefined ? [array.length] : [...shape];
  const size = dims.length === 0 ? 1 : shapeSize(dims, 'shape');
  if (size !== array.length) {
    throw shapeError(`array has ${array.length} elements but shape [${dims.join(', ')}] needs ${size}`);
  }
  return new ort.Tensor(type, array as never, dims as number[]);
}
