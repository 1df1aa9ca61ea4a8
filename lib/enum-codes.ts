// The integer codes of the native addon's enums, derived from one table per family
// (lib/<family>/codes.ts, and DEVICE_CODES here): each enum under its key in addon.codes, with its
// names spelled as the option strings and in code order (a name's code is its index), and the
// plan fields that hold one.  Only the native adapters (lib/<family>/native.ts, and the device in
// lib/dispatch.ts) turn names into codes; plans and fallbacks use the names.
// test/native-codes.test.ts holds these tables against addon.codes (names and counts).
import { backendError } from './errors';

/** One native enum: its names in code order and the plan fields that hold one of them. */
export interface EnumEntry {
  readonly fields: readonly string[];
  readonly names: readonly string[];
}

/** A family's enums by their key in addon.codes. */
export type EnumTable = Readonly<Record<string, EnumEntry>>;

/** The device a native call runs on (native/kernels/enum_names.h). */
export const DEVICE_CODES = {
  device: { fields: ['device'], names: ['cpu', 'cuda'] },
} as const;

/** The names of enum E of table T, as a string union. */
export type EnumName<T extends EnumTable, E extends keyof T> = T[E]['names'][number];

/** Each enum field of `plan` as its integer code, keyed by the field's name. */
export function enumCodes(plan: object, table: EnumTable): Record<string, number> {
  const fields = plan as Record<string, unknown>;
  const codes: Record<string, number> = {};
  for (const [enumName, entry] of Object.entries(table)) {
    for (const field of entry.fields) {
      if (!(field in fields)) continue;
      const code = entry.names.indexOf(fields[field] as string);
      // The planners only produce names of the table: a miss is a bug here, not the caller's.
      if (code < 0) throw backendError(`internal: plan field ${field} = ${String(fields[field])} is not among addon.codes.${enumName}`);
      codes[field] = code;
    }
  }
  return codes;
}
