"""pytorch-metric-learning (PML) on the PyTorch CPU, for bench/pairs.bench.js: the same three
workloads on the same kind of inputs, timed in this process.  Not part of the package: it runs
only where torch and PML import (PML's source may be given with --pml-src; nothing of it is in
this repository).  Prints one JSON line.

  python3 bench/pml_pairs.py --workload ms|batch-hard|triplets --n N --m M --d D [--threads T]
                             [--runs R] [--pml-src DIR]

Workloads (PML defaults otherwise):
  ms          MultiSimilarityMiner(epsilon=0.1) + MultiSimilarityLoss(), loss.backward()
  batch-hard  BatchHardMiner()
  triplets    TripletMarginLoss(margin=0.05) over all triplets, loss.backward()
M = N: the batch itself; M ≠ N: ref_emb / ref_labels (a memory bank).  Inputs: label
(i >> 2) mod max(1, N/4), a center per class plus noise 3× its scale, drawn from the same
counter-based hash as bench/pairs.bench.js, so both see the same float32 numbers.
"""
import argparse
import json
import resource
import statistics
import sys
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--workload", required=True, choices=["ms", "batch-hard", "triplets"])
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--m", type=int, required=True)
    parser.add_argument("--d", type=int, required=True)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pml-src", default=None)
    args = parser.parse_args()
    if args.pml_src:
        sys.path.insert(0, args.pml_src)
    import numpy as np
    import torch
    import pytorch_metric_learning
    from pytorch_metric_learning import losses, miners

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    n, m, d = args.n, args.m, args.d
    classes = max(1, n // 4)

    def hash_uniform(index):
        # lowbias32 of the index, as bench/pairs.bench.js: the same inputs bit for bit (up to libm)
        x = (index.astype(np.uint32) * np.uint32(0x9E3779B9) + np.uint32(0x632BE5AB)).astype(np.uint32)
        x ^= x >> np.uint32(16)
        x *= np.uint32(0x7FEB352D)
        x ^= x >> np.uint32(15)
        x *= np.uint32(0x846CA68B)
        x ^= x >> np.uint32(16)
        return (x.astype(np.float64) + 0.5) / 4294967296.0

    def hash_normals(count, offset):
        i = np.arange(offset, offset + count, dtype=np.uint64)
        u1, u2 = hash_uniform(2 * i), hash_uniform(2 * i + 1)
        return (np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)).astype(np.float32)

    centers = hash_normals(classes * d, 0).reshape(classes, d)
    offset = [classes * d]

    def rows(count):
        labels = (np.arange(count) >> 2) % classes
        noise = hash_normals(count * d, offset[0]).reshape(count, d)
        offset[0] += count * d
        return (centers[labels] + np.float32(3) * noise).astype(np.float32), labels

    x_np, labels_np = rows(n)
    x = torch.tensor(x_np, requires_grad=True)
    labels = torch.tensor(labels_np)
    ref = {}
    if m != n:
        y_np, ref_labels_np = rows(m)
        ref = {"ref_emb": torch.tensor(y_np, requires_grad=True), "ref_labels": torch.tensor(ref_labels_np)}
    baseline_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def once():
        x.grad = None
        if args.workload == "ms":
            pairs = miners.MultiSimilarityMiner(epsilon=0.1)(x, labels, **ref)
            loss = losses.MultiSimilarityLoss()(x, labels, pairs, **ref)
            loss.backward()
            return float(loss)
        if args.workload == "batch-hard":
            return float(len(miners.BatchHardMiner()(x, labels, **ref)[0]))
        loss = losses.TripletMarginLoss(margin=0.05)(x, labels, **ref)
        loss.backward()
        return float(loss)

    times = []
    value = None
    for _ in range(max(1, args.runs)):
        start = time.perf_counter()
        value = once()
        times.append(time.perf_counter() - start)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({
        "workload": args.workload, "n": n, "m": m, "d": d, "threads": torch.get_num_threads(),
        "seconds": times, "medianSeconds": statistics.median(times), "value": value,
        "peakExtraMiB": (peak_kib - baseline_kib) / 1024,
        "torch": torch.__version__, "pml": pytorch_metric_learning.__version__, "python": sys.version.split()[0],
    }))


if __name__ == "__main__":
    main()
