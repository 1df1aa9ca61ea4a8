// The spec's error table as test helpers: the codes and their classes, and a check that a call
// throws (sync form) and rejects without a synchronous throw (async form) with the right class,
// code and a message naming the argument.  Shared by every kernel's errors test.
export type Code =
  | 'ERR_FUSEDLOSS_INVALID_ARG'
  | 'ERR_FUSEDLOSS_SHAPE'
  | 'ERR_FUSEDLOSS_LABEL'
  | 'ERR_FUSEDLOSS_OPTION'
  | 'ERR_FUSEDLOSS_TOO_LARGE'
  | 'ERR_FUSEDLOSS_BACKEND';
export const INVALID: Code = 'ERR_FUSEDLOSS_INVALID_ARG';
export const SHAPE: Code = 'ERR_FUSEDLOSS_SHAPE';
export const LABEL: Code = 'ERR_FUSEDLOSS_LABEL';
export const OPTION: Code = 'ERR_FUSEDLOSS_OPTION';
export const TOO_LARGE: Code = 'ERR_FUSEDLOSS_TOO_LARGE';
export const BACKEND: Code = 'ERR_FUSEDLOSS_BACKEND';

export const CLASS: Record<Code, ErrorConstructor | TypeErrorConstructor | RangeErrorConstructor> = {
  ERR_FUSEDLOSS_INVALID_ARG: TypeError,
  ERR_FUSEDLOSS_SHAPE: RangeError,
  ERR_FUSEDLOSS_LABEL: RangeError,
  ERR_FUSEDLOSS_OPTION: RangeError,
  ERR_FUSEDLOSS_TOO_LARGE: RangeError,
  ERR_FUSEDLOSS_BACKEND: Error,
};

/** One row of a bad-input table. */
export interface ErrorRow {
  what: string;
  args: () => unknown;
  code: Code;
  /** The message must name this argument. */
  names: string;
  /** The row sets backend itself (don't add one). */
  ownBackend?: boolean;
  /** args is not an object: run as is. */
  raw?: boolean;
}

export interface Caught {
  error: unknown;
}

export function catchSync(fn: () => unknown): Caught | null {
  try {
    fn();
    return null;
  } catch (error) {
    return { error };
  }
}

/** The error `fn` throws, or its returned Promise rejects with (a raw addon call, sync or async). */
export async function catchRaw(fn: () => unknown): Promise<Caught | null> {
  try {
    const value = fn();
    if (value instanceof Promise) return await value.then(() => null, (error: unknown) => ({ error }));
    return null;
  } catch (error) {
    return { error };
  }
}

export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return `non-error ${String(error)}`;
  return `${error.constructor.name} ${(error as { code?: string }).code}: ${error.message}`;
}

/** Failures of one caught error against the expected code and the argument it must name (null: any message). */
export function checkError(caught: Caught | null, code: Code, names: string | null, label: string): string[] {
  if (!caught) return [`${label}: did not throw`];
  const error = caught.error as Error & { code?: string };
  if (!(error instanceof Error)) return [`${label}: threw ${describeError(error)}`];
  const failures: string[] = [];
  if (error.code !== code || error.constructor !== CLASS[code]) failures.push(`${label}: ${describeError(error)}; expected ${CLASS[code].name} ${code}`);
  if (names && !error.message.includes(names)) failures.push(`${label}: message "${error.message}" does not name ${names}`);
  return failures;
}

/** The sync form must throw, the async form must return a Promise that rejects (never throw); both alike. */
export async function checkBothForms(
  name: string,
  sync: () => unknown,
  async: () => unknown,
  code: Code,
  names: string | null,
): Promise<string[]> {
  const failures = checkError(catchSync(sync), code, names, name);
  let promise: unknown;
  const thrown = catchSync(() => {
    promise = async();
  });
  if (thrown) failures.push(`${name}Async threw synchronously: ${describeError(thrown.error)}`);
  else if (!(promise instanceof Promise)) failures.push(`${name}Async did not return a Promise`);
  else failures.push(...checkError(await promise.then(() => null, (error: unknown) => ({ error })), code, names, `${name}Async`));
  return failures;
}
