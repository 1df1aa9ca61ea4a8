// Compile-time rejection of misspelled options. The entry points are generic in their argument
// (`crps<A extends CrpsArgs>(args: A)`) so that the result type follows the call; a generic
// parameter turns off TypeScript's excess-property check, so `estimater: 'fair'` would compile and
// only fail at run time. `Exact<A, Shape>` puts the check back: every key of A that Shape does not
// know becomes `never`. A is still inferred from the argument alone (literal `gradients: true`,
// `miner: { type: 'batch-hard' }` and so on): the top-level check is a plain mapping over keyof A,
// which inference sees through, and the nested checks sit in NoInfer (written as conditional types,
// as they must be for tagged unions, they would otherwise stop inference and leave A at its bound).

/** Every key of any member of a union. */
type KeysOfUnion<T> = T extends unknown ? keyof T : never;

/** Keys of V that Shape lacks; for a tagged union (`{ type: ... }`), the member that V's tag names. */
type ExtraKeys<V, Shape> = Exclude<keyof V, KeysOfUnion<V extends { type: infer T } ? Extract<Shape, { type: T }> : Shape>>;

/**
 * Nested option object K of A checked the same way (absent or undefined: nothing to check). `object`,
 * not `unknown`, stands for "fine", because a union with `unknown` would swallow its siblings' checks.
 */
type NestedExact<A, Shape, K extends keyof A & keyof Shape> = [NonNullable<A[K]>] extends [never]
  ? object
  : [ExtraKeys<NonNullable<A[K]>, NonNullable<Shape[K]>>] extends [never]
    ? object
    : { [P in K]: { [E in ExtraKeys<NonNullable<A[K]>, NonNullable<Shape[K]>>]: never } };

/**
 * The argument type of an entry point whose options have shape `Shape`: A itself, with every key
 * that Shape does not declare typed `never` (a compile error naming the key), at the top level and
 * inside the option objects named by `Nested` (margin, miner, loss, ...).
 */
export type Exact<A, Shape, Nested extends keyof Shape = never> = A & { [K in Exclude<keyof A, keyof Shape>]: never } & NoInfer<UnionToIntersection<NestedChecks<A, Shape, Nested>>>;

type NestedChecks<A, Shape, Nested extends keyof Shape> = Nested extends keyof A & keyof Shape ? NestedExact<A, Shape, Nested> : object;

type UnionToIntersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void ? I : never;
