"""Fixtures of the reliability suite (bad input, faults, kills, hostile text).

* ``prestore``      a store holding the benchmark index 399001.SZ (2022-01..2023-06), as a careful
                    user would have fetched it; copied for each scenario (session-scoped, built once)
* ``baseline``      an *uninterrupted* nightly scan of 2023-05-24 over the three-stock watch-list with
                    the remote test source, in a subprocess: the reference every killed-and-rerun
                    scan must reproduce
* ``driver``        run / start ``tests/reliability/_driver.py`` (the ``anomaly`` CLI plus the test
                    source ``rtremote`` and pause points) in a subprocess
* ``scenario``      a fresh folder with a copy of ``prestore``, a config and an out dir
"""
from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import rt_support as rt  # noqa: E402
from rt_harness import Baseline, Driver, Scenario, make_scenario  # noqa: E402


@pytest.fixture
def driver(tmp_path) -> Driver:
    return Driver(tmp_path)


@pytest.fixture(scope="session")
def prestore(tmp_path_factory) -> Path:
    from anomaly.fetch import fetch
    from anomaly.store import Store
    from anomaly.symbols import resolve

    root = tmp_path_factory.mktemp("prestore") / "store"
    res = fetch(Store(root), rt.RemoteSample(), [resolve(rt.BENCH)], dt.date(2022, 1, 1), dt.date(2023, 6, 30))
    assert all(r.ok for r in res), res
    return root


@pytest.fixture
def scenario(tmp_path, prestore) -> Scenario:
    return make_scenario(tmp_path / "sc", prestore)


@pytest.fixture(scope="session")
def baseline(tmp_path_factory, prestore) -> Baseline:
    root = tmp_path_factory.mktemp("baseline")
    sc = make_scenario(root / "sc", prestore)
    r = Driver(root).run(sc.scan_args())
    assert r.returncode == 0, r.stderr
    assert (sc.day_dir / "events.json").is_file()
    return Baseline(sc, rt.report_files(sc.day_dir), rt.read_store(sc.store), r.stdout)


@pytest.fixture
def cli(run_cli):
    """In-process CLI: ``cli([...])`` → (code, out, err) with ``err_lines``."""
    return run_cli
