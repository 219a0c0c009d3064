#!/usr/bin/env python3
"""Turns bench_fused's JSON (and optionally compare_pytorch.py's) into the README's table of
ratios: speedup of the fused call over the naive loop and over PyTorch, the fraction of the
streaming kernel's speed it reaches, the two-thread speedup and the cost of validation.

    python3 benchmarks/report.py fused.json [pytorch.json]
"""
import json
import re
import sys


def load_bench(path):
    data = json.load(open(path))
    times = {}
    for b in data["benchmarks"]:
        if b.get("aggregate_name", "median") != "median" and "aggregate_name" in b:
            continue
        m = re.match(r"(\w+)<(\w+)>/(\d+)", b["name"])
        if not m:
            continue
        name, typ, n = m.group(1), m.group(2), int(m.group(3))
        seconds = b["real_time"] * {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b["time_unit"]]
        times[(name, typ, n)] = seconds
        if "sum_rel_error" in b:
            times[("sum_rel_error", typ, n)] = b["sum_rel_error"]
        if "huge_MiB" in b:
            times[("huge_MiB", typ, n)] = b["huge_MiB"]
    return data.get("context", {}), times


def main():
    context, t = load_bench(sys.argv[1])
    torch = {}
    torch_version = None
    if len(sys.argv) > 2:
        pt = json.load(open(sys.argv[2]))
        torch_version = pt["torch_version"]
        torch = {(r["type"], r["n"]): r["seconds"] for r in pt["results"]}
    print(f"Machine: {context.get('num_cpus', '?')} CPUs at {context.get('mhz_per_cpu', '?')} MHz "
          f"({context.get('host_name', '?')}); PyTorch {torch_version or 'not measured'}, 1 thread.\n")
    print("| type | N | fused | vs naive loop | vs PyTorch fwd+bwd | streaming / fused | "
          "2 threads | validation cost | lazy expressions |")
    print("|---|---|---|---|---|---|---|---|---|")
    for typ in ("float", "double"):
        sizes = sorted({n for (name, ty, n) in t if ty == typ and name == "fused"})
        for n in sizes:
            fused = t[("fused", typ, n)]
            cells = [typ, f"{n:,}", f"{n / fused / 1e6:,.0f} M/s"]
            cells.append(f"{t[('naive', typ, n)] / fused:.1f}×")
            cells.append(f"{torch[(typ, n)] / fused:.1f}×" if (typ, n) in torch else "—")
            cells.append(f"{t[('stream', typ, n)] / fused:.2f}")
            cells.append(f"{fused / t[('fused_2threads', typ, n)]:.2f}×")
            cells.append(f"{(fused / t[('fused_unchecked', typ, n)] - 1) * 100:+.0f}%")
            cells.append(f"{t[('expressions', typ, n)] / fused:.1f}× slower")
            print("| " + " | ".join(cells) + " |")
    for (name, typ, n), v in sorted(t.items()):
        if name == "sum_rel_error":
            print(f"\nRelative error of the {typ} total at N = {n:,} against a long double sum: {v:.2e}")
    for (name, typ, n), v in sorted(t.items()):
        if name == "fused_hugepages" and ("fused", typ, n) in t:
            size = 3 * n * (4 if typ == "float" else 8) / 2**20
            print(f"\nTransparent huge pages, {typ} at N = {n:,}: the fused call is "
                  f"{t[('fused', typ, n)] / v:.2f}× as fast on arrays advised for them "
                  f"({t.get(('huge_MiB', typ, n), float('nan')):.0f} of {size:.0f} MiB backed)")


if __name__ == "__main__":
    main()
