// The integer codes of the native addon's enums, derived from one table per family
// (lib/<family>/codes.ts): each C++ enum's names, spelled as the option strings and in the enum's
// order (a name's code is its index), and the plan fields that hold one.  Only the native
// adapters (lib/<family>/native.ts) turn names into codes; plans and fallbacks use the names.
// test/native-codes.test.ts holds every table against the names the addon exports.
import { backendError } from './errors';

/** One native enum: its names in C++ order and the plan fields that hold one of them. */
export interface EnumEntry {
  readonly fields: readonly string[];
  readonly names: readonly string[];
}

/** A family's enums by their C++ name. */
export type EnumTable = Readonly<Record<string, EnumEntry>>;

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
      if (code < 0) throw backendError(`internal: plan field ${field} = ${String(fields[field])} is no ${enumName}`);
      codes[field] = code;
    }
  }
  return codes;
}
