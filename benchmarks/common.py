"""Shared helpers of the benchmark cases: sizes, timing, peak memory and the output record.

Every case runs in its own child process (see ``run.py``) so one case's memory never inflates the
next one's peak. Inside the child:

* ``peak_rss_mb`` is the resident-set high-water mark (``VmHWM``) of *our* timed run: the mark is
  reset (``/proc/self/clear_refs`` ← 5) just before it, so it includes the input data already in
  memory but not the data generator's or the baseline's transient peaks. Where the kernel does not
  allow the reset, ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` after our run is used instead (the
  record says which in ``peak_rss_scope``).
* ``process_peak_rss_mb`` is ``ru_maxrss`` of the whole child at its end (data generation, our run
  and the baseline together).
* ``seconds`` is the median of ``repeats`` timed runs of our code (wall clock, ``perf_counter``);
  ``seconds_runs`` lists them. ``baseline_seconds`` is measured once, in the same child, on the same
  data; when the baseline would take too long it runs on a subset of ``baseline_extrapolated_from``
  units and is scaled linearly to the full size.
"""
from __future__ import annotations

import gc
import json
import math
import os
import resource
import statistics
import time
from typing import Any, Callable

# --- sizes ----------------------------------------------------------------------------------------

SIZES: dict[str, dict[str, dict[str, Any]]] = {
    # full = the sizes the issue asks for; quick = a few-minute run; tiny = the harness test (seconds)
    "full": {
        "daily_detect": dict(symbols=5000, days=260, baseline_symbols=20, repeats=3),
        "intraday_detect": dict(symbols=5000, days=1, prior_days=5, baseline_symbols=20, repeats=2),
        "link": dict(anomalies=10_000, news=1_000_000, baseline_anomalies=100, library_anomalies=200,
                     repeats=3),
        "store": dict(symbols=5000, daily_days=242, repeats=3),
        "cli_startup": dict(repeats=7),
        "event_study": dict(days=10, baseline_events=600, repeats=3),
        "backfill": dict(),
    },
    "quick": {
        "daily_detect": dict(symbols=1000, days=260, baseline_symbols=6, repeats=1),
        "intraday_detect": dict(symbols=1000, days=1, prior_days=5, baseline_symbols=5, repeats=1),
        "link": dict(anomalies=2000, news=200_000, baseline_anomalies=40, library_anomalies=60, repeats=1),
        "store": dict(symbols=1000, daily_days=242, repeats=1),
        "cli_startup": dict(repeats=3),
        "event_study": dict(days=3, baseline_events=200, repeats=1),
        "backfill": dict(),
    },
    "tiny": {
        "daily_detect": dict(symbols=40, days=160, baseline_symbols=2, repeats=1),
        "intraday_detect": dict(symbols=20, days=1, prior_days=1, baseline_symbols=2, repeats=1),
        "link": dict(anomalies=40, news=3000, baseline_anomalies=8, library_anomalies=10, repeats=1),
        "store": dict(symbols=20, daily_days=60, repeats=1),
        "cli_startup": dict(repeats=1),
        "event_study": dict(days=1, baseline_events=30, repeats=1),
        "backfill": dict(),
    },
}

CASES = ("daily_detect", "intraday_detect", "link", "store", "cli_startup", "event_study", "backfill")

REQUIRED_KEYS = ("name", "n", "seconds", "rate", "baseline", "baseline_seconds", "ratio", "peak_rss_mb")


# --- memory ---------------------------------------------------------------------------------------

def _status_kb(field: str, pid: str = "self") -> float | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak() -> bool:
    """Reset the kernel's resident high-water mark to the current RSS (Linux ≥ 4.0)."""
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_mb(reset_ok: bool) -> tuple[float, str]:
    """(peak RSS in MB, what it covers) since ``reset_peak`` (or for the whole process)."""
    if reset_ok:
        kb = _status_kb("VmHWM")
        if kb is not None:
            return kb / 1024.0, "our run (VmHWM reset just before it; input data resident)"
    return process_peak_mb(), "whole process up to the end of our run (ru_maxrss)"


def process_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# --- timing ---------------------------------------------------------------------------------------

def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def measure_ours(fn: Callable[[], Any], repeats: int, before: Callable[[], None] | None = None
                 ) -> tuple[float, list[float], float, str, Any]:
    """Run ``fn`` ``repeats`` times; (median seconds, all runs, peak MB, peak scope, last result).

    ``before`` runs untimed before each run (e.g. clearing a cache so every run starts cold).
    The peak is taken over all runs (the high-water mark is reset once, before the first).
    """
    runs = []
    out = None
    ok = reset_peak()
    for _ in range(max(1, repeats)):
        if before is not None:
            before()
        out = None
        gc.collect()
        s, out = timed(fn)
        runs.append(s)
    pk, scope = peak_mb(ok)
    return statistics.median(runs), runs, pk, scope, out


# --- records --------------------------------------------------------------------------------------

def _round(x, nd=4):
    if x is None:
        return None
    if isinstance(x, float):
        if not math.isfinite(x):
            return None
        return round(x, nd)
    return x


def record(name: str, n: int, seconds: float, baseline: str, baseline_seconds: float | None,
           peak_rss_mb: float, unit: str, **extra) -> dict:
    """One output line. ``ratio`` = baseline_seconds / seconds (same run, same data)."""
    ratio = (baseline_seconds / seconds) if (baseline_seconds is not None and seconds > 0) else None
    rec = {"name": name, "n": int(n), "seconds": _round(seconds, 4),
           "rate": _round(n / seconds if seconds > 0 else None, 1), "unit": unit,
           "baseline": baseline, "baseline_seconds": _round(baseline_seconds, 4),
           "ratio": _round(ratio, 2), "peak_rss_mb": _round(peak_rss_mb, 1)}
    # the ratio is recomputed from the rounded figures, so a reader can check it from the line itself
    if rec["baseline_seconds"] is not None and rec["seconds"]:
        rec["ratio"] = round(rec["baseline_seconds"] / rec["seconds"], 2)
    for k, v in extra.items():
        rec[k] = _round(v) if isinstance(v, float) else v
    rec["process_peak_rss_mb"] = _round(process_peak_mb(), 1)
    rec["loadavg_1m"] = _round(os.getloadavg()[0], 2)
    return rec


def targets_met(rec: dict, ratio_min: float | None = None, seconds_max: float | None = None,
                rss_max_mb: float | None = None) -> dict:
    """The issue's acceptance figures for this case and whether this line meets them."""
    t: dict[str, Any] = {}
    ok = True
    if ratio_min is not None:
        t["ratio_min"] = ratio_min
        ok &= rec.get("ratio") is not None and rec["ratio"] >= ratio_min
    if seconds_max is not None:
        t["seconds_max"] = seconds_max
        ok &= rec["seconds"] is not None and rec["seconds"] < seconds_max
    if rss_max_mb is not None:
        t["peak_rss_mb_max"] = rss_max_mb
        ok &= rec["peak_rss_mb"] is not None and rec["peak_rss_mb"] < rss_max_mb
    return {"targets": t, "meets_targets": bool(ok)}


def emit(rec: dict) -> None:
    print(json.dumps(rec, ensure_ascii=False, allow_nan=False), flush=True)


def warm_calendar() -> None:
    """Load the exchange calendar once, untimed (its first use costs ~0.1–0.5 s)."""
    from anomaly import calendar as cal

    cal.trading_days("2022-01-04", "2024-12-31")
