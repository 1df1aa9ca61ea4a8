// An independent float64 reference for mine() / pairLoss() (docs/spec/pairs.md and the
// design notes every backend follows): it materializes the N×M value matrices, mines by the
// rules literally (triplets enumerated), builds the full multiset of pairs / triplets a loss sees,
// and differentiates by the chain rule pair by pair (no GEMM form).  It also records how close
// each discrete decision (a threshold, a tie) came to flipping, so the tests can tell a float32
// kernel's legitimate choice at a near-tie from a wrong answer.  Case generation and the checks of
// results against it: pairs-cases.ts; the case, x̂, ŷ and the value matrices:
// pairs-reference-geometry.ts.
import type { MinerSpec, PairDistance, PairLossSpec } from '../lib/pairs/types';
import { Decisions, geometry, isSimilarity, isTripletMiner, LOSS_DISTANCE, MINER_DISTANCE, relation, values, type Geometry, type PairCase } from './pairs-reference-geometry';

export { isSimilarity, LOSS_DISTANCE, MINER_DISTANCE, type PairCase } from './pairs-reference-geometry';

// ---------------------------------------------------------------------------------------------
// Miners

export interface MinedRef {
  kind: 'pairs' | 'triplets';
  /** The mined elements in canonical order: 'p a j', 'n a j' (positives first) or 't a p n'. */
  keys: string[];
  /** Elements float32 may decide either way. */
  ambiguous: Set<string>;
  /** Smallest distance of any decision from its flip point, and the float32 ambiguity margin. */
  nearest: number;
  tol: number;
  /** batch-hard: exactly one triplet per anchor with a positive and a negative. */
  anchors?: number[];
  /** What the miner gives a loss: pair multiplicities and the triplet list (flat a, p, n). */
  wPos: Float64Array;
  wNeg: Float64Array;
  triplets: number[];
}

function emptyMined(g: Geometry, kind: 'pairs' | 'triplets', tol: number): MinedRef {
  const [wPos, wNeg] = [new Float64Array(g.N * g.M), new Float64Array(g.N * g.M)];
  return { kind, keys: [], ambiguous: new Set(), nearest: Infinity, tol, wPos, wNeg, triplets: [] };
}

function partners(g: Geometry, i: number): { pos: number[]; neg: number[] } {
  const pos: number[] = [];
  const neg: number[] = [];
  for (let j = 0; j < g.M; j++) {
    const r = relation(g, i, j);
    if (r === 1) pos.push(j);
    else if (r === -1) neg.push(j);
  }
  return { pos, neg };
}

function addTriplet(out: MinedRef, a: number, p: number, n: number, M: number): void {
  out.keys.push(`t ${a} ${p} ${n}`);
  out.triplets.push(a, p, n);
  out.wPos[a * M + p] += 1;
  out.wNeg[a * M + n] += 1;
}

