// fusedloss: fused loss kernels (CRPS of ensembles, margin softmax, pair mining and pair losses)
// on CUDA, native CPU and pure TypeScript, with one validation layer for all three.
export { crps, crpsAsync } from './crps';
export type { CrpsArgs, CrpsEstimator, CrpsOut, CrpsResult, CrpsResultOf, NanPolicy } from './crps/plan';
export { marginSoftmax, marginSoftmaxAsync } from './margin';
export type { LabelsLike } from './labels';
export type {
  MarginSoftmaxArgs,
  MarginSoftmaxOut,
  MarginSoftmaxResult,
  MarginSoftmaxResultOf,
  MarginSpec,
  MarginType,
  ScaleMode,
} from './margin/plan';
export type { Precision } from './precision';
export { mine, mineAsync, pairLoss, pairLossAsync } from './pairs';
export type {
  MineArgs,
  MinedPairs,
  MinedTriplets,
  MineResultOf,
  MinerSpec,
  MinerType,
  PairArgs,
  PairDistance,
  PairLossArgs,
  PairLossOut,
  PairLossResult,
  PairLossResultOf,
  PairLossSpec,
  PairLossType,
} from './pairs/types';
export { adaFaceMargins, elasticFaceMargins, magFaceMargins, targetCosines } from './margin/row-margins';
export type {
  AdaFaceOptions,
  AdaFaceResult,
  AdaFaceState,
  ElasticFaceOptions,
  ElasticFaceResult,
  MagFaceOptions,
  MagFaceResult,
  TargetCosinesArgs,
} from './margin/row-margins';
export { toOrtTensor } from './ort';
export type { OrtCompatibleArray, OrtNamespace, OrtTensorType } from './ort';
export { backendInfo, setThreads } from './info';
export type { BackendInfo, CudaSelfTest } from './info';
export type { KernelFamily } from './native';
export { ErrorCode } from './errors';
export type { ErrorCodeValue, FusedLossError } from './errors';
export type { IntegerArrayLike, OrtTensorLike, TensorLike, TfTensorLike, VectorLike } from './tensor';
export type { Backend } from './validate';
