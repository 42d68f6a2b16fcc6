"""The benchmark harness keeps working (speed is measured by ``python -m benchmarks``, never here).

One run of ``python -m benchmarks --quick --tiny`` (every case on tiny sizes, each in its own child
process) must print only JSON lines with the required keys, ``ratio = baseline_seconds / seconds``
(as printed, to rounding), and label its synthetic data; no timing is asserted. The quality script's
pure NAB scorer is checked on hand-worked series.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = ("name", "n", "seconds", "rate", "baseline", "baseline_seconds", "ratio", "peak_rss_mb")


@pytest.fixture(scope="module")
def tiny_run():
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--tiny"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    return proc


def test_tiny_run_prints_json_lines_with_the_required_keys(tiny_run):
    assert tiny_run.returncode == 0, tiny_run.stderr[-2000:]
    lines = [ln for ln in tiny_run.stdout.splitlines() if ln.strip()]
    recs = [json.loads(ln) for ln in lines]          # every line is one JSON object
    names = {r["name"] for r in recs}
    assert {"daily_detect", "intraday_detect", "link", "link_match", "store.write_minute_day",
            "store.read_minute_day", "store.read_symbol_year", "cli_startup", "event_study"} <= names
    for r in recs:
        assert "error" not in r, r
        for k in REQUIRED:
            assert k in r, (r["name"], k)
        assert r["seconds"] > 0 and r["n"] > 0
        assert r["peak_rss_mb"] > 0
        assert r["size"] == "tiny"
        assert r["ratio"] == pytest.approx(r["baseline_seconds"] / r["seconds"], rel=0.01, abs=0.01)
        assert r["rate"] == pytest.approx(r["n"] / r["seconds"], rel=0.01)


def test_tiny_run_labels_synthetic_data_and_extrapolation(tiny_run):
    recs = {json.loads(ln)["name"]: json.loads(ln) for ln in tiny_run.stdout.splitlines() if ln.strip()}
    for name in ("daily_detect", "intraday_detect", "link", "link_match", "store.write_minute_day"):
        assert recs[name]["data"] == "synthetic"
    assert recs["daily_detect"]["baseline_extrapolated_from"] >= 1
    assert recs["intraday_detect"]["baseline_same_records"] is True
    assert recs["link_match"]["same_candidates"] is True
    assert recs["link"]["seconds_extrapolated_from"] >= 1
    assert recs["event_study"]["data"].startswith("real") and recs["event_study"]["same_results"] is True


def test_run_py_is_runnable_as_a_file():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "--quick" in proc.stdout


def test_nab_score_on_hand_worked_series():
    sys.path.insert(0, str(ROOT))
    from benchmarks.quality import nab_score

    # never alarming scores 0, alarming on every window's first bar 100
    assert nab_score([(240, [(100, 123)], [])])["nab_score"] == pytest.approx(0.0)
    assert nab_score([(240, [(100, 123)], [100])])["nab_score"] == pytest.approx(100.0)
    # a detection at the window's last bar is worth ~0; earlier is better than later
    late = nab_score([(240, [(100, 123)], [123])])
    early = nab_score([(240, [(100, 123)], [105])])
    assert 0 < late["nab_score"] < early["nab_score"] < 100
    # a false alarm on a calm series costs A_FP = 0.11 of one window
    fp = nab_score([(240, [(100, 123)], [100]), (240, [], [50])])
    first_bar = 2 / (1 + math.exp(-5)) - 1
    assert fp["false_positives"] == 1
    assert fp["raw"] == pytest.approx(first_bar - 0.11)
