"""The execution seam (``anomaly.engines``): local engine semantics and the dask engine's failure modes.

The dask engine's results (identical to local, a killed worker) are in ``test_dask_engine.py``;
here: the local engine maps like a plain ``map`` (order kept, errors raised) with 1 or 2 workers,
and choosing dask fails early with one clear line and exit 2 when dask is missing, when no
scheduler is given or when the scheduler cannot be reached — and writes no report or results.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from anomaly.engines import (DASK_HINT, DaskEngine, LocalEngine, check_engine, check_scheduler_address,
                             open_engine)
from anomaly.errors import BadInput

ITEMS = list(range(12))


def _square_slow(x: int) -> tuple[int, int]:
    # Later items sleep less, so with a pool they finish first: the result order must still be the input's.
    time.sleep(0.002 * (len(ITEMS) - x))
    return x, x * x


def _pid(_x) -> int:
    return os.getpid()


def _boom(x: int) -> int:
    if x == 3:
        raise ValueError(f"bad item {x}")
    return x


# --- the local engine ------------------------------------------------------------------------------

@pytest.mark.parametrize("workers", [1, 2])
def test_local_engine_equals_a_plain_map_in_order(workers):
    expected = [_square_slow(x) for x in ITEMS]
    eng = LocalEngine(workers)
    try:
        assert eng.map(_square_slow, ITEMS) == expected
        assert eng.map(_square_slow, iter(ITEMS)) == expected  # any iterable, mapped again on the same pool
        assert eng.map(_square_slow, []) == []
    finally:
        eng.close()


def test_local_engine_one_worker_runs_in_process_two_use_a_pool():
    one, two = LocalEngine(1), LocalEngine(2)
    try:
        assert set(one.map(_pid, ITEMS)) == {os.getpid()}
        assert os.getpid() not in set(two.map(_pid, ITEMS))
        assert two.map(_pid, [0]) == [os.getpid()]  # a single item is not worth a process
    finally:
        one.close()
        two.close()
        two.close()  # closing twice is harmless


@pytest.mark.parametrize("workers", [1, 2])
def test_local_engine_raises_the_task_error(workers):
    with open_engine("local", workers) as eng:
        with pytest.raises(ValueError, match="bad item 3"):
            eng.map(_boom, ITEMS)


def test_open_engine_closes_the_pool():
    with open_engine("local", 2) as eng:
        assert eng.map(_square_slow, ITEMS[:4]) == [_square_slow(x) for x in ITEMS[:4]]
        assert eng._pool is not None
    assert eng._pool is None


def test_workers_below_one_mean_one():
    assert LocalEngine(0).workers == 1


# --- choosing the engine ----------------------------------------------------------------------------

def test_unknown_engine_and_dask_without_scheduler_are_bad_input():
    with pytest.raises(BadInput, match="unknown engine 'spark'"):
        check_engine("spark", "")
    with pytest.raises(BadInput, match="--scheduler"):
        check_engine("dask", "")
    check_engine("local", "")


@pytest.mark.parametrize("address", [
    "tcp://10.0.0.5:8786", "10.0.0.5:8786", "tls://sched.example:8786", "tcp://[::1]:8786",
    "ws://host-1:80", "local-cluster", "tcp://[fe80::1%eth0]:8786",
])
def test_well_formed_scheduler_addresses_pass(address):
    check_scheduler_address(address)


@pytest.mark.parametrize("address, why", [
    ("localhost", "expected tcp://HOST:PORT"),
    ("bogus://127.0.0.1:1", "unknown scheme 'bogus'"),
    ("tcp://127.0.0.1", "expected tcp://HOST:PORT"),
    ("tcp://127.0.0.1:99999", "port out of range"),
    ("tcp://127.0.0.1:0", "port out of range"),
    ("tcp://a b:1", "expected tcp://HOST:PORT"),
    ("tcp://host:1/path", "expected tcp://HOST:PORT"),
    ("tcp://127.0.0.1:1\n", "expected tcp://HOST:PORT"),         # a stray newline from a shell variable
    ("tcp://127.0.0.1:８７８６", "expected tcp://HOST:PORT"),      # fullwidth digits
    ("tcp://[:]:8786", "expected tcp://HOST:PORT"),
    ("tcp://-bad..:8786", "expected tcp://HOST:PORT"),
    ("inproc://10.0.0.1/1234/1", "expected tcp://HOST:PORT"),     # in-process only: no use across machines
])
def test_malformed_scheduler_addresses_name_the_problem(address, why):
    with pytest.raises(BadInput, match=re.escape(why)) as err:
        check_scheduler_address(address)
    assert repr(address) in str(err.value)


def test_any_client_start_failure_is_cannot_reach(monkeypatch):
    """distributed has raised a bare AssertionError while starting against a bad address."""
    pytest.importorskip("dask.distributed")
    import dask.distributed

    def broken_client(*args, **kwargs):
        raise AssertionError

    monkeypatch.setattr(dask.distributed, "Client", broken_client)
    with pytest.raises(BadInput, match=r"^cannot reach dask scheduler tcp://127\.0\.0\.1:1: AssertionError$"):
        DaskEngine("tcp://127.0.0.1:1")


@pytest.fixture
def no_dask(monkeypatch):
    """Make ``import dask.distributed`` fail as on a machine without the extra."""
    for name in list(sys.modules):
        if name == "distributed" or name.startswith("distributed."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    monkeypatch.setitem(sys.modules, "distributed", None)


def test_missing_dask_names_the_install_command(no_dask):
    from anomaly.engines import DaskEngine

    assert "pip install" in DASK_HINT and "dask[distributed]" in DASK_HINT
    with pytest.raises(BadInput) as exc:
        check_engine("dask", "local-cluster")
    assert str(exc.value) == DASK_HINT
    with pytest.raises(BadInput, match="pip install"):
        DaskEngine("local-cluster")
    check_engine("local", "")  # the local engine never needs dask


def _small_config(tmp_path: Path, **scan) -> Path:
    cfg = tmp_path / "small.toml"
    extra = "".join(f"{k} = {json.dumps(v)}\n" for k, v in scan.items())
    cfg.write_text(
        f'store = "{tmp_path / "store"}"\n[source]\ndefault = "sample"\n'
        f'[universe]\nname = "watchlist"\nwatchlist = ["002230", "000021"]\n'
        f'[scan]\nworkers = 1\nplots = false\n{extra}', encoding="utf-8")
    return cfg


def _nothing_written(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert not (out / "2023-05-24").exists()
    assert not out.exists() or not any(out.iterdir())
    assert not (tmp_path / "store" / "results").exists()


def test_cli_missing_dask_exits_2_with_the_hint(tmp_path, run_cli, no_dask):
    cfg = _small_config(tmp_path)
    r = run_cli(["scan", "--config", cfg, "--date", "2023-05-24", "--out", tmp_path / "out",
                 "--engine", "dask", "--scheduler", "local-cluster"])
    assert r.code == 2
    assert r.err_lines[-1] == f"error: {DASK_HINT}"
    assert "Traceback" not in r.err
    _nothing_written(tmp_path)


def test_cli_dask_without_scheduler_exits_2(tmp_path, run_cli):
    pytest.importorskip("dask.distributed")
    cfg = _small_config(tmp_path)
    r = run_cli(["scan", "--config", cfg, "--date", "2023-05-24", "--out", tmp_path / "out", "--engine", "dask"])
    assert r.code == 2
    assert r.err_lines[-1].startswith("error: --engine dask needs --scheduler")
    _nothing_written(tmp_path)


def test_config_engine_dask_without_scheduler_exits_2(tmp_path, run_cli):
    pytest.importorskip("dask.distributed")
    cfg = _small_config(tmp_path, engine="dask")
    r = run_cli(["scan", "--config", cfg, "--date", "2023-05-24", "--out", tmp_path / "out"])
    assert r.code == 2
    assert "--scheduler" in r.err_lines[-1]
    _nothing_written(tmp_path)


def test_cli_unknown_engine_is_a_usage_error(tmp_path, run_cli):
    cfg = _small_config(tmp_path)
    r = run_cli(["scan", "--config", cfg, "--date", "2023-05-24", "--out", tmp_path / "out", "--engine", "spark"])
    assert r.code == 2
    assert "spark" in r.err_lines[-1]
    _nothing_written(tmp_path)


def test_config_unknown_engine_names_the_key(tmp_path, run_cli):
    cfg = _small_config(tmp_path, engine="ray")
    r = run_cli(["scan", "--config", cfg, "--date", "2023-05-24", "--out", tmp_path / "out"])
    assert r.code == 2
    assert "scan.engine" in r.err_lines[-1]


@pytest.mark.slow
def test_cli_unreachable_scheduler_is_one_line_exit_2_nothing_written(tmp_path, run_cli):
    """Port 1 on loopback refuses connections; the client gives up after its connect timeout."""
    pytest.importorskip("dask.distributed")
    cfg = _small_config(tmp_path)
    r = run_cli(["scan", "--config", cfg, "--date", "2023-05-24", "--out", tmp_path / "out",
                 "--engine", "dask", "--scheduler", "tcp://127.0.0.1:1"])
    assert r.code == 2
    errors = [line for line in r.err_lines if line.startswith("error:")]
    assert len(errors) == 1
    assert errors[0].startswith("error: cannot reach dask scheduler tcp://127.0.0.1:1")
    assert "Traceback" not in r.err
    _nothing_written(tmp_path)


@pytest.mark.parametrize("address", ["localhost", "bogus://127.0.0.1:1"])
def test_cli_malformed_scheduler_address_is_bad_input(tmp_path, run_cli, address):
    pytest.importorskip("dask.distributed")
    cfg = _small_config(tmp_path)
    r = run_cli(["scan", "--config", cfg, "--date", "2023-05-24", "--out", tmp_path / "out",
                 "--engine", "dask", "--scheduler", address])
    assert "internal error" not in r.err
    assert r.code == 2
    assert address in r.err_lines[-1]
    _nothing_written(tmp_path)


# --- dask stays optional -----------------------------------------------------------------------------

def test_importing_the_scan_does_not_import_dask(tmp_path):
    code = ("import sys, anomaly.scan, anomaly.engines, anomaly.cli, anomaly.pipeline\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'))\n"
            "print(bad)\n")
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=tmp_path, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_local_scan_does_not_import_dask(tmp_path):
    """A whole local scan (the default engine) runs without ever importing dask."""
    cfg = _small_config(tmp_path)
    code = ("import sys\nfrom anomaly.cli import main\n"
            f"rc = main(['scan', '--config', {str(cfg)!r}, '--date', '2023-05-24', '--out', {str(tmp_path / 'out')!r}])\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'))\n"
            "print(rc, bad)\n")
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["ANOMALY_STORE"] = str(tmp_path / "default-store")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "0 []"
    assert (tmp_path / "out" / "2023-05-24" / "events.json").exists()
