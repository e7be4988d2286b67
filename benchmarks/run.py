"""qbrecon benchmarks: each figure next to its baseline, measured on the same data in the same run.

    python benchmarks/run.py --scale small     # under a minute; runs in CI so the code cannot rot
    python benchmarks/run.py --scale full      # construction-company scale (see BENCHMARKS.md)
    python benchmarks/run.py --scale full --only reconcile qbxml_build

Every step runs in its own Python process, so its peak resident memory (``process_peak_rss_mb``, the child's
``ru_maxrss``) is its own and a step that crashes cannot take the others with it. Results go to
``benchmarks/results/latest.json`` (``--out``) with a Markdown summary next to it (``latest.md``), which
BENCHMARKS.md quotes. Figures are ratios measured in one run, since absolute times vary by machine; the load
average before and after is recorded because the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

SCALES = {
    # qbxml_mb: size of the BillQueryRs to load; procore_projects: company size for the Procore load (~5,000
    # invoice lines a project); recon_lines: lines per side; queue_items: items decided; queue_sample: items
    # decided one by one (the rest is projected); build_requests: BillAdd requests; qbwc_items: items through
    # the Web Connector loop; growth: line counts for the growth exponents (load: projects giving those lines).
    "small": {
        "qbxml_mb": 4,
        "procore_projects": 1,
        "recon_lines": 20_000,
        "queue_items": 2_000,
        "queue_sample": 100,
        "build_requests": 2_000,
        "qbwc_items": 200,
        "growth": [2_000, 20_000],
        "growth_projects": [1, 2],
        "repeat": 1,
        "parse_repeat": 1,
    },
    "full": {
        "qbxml_mb": 220,
        "procore_projects": 200,
        "recon_lines": 1_000_000,
        "queue_items": 100_000,
        "queue_sample": 300,
        "build_requests": 100_000,
        "qbwc_items": 10_000,
        "growth": [10_000, 100_000, 1_000_000],
        "growth_projects": [2, 20, 200],
        "repeat": 2,
        "parse_repeat": 2,
    },
}

TARGETS = {
    "qbxml_parse": "ws.load_quickbooks into a workspace file >= 0.8x the one-core iterparse floor, >= 8x "
    "xmltodict+pandas, peak RSS < 1 GB",
    "procore_load": "Procore load of ~1M invoice lines: peak RSS < 1 GB, >= 2x the load with the export in memory",
    "qbxml_build": "BillAdd generation >= 50% of lxml alone (same trees, same documents)",
    "reconcile": ">= 10x datacompy PandasCompare with the same differences, within 2x of a bare DuckDB join",
    "reconcile_whole": "whole reconciliation (every pair, headers, lines, reasons) within 2x of a bare DuckDB query "
    "doing the same comparisons, >= 10x datacompy on string business keys, the same findings",
    "growth": "time against rows from 10k to 1M for load, decide, build and reconcile: exponent <= 1.1 each",
    "queue": "batch accept >= 100x the same decisions one by one",
    "qbwc": "each response parsed once; the export ledger's share of the loop <= 30%",
}


def machine() -> dict:
    import psutil

    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import duckdb
    import lxml.etree
    import pandas

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "processor": model,
        "duckdb": duckdb.__version__,
        "pandas": pandas.__version__,
        "lxml": ".".join(map(str, lxml.etree.LXML_VERSION)),
    }


def growth_exponent(points: list[tuple[int, float]]) -> float | None:
    """Slope of log(time) against log(rows) (least squares): 1.0 is linear, 2.0 quadratic."""
    pts = [(math.log(n), math.log(t)) for n, t in points if t > 0]
    if len(pts) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    den = sum((x - mx) ** 2 for x, _ in pts)
    return round(sum((x - mx) * (y - my) for x, y in pts) / den, 2) if den else None


def _decide_seconds(n: int) -> float:
    import tempfile

    from benchmarks import bench_queue

    with tempfile.TemporaryDirectory() as tmp:
        ws = bench_queue._workspace(Path(tmp) / "decide.duckdb", n)
        t0 = time.perf_counter()
        result = ws.accept("item_type = 'company' AND status = 'ready_to_export'", by="ann")
        seconds = time.perf_counter() - t0
        assert result.count == n, result
        ws.close()
    return seconds


def _build_seconds(lines: int) -> float:
    from benchmarks.bench_qbxml_build import LINES_PER_INVOICE, build_inputs, qbrecon_build

    inputs = build_inputs(max(1, lines // LINES_PER_INVOICE))
    t0 = time.perf_counter()
    qbrecon_build(inputs, keep_trees=False)
    return time.perf_counter() - t0


def _growth(scale: dict, data: Path) -> dict:
    """Each stage of the user's path at 10k, 100k and 1M rows (qbrecon alone): load (Procore invoice lines of a
    company of that size), decide (queue items accepted in one batch), build (BillAdd lines), reconcile (lines a
    side: the line comparison and the whole invoice reconciliation)."""
    from benchmarks import bench_load, bench_reconcile

    points: dict[str, list] = {
        "load": bench_load.growth(data, scale["growth_projects"]),
        "decide": [],
        "build": [],
        "reconcile_lines": [],
        "reconcile_invoices": [],
    }
    for n in scale["growth"]:
        points["decide"].append((n, round(_decide_seconds(n), 3)))
        points["build"].append((n, round(_build_seconds(n), 3)))
        r = bench_reconcile.run(n, repeat=scale["repeat"], baselines=False)
        points["reconcile_lines"].append((n, r["qbrecon_s"]))
        points["reconcile_invoices"].append((n, r["invoice_reconcile_s"]))
    out: dict = {"points": points, "exponents": {k: growth_exponent(v) for k, v in points.items()}}
    out["exponents_top"] = {k: growth_exponent(v[-2:]) for k, v in points.items()}
    out["targets_met"] = {k: e is not None and e <= 1.1 for k, e in out["exponents"].items()}
    return out


def run_step(name: str, scale: dict, data: Path) -> dict:
    """One step in this process."""
    from benchmarks import (
        bench_load,
        bench_qbwc,
        bench_qbxml,
        bench_queue,
        bench_reconcile,
        bench_reconcile_whole,
    )

    steps = {
        "qbxml_parse": lambda: bench_qbxml.run_parse(scale["qbxml_mb"], data, repeat=scale["parse_repeat"]),
        "procore_load": lambda: bench_load.run(data, scale["procore_projects"]),
        "qbxml_build": lambda: bench_qbxml.run_build(scale["build_requests"], repeat=scale["repeat"]),
        "reconcile": lambda: bench_reconcile.run(scale["recon_lines"], repeat=scale["repeat"] + 1),
        "reconcile_whole": lambda: bench_reconcile_whole.run(scale["recon_lines"], repeat=scale["repeat"]),
        "growth": lambda: _growth(scale, data),
        "queue": lambda: bench_queue.run(scale["queue_items"], sample=scale["queue_sample"]),
        "qbwc": lambda: bench_qbwc.run(scale["qbwc_items"]),
    }
    return steps[name]()


def _child(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    try:
        out = run_step(args.step, SCALES[args.scale], args.data)
        rc = 0
    except Exception as exc:  # reported in the results; the parent counts the failure
        out = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
        rc = 1
    out["step_seconds"] = round(time.perf_counter() - t0, 2)
    out["process_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    args.out.write_text(json.dumps(out, indent=2, default=str))
    return rc


def _spawn(name: str, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"{name}.json"
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--scale",
            args.scale,
            "--step",
            name,
            "--data",
            str(args.data),
            "--out",
            str(out),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE.parent)
        if out.exists():
            return json.loads(out.read_text())
        return {
            "error": f"the step's process ended with code {proc.returncode} and no result",
            "stderr": proc.stderr[-4000:],
        }


def summary_markdown(results: dict) -> str:
    """The figures that matter, one line per target (quoted in BENCHMARKS.md)."""
    s = results["steps"]
    m = results["machine"]
    lines = [
        f"Scale `{results['scale']}`, {results['started']}, total {results['total_seconds']} s. "
        f"Machine: {m['processor']}, {m['cpus']} CPUs, {m['memory_gb']} GiB, Python {m['python']}, "
        f"DuckDB {m['duckdb']}, pandas {m['pandas']}, lxml {m['lxml']}. Load average (1/5/15 min) before: "
        f"{results['load_before']}, after: {results['load_after']}.",
        "",
        "| step | figure | target | met | peak RSS (MB) |",
        "|---|---|---|---|---|",
    ]

    def row(step: str, figure: str, target: str, met: object) -> None:
        rss = s.get(step, {}).get("process_peak_rss_mb", "")
        lines.append(f"| {step} | {figure} | {target} | {met} | {rss} |")

    def get(step: str, *path: str) -> object:
        v: object = s.get(step, {})
        for p in path:
            v = v.get(p) if isinstance(v, dict) else None
        return v

    for step in s:
        if "error" in s[step]:
            row(step, f"ERROR: {s[step]['error'][:200]}", TARGETS.get(step, ""), "no")
    if "qbxml_parse" in s and "error" not in s["qbxml_parse"]:
        p = s["qbxml_parse"]
        row(
            "qbxml_parse",
            f"{p['file']['mb']} MB, {p['rows']['bill_lines']} lines: ws.load_quickbooks "
            f"{p['qbrecon_load']['mb_per_s']} MB/s (peak {p['qbrecon_load']['peak_rss_mb']} MB); floor "
            f"{p['iterparse_floor']['mb_per_s']} MB/s ({p['iterparse_floor']['peak_rss_mb']} MB) -> "
            f"{p['load_vs_floor']}x; xmltodict+pandas {p['xmltodict_pandas']['mb_per_s']} MB/s "
            f"({p['xmltodict_pandas']['peak_rss_mb']} MB) -> {p['load_vs_xmltodict']}x; read_query_response alone "
            f"{p['qbrecon_parse']['mb_per_s']} MB/s ({p['qbrecon_parse']['peak_rss_mb']} MB, {p['parse_vs_floor']}x)",
            ">= 0.8x floor, >= 8x xmltodict, < 1 GB",
            p["targets_met"],
        )
    if "procore_load" in s and "error" not in s["procore_load"]:
        p = s["procore_load"]
        row(
            "procore_load",
            f"{p['rows']['invoice_lines']} invoice lines: streaming {p['stream']['seconds']} s "
            f"({p['stream']['peak_rss_mb']} MB); export in memory first {p['in_memory']['seconds']} s "
            f"({p['in_memory']['peak_rss_mb']} MB) -> {p['speedup']}x; CPU-s {p['stream']['cpu_s']} "
            f"(workers {p['stream']['cpu_workers_s']}) vs {p['in_memory']['cpu_s']} -> {p['cpu_ratio']}x; "
            f"read in one process {p['stream_one_process']['seconds']} s -> {p['speedup_one_process']}x",
            ">= 2x, < 1 GB",
            p["targets_met"],
        )
    if "qbxml_build" in s and "error" not in s["qbxml_build"]:
        b = s["qbxml_build"]
        row(
            "qbxml_build",
            f"{b['requests']} BillAdd: qbrecon {b['qbrecon']['requests_per_s']}/s, lxml build+"
            f"serialise {b['lxml_build_and_serialise']['requests_per_s']}/s ({b['generation_vs_lxml']}x); "
            f"message_sets {b['qbrecon_message_sets']['requests_per_s']}/s vs tostring "
            f"{b['lxml_tostring_alone']['requests_per_s']}/s ({b['serialisation_vs_lxml']}x)",
            ">= 0.5x lxml alone",
            f"generation {b['target_met']}, serialisation {b['serialisation_target_met']}",
        )
    if "reconcile" in s and "error" not in s["reconcile"]:
        r = s["reconcile"]
        row(
            "reconcile",
            f"{r['n_lines']} lines a side: qbrecon {r['qbrecon_s']} s, datacompy {r['datacompy_s']} s "
            f"({r['speedup_vs_datacompy']}x), floor {min(r['floor_s'], r['floor_decimal_s'])} s "
            f"({r['slowdown_vs_floor']}x slower; floor itself {r['floor_vs_datacompy']}x datacompy); same "
            f"differences: {r['same_differences']}; whole invoice reconciliation {r['invoice_reconcile_s']} s",
            ">= 10x datacompy, <= 2x floor",
            r["targets_met"],
        )
    if "reconcile_whole" in s and "error" not in s["reconcile_whole"]:
        r = s["reconcile_whole"]
        row(
            "reconcile_whole",
            f"{r['n_lines']} lines a side, every pair: ws.reconcile {r['qbrecon']['seconds']} s "
            f"({r['qbrecon']['peak_rss_mb']} MB); bare DuckDB query {r['bare_duckdb']['seconds']} s "
            f"({r['bare_duckdb']['peak_rss_mb']} MB) -> {r['vs_bare']}x; datacompy on string keys "
            f"{r['datacompy']['seconds']} s ({r['datacompy']['peak_rss_mb']} MB) -> {r['speedup_vs_datacompy']}x; "
            f"findings {r['findings']}, same: {r['same_findings']}; in CPU time {r['cpu_vs_bare']}x bare, "
            f"{r['cpu_speedup_vs_datacompy']}x datacompy; the line comparison alone {r['lines_alone']['seconds']} s "
            f"({r['lines_alone_vs_datacompy']}x datacompy), the header comparison alone "
            f"{r['headers_alone']['seconds']} s ({r['headers_alone_vs_datacompy']}x), the two "
            f"{r['lines_and_headers_alone_vs_datacompy']}x datacompy",
            "<= 2x bare, >= 10x datacompy, same findings",
            r["targets_met"],
        )
    if "growth" in s and "error" not in s["growth"]:
        g = s["growth"]
        figure = "; ".join(
            f"{k} {v} -> {g['exponents'][k]} (top two {g['exponents_top'][k]})"
            for k, v in g["points"].items()
        )
        row("growth", figure, "<= 1.1 each", g["targets_met"])
    if "queue" in s and "error" not in s["queue"]:
        q = s["queue"]
        row(
            "queue",
            f"{q['n']} items: batch {q['batch_seconds']} s, one by one {q['one_by_one_seconds_for_n']} s "
            f"(projected from {q['one_by_one_sample']}) -> {q['speedup']}x",
            ">= 100x",
            q["speedup"] >= 100,
        )
    if "qbwc" in s and "error" not in s["qbwc"]:
        w = s["qbwc"]
        row(
            "qbwc",
            f"{w['items']} items in {w['seconds']} s: {w['items_per_second']} requests/s, "
            f"{w['message_sets_per_second']} message sets/s; synced {w['synced']}; service share "
            f"{get('qbwc', 'profile', 'service_share')}; export ledger share {w['shares']['export_ledger']}; "
            f"ledger statements per message set {get('qbwc', 'ledger_statements', 'per_message_set')}; "
            f"response parses {w['response_parses']}",
            "ledger <= 30%, 1 parse per response",
            w["targets_met"],
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--only", nargs="*", help="run only these steps", choices=list(TARGETS))
    parser.add_argument("--data", type=Path, default=HERE / "data", help="where generated data goes")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "latest.json")
    parser.add_argument(
        "--step", choices=list(TARGETS), help=argparse.SUPPRESS
    )  # internal: one step, in-process
    args = parser.parse_args(argv)
    args.data = args.data.resolve()
    args.out = args.out.resolve()
    args.data.mkdir(parents=True, exist_ok=True)
    if args.step:
        return _child(args)

    results: dict = {
        "scale": args.scale,
        "machine": machine(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "load_before": [round(x, 2) for x in os.getloadavg()],
        "targets": TARGETS,
        "sizes": SCALES[args.scale],
        "steps": {},
    }
    failed = 0
    t_all = time.perf_counter()
    for name in TARGETS:
        if args.only and name not in args.only:
            continue
        print(f"== {name}: {TARGETS[name]}", flush=True)
        out = _spawn(name, args)
        failed += "error" in out
        results["steps"][name] = out
        print(
            json.dumps({k: v for k, v in out.items() if k != "traceback"}, indent=2, default=str), flush=True
        )
    results["load_after"] = [round(x, 2) for x in os.getloadavg()]
    results["total_seconds"] = round(time.perf_counter() - t_all, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    md = summary_markdown(results)
    args.out.with_suffix(".md").write_text(md)
    print(md)
    print(f"wrote {args.out} in {results['total_seconds']} s; {failed} step(s) failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