function mineRef(g: Geometry, miner: MinerSpec, distance: PairDistance): MinedRef {
  const sim = isSimilarity(distance);
  const V = values(g, distance);
  const dec = new Decisions(g.tol);
  const M = g.M;
  const out = emptyMined(g, isTripletMiner(miner) ? 'triplets' : 'pairs', dec.tol);
  const negKeys: string[] = [];
  const addPair = (sign: 'p' | 'n', i: number, j: number, keep: boolean, near: boolean) => {
    if (near) out.ambiguous.add(`${sign} ${i} ${j}`);
    if (!keep) return;
    (sign === 'p' ? out.keys : negKeys).push(`${sign} ${i} ${j}`);
    (sign === 'p' ? out.wPos : out.wNeg)[i * M + j] = 1;
  };
  if (miner.type === 'batch-hard') out.anchors = [];
  for (let i = 0; i < g.N; i++) {
    let { pos, neg } = partners(g, i);
    const v = (j: number) => V[i * M + j];
    if (miner.type === 'multi-similarity') {
      const eps = miner.epsilon ?? 0.1;
      // sim: maxNeg, minPos; distance: minNeg, maxPos (empty: ∓∞); NaN values take no part
      const numbers = (js: number[]) => js.map(v).filter((x) => x === x);
      const negExt = sim ? Math.max(-Infinity, ...numbers(neg)) : Math.min(Infinity, ...numbers(neg));
      const posExt = sim ? Math.min(Infinity, ...numbers(pos)) : Math.max(-Infinity, ...numbers(pos));
      for (const p of pos) {
        const keep = sim ? v(p) - eps < negExt : v(p) + eps > negExt;
        addPair('p', i, p, keep, dec.values(v(p), negExt, sim ? -eps : eps));
      }
      for (const n of neg) {
        const keep = sim ? v(n) + eps > posExt : v(n) - eps < posExt;
        addPair('n', i, n, keep, dec.values(v(n), posExt, sim ? eps : -eps));
      }
    } else if (miner.type === 'pair-margin') {
      const pm = miner.posMargin ?? 0.2;
      const nm = miner.negMargin ?? 0.8;
      for (const p of pos) addPair('p', i, p, sim ? v(p) < pm : v(p) > pm, dec.constant(v(p), pm));
      for (const n of neg) addPair('n', i, n, sim ? v(n) > nm : v(n) < nm, dec.constant(v(n), nm));
    } else if (miner.type === 'triplet-margin') {
      const margin = miner.margin ?? 0.2;
      const select = miner.triplets ?? 'all';
      for (const p of pos) {
        for (const n of neg) {
          // t = s_ap − s_an (sim) or d_an − d_ap, as the float64 difference of the two values
          const [hi, lo] = sim ? [v(p), v(n)] : [v(n), v(p)];
          const t = hi - lo;
          let keep: boolean;
          let near = false;
          if (select === 'all' || select === 'easy') {
            keep = select === 'all' ? t <= margin : t > margin;
            near = dec.values(hi, lo, -margin);
          } else {
            keep = select === 'hard' ? t <= 0 && t <= margin : t > 0 && t <= margin;
            near = dec.values(hi, lo, 0) || dec.values(hi, lo, -margin);
          }
          if (near) out.ambiguous.add(`t ${i} ${p} ${n}`);
          if (keep) addTriplet(out, i, p, n, M);
        }
      }
    } else {
      // NaN values are never chosen; ties → lowest index: ascending scan with strict comparisons
      pos = pos.filter((j) => v(j) === v(j));
      neg = neg.filter((j) => v(j) === v(j));
      if (pos.length === 0 || neg.length === 0) continue;
      const pick = (js: number[], better: (a: number, b: number) => boolean) => js.reduce((best, j) => (better(v(j), v(best)) ? j : best), js[0]);
      const p = pick(pos, (a, b) => (sim ? a < b : a > b));
      const n = pick(neg, (a, b) => (sim ? a > b : a < b));
      const accP = pos.filter((j) => j === p || dec.values(v(j), v(p)));
      const accN = neg.filter((j) => j === n || dec.values(v(j), v(n)));
      if (accP.length > 1 || accN.length > 1) for (const q of accP) for (const m of accN) out.ambiguous.add(`t ${i} ${q} ${m}`);
      addTriplet(out, i, p, n, M);
      out.anchors!.push(i);
    }
  }
  out.keys.push(...negKeys);
  out.nearest = dec.nearest;
  return out;
}

/** What a loss sees: no miner → every pair once and every (a, p, n); else the miner's (see the design notes). */
function selection(g: Geometry, miner: MinerSpec | undefined, minerDistance: PairDistance, needTriplets: boolean): MinedRef {
  if (miner) {
    const mined = mineRef(g, miner, minerDistance);
    if (mined.kind === 'pairs' && needTriplets) {
      for (let a = 0; a < g.N; a++) {
        for (let p = 0; p < g.M; p++) {
          if (!mined.wPos[a * g.M + p]) continue;
          for (let n = 0; n < g.M; n++) if (mined.wNeg[a * g.M + n]) mined.triplets.push(a, p, n);
        }
      }
    }
    return mined;
  }
  const all = emptyMined(g, 'pairs', 0);
  for (let a = 0; a < g.N; a++) {
    const { pos, neg } = partners(g, a);
    for (const p of pos) all.wPos[a * g.M + p] = 1;
    for (const n of neg) all.wNeg[a * g.M + n] = 1;
    if (needTriplets) for (const p of pos) for (const n of neg) all.triplets.push(a, p, n);
  }
  return all;
}

// ---------------------------------------------------------------------------------------------
// Losses: the value and coef_ij = ∂loss/∂v_ij

const softplus = (z: number): number => (z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z)));
const sigmoid = (z: number): number => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)));
function logSumExp(xs: number[]): number {
  const m = xs.reduce((a, b) => Math.max(a, b), -Infinity);
  if (m === -Infinity) return -Infinity;
  return m + Math.log(xs.reduce((s, x) => s + Math.exp(x - m), 0));
}

interface LossParts {
  loss: number;
  coef: Float64Array;
  /** circle: the relu weights used. */
  weights?: Float64Array;
}

