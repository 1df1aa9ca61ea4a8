// fusedloss: fused loss kernels (CRPS of ensembles; margin softmax and pair mining to follow)
// on CUDA, native CPU and pure TypeScript, with one validation layer for all three.
export { crps, crpsAsync } from './crps';
export type { CrpsArgs, CrpsEstimator, CrpsResult, CrpsResultOf, NanPolicy } from './crps';
export { backendInfo, setThreads } from './info';
export type { BackendInfo } from './info';
export { ErrorCode } from './errors';
export type { ErrorCodeValue, FusedLossError } from './errors';
export type { TensorLike, VectorLike } from './tensor';
export type { Backend } from './validate';
