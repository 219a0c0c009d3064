"""focal's PyTorch op against torchvision.ops.sigmoid_focal_loss, forward + backward, float32,
reduction "sum", 1% positives; one thread and all threads. Medians of repeated runs.

  cmake --workflow --preset torch
  FOCAL_TORCH_LIBRARY=build/dispatch/bindings/torch/libfocal_torch.so \\
      python3 benchmarks/bench_torch.py
"""
import os
import statistics
import sys
import time

import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bindings",
                                "torch"))
import focal_torch  # noqa: E402


def time_one(fn, x, t, repeats):
    times = []
    for _ in range(repeats):
        v = x.detach().clone().requires_grad_(True)
        start = time.perf_counter()
        fn(v, t, 0.25, 2.0, "sum").backward()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    torch.manual_seed(0)
    threads_all = os.cpu_count() or 1
    print("| elements | threads | torchvision fwd+bwd (ms) | focal op (ms) | ratio |")
    print("|---|---|---|---|---|")
    for n in (10**5, 10**6, 10**7):
        x = torch.randn(n) * 3
        t = (torch.rand(n) < 0.01).float()
        repeats = 21 if n < 10**7 else 7
        for threads in sorted({1, threads_all}):
            torch.set_num_threads(threads)
            tv = time_one(torchvision.ops.sigmoid_focal_loss, x, t, repeats)
            fo = time_one(focal_torch.sigmoid_focal_loss, x, t, repeats)
            print("| %d | %d | %.2f | %.2f | %.1fx |" % (n, threads, tv * 1e3, fo * 1e3, tv / fo))
    torch.set_num_threads(threads_all)


if __name__ == "__main__":
    main()
