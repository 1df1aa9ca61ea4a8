#!/usr/bin/env python3
"""Baseline for bench/crps.bench.js: vectorized NumPy fair CRPS, as scoringrules / xarray users write it.

For each member count M it generates float32 data of the same size as the Node bench
(P points x M members, observations of P), then times: sort along the member axis, the
sorted-form fair CRPS  S - sum_k (2k - M - 1) x_(k) / (M (M - 1))  per point, and the mean.
With --gradients it also times the same form with the gradients of the mean score (what
crps(..., gradients: true) returns): argsort instead of sort, the rank weights scattered back to
member order.  Prints one JSON object on stdout.  Usage:
    python3 bench/numpy_crps.py --points 1000000 --members 2,4,16,51 [--runs 5] [--check] [--gradients]
"""
import argparse
import json
import platform
import statistics
import sys
import time

import numpy as np


def fair_crps(ensemble, observations):
    """Fair CRPS per point; ensemble [P, M] float32, observations [P]."""
    members = ensemble.shape[-1]
    skill = np.abs(ensemble - observations[:, None]).mean(axis=-1)
    ordered = np.sort(ensemble, axis=-1)
    rank_weights = (2 * np.arange(1, members + 1) - members - 1).astype(ensemble.dtype)
    spread = (ordered @ rank_weights) / (members * (members - 1))
    return skill - spread


def fair_crps_with_gradients(ensemble, observations):
    """Fair CRPS per point and the gradients of their mean: d/dx_k = (sign(x_k - y)/M
    - (2 rank_k - M - 1)/(M (M - 1))) / P, d/dy = -sum_k sign(x_k - y)/(M P)."""
    points, members = ensemble.shape
    difference = ensemble - observations[:, None]
    skill = np.abs(difference).mean(axis=-1)
    order = np.argsort(ensemble, axis=-1)
    ordered = np.take_along_axis(ensemble, order, axis=-1)
    rank_weights = ((2 * np.arange(1, members + 1) - members - 1) / (members * (members - 1))).astype(ensemble.dtype)
    scores = skill - ordered @ rank_weights
    signs = np.sign(difference)
    grad_ensemble = signs / members
    np.put_along_axis(grad_ensemble, order, np.take_along_axis(grad_ensemble, order, axis=-1) - rank_weights, axis=-1)
    grad_ensemble /= points
    grad_observations = -signs.sum(axis=-1) / (members * points)
    return scores, grad_ensemble, grad_observations


def fair_crps_pairwise(ensemble, observations):
    """O(M^2) definition in float64, only for --check on small inputs."""
    x = ensemble.astype(np.float64)
    members = x.shape[-1]
    skill = np.abs(x - observations[:, None]).mean(axis=-1)
    pairs = np.abs(x[:, :, None] - x[:, None, :]).sum(axis=(-1, -2))
    return skill - pairs / (2 * members * (members - 1))


def time_one(members, points, runs, rng, gradients):
    ensemble = rng.standard_normal((points, members), dtype=np.float32)
    observations = rng.standard_normal(points, dtype=np.float32)
    fair_crps(ensemble, observations).mean()  # warm-up
    seconds = []
    mean = None
    for _ in range(runs):
        start = time.perf_counter()
        mean = float(fair_crps(ensemble, observations).mean(dtype=np.float64))
        seconds.append(time.perf_counter() - start)
    median = statistics.median(seconds)
    extra = {}
    if gradients:
        fair_crps_with_gradients(ensemble, observations)  # warm-up
        gradient_seconds = []
        for _ in range(runs):
            start = time.perf_counter()
            scores, _, _ = fair_crps_with_gradients(ensemble, observations)
            float(scores.mean(dtype=np.float64))
            gradient_seconds.append(time.perf_counter() - start)
        extra = {"gradientSeconds": gradient_seconds, "gradientMedianSeconds": statistics.median(gradient_seconds)}
    return {**extra, 
        "members": members,
        "points": points,
        "runs": runs,
        "seconds": seconds,
        "medianSeconds": median,
        "pointsPerSecond": points / median,
        "mean": mean,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--members", default="2,4,16,51")
    parser.add_argument("--runs", type=int, default=0, help="timed runs per size (default: 5, 3 for M > 16)")
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument("--check", action="store_true", help="verify the sorted form against the O(M^2) definition first")
    parser.add_argument("--gradients", action="store_true", help="also time the form with gradients")
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    member_counts = [int(m) for m in args.members.split(",") if m]
    if args.check:
        for members in member_counts:
            x = rng.standard_normal((1000, members), dtype=np.float32)
            y = rng.standard_normal(1000, dtype=np.float32)
            error = np.max(np.abs(fair_crps(x, y) - fair_crps_pairwise(x, y)))
            if error > 1e-5:
                sys.exit(f"numpy_crps.py: sorted form disagrees with the definition at M={members}: {error}")
            if args.gradients and members > 1:
                scores, grad_x, grad_y = fair_crps_with_gradients(x, y)
                xd, yd = x.astype(np.float64), y.astype(np.float64)
                pair_signs = np.sign(xd[:, :, None] - xd[:, None, :]).sum(axis=-1)
                want_x = (np.sign(xd - yd[:, None]) / members - pair_signs / (members * (members - 1))) / len(y)
                want_y = -np.sign(xd - yd[:, None]).sum(axis=-1) / (members * len(y))
                error = max(np.max(np.abs(grad_x - want_x)) * len(y), np.max(np.abs(grad_y - want_y)) * len(y))
                if error > 1e-5:
                    sys.exit(f"numpy_crps.py: gradients disagree with the definition's at M={members}: {error}")

    results = []
    for members in member_counts:
        runs = args.runs or (3 if members > 16 else 5)
        results.append(time_one(members, args.points, runs, rng, args.gradients))
    print(json.dumps({
        "numpy": np.__version__,
        "python": platform.python_version(),
        "method": "np.sort along members + sorted-form fair CRPS + mean, float32, single thread as numpy runs it"
                  + ("; with gradients: np.argsort, the rank weights put back along the order" if args.gradients else ""),
        "results": results,
    }))


if __name__ == "__main__":
    main()
