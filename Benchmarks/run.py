#!/usr/bin/env python3
"""make bench: runs every benchmark, prints one table, writes bench-results.json.

Each benchmark executable prints `BENCH-ROW {json}` lines (the row format of
interfaces.md) and `BENCH-DETAIL text` lines. This driver runs them with the
malloc counter preloaded, collects the rows, prints them as a table followed by
the details, and writes the rows to bench-results.json at the repository root.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "Benchmarks"
RELEASE = BENCH / ".build" / "release"
COUNTER = BENCH / ".build" / "libmalloc_counter.so"

# (executable or script, arguments); each prints BENCH-ROW lines.
SUITES = [
    [str(RELEASE / "TimerBenchmarks")],
    # The real release daemon: ingest over the socket, restart and memory with 1M open disputes.
    # Before the spool benchmark, which creates and deletes thousands of files: on an ext4
    # without a journal (this project's machine) every file created in the next minutes
    # scans past the inodes just deleted, which the daemon's spooler would pay during the
    # ingest for a benchmark that ran before it.
    [sys.executable, str(BENCH / "daemon_benchmarks.py")],
    [str(RELEASE / "SpoolBenchmarks"), str(ROOT)],
]

# The table's order: that of interfaces.md, whatever order the suites run in.
FIGURES = ["timers.cancel-heavy", "timers.expire-heavy", "timers.year-jump", "timers.bytes-per-timer",
           "calendar.add-business-days", "calendar.count-business-days", "spool.notices",
           "ingest.dispute-open", "restart.1m-open", "memory.1m-open"]


def run_suite(argv, rows, details):
    env = dict(os.environ)
    if COUNTER.exists() and not argv[0].endswith("python3") and "python" not in Path(argv[0]).name:
        env["LD_PRELOAD"] = str(COUNTER)
    print(f"running {Path(argv[-1] if 'python' in Path(argv[0]).name else argv[0]).name} ...", file=sys.stderr, flush=True)
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        print(proc.stdout, proc.stderr, file=sys.stderr)
        raise SystemExit(f"{argv[0]} failed with exit code {proc.returncode}")
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH-ROW "):
            rows.append(json.loads(line[len("BENCH-ROW "):]))
        elif line.startswith("BENCH-DETAIL "):
            details.append(line[len("BENCH-DETAIL "):])


def run_calendar(rows, details):
    """Swift and numpy on the same 1M dates, one after the other."""
    import tempfile
    env = dict(os.environ)
    if COUNTER.exists():
        env["LD_PRELOAD"] = str(COUNTER)
    with tempfile.TemporaryDirectory() as work:
        print("running CalendarBenchmarks ...", file=sys.stderr, flush=True)
        swift = subprocess.run([str(RELEASE / "CalendarBenchmarks"), work], capture_output=True, text=True, env=env, check=True)
        numpy = subprocess.run([sys.executable, str(BENCH / "numpy_calendar.py"), work], capture_output=True, text=True, check=True)
    s = swift.stdout.split("BENCH-SWIFT ")[1].split()
    n = numpy.stdout.split("BENCH-NUMPY ")[1].split()
    add, count, allocs = float(s[1]), float(s[3]), float(s[5])
    np_add, np_count = float(n[1]), float(n[3])
    baseline = "numpy busday_offset/busday_count, vectorized, same dates and holidays"
    rows.append(dict(figure="calendar.add-business-days", value=add, unit="ns/op", baseline=baseline,
                     baselineValue=np_add, ratio=np_add / add, target=">= 4x faster than numpy, 0 allocations per operation",
                     met=np_add / add >= 4 and allocs < 0.001))
    rows.append(dict(figure="calendar.count-business-days", value=count, unit="ns/op", baseline=baseline,
                     baselineValue=np_count, ratio=np_count / count, target=">= 4x faster than numpy",
                     met=np_count / count >= 4))
    details.append(f"calendar: 1M random dates 2000-2050 on the SE calendar; add 14 business days, count over up to 400 days; "
                   f"allocations per add {allocs:.4f}")


def fmt(value):
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.4f}"


def main():
    rows, details = [], []
    for suite in SUITES:
        run_suite(suite, rows, details)
    run_calendar(rows, details)
    rows.sort(key=lambda r: FIGURES.index(r["figure"]) if r["figure"] in FIGURES else len(FIGURES))
    header = ["figure", "value", "unit", "baseline value", "ratio", "met", "target"]
    table = [[r["figure"], fmt(r["value"]), r["unit"], fmt(r.get("baselineValue")),
              (fmt(r["ratio"]) + "x") if r.get("ratio") is not None else "-",
              "yes" if r["met"] else "NO", r["target"]] for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *table)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths))
    print(line)
    print("-" * len(line))
    for t in table:
        print("  ".join(str(x).ljust(w) for x, w in zip(t, widths)))
    print()
    print("baselines:")
    for name in sorted({r["figure"].split(".")[0] + ": " + r["baseline"] for r in rows}):
        print("  " + name)
    if details:
        print()
        for d in details:
            print("  " + d)
    (ROOT / "bench-results.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(f"\nwrote {ROOT / 'bench-results.json'} ({len(rows)} rows)")


if __name__ == "__main__":
    main()
