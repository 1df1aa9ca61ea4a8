// Integer inputs (labels, class ids): Int32Array, number[] of integers, any integer typed array
// (BigInt64Array from onnxruntime's int64 tensors included), or a tensor-like of integers
// (TensorFlow.js int32 tensors; float data whose values are all integers, as labels often are).
import { invalidArg, shapeError } from './errors';
import { isDetached, ortTensorData, shapeSize } from './tensor';

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;

function integerData(data: unknown, name: string): Int32Array {
  if (ArrayBuffer.isView(data) && !(data instanceof DataView)) {
    if (isDetached(data.buffer)) throw invalidArg(`${name} is backed by a detached ArrayBuffer`);
  } else if (!Array.isArray(data)) {
    throw invalidArg(`${name} must be an Int32Array, an integer typed array or number[]`);
  }
  if (data instanceof Int32Array) return data;
  const values = data as ArrayLike<number | bigint>;
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const raw = values[i];
    const v = typeof raw === 'bigint' ? Number(raw) : raw;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < INT32_MIN || v > INT32_MAX) {
      throw invalidArg(`${name}[${i}] = ${String(raw)} is not an integer`);
    }
    out[i] = v;
  }
  return out;
}

/** A flat Int32Array from any accepted integer vector. */
export function toLabels(value: unknown, name: string): Int32Array {
  if (typeof value !== 'object' || value === null) throw invalidArg(`${name} must be an Int32Array, number[] or tensor-like of integers`);
  let data: unknown = value;
  const tensor = value as Record<string, unknown>;
  if (!Array.isArray(value) && !ArrayBuffer.isView(value)) {
    let shape: unknown;
    if (typeof tensor.dataSync === 'function' && 'shape' in tensor) {
      if (tensor.isDisposed === true) throw invalidArg(`${name} is a disposed tensor`);
      shape = tensor.shape;
      data = (tensor.dataSync as () => unknown)();
    } else if ('data' in tensor && ('shape' in tensor || 'dims' in tensor)) {
      shape = 'shape' in tensor ? tensor.shape : tensor.dims;
      data = 'shape' in tensor ? tensor.data : ortTensorData(tensor, name);
    } else {
      throw invalidArg(`${name} must be an Int32Array, number[] or tensor-like of integers`);
    }
    if (!Array.isArray(shape)) throw invalidArg(`${name}.shape must be an array of positive integers`);
    const size = shapeSize(shape, `${name}.shape`);
    const labels = integerData(data, `${name}.data`);
    if (labels.length !== size) throw shapeError(`${name}.data has ${labels.length} elements but shape [${shape.join(', ')}] needs ${size}`);
    return labels;
  }
  const labels = integerData(data, name);
  if (labels.length === 0) throw shapeError(`${name} is empty`);
  return labels;
}
