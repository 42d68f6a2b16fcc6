"""Speed benchmarks of ``anomaly``: one JSON object per line on stdout.

    python -m benchmarks                 # full sizes (about 5–10 minutes on 2 cores)
    python -m benchmarks --quick         # smaller sizes (under 2 minutes)
    python -m benchmarks --quick --tiny  # seconds; what tests/test_benchmarks_harness.py runs
    python benchmarks/run.py --case daily_detect --case link
    python -m benchmarks --machine       # the machine description (one JSON line) and exit

Every line has ``name, n, seconds, rate, baseline, baseline_seconds, ratio, peak_rss_mb`` with
``ratio = baseline_seconds / seconds`` measured in the same run on the same data, plus what was timed,
whether the data is synthetic, any extrapolation (``baseline_extrapolated_from`` …) and, where the
issue sets one, the acceptance target and whether this line meets it. Each case runs in its own
child process (so one case's memory never counts towards another's peak); a case that fails prints
a line with ``error`` and the run exits 1. Benchmarks never assert anything about speed.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):          # run as a file: python benchmarks/run.py
    sys.path.insert(0, str(ROOT))

from benchmarks.common import CASES, REQUIRED_KEYS, SIZES  # noqa: E402

_MODULES = {"daily_detect": "daily", "intraday_detect": "intraday", "link": "link", "store": "store",
            "cli_startup": "cli", "event_study": "event_study",
            "backfill": "backfill"}
_TIMEOUT = {"full": 3600, "quick": 600, "tiny": 300}


def machine() -> dict:
    """nproc, CPU model, memory, OS, Python and library versions."""
    import numpy
    import pandas
    import pyarrow
    import scipy
    import statsmodels

    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {"name": "machine", "nproc": os.cpu_count(), "cpu": cpu or platform.processor(), "mem_gb": mem_gb,
            "os": platform.platform(), "python": platform.python_version(), "numpy": numpy.__version__,
            "pandas": pandas.__version__, "scipy": scipy.__version__, "pyarrow": pyarrow.__version__,
            "statsmodels": statsmodels.__version__, "loadavg": [round(x, 2) for x in os.getloadavg()],
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def _child(case: str, label: str) -> None:
    import importlib
    import warnings

    warnings.simplefilter("ignore")
    mod = importlib.import_module(f"benchmarks.cases.{_MODULES[case]}")
    mod.run(SIZES[label][case], label)


def _error_line(case: str, label: str, msg: str) -> dict:
    rec = {k: None for k in REQUIRED_KEYS}
    rec.update(name=case, n=0, size=label, error=msg)
    return rec


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller sizes (under 2 minutes)")
    ap.add_argument("--tiny", action="store_true", help="tiny sizes for the harness test (seconds)")
    ap.add_argument("--case", action="append", choices=CASES, help="run only this case (repeatable)")
    ap.add_argument("--machine", action="store_true", help="print the machine description and exit")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--size", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(args.child, args.size)
        return 0
    if args.machine:
        print(json.dumps(machine(), ensure_ascii=False), flush=True)
        return 0
    label = "tiny" if args.tiny else "quick" if args.quick else "full"
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("PYTHONWARNINGS", "ignore")
    failed = 0
    for case in args.case or CASES:
        cmd = [sys.executable, "-m", "benchmarks.run", "--child", case, "--size", label]
        try:
            proc = subprocess.run(cmd, cwd=str(ROOT), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, timeout=_TIMEOUT[label])
        except subprocess.TimeoutExpired:
            failed += 1
            print(json.dumps(_error_line(case, label, f"timed out after {_TIMEOUT[label]} s")), flush=True)
            continue
        lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
        for ln in lines:
            try:
                json.loads(ln)
            except json.JSONDecodeError:
                sys.stderr.write(f"[{case}] {ln}\n")
                continue
            print(ln, flush=True)
        if proc.returncode != 0:
            failed += 1
            tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
            print(json.dumps(_error_line(case, label, f"exit {proc.returncode}: {tail[0][:300]}")), flush=True)
            sys.stderr.write(proc.stderr[-4000:])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
