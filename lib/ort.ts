// onnxruntime interop.  Every kernel already takes onnxruntime tensors as inputs (CPU float32 or
// float64 data, int32 / int64 labels; float32 data is read in place, not copied).  The other
// direction is toOrtTensor(): a result array (scores, gradients, mined indices) as an
// onnxruntime Tensor, to feed back into an InferenceSession.  The onnxruntime namespace is passed
// in (`require('onnxruntime-node')`, onnxruntime-web, onnxruntime-react-native...), so fusedloss
// neither depends on nor loads any onnxruntime package itself.
import { invalidArg, shapeError } from './errors';
import { describe, isDetachedView, lookup, typedArrayLength, typedArrayName, type AnyTypedArray, type TypedArrayName } from './read-once';
import { detachedError, readShape, shapeSize } from './tensor';

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

const ORT_TYPES: Partial<Record<TypedArrayName, OrtTensorType>> = {
  Float32Array: 'float32',
  Float64Array: 'float64',
  Int32Array: 'int32',
  BigInt64Array: 'int64',
  Uint8Array: 'uint8',
  Int8Array: 'int8',
  Uint16Array: 'uint16',
  Int16Array: 'int16',
  Uint32Array: 'uint32',
  BigUint64Array: 'uint64',
};

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
  const Tensor = typeof ort === 'object' && ort !== null ? lookup(ort, 'Tensor').value : undefined;
  if (typeof Tensor !== 'function') {
    throw invalidArg('ort must be an onnxruntime namespace with a Tensor constructor (e.g. require(\'onnxruntime-node\'))');
  }
  const kind = typedArrayName(array);
  const type = kind === undefined ? undefined : ORT_TYPES[kind];
  if (type === undefined) {
    throw invalidArg(`array must be a typed array (Float32Array, Int32Array, BigInt64Array, ...), got ${kind ?? describe(array)}`);
  }
  if (isDetachedView(array as AnyTypedArray)) throw detachedError('array');
  const length = typedArrayLength(array as AnyTypedArray);
  const dims = shape === undefined ? [length] : readShape(shape, 'shape');
  const size = dims.length === 0 ? 1 : shapeSize(dims, 'shape');
  if (size !== length) {
    throw shapeError(`array has ${length} elements but shape [${dims.join(', ')}] needs ${size}`);
  }
  return new (Tensor as OrtNamespace<T>['Tensor'])(type, array as never, dims as number[]);
}
