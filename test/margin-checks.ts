// The comparisons that implement marginSoftmax's tolerances (docs/spec/margin.md): loss relative
// 1e-5; losses / logSumExp 1e-5·max(1, |r|); predictions exact; gradients ‖g − r‖/‖r‖ ≤ 1e-4.
// Every element is looked at.  Expected values come from margin-reference.ts or the fixtures.
import { checkGradientNorm, checkValues, transpose } from './helpers';
import type { MarginCase } from './margin-reference';

export const LOSS_TOL = 1e-5;
export const GRAD_TOL = 1e-4;
const MAX_REPORTED = 8;

export interface MarginExpected {
  loss: number;
  losses: ArrayLike<number>;
  logSumExp?: ArrayLike<number>;
  predictions?: ArrayLike<number>;
  predictionChoices?: (number[] | null)[];
  gradEmbeddings?: ArrayLike<number>;
  /** Rows layout. */
  gradWeights?: ArrayLike<number>;
  curricularT?: number;
  /** Added to the losses' and logSumExp's tolerance, per row (MarginRef.lossSlack). */
  lossSlack?: ArrayLike<number>;
  /** Added to the loss's tolerance. */
  reducedSlack?: number;
}

/** What a call returned (or the reference, as float64 arrays). */
export interface MarginOutputs {
  loss: number;
  losses: ArrayLike<number>;
  logSumExp?: ArrayLike<number>;
  predictions?: ArrayLike<number>;
  gradEmbeddings?: ArrayLike<number>;
  gradWeights?: ArrayLike<number>;
  curricularT?: number;
  backend?: string;
}

function capped(failures: string[], label: string): string[] {
  if (failures.length <= MAX_REPORTED) return failures;
  return [...failures.slice(0, MAX_REPORTED), `${label}: … and ${failures.length - MAX_REPORTED} more`];
}

/** gradWeights as rows whatever the call's layout. */
export function gradWeightsRows(result: MarginOutputs, c: MarginCase): ArrayLike<number> | undefined {
  const g = result.gradWeights;
  if (!g || !c.columns) return g;
  if (g.length % c.D !== 0) return g; // the length check reports it
  return transpose(g, c.D, g.length / c.D);
}

export interface CheckWant {
  gradients: boolean;
  backend?: string;
  /** Tolerance on the gradients' relative error (default the spec's 1e-4). */
  gradTol?: number;
  /** Check predictions element by element (default true). */
  predictions?: boolean;
}

