"""qbrecon benchmarks: each figure next to its baseline, measured on the same data in the same run.

    python benchmarks/run.py --scale small     # under a minute; runs in CI so the code cannot rot
    python benchmarks/run.py --scale full      # construction-company scale (see BENCHMARKS.md)

Results go to benchmarks/results/latest.json (and are summarised in BENCHMARKS.md by hand after a full run).
Figures are ratios measured in one run, since absolute times vary by machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks import (  # noqa: E402
    bench_qbwc,
    bench_qbxml,
    bench_queue,
    bench_reconcile,
)

SCALES = {
    # qbxml_mb: size of the BillQueryRs to parse; recon_lines: lines per side; queue_items: items decided;
    # build_requests: BillAdd requests serialised; qbwc_items: items through the Web Connector loop;
    # growth: row counts for the growth exponent of reconciliation.
    "small": {"qbxml_mb": 8, "recon_lines": 20_000, "queue_items": 2_000, "build_requests": 2_000,
              "qbwc_items": 200, "growth": [2_000, 20_000]},
    "full": {"qbxml_mb": 220, "recon_lines": 1_000_000, "queue_items": 100_000, "build_requests": 100_000,
             "qbwc_items": 10_000, "growth": [10_000, 100_000, 1_000_000]},
}

TARGETS = {
    "qbxml_parse": "qbrecon >= 50% of the iterparse floor's throughput and >= 5x xmltodict+pandas",
    "reconcile": ">= 10x datacompy PandasCompare with the same differences, within 3x of a bare DuckDB join",
    "queue": "batch accept/reject >= 100x the same decisions one by one",
    "qbxml_build": "BillAdd generation >= 50% of serialising the same trees with lxml alone",
    "qbwc": "requests per second through the full Web Connector loop, and the service's share of the time",
}


def machine() -> dict:
    import psutil

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "processor": platform.processor() or platform.machine(),
    }


def growth_exponent(points: list[tuple[int, float]]) -> float | None:
    """Slope of log(time) against log(rows): 1.0 is linear."""
    pts = [(math.log(n), math.log(t)) for n, t in points if t > 0]
    if len(pts) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    den = sum((x - mx) ** 2 for x, _ in pts)
    return round(sum((x - mx) * (y - my) for x, y in pts) / den, 2) if den else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--only", nargs="*", help="run only these steps", choices=list(TARGETS))
    parser.add_argument("--data", type=Path, default=HERE / "data", help="where generated data goes")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "latest.json")
    args = parser.parse_args(argv)
    scale = SCALES[args.scale]
    args.data.mkdir(parents=True, exist_ok=True)

    steps = {
        "qbxml_parse": lambda: bench_qbxml.run_parse(scale["qbxml_mb"], args.data),
        "qbxml_build": lambda: bench_qbxml.run_build(scale["build_requests"]),
        "reconcile": lambda: bench_reconcile.run(scale["recon_lines"]),
        "queue": lambda: bench_queue.run(scale["queue_items"]),
        "qbwc": lambda: bench_qbwc.run(scale["qbwc_items"]),
    }
    results: dict = {"scale": args.scale, "machine": machine(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                     "targets": TARGETS, "steps": {}}
    failed = 0
    t_all = time.perf_counter()
    for name, step in steps.items():
        if args.only and name not in args.only:
            continue
        print(f"== {name}: {TARGETS[name]}", flush=True)
        t0 = time.perf_counter()
        try:
            out = step()
        except Exception as exc:  # a failing step is reported, and the run exits non-zero
            failed += 1
            out = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
        out["step_seconds"] = round(time.perf_counter() - t0, 2)
        results["steps"][name] = out
        print(json.dumps({k: v for k, v in out.items() if k != "traceback"}, indent=2, default=str), flush=True)

    if "reconcile" in results["steps"] and not (args.only and "reconcile" not in args.only):
        pts = []
        for n in scale["growth"]:
            try:
                r = bench_reconcile.run(n, baselines=False)
                pts.append((n, r["qbrecon"]["seconds"]))
            except Exception as exc:
                results["steps"]["reconcile_growth_error"] = str(exc)
                break
        results["steps"]["reconcile_growth"] = {"points": pts, "exponent": growth_exponent(pts)}
        print("== reconcile growth", results["steps"]["reconcile_growth"], flush=True)

    results["total_seconds"] = round(time.perf_counter() - t_all, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str))
    print(f"wrote {args.out} in {results['total_seconds']} s; {failed} step(s) failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
