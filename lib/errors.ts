// The error codes of the spec: every invalid argument becomes a
// TypeError/RangeError (or Error for backends) carrying a stable `code` and a message that names
// the argument.
export const ErrorCode = {
  INVALID_ARG: 'ERR_FUSEDLOSS_INVALID_ARG',
  SHAPE: 'ERR_FUSEDLOSS_SHAPE',
  LABEL: 'ERR_FUSEDLOSS_LABEL',
  OPTION: 'ERR_FUSEDLOSS_OPTION',
  TOO_LARGE: 'ERR_FUSEDLOSS_TOO_LARGE',
  BACKEND: 'ERR_FUSEDLOSS_BACKEND',
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

export type FusedLossError = (TypeError | RangeError | Error) & { code: ErrorCodeValue };

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
