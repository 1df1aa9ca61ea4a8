#!/usr/bin/env python3
"""Baseline for bench/margin.bench.js: one float32 N x D . D x C product with NumPy (OpenBLAS sgemm).

The logits of the unfused margin softmax are exactly this product (normalized embeddings times
the transposed class centers); the fused kernel does three products of this size (forward and
the two gradients), so its 6*N*C*D flops compare with this product's 2*N*C*D at equal GFLOP/s.
The output is allocated once and reused (np.matmul(..., out=)), so the time is sgemm alone,
without first-touch page faults.  Timing: one warm-up, then at least --min-runs and at most
--max-runs timed products, stopping once --budget seconds are spent; the median is reported.
Prints one JSON object on stdout: {N, D, C, seconds, gflops, threads, blas, ...}.  Usage:
    python3 bench/numpy_sgemm.py --n 256 --d 512 --c 10000 [--threads T] [--min-runs 3]
"""
import argparse
import ctypes
import json
import os
import platform
import statistics
import time

import numpy as np

_GET = ("openblas_get_num_threads", "openblas_get_num_threads64_", "scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads")
_SET = ("openblas_set_num_threads", "openblas_set_num_threads64_", "scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads")
_CONFIG = ("openblas_get_config", "openblas_get_config64_", "scipy_openblas_get_config64_", "scipy_openblas_get_config")
_CORE = ("openblas_get_corename", "openblas_get_corename64_", "scipy_openblas_get_corename64_", "scipy_openblas_get_corename")


def _openblas_libraries():
    """The BLAS shared libraries loaded in this process (numpy has loaded its own by now)."""
    paths = []
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            for line in maps:
                fields = line.split()
                path = fields[-1] if len(fields) >= 6 else ""
                name = os.path.basename(path).lower()
                if "blas" in name and (name.endswith(".so") or ".so." in name) and path not in paths:
                    paths.append(path)
    except OSError:
        pass
    libraries = []
    for path in paths:
        try:
            libraries.append(ctypes.CDLL(path))
        except OSError:
            continue
    return libraries


def _symbol(libraries, names):
    for library in libraries:
        for name in names:
            function = getattr(library, name, None)
            if function is not None:
                return function
    return None


def blas_info():
    """Name and version of the BLAS numpy was built against (numpy >= 1.26's show_config dicts)."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # older numpy: no dict mode
        return "unknown"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256, help="rows N of the left operand (embeddings)")
    parser.add_argument("--d", type=int, default=512, help="inner dimension D")
    parser.add_argument("--c", type=int, default=10000, help="columns C of the right operand (classes)")
    parser.add_argument("--threads", type=int, default=0, help="BLAS threads (default: OpenBLAS's own choice)")
    parser.add_argument("--min-runs", type=int, default=3)
    parser.add_argument("--max-runs", type=int, default=7)
    parser.add_argument("--budget", type=float, default=3.0, help="seconds of timed work after which to stop (once --min-runs are done)")
    parser.add_argument("--seed", type=int, default=20240611)
    args = parser.parse_args()

    libraries = _openblas_libraries()
    if args.threads > 0:
        setter = _symbol(libraries, _SET)
        if setter is not None:
            setter.argtypes = [ctypes.c_int]
            setter(args.threads)
    getter = _symbol(libraries, _GET)
    threads = int(getter()) if getter is not None else None
    config = _symbol(libraries, _CONFIG)
    blas_config = None
    if config is not None:
        config.restype = ctypes.c_char_p
        blas_config = " ".join(config().decode("utf-8", "replace").split())
    core = _symbol(libraries, _CORE)
    if core is not None:
        core.restype = ctypes.c_char_p
        blas_config = f"{blas_config or 'OpenBLAS'}, kernels for {core().decode('utf-8', 'replace').strip()}"

    rng = np.random.default_rng(args.seed)
    a = rng.random((args.n, args.d), dtype=np.float32) - np.float32(0.5)
    b = rng.random((args.d, args.c), dtype=np.float32) - np.float32(0.5)
    out = np.empty((args.n, args.c), dtype=np.float32)
    np.matmul(a, b, out=out)  # warm-up; also faults the output in
    seconds = []
    spent = 0.0
    while len(seconds) < args.min_runs or (len(seconds) < args.max_runs and spent < args.budget):
        start = time.perf_counter()
        np.matmul(a, b, out=out)
        elapsed = time.perf_counter() - start
        seconds.append(elapsed)
        spent += elapsed
    median = statistics.median(seconds)
    print(json.dumps({
        "N": args.n,
        "D": args.d,
        "C": args.c,
        "seconds": median,
        "gflops": 2.0 * args.n * args.c * args.d / median / 1e9,
        "threads": threads,
        "blas": blas_info(),
        "blasConfig": blas_config,
        "runs": seconds,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "method": "np.matmul(float32 [N, D], float32 [D, C], out=preallocated [N, C]), median after one warm-up; flops 2*N*C*D",
    }))


if __name__ == "__main__":
    main()