/** circleWeights: γ·relu(…) per pair to hold fixed (for finite differences: the gradient treats them as constants). */
function lossRef(g: Geometry, spec: PairLossSpec, distance: PairDistance, sel: MinedRef, dec: Decisions, circleWeights?: Float64Array): LossParts {
  const { N, M } = g;
  const sim = isSimilarity(distance);
  const V = values(g, distance);
  const coef = new Float64Array(N * M);
  const wP = sel.wPos;
  const wN = sel.wNeg;
  const rowPairs = (i: number, w: Float64Array) => {
    const js: number[] = [];
    for (let j = 0; j < M; j++) if (w[i * M + j] > 0) js.push(j);
    return js;
  };
  /** Σ_parts λ·Σ w·term / Σ w over the active pairs, term = sign·(v − m), active when term > 0 (≥ 0 inclusive). */
  const thresholdedMeans = (parts: [Float64Array, number, number, number, boolean][]): LossParts => {
    let loss = 0;
    for (const [w, sign, m, lambda, inclusive] of parts) {
      let sum = 0;
      let count = 0;
      const active: number[] = [];
      for (let k = 0; k < N * M; k++) {
        if (!w[k]) continue;
        dec.constant(V[k], m);
        const term = sign * (V[k] - m);
        if (!(term > 0 || (inclusive && term === 0))) continue;
        sum += w[k] * term;
        count += w[k];
        active.push(k);
      }
      for (const k of active) coef[k] = (lambda * w[k] * sign) / count;
      if (count > 0) loss += (lambda * sum) / count;
    }
    return { loss, coef };
  };
  switch (spec.type) {
    case 'multi-similarity': {
      const alpha = spec.alpha ?? 2;
      const beta = spec.beta ?? 50;
      const base = spec.base ?? 0.5;
      let sum = 0;
      for (let i = 0; i < N; i++) {
        // each part: (1/k)·log(1 + Σ e^{x}); ∂/∂v = σ·(∂x/∂v)/k
        const part = (js: number[], k: number, sign: number) => {
          if (js.length === 0) return;
          const xs = js.map((j) => k * sign * (V[i * M + j] - base));
          const lse = logSumExp([0, ...xs]);
          sum += lse / k;
          js.forEach((j, t) => (coef[i * M + j] += (Math.exp(xs[t] - lse) * sign) / N));
        };
        part(rowPairs(i, wP), alpha, sim ? -1 : 1);
        part(rowPairs(i, wN), beta, sim ? 1 : -1);
      }
      return { loss: sum / N, coef };
    }
    case 'contrastive': {
      const mp = spec.posMargin ?? 0;
      const mn = spec.negMargin ?? 1;
      // relu(sim ? m⁺ − s : d − m⁺), relu(sim ? s − m⁻ : m⁻ − d): each part the mean of its > 0 terms
      return thresholdedMeans([[wP, sim ? -1 : 1, mp, 1, false], [wN, sim ? 1 : -1, mn, 1, false]]);
    }
    case 'triplet-margin': {
      const margin = spec.margin ?? 0.05;
      let sum = 0;
      let count = 0;
      const t3 = sel.triplets;
      for (let k = 0; k < t3.length; k += 3) {
        const ap = t3[k] * M + t3[k + 1];
        const an = t3[k] * M + t3[k + 2];
        const [hi, lo] = sim ? [V[ap], V[an]] : [V[an], V[ap]];
        const t = hi - lo;
        dec.values(hi, lo, -margin);
        if (t < margin) {
          sum += margin - t;
          count++;
          coef[ap] += sim ? -1 : 1;
          coef[an] += sim ? 1 : -1;
        }
      }
      if (count > 0) for (let k = 0; k < N * M; k++) coef[k] /= count;
      return { loss: count > 0 ? sum / count : 0, coef };
    }
    case 'circle': {
      const m = spec.m ?? 0.4;
      const gamma = spec.gamma ?? 80;
      let sum = 0;
      let rows = 0;
      const weights = new Float64Array(N * M);
      for (let i = 0; i < N; i++) {
        const P = rowPairs(i, wP);
        const Q = rowPairs(i, wN);
        if (P.length === 0 || Q.length === 0) continue;
        const s = (j: number) => V[i * M + j];
        const ap = P.map((p) => circleWeights?.[i * M + p] ?? gamma * Math.max(1 + m - s(p), 0));
        const an = Q.map((n) => circleWeights?.[i * M + n] ?? gamma * Math.max(s(n) + m, 0));
        P.forEach((p, t) => (weights[i * M + p] = ap[t]));
        Q.forEach((n, t) => (weights[i * M + n] = an[t]));
        const lp = P.map((p, t) => -ap[t] * (s(p) - (1 - m)));
        const ln = Q.map((n, t) => an[t] * (s(n) - m));
        const lseP = logSumExp(lp);
        const lseN = logSumExp(ln);
        const z = lseP + lseN;
        const L = softplus(z);
        if (!(L > 0)) continue;
        sum += L;
        rows++;
        const sg = sigmoid(z);
        P.forEach((p, t) => (coef[i * M + p] = -sg * Math.exp(lp[t] - lseP) * ap[t]));
        Q.forEach((n, t) => (coef[i * M + n] = sg * Math.exp(ln[t] - lseN) * an[t]));
      }
      if (rows > 0) for (let k = 0; k < N * M; k++) coef[k] /= rows;
      return { loss: rows > 0 ? sum / rows : 0, coef, weights };
    }
    case 'ntxent': {
      const tau = spec.temperature ?? 0.07;
      const dir = sim ? 1 : -1; // s = −d with a distance
      let sum = 0;
      let weight = 0;
      for (let a = 0; a < N; a++) {
        const s = (j: number) => dir * V[a * M + j];
        const Q = rowPairs(a, wN);
        const Z = logSumExp(Q.map((n) => s(n) / tau + Math.log(wN[a * M + n])));
        let acc = 0;
        for (const p of rowPairs(a, wP)) {
          const w = wP[a * M + p];
          const r = Z - s(p) / tau;
          sum += w * softplus(r);
          weight += w;
          const sg = r === -Infinity ? 0 : sigmoid(r);
          coef[a * M + p] += (-w * sg) / tau;
          acc += w * sg;
        }
        if (Z > -Infinity) for (const n of Q) coef[a * M + n] += ((wN[a * M + n] * Math.exp(s(n) / tau - Z)) / tau) * acc;
      }
      for (let k = 0; k < N * M; k++) coef[k] = weight > 0 ? (dir * coef[k]) / weight : 0;
      return { loss: weight > 0 ? sum / weight : 0, coef };
    }
    case 'threshold-consistent': {
      const [lp, lm] = [spec.lambdaPlus ?? 1, spec.lambdaMinus ?? 1];
      const [mp, mm] = [spec.marginPlus ?? 0.9, spec.marginMinus ?? 0.5];
      // positives with s ≤ m⁺ (term m⁺ − s), negatives with s ≥ m⁻ (term s − m⁻), 0 included
      return thresholdedMeans([[wP, -1, mp, lp, true], [wN, 1, mm, lm, true]]);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Chain rule: ∂v_ij/∂x̂_i, ∂v_ij/∂ŷ_j per pair, then through the normalization

function backprop(g: Geometry, distance: PairDistance, coef: Float64Array): { gradEmbeddings: Float64Array; gradRef?: Float64Array; gradDot: Float64Array } {
  const { N, M, D } = g;
  const V = values(g, distance);
  const gx = new Float64Array(N * D);
  const gy = new Float64Array(M * D);
  // G = ∂loss/∂(x̂·ŷ) per pair, before its rounding: coef (similarities), −2·coef (d²), −coef/d (d).
  const gradDot = new Float64Array(N * M);
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < M; j++) {
      const c = coef[i * M + j];
      if (c === 0) continue;
      // similarities: ∂v/∂x̂ = ŷ, ∂v/∂ŷ = x̂; d²: ±2(x̂ − ŷ); d: ±(x̂ − ŷ)/d, 0 at d = 0 (as torch.cdist)
      const v = V[i * M + j];
      const sim = isSimilarity(distance);
      const k = distance === 'squared-euclidean' ? 2 : v > 0 ? 1 / v : 0;
      gradDot[i * M + j] = sim ? c : -c * k;
      // One rounded coefficient per pair (G and H = −G: the rounding is odd-symmetric).
      const f = g.round(sim ? c : c * k);
      for (let d = 0; d < D; d++) {
        const a = g.xh[i * D + d];
        const b = g.yh[j * D + d];
        gx[i * D + d] += f * (sim ? b : a - b);
        gy[j * D + d] += f * (sim ? a : -(a - b));
      }
    }
  }
  const unnormalize = (gh: Float64Array, raw: ArrayLike<number>, hat: Float64Array, rows: number) => {
    if (!g.normalize) return gh;
    const out = new Float64Array(rows * D);
    for (let r = 0; r < rows; r++) {
      let n2 = 0;
      let proj = 0;
      for (let d = 0; d < D; d++) {
        n2 += raw[r * D + d] * raw[r * D + d];
        proj += gh[r * D + d] * hat[r * D + d];
      }
      const norm = Math.sqrt(n2);
      // A row with no gradient (it forms no pair) gets 0, whatever it holds.
      if (gh.subarray(r * D, (r + 1) * D).every((x) => x === 0)) continue;
      for (let d = 0; d < D; d++) out[r * D + d] = norm >= 1e-12 ? (gh[r * D + d] - proj * hat[r * D + d]) / norm : gh[r * D + d] / 1e-12;
    }
    return out;
  };
  if (!g.hasRef) {
    for (let k = 0; k < gx.length; k++) gx[k] += gy[k];
    return { gradEmbeddings: unnormalize(gx, g.x, g.xu, N), gradDot };
  }
  return { gradEmbeddings: unnormalize(gx, g.x, g.xu, N), gradRef: unnormalize(gy, g.y, g.yu, M), gradDot };
}

// ---------------------------------------------------------------------------------------------
// Entry points

export function refMine(c: PairCase): MinedRef {
  if (!c.miner) throw new Error('refMine: no miner');
  return mineRef(geometry(c), c.miner, c.distance ?? MINER_DISTANCE[c.miner.type]);
}

export interface LossRef {
  loss: number;
  gradEmbeddings: Float64Array;
  gradRef?: Float64Array;
  /** Smallest distance of a mining or loss decision (threshold, tie) from its flip point. */
  nearest: number;
  /** Decisions that float32 could take either way (nearest < tol). */
  ambiguous: boolean;
  circleWeights?: Float64Array;
  /** G = ∂loss/∂(x̂_i·ŷ_j) [N, M] before the precision's rounding (absent with the NaN answer). */
  gradDot?: Float64Array;
  /** The product operands x̂ [N, D] and ŷ [M, D] (rounded with operandRounding). */
  xOperands: Float64Array;
  yOperands: Float64Array;
}

/** Is some pair (i, j) other than the excluded ones valued NaN or ±Inf under `distance`? */
function formsNonFinitePair(g: Geometry, distance: PairDistance): boolean {
  const V = values(g, distance);
  for (let i = 0; i < g.N; i++) for (let j = 0; j < g.M; j++) if (relation(g, i, j) !== 0 && !Number.isFinite(V[i * g.M + j])) return true;
  return false;
}

export function refPairLoss(c: PairCase, circleWeights?: Float64Array): LossRef {
  if (!c.loss) throw new Error('refPairLoss: no loss');
  const g = geometry(c);
  const lossDistance = c.distance ?? LOSS_DISTANCE[c.loss.type];
  const minerDistance = c.distance ?? (c.miner ? MINER_DISTANCE[c.miner.type] : lossDistance);
  if (formsNonFinitePair(g, lossDistance) || (c.miner && formsNonFinitePair(g, minerDistance))) {
    // The NaN contract: a formed pair with a NaN or infinite value → the loss and every gradient entry NaN.
    const nan = (n: number) => new Float64Array(n).fill(NaN);
    return { loss: NaN, gradEmbeddings: nan(g.N * g.D), gradRef: g.hasRef ? nan(g.M * g.D) : undefined, nearest: Infinity, ambiguous: false, xOperands: g.xh, yOperands: g.yh };
  }
  const sel = selection(g, c.miner, minerDistance, c.loss.type === 'triplet-margin');
  const dec = new Decisions(g.tol);
  const { loss, coef, weights } = lossRef(g, c.loss, lossDistance, sel, dec, circleWeights);
  const nearest = Math.min(dec.nearest, sel.nearest);
  return { loss, ...backprop(g, lossDistance, coef), nearest, ambiguous: dec.near || sel.ambiguous.size > 0, circleWeights: weights, xOperands: g.xh, yOperands: g.yh };
}

/** Central differences of the reference's loss (step h on every input; circle's relu weights held at the point, as its gradient does). */
export function refFiniteDifferences(c: PairCase, h = 1e-6): { gradEmbeddings: Float64Array; gradRef?: Float64Array } {
  const e = Float64Array.from(c.embeddings);
  const r = c.ref ? Float64Array.from(c.ref) : undefined;
  const frozen = c.loss?.type === 'circle' ? refPairLoss(c).circleWeights : undefined;
  const at = () => refPairLoss({ ...c, embeddings: e, ref: r }, frozen).loss;
  const diff = (v: Float64Array) =>
    Float64Array.from(v, (keep, k) => {
      v[k] = keep + h;
      const up = at();
      v[k] = keep - h;
      const down = at();
      v[k] = keep;
      return (up - down) / (2 * h);
    });
  return { gradEmbeddings: diff(e), gradRef: r ? diff(r) : undefined };
}
