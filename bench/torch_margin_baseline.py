"""Unfused ArcFace in PyTorch at the sizes of test/native/margin_check's timing table (docs/spec/gpu.md).

Run by test/native/run-gpu-checks.sh when torch with CUDA is importable: the N x C logits are materialized
(normalize, linear, margin on the target column, cross_entropy, backward).  Prints the median time
of the forward + backward, GFLOP/s counted as 6*N*C*D like margin_check, and the peak memory torch
allocated beyond the inputs.  FP32 matmuls (TF32 off) unless --tf32.
"""
import sys

import torch
import torch.nn.functional as F


def arcface_step(x, w, y, s=64.0, m=0.5):
    cos = F.linear(F.normalize(x), F.normalize(w)).clamp(-1.0, 1.0)
    target = torch.cos(torch.acos(cos.gather(1, y[:, None])) + m)
    logits = cos.scatter(1, y[:, None], target) * s
    loss = F.cross_entropy(logits, y)
    loss.backward()
    return loss


def bench(n, c, d, runs):
    gen = torch.Generator(device="cuda").manual_seed(0)
    x = torch.randn(n, d, device="cuda", generator=gen, requires_grad=True)
    w = torch.randn(c, d, device="cuda", generator=gen, requires_grad=True)
    y = torch.randint(0, c, (n,), device="cuda", generator=gen)
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    times = []
    for run in range(runs + 2):
        x.grad = None
        w.grad = None
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        arcface_step(x, w, y)
        stop.record()
        stop.synchronize()
        if run >= 2:
            times.append(start.elapsed_time(stop))
    times.sort()
    ms = times[len(times) // 2]
    peak = torch.cuda.max_memory_allocated() - base
    del x, w, y
    torch.cuda.empty_cache()
    return ms, 6.0 * n * c * d / (ms * 1e-3) / 1e9, peak / 2**20


def main():
    tf32 = "--tf32" in sys.argv
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    print(f"\ntorch {torch.__version__} unfused ArcFace (m 0.5, s 64), forward + backward, "
          f"{'TF32' if tf32 else 'FP32'} matmuls, median after 2 warm-ups, on {torch.cuda.get_device_name()}")
    print(f"{'N':>6} {'C':>8} {'D':>4} {'ms':>9} {'GFLOP/s':>9} {'peak MiB':>10}")
    for n in (256, 1024):
        for c in (10000, 100000, 1000000):
            try:
                ms, gflops, peak = bench(n, c, 512, 7 if c >= 1000000 else 15)
                print(f"{n:>6} {c:>8} {512:>4} {ms:>9.3f} {gflops:>9.0f} {peak:>10.1f}", flush=True)
            except RuntimeError as err:  # out of memory
                print(f"{n:>6} {c:>8} {512:>4} failed: {str(err).splitlines()[0]}", flush=True)
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
