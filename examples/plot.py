#!/usr/bin/env python3
"""Draws the figures of examples/train_detector.cpp's output (Debian: python3-matplotlib).

  python3 examples/plot.py RESULTS_DIR OUT_DIR

figure1.csv -> OUT_DIR/figure1.{png,svg}: the loss against the probability of the ground-truth
class for several gamma (the paper's Figure 1, from focal's own per-element loss).
figure4.csv -> OUT_DIR/figure4.{png,svg}: the cumulative distribution of the normalized loss of
positive and of negative samples under a converged model, for several gamma (Figure 4).
"""
import csv
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def figure1(rows, out):
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for g in sorted({float(r["gamma"]) for r in rows}):
        pts = [(float(r["p_t"]), float(r["loss"])) for r in rows if float(r["gamma"]) == g]
        ax.plot([p for p, _ in pts], [l for _, l in pts], label="γ = %g" % g)
    ax.set_xlabel("probability of ground truth class")
    ax.set_ylabel("loss")
    ax.set_ylim(0, 5)
    ax.set_xlim(0, 1)
    ax.legend()
    ax.set_title("Focal loss (focal::FocalLoss on probabilities)")
    fig.tight_layout()
    for ext in ("png", "svg"):
        fig.savefig(os.path.join(out, "figure1." + ext), dpi=120)


def figure4(rows, out):
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, samples in zip(axes, ("positive", "negative")):
        for g in sorted({float(r["gamma"]) for r in rows}):
            pts = [(float(r["fraction"]), float(r["cumulative_loss"])) for r in rows
                   if float(r["gamma"]) == g and r["samples"] == samples]
            ax.plot([f for f, _ in pts], [c for _, c in pts], label="γ = %g" % g)
        ax.set_xlabel("fraction of %s samples" % samples)
        ax.set_ylabel("cumulative normalized loss")
        ax.set_title("%s samples" % samples.capitalize())
        ax.legend()
    fig.tight_layout()
    for ext in ("png", "svg"):
        fig.savefig(os.path.join(out, "figure4." + ext), dpi=120)


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    results, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    figure1(read(os.path.join(results, "figure1.csv")), out)
    figure4(read(os.path.join(results, "figure4.csv")), out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
