#!/usr/bin/env python3
"""torchvision's sigmoid_focal_loss, forward + backward, on one CPU thread: the baseline most
detector code runs today. Same sizes and data shape as bench_fused (1% positives, logits
around the prior bias), best of several runs. Needs Debian's python3-torch (optional).

    python3 benchmarks/compare_pytorch.py > pytorch.json
    python3 benchmarks/report.py fused.json pytorch.json
"""
import json
import sys
import time

import torch


def sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2.0):
    """torchvision.ops.sigmoid_focal_loss (reduction="none"), verbatim."""
    p = torch.sigmoid(inputs)
    ce_loss = torch.nn.functional.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    return loss


def time_one(n, dtype, repeats):
    gen = torch.Generator().manual_seed(7)
    targets = (torch.rand(n, generator=gen) < 0.01).to(dtype)
    logits = (torch.randn(n, generator=gen, dtype=dtype) * 2.0 - 4.6 + 4.0 * targets)
    logits.requires_grad_(True)
    num_fg = max(1.0, float(targets.sum()))
    best = float("inf")
    for _ in range(repeats):
        logits.grad = None
        start = time.perf_counter()
        total = sigmoid_focal_loss(logits, targets).sum() / num_fg
        total.backward()
        best = min(best, time.perf_counter() - start)
    return best


def main():
    torch.set_num_threads(1)
    sizes = [1_000, 10_000, 100_000, 1_000_000, 4_194_304, 10_000_000]
    if len(sys.argv) > 1 and sys.argv[1] == "--with-1e8":
        sizes.append(100_000_000)
    results = []
    for dtype, name in ((torch.float32, "float"), (torch.float64, "double")):
        for n in sizes:
            repeats = 20 if n <= 1_000_000 else 5 if n <= 10_000_000 else 2
            seconds = time_one(n, dtype, repeats)
            results.append({"type": name, "n": n, "seconds": seconds, "items_per_second": n / seconds})
            print(f"pytorch {name} n={n}: {seconds * 1e3:.3f} ms", file=sys.stderr)
    json.dump({"torch_version": torch.__version__, "threads": 1, "results": results}, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
