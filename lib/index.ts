// fusedloss: fused loss kernels (CRPS of ensembles, margin softmax, pair mining and pair losses)
// on CUDA, native CPU and pure TypeScript, with one validation layer for all three.
export { crps, crpsAsync } from './crps';
export type { CrpsArgs, CrpsEstimator, CrpsResult, CrpsResultOf, NanPolicy } from './crps';
export { marginSoftmax, marginSoftmaxAsync } from './margin-softmax';
export type {
  LabelsLike,
  MarginSoftmaxArgs,
  MarginSoftmaxResult,
  MarginSoftmaxResultOf,
  MarginSpec,
  MarginType,
  ScaleMode,
} from './margin-softmax';
export { mine, mineAsync, pairLoss, pairLossAsync } from './pair-mining';
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
  PairLossResult,
  PairLossResultOf,
  PairLossSpec,
  PairLossType,
} from './pair-mining';
export { adaFaceMargins, elasticFaceMargins, magFaceMargins, targetCosines } from './row-margins';
export type {
  AdaFaceOptions,
  AdaFaceResult,
  AdaFaceState,
  ElasticFaceOptions,
  ElasticFaceResult,
  MagFaceOptions,
  MagFaceResult,
  TargetCosinesArgs,
} from './row-margins';
export { toOrtTensor } from './ort';
export type { OrtCompatibleArray, OrtNamespace, OrtTensorType } from './ort';
export { backendInfo, setThreads } from './info';
export type { BackendInfo, CudaSelfTest } from './info';
export type { KernelFamily } from './cuda-self-test';
export { ErrorCode } from './errors';
export type { ErrorCodeValue, FusedLossError } from './errors';
export type { IntegerArrayLike, OrtTensorLike, TensorLike, TfTensorLike, VectorLike } from './tensor';
export type { Backend } from './validate';
