// The part of the WebAssembly JavaScript API the loader uses, typed here: the package compiles
// against ES2022 and @types/node, which declare none of it, and the DOM library would bring the
// rest of the browser's globals into every file.
/** A compiled module (opaque: passed to instantiate and to a worker). */
export type WasmModule = object & { readonly __wasmModule?: never };

export interface WasmApi {
  Module: { new (bytes: Uint8Array): WasmModule; imports(module: WasmModule): { module: string; name: string; kind: string }[] };
  Instance: new (module: WasmModule, imports: Record<string, Record<string, unknown>>) => { exports: Record<string, unknown> };
  validate(bytes: Uint8Array): boolean;
}

/** The engine's WebAssembly, or undefined where there is none. */
export function webAssemblyApi(): WasmApi | undefined {
  return (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
}
