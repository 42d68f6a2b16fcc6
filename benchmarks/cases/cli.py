"""cli_startup: wall time of ``anomaly --help`` against ``python -c "import akshare"``.

Both run as fresh processes of the project's interpreter (the console script next to it, or
``python -m anomaly`` when the script is missing), one untimed warm-up each (file cache), then
``repeats`` alternating timed runs; the record gives the medians. ``ratio`` = akshare import time /
``anomaly --help`` time, so the issue's "less than half the time of importing akshare" is ratio > 2.
``peak_rss_mb`` is the largest resident size of the ``anomaly --help`` child processes.
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from ..common import emit, record, targets_met


def _cmd_anomaly() -> list[str]:
    exe = Path(sys.executable).parent / "anomaly"
    if exe.exists():
        return [str(exe), "--help"]
    found = shutil.which("anomaly")
    return [found, "--help"] if found else [sys.executable, "-m", "anomaly", "--help"]


def _run(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, the child's own peak RSS in MB) of one fresh process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    _, status, usage = os.wait4(proc.pid, 0)
    dt = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}")
    return dt, usage.ru_maxrss / 1024.0


def run(size: dict, label: str) -> None:
    ours_cmd = _cmd_anomaly()
    base_cmd = [sys.executable, "-c", "import akshare"]
    _run(ours_cmd)
    _run(base_cmd)
    ours_t, base_t, ours_mb, base_mb = [], [], [], []
    for _ in range(size["repeats"]):
        t, mb = _run(ours_cmd)
        ours_t.append(t)
        ours_mb.append(mb)
        t, mb = _run(base_cmd)
        base_t.append(t)
        base_mb.append(mb)
    sec, bsec = statistics.median(ours_t), statistics.median(base_t)
    rec = record("cli_startup", 1, sec, 'python -c "import akshare"', bsec, max(ours_mb), "process starts",
                 command=" ".join(Path(c).name if i == 0 else c for i, c in enumerate(ours_cmd)), size=label,
                 seconds_runs=[round(x, 3) for x in ours_t], baseline_runs=[round(x, 3) for x in base_t],
                 peak_rss_scope="largest anomaly --help child process (os.wait4 ru_maxrss)",
                 baseline_peak_rss_mb=round(max(base_mb), 1),
                 timed="fresh process, median of alternating runs after one warm-up each")
    rec.update(targets_met(rec, ratio_min=2.0))
    emit(rec)
