// The package under test, as the test files see it: the TypeScript sources (vitest transpiles
// them).  Worker-thread and child-process tests load the built package (dist/) instead.
export * from '../lib/index';
