"""Shared fixtures for the whole test suite.

* ``sample_bars``   every bundled daily bar (session-scoped, read once)
* ``real_002230``   the five real 002230 bars of 2023-05-22..26 as a canonical frame (literal values)
* ``run_cli``       run ``anomaly.cli.main(argv)`` in-process → ``CliResult(code, out, err)``
* ``tmp_store``     an empty ``Store`` in a temporary folder (not yet created on disk)
* ``fixtures_dir``  ``tests/fixtures``
* ``snapshot``      ``snapshot(folder)`` → {relative path: (mtime_ns, bytes)} of every file, for
                    "nothing changed" assertions

Every test runs with ``ANOMALY_STORE`` and ``XDG_DATA_HOME`` pointed into its own temporary folder,
so no test can touch the user's real store.
"""
from __future__ import annotations

import logging
import os
import shlex
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import pytest

# Import the stage modules up front so in-process results never depend on which test file ran first
# (``anomaly/__init__`` lazily exports names that collide with submodules, e.g. ``fetch``). The
# import-order-sensitive path is covered in a fresh interpreter by
# test_cli_foundation.py::test_fetch_in_fresh_process.
import anomaly.fetch  # noqa: E402,F401

FIXTURES = Path(__file__).parent / "fixtures"
TZ = "Asia/Shanghai"

# The real unadjusted daily bars of 科大讯飞 002230.SZ, 2023-05-22..26 (see anomaly/data/PROVENANCE.md).
REAL_002230_ROWS = [
    # date,       open,  high,  low,   close, prev_close, volume (shares), amount (yuan), turnover %
    ("2023-05-22", 60.03, 60.46, 58.00, 58.86, 59.92, 45089000.0, 2659317822.53, 2.12),
    ("2023-05-23", 58.83, 60.17, 57.48, 59.09, 58.86, 45097600.0, 2659514621.59, 2.12),
    ("2023-05-24", 59.08, 59.56, 53.50, 56.57, 59.09, 110471900.0, 6232977896.23, 5.19),
    ("2023-05-25", 55.70, 56.65, 54.40, 55.61, 56.57, 73903400.0, 4098201322.58, 3.47),
    ("2023-05-26", 55.72, 57.06, 54.68, 56.63, 55.61, 56309300.0, 3166622300.27, 2.65),
]
BAR_COLUMNS = ["symbol", "ts", "open", "high", "low", "close", "prev_close", "volume", "amount", "turnover"]


def real_002230_frame() -> pd.DataFrame:
    df = pd.DataFrame(REAL_002230_ROWS, columns=["date"] + BAR_COLUMNS[2:])
    df.insert(0, "symbol", "002230")
    df.insert(1, "ts", (pd.to_datetime(df.pop("date")) + pd.Timedelta(hours=15)).dt.tz_localize(TZ))
    return df[BAR_COLUMNS]


class CliResult(NamedTuple):
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


@pytest.fixture(autouse=True)
def _isolated_default_store(tmp_path_factory, monkeypatch):
    """No test may read or write the user's real default store."""
    home = tmp_path_factory.mktemp("default-store-home")
    monkeypatch.setenv("ANOMALY_STORE", str(home / "store"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "xdg"))


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def sample_bars() -> pd.DataFrame:
    from anomaly.sources.sample import sample_daily_bars

    return sample_daily_bars()


@pytest.fixture
def real_002230() -> pd.DataFrame:
    return real_002230_frame()


@pytest.fixture
def tmp_store(tmp_path):
    from anomaly.store import Store

    return Store(tmp_path / "store")


def _drop_cli_log_handlers() -> None:
    # cli._setup_logging installs a root handler bound to the sys.stderr of the moment; under
    # pytest that is a capture stream that dies with the test, so remove it after every call.
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_anomaly", False):
            root.removeHandler(h)
    root.setLevel(logging.WARNING)


@pytest.fixture
def run_cli(capsys):
    """``run_cli("bars 002230 --start ...")`` or ``run_cli(["bars", ...])`` → CliResult."""
    from anomaly.cli import main

    def run(args) -> CliResult:
        argv = shlex.split(args) if isinstance(args, str) else [str(a) for a in args]
        capsys.readouterr()  # drop anything printed before
        try:
            code = main(argv)
        finally:
            _drop_cli_log_handlers()
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def take_snapshot(folder: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file (hidden ones too) under ``folder`` → (mtime_ns, inode, bytes).

    The inode catches an atomic replace even when it happens within the clock's granularity.
    """
    folder = Path(folder)
    if not folder.exists():
        return {}
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            st = p.stat()
            out[str(p.relative_to(folder))] = (st.st_mtime_ns, st.st_ino, p.read_bytes())
    return out


def age_files(folder: Path, seconds: int = 3600) -> None:
    """Move every file's mtime into the past so that any later rewrite shows as a new mtime."""
    for p in Path(folder).rglob("*"):
        if p.is_file():
            st = p.stat()
            os.utime(p, ns=(st.st_atime_ns - seconds * 10**9, st.st_mtime_ns - seconds * 10**9))


@pytest.fixture
def snapshot():
    """``snapshot(folder)``; ``snapshot.age(folder)`` back-dates mtimes before a "nothing changes" run."""
    take_snapshot.age = age_files  # type: ignore[attr-defined]
    return take_snapshot


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


@pytest.fixture
def subprocess_env(tmp_path) -> dict:
    env = dict(os.environ)
    env["ANOMALY_STORE"] = str(tmp_path / "subprocess-store")
    env.pop("PYTHONPATH", None)
    return env
