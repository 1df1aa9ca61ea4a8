// A consumer on TypeScript's legacy resolution (`moduleResolution: node10`, what `"module":
// "commonjs"` projects get by default), which ignores package.json "exports": `fusedloss`
// resolves through "types" and `fusedloss/tfjs` only through "typesVersions". consumer.test.ts
// compiles it in a scratch project whose node_modules/fusedloss links to this package. The
// expected-error lines (below) fail the compile if a module degrades to `any` or goes unresolved.
import { crps } from 'fusedloss';
import { crpsLoss, type CrpsLossOptions } from 'fusedloss/tfjs';

export const options: CrpsLossOptions = { estimator: 'fair', memberAxis: -1 };
// @ts-expect-error not an estimator
export const wrongOptions: CrpsLossOptions = { estimator: 'energy' };
// @ts-expect-error crpsLoss takes tf tensors
export const wrongCall = (): unknown => crpsLoss([1, 2], [1]);
export const mean = (): number => crps({ ensemble: { data: new Float32Array(2), shape: [1, 2] }, observations: [0] }).mean;
// @ts-expect-error misspelled option
export const misspelled = (): unknown => crps({ ensemble: { data: new Float32Array(2), shape: [1, 2] }, observations: [0], estimater: 'fair' });
