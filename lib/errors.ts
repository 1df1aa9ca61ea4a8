// The error codes of the spec: every invalid argument becomes a
// TypeError/RangeError (or Error for backends) carrying a stable `code` and a message that names
// the argument.
/** The stable `code` of every error fusedloss throws or rejects with (the spec's error table). */
export const ErrorCode = {
  /** TypeError: a required argument missing, a wrong type (not a tensor-like, a detached buffer, non-integer labels), an unknown option key. */
  INVALID_ARG: 'ERR_FUSEDLOSS_INVALID_ARG',
  /** RangeError: a bad shape, a data length that does not match it, shapes that do not fit together, too few members or rows. */
  SHAPE: 'ERR_FUSEDLOSS_SHAPE',
  /** RangeError: a label or index out of range (labels, classIndices, selfIndex), a label missing from classIndices, a repeated class id. */
  LABEL: 'ERR_FUSEDLOSS_LABEL',
  /** RangeError: an option value outside its documented range or set, or given with a mode it does not apply to. */
  OPTION: 'ERR_FUSEDLOSS_OPTION',
  /** RangeError: sizes beyond 2^53 or addressable memory, or an output over its cap (maxOutputs). */
  TOO_LARGE: 'ERR_FUSEDLOSS_TOO_LARGE',
  /** Error: a known backend that is not available here (e.g. 'cuda' without a device). */
  BACKEND: 'ERR_FUSEDLOSS_BACKEND',
} as const;

/** One of the ErrorCode values, 'ERR_FUSEDLOSS_…'. */
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/** An error from fusedloss: TypeError (INVALID_ARG), Error (BACKEND) or RangeError (the others), with its code. */
export type FusedLossError = (TypeError | RangeError | Error) & {
  /** The stable error code; compare with ErrorCode. */
  code: ErrorCodeValue;
};

export function fusedLossError(code: ErrorCodeValue, message: string): FusedLossError {
  const error =
    code === ErrorCode.INVALID_ARG ? new TypeError(message) : code === ErrorCode.BACKEND ? new Error(message) : new RangeError(message);
  return Object.assign(error, { code });
}

export function invalidArg(message: string): FusedLossError {
  return fusedLossError(ErrorCode.INVALID_ARG, message);
}
export function shapeError(message: string): FusedLossError {
  return fusedLossError(ErrorCode.SHAPE, message);
}
export function labelError(message: string): FusedLossError {
  return fusedLossError(ErrorCode.LABEL, message);
}
export function optionError(message: string): FusedLossError {
  return fusedLossError(ErrorCode.OPTION, message);
}
export function tooLarge(message: string): FusedLossError {
  return fusedLossError(ErrorCode.TOO_LARGE, message);
}
export function backendError(message: string): FusedLossError {
  return fusedLossError(ErrorCode.BACKEND, message);
}

/** The first line of a thrown value's message: what load failures quote of their cause. */
export function firstLine(error: unknown): string {
  return error instanceof Error ? error.message.split('\n')[0] : String(error);
}
