// marginSoftmax() / marginSoftmaxAsync(): the fused normalized softmax with margin (ArcFace
// family; docs/spec/margin.md), run through the one kernel path (lib/dispatch.ts).
import { runKernel, type KernelDescriptor } from '../dispatch';
import type { Exact } from '../exact';
import { marginSoftmaxFallback } from './fallback';
import { marginAddonArgs } from './native';
import {
  MARGIN_SOFTMAX_OUTPUTS,
  planMarginSoftmax,
  type MarginSoftmaxArgs,
  type MarginSoftmaxNested,
  type MarginSoftmaxOutputs,
  type MarginSoftmaxPlan,
  type MarginSoftmaxResult,
  type MarginSoftmaxResultOf,
} from './plan';
import { MARGIN_WASM } from './wasm';


const MARGIN_SOFTMAX: KernelDescriptor<MarginSoftmaxPlan, MarginSoftmaxOutputs, MarginSoftmaxResult> = {
  name: 'marginSoftmax',
  family: 'marginSoftmax',
  plan: planMarginSoftmax,
  outputs: MARGIN_SOFTMAX_OUTPUTS,
  fallback: marginSoftmaxFallback,
  addonArgs: marginAddonArgs,
  wasm: MARGIN_WASM,
  result(outputs, plan, backend) {
    const result: MarginSoftmaxResult = { ...outputs, backend };
    if (!plan.curricular) delete result.curricularT;
    return result;
  },
};

/** Fused margin softmax loss (ArcFace family) and its gradients. See docs/spec/margin.md. */
export function marginSoftmax<A extends MarginSoftmaxArgs>(args: Exact<A, MarginSoftmaxArgs, MarginSoftmaxNested>): MarginSoftmaxResultOf<A> {
  return runKernel(MARGIN_SOFTMAX, args, { async: false }) as MarginSoftmaxResultOf<A>;
}

/** marginSoftmax() off the JavaScript thread (libuv pool). Never throws: invalid arguments reject. */
export function marginSoftmaxAsync<A extends MarginSoftmaxArgs>(args: Exact<A, MarginSoftmaxArgs, MarginSoftmaxNested>): Promise<MarginSoftmaxResultOf<A>> {
  return runKernel(MARGIN_SOFTMAX, args, { async: true }) as Promise<MarginSoftmaxResultOf<A>>;
}
