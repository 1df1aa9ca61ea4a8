#!/usr/bin/env python3
"""Baseline for bench/margin.bench.js (issue 14.1): ArcFace forward + backward written the unfused NumPy way.

What a NumPy user writes: normalize both operands, one [N, D] x [D, C] product for the cosines,
the margin on the targets, softmax over the materialized [N, C] logits, G = dloss/dcos, the two
gradient products G . W^ and G^T . X^ (float32 sgemm, as the fused kernel's 6*N*C*D flops), and the
backward of the normalizations.  ArcFace as fusedloss's margin: {type: 'arcface'} (m = 0.5, s = 64,
the linear fallback past pi, mean over rows).  In the same process, alternating with it, one float32
sgemm of the same [N, D] x [D, C] shape (output preallocated): the GEMM rate to compare with.

Inputs: raw little-endian files PREFIX.embeddings (float32 [N, D]), PREFIX.weights (float32 [C, D])
and PREFIX.labels (int32 [N]) written by the bench, so the loss can be checked against the fused
call's; or --seed for random ones.  Prints one JSON object: {unfusedSeconds, sgemmSeconds, loss, ...}.
    python3 bench/numpy_margin_unfused.py --n 1024 --d 512 --c 100000 --inputs /tmp/x [--threads 2] [--runs 3]
"""
import argparse
import ctypes
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy_sgemm  # noqa: E402  (the BLAS thread setter and the BLAS description)


def arcface_unfused(x, w, labels, scale=64.0, margin=0.5):
    """Loss (mean over rows) and the gradients of x and w, every [N, C] matrix materialized."""
    n = x.shape[0]
    x_norm = np.linalg.norm(x, axis=1, keepdims=True)
    w_norm = np.linalg.norm(w, axis=1, keepdims=True)
    xh = x / x_norm
    wh = w / w_norm
    cos = xh @ wh.T  # [N, C]: the first sgemm
    np.clip(cos, -1.0, 1.0, out=cos)
    rows = np.arange(n)
    target = cos[rows, labels].astype(np.float64)
    angle = np.arccos(target) + margin
    inside = angle <= np.pi
    psi = np.where(inside, np.cos(angle), target - margin * np.sin(margin))
    dpsi = np.where(inside, np.sin(angle) / np.sqrt(np.maximum(1.0 - target * target, 1e-12)), 1.0)
    logits = cos  # in place from here on: the logits, then the softmax, then G
    logits *= np.float32(scale)
    target_logit = (scale * psi).astype(np.float32)
    logits[rows, labels] = target_logit
    row_max = logits.max(axis=1, keepdims=True)
    logits -= row_max
    np.exp(logits, out=logits)
    sum_exp = logits.sum(axis=1, dtype=np.float64)
    lse = row_max[:, 0].astype(np.float64) + np.log(sum_exp)
    loss = float(np.mean(lse - target_logit))
    # G = dloss/dcos = s/N (softmax - onehot), the target's times dpsi/dcos.
    logits *= (scale / n / sum_exp).astype(np.float32)[:, None]
    logits[rows, labels] = ((logits[rows, labels] - scale / n) * dpsi).astype(np.float32)
    grad_xh = logits @ wh  # [N, D]: the second sgemm
    grad_wh = logits.T @ xh  # [C, D]: the third
    grad_x = (grad_xh - np.sum(grad_xh * xh, axis=1, keepdims=True) * xh) / x_norm
    grad_w = (grad_wh - np.sum(grad_wh * wh, axis=1, keepdims=True) * wh) / w_norm
    return loss, grad_x, grad_w


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--d", type=int, default=512)
    parser.add_argument("--c", type=int, required=True)
    parser.add_argument("--inputs", help="prefix of the raw input files (else random inputs from --seed)")
    parser.add_argument("--seed", type=int, default=20261203)
    parser.add_argument("--threads", type=int, default=0, help="BLAS threads (default: OpenBLAS's own choice)")
    parser.add_argument("--runs", type=int, default=3, help="timed calls of each (unfused form, sgemm), alternating, after one warm-up each")
    args = parser.parse_args()

    libraries = numpy_sgemm._openblas_libraries()
    if args.threads > 0:
        setter = numpy_sgemm._symbol(libraries, numpy_sgemm._SET)
        if setter is not None:
            setter.argtypes = [ctypes.c_int]
            setter(args.threads)
    getter = numpy_sgemm._symbol(libraries, numpy_sgemm._GET)
    threads = int(getter()) if getter is not None else None

    n, d, c = args.n, args.d, args.c
    if args.inputs:
        x = np.fromfile(args.inputs + ".embeddings", dtype="<f4").reshape(n, d)
        w = np.fromfile(args.inputs + ".weights", dtype="<f4").reshape(c, d)
        labels = np.fromfile(args.inputs + ".labels", dtype="<i4")
    else:
        rng = np.random.default_rng(args.seed)
        x = rng.standard_normal((n, d), dtype=np.float32)
        w = rng.standard_normal((c, d), dtype=np.float32)
        labels = rng.integers(0, c, n).astype(np.int32)
    if labels.shape != (n,) or labels.min() < 0 or labels.max() >= c:
        raise SystemExit("labels must be N values in [0, C)")

    a = x.copy()
    b = np.ascontiguousarray(w.T)  # [D, C] as numpy_sgemm.py's operand
    product = np.empty((n, c), dtype=np.float32)
    loss, _, _ = arcface_unfused(x, w, labels)  # warm-ups
    np.matmul(a, b, out=product)
    unfused_seconds, sgemm_seconds = [], []
    for _ in range(args.runs):
        start = time.perf_counter()
        arcface_unfused(x, w, labels)
        unfused_seconds.append(time.perf_counter() - start)
        start = time.perf_counter()
        np.matmul(a, b, out=product)
        sgemm_seconds.append(time.perf_counter() - start)
    unfused = statistics.median(unfused_seconds)
    sgemm = statistics.median(sgemm_seconds)
    print(json.dumps({
        "N": n, "D": d, "C": c,
        "loss": loss,
        "unfusedSeconds": unfused,
        "unfusedRuns": unfused_seconds,
        "unfusedGflops": 6.0 * n * c * d / unfused / 1e9,
        "sgemmSeconds": sgemm,
        "sgemmRuns": sgemm_seconds,
        "sgemmGflops": 2.0 * n * c * d / sgemm / 1e9,
        "threads": threads,
        "blas": numpy_sgemm.blas_info(),
        "openblasEnv": {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ},
        "numpy": np.__version__,
        "python": platform.python_version(),
        "method": "ArcFace m 0.5 s 64 forward + backward with the [N, C] logits materialized (3 float32 sgemm), and np.matmul [N, D] x [D, C] alone, alternating; medians after one warm-up",
    }))


if __name__ == "__main__":
    main()