/** Every output of a call against the expected values; [] when all match. */
export function checkMargin(result: MarginOutputs, expected: MarginExpected, c: MarginCase, want: CheckWant, label: string): string[] {
  const failures: string[] = [];
  if (want.backend && result.backend !== want.backend) failures.push(`${label}: ran on ${result.backend}, asked ${want.backend}`);
  if (typeof result.loss !== 'number') failures.push(`${label}: loss ${String(result.loss)} is not a number`);
  else if (expected.loss === 0 ? result.loss !== 0 : !(Math.abs(result.loss - expected.loss) <= LOSS_TOL * Math.abs(expected.loss) + (expected.reducedSlack ?? 0))) {
    failures.push(`${label}: loss ${result.loss}, expected ${expected.loss} (relative ${Math.abs(result.loss - expected.loss) / Math.abs(expected.loss)})`);
  }
  if (want.backend) {
    for (const key of ['losses', 'logSumExp'] as const) if (!(result[key] instanceof Float32Array)) failures.push(`${label}: ${key} is not a Float32Array`);
    if (!(result.predictions instanceof Int32Array)) failures.push(`${label}: predictions is not an Int32Array`);
  }
  failures.push(...checkValues(result.losses, expected.losses, `${label} losses`, expected.lossSlack));
  if (expected.logSumExp) failures.push(...checkValues(result.logSumExp, expected.logSumExp, `${label} logSumExp`, expected.lossSlack));
  if (expected.predictions && want.predictions !== false) {
    const p = result.predictions;
    if (!p || p.length !== expected.predictions.length) failures.push(`${label}: predictions length ${p?.length}`);
    else {
      const wrong: string[] = [];
      for (let i = 0; i < p.length; i++) {
        const choices = expected.predictionChoices?.[i];
        const ok = choices ? choices.includes(p[i]) : p[i] === expected.predictions[i];
        if (!ok) wrong.push(`${label} predictions[${i}] = ${p[i]}, expected ${choices ? `one of ${choices.join('/')}` : expected.predictions[i]}`);
      }
      failures.push(...capped(wrong, `${label} predictions`));
    }
  }
  if (want.gradients) {
    if (want.backend) {
      if (!(result.gradEmbeddings instanceof Float32Array)) failures.push(`${label}: gradEmbeddings is not a Float32Array`);
      if (!(result.gradWeights instanceof Float32Array)) failures.push(`${label}: gradWeights is not a Float32Array`);
    }
    failures.push(...checkGradientNorm(result.gradEmbeddings, expected.gradEmbeddings!, `${label} gradEmbeddings`, want.gradTol));
    failures.push(...checkGradientNorm(gradWeightsRows(result, c), expected.gradWeights!, `${label} gradWeights`, want.gradTol));
  } else if (result.gradEmbeddings !== undefined || result.gradWeights !== undefined || (want.backend && ('gradEmbeddings' in result || 'gradWeights' in result))) {
    failures.push(`${label}: gradient fields returned with gradients: false`);
  }
  if (expected.curricularT !== undefined) {
    const tolerance = LOSS_TOL * Math.max(1, Math.abs(expected.curricularT));
    if (typeof result.curricularT !== 'number' || !(Math.abs(result.curricularT - expected.curricularT) <= tolerance)) {
      failures.push(`${label}: curricularT ${result.curricularT}, expected ${expected.curricularT}`);
    }
  } else if (want.backend && 'curricularT' in result) {
    failures.push(`${label}: curricularT returned without curricular`);
  }
  return failures;
}

/** Any NaN or ±Inf in the outputs. */
export function nonFinite(result: MarginOutputs, label: string): string[] {
  const failures: string[] = [];
  if (!Number.isFinite(result.loss)) failures.push(`${label}: loss ${result.loss}`);
  for (const key of ['losses', 'logSumExp', 'gradEmbeddings', 'gradWeights'] as const) {
    const a = result[key];
    if (!a) continue;
    for (let k = 0; k < a.length; k++) {
      if (!Number.isFinite(a[k])) {
        failures.push(`${label}: ${key}[${k}] = ${a[k]}`);
        break;
      }
    }
  }
  return failures;
}

/** Every output bit for bit (NaN equals NaN); [] when identical. */
export function marginBitwiseDiff(a: MarginOutputs, b: MarginOutputs, label: string): string[] {
  const failures: string[] = [];
  if (a.backend !== b.backend) failures.push(`${label}: backends ${a.backend} and ${b.backend}`);
  if (!Object.is(a.loss, b.loss)) failures.push(`${label} loss: ${a.loss} vs ${b.loss}`);
  if (!Object.is(a.curricularT, b.curricularT)) failures.push(`${label} curricularT: ${a.curricularT} vs ${b.curricularT}`);
  for (const key of ['losses', 'logSumExp', 'predictions', 'gradEmbeddings', 'gradWeights'] as const) {
    const x = a[key] as Float32Array | Int32Array | undefined;
    const y = b[key] as Float32Array | Int32Array | undefined;
    if (x === undefined && y === undefined) continue;
    if (!x || !y || x.length !== y.length || x.constructor !== y.constructor) {
      failures.push(`${label} ${key}: ${x?.constructor.name}(${x?.length}) vs ${y?.constructor.name}(${y?.length})`);
      continue;
    }
    const ux = new Uint32Array(x.buffer, x.byteOffset, x.length);
    const uy = new Uint32Array(y.buffer, y.byteOffset, y.length);
    const wrong: string[] = [];
    for (let k = 0; k < x.length; k++) if (ux[k] !== uy[k]) wrong.push(`${label} ${key}[${k}]: ${x[k]} vs ${y[k]}`);
    failures.push(...capped(wrong, `${label} ${key}`));
  }
  return failures;
}
