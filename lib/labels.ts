// Integer inputs (labels, class ids, self indices): Int32Array, number[] of integers, any integer
// typed array (BigInt64Array from onnxruntime's int64 tensors included), or a tensor-like of
// integers (TensorFlow.js int32 tensors; float data whose values are all integers, as labels often
// are).  Whatever the input, the result is a private Int32Array: copied first, then validated,
// then the only thing used, so a thread writing shared memory or a getter cannot change the
// values between their check and their use.
import { invalidArg, labelError, shapeError } from './errors';
import { copyTypedArray, describe, elementOnce, isDetachedView, ownIndicesOnly, typedArrayName, type AnyTypedArray } from './read-once';
import { detachedError, perRowError, readShape, readTensorFields, shapeSize, type IntegerArrayLike, type OrtTensorLike, type TfTensorLike } from './tensor';

/**
 * Integer labels or ids (int32 range): Int32Array (used as is), number[] of integers, another
 * integer typed array (BigInt64Array from int64 tensors too), or a tensor-like of integers.
 */
export type LabelsLike =
  | IntegerArrayLike
  | {
      /** The labels: an integer typed array or number[]. */
      data: IntegerArrayLike;
      /** The shape: positive integers whose product is data.length. */
      shape: readonly number[];
    }
  | OrtTensorLike
  | TfTensorLike;

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;

/** The values as a new Int32Array: a snapshot of the caller's array, validated element by element. */
function integerData(data: unknown, name: string): Int32Array {
  const kind = typedArrayName(data);
  if (kind === undefined && !Array.isArray(data)) {
    throw invalidArg(`${name} must be an Int32Array, an integer typed array or number[], got ${describe(data)}`);
  }
  let copy: AnyTypedArray | null = null;
  if (kind !== undefined) {
    if (isDetachedView(data as AnyTypedArray)) throw detachedError(name);
    copy = copyTypedArray(data as AnyTypedArray);
    if (kind === 'Int32Array') return copy as Int32Array;
  }
  const length = copy ? copy.length : (data as unknown[]).length;
  const ownOnly = copy !== null || ownIndicesOnly(data as unknown[]);
  const out = new Int32Array(length);
  for (let i = 0; i < length; i++) {
    const raw = copy ? copy[i] : elementOnce(data as unknown[], i, ownOnly);
    const v = typeof raw === 'bigint' ? Number(raw) : raw;
    if (typeof v !== 'number' || !Number.isInteger(v)) throw invalidArg(`${name}[${i}] = ${String(raw)} is not an integer`);
    if (v < INT32_MIN || v > INT32_MAX) throw labelError(`${name}[${i}] = ${String(raw)} is outside the int32 range labels and ids are held in`);
    out[i] = v;
  }
  return out;
}

/** toLabels of one label per `per` (`rows` in all). */
export function toRowLabels(value: unknown, name: string, rows: number, per: string): Int32Array {
  const labels = toLabels(value, name);
  if (labels.length !== rows) throw perRowError(name, labels.length, rows, per);
  return labels;
}

/** A flat, private Int32Array from any accepted integer vector. */
export function toLabels(value: unknown, name: string): Int32Array {
  if (Array.isArray(value) || typedArrayName(value) !== undefined) {
    const labels = integerData(value, name);
    if (labels.length === 0) throw shapeError(`${name} is empty`);
    return labels;
  }
  const fields = readTensorFields(value, name, 'an Int32Array, number[] or tensor-like of integers');
  const shape = readShape(fields.shape, `${name}.shape`);
  const size = shapeSize(shape, `${name}.shape`);
  const labels = integerData(fields.data, `${name}.data`);
  if (labels.length !== size) throw shapeError(`${name}.data has ${labels.length} elements but shape [${shape.join(', ')}] needs ${size}`);
  return labels;
}
