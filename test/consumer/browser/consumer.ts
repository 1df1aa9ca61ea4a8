// A consumer in a browser project (tsconfig.json here: the "browser" export condition, no Node.js
// types): `fusedloss` and `fusedloss/tfjs` resolve their types through the browser condition of
// package.json "exports". consumer.test.ts compiles it in a scratch project whose
// node_modules/fusedloss links to this package. The expected-error lines (below) fail the compile
// if a module degrades to `any` or goes unresolved.
import { backendInfo, crpsAsync, type Backend } from 'fusedloss';
import { crpsLoss, type CrpsLossOptions } from 'fusedloss/tfjs';

export const version: string = backendInfo().version;
export const backend: Backend = 'js';
export const mean = (): Promise<number> => crpsAsync({ ensemble: { data: new Float32Array(2), shape: [1, 2] }, observations: [0] }).then((result) => result.mean);
// @ts-expect-error not an estimator
export const wrongOptions: CrpsLossOptions = { estimator: 'energy' };
type Tensor = Parameters<typeof crpsLoss>[0];
export const loss = (ensemble: Tensor, observations: Tensor): ReturnType<typeof crpsLoss> => crpsLoss(ensemble, observations, { estimator: 'fair' });
// @ts-expect-error crpsLoss takes tf tensors
export const wrongCall = (): unknown => crpsLoss([1, 2], [1]);
