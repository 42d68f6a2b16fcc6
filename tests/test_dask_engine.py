"""The dask engine (issue 10 acceptance): a LocalCluster of 2 worker processes on loopback.

* ``anomaly scan --engine dask --scheduler ADDRESS`` over a week of the bundled 292-stock panel writes
  every date's events.json and anomalies.csv byte for byte as ``--engine local`` does, and stores the
  same results;
* a worker killed mid-backfill (deterministically: a worker plugin exits its own process when the
  worker starts its second detection batch, i.e. while it holds one finished batch in memory) loses
  and duplicates nothing — dask recomputes the lost batches on the surviving / restarted worker and
  the output equals the undisturbed run;
* ``--scheduler local-cluster`` starts and stops a cluster of its own.

The local reference run happens before the cluster starts (the local engine forks its pool).
"""
from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")

from anomaly.cli import main  # noqa: E402
from anomaly.store import Store  # noqa: E402

pytestmark = pytest.mark.slow

START, END = "2023-05-22", "2023-05-26"
DATES = ["2023-05-22", "2023-05-23", "2023-05-24", "2023-05-25", "2023-05-26"]


def _config(folder: Path, universe: str = "sample", watchlist: tuple[str, ...] = ()) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    cfg = folder / "scan.toml"
    wl = f"watchlist = {json.dumps(list(watchlist))}\n" if watchlist else ""
    cfg.write_text(
        f'store = "{folder / "store"}"\n[source]\ndefault = "sample"\n'
        f'[universe]\nname = "{universe}"\n{wl}'
        f'[scan]\nworkers = 2\nplots = false\n', encoding="utf-8")
    return cfg


def _scan(folder: Path, *extra: str, start: str = START, end: str = END, cfg: Path | None = None) -> int:
    """``anomaly scan`` in-process into ``folder/out`` with the store ``folder/store``."""
    cfg = cfg or _config(folder)
    argv = ["scan", "--config", str(cfg), "--start", start, "--end", end, "--out", str(folder / "out"),
            "--store", str(folder / "store"), "--no-plots", *extra]
    try:
        return main(argv)
    finally:
        # cli._setup_logging binds a root handler to the stderr of the moment; drop it (see conftest)
        root = logging.getLogger()
        for h in list(root.handlers):
            if getattr(h, "_anomaly", False):
                root.removeHandler(h)
        root.setLevel(logging.WARNING)


def _outputs(folder: Path) -> dict[str, bytes]:
    """Every date's machine-readable outputs: {"<date>/events.json": bytes, ...}."""
    out = folder / "out"
    files = {}
    for day in sorted(p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for name in ("events.json", "anomalies.csv"):
            files[f"{day.name}/{name}"] = (day / name).read_bytes()
    return files


def _assert_same_as(reference: Path, folder: Path) -> None:
    ref, got = _outputs(reference), _outputs(folder)
    assert sorted(got) == sorted(ref)
    assert sorted({k.split("/")[0] for k in got}) == DATES
    for name in ref:
        assert got[name] == ref[name], f"{name} differs between engines"
    assert Store(folder / "store").events() == Store(reference / "store").events()
    assert not [p for p in (folder / "out").iterdir() if p.name.startswith(".")]  # no temp folders left


def _events(folder: Path, day: str) -> list[dict]:
    doc = json.loads((folder / "out" / day / "events.json").read_text(encoding="utf-8"))
    return doc["events"] if isinstance(doc, dict) else doc


@pytest.fixture(scope="module")
def local_run(tmp_path_factory) -> Path:
    """The reference: ``--engine local`` (a 2-process pool) over the week, on the bundled panel."""
    folder = tmp_path_factory.mktemp("local")
    assert _scan(folder, "--engine", "local") == 0
    return folder


@pytest.fixture(scope="module")
def cluster():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0") as lc, Client(lc) as client:
        client.wait_for_workers(2, timeout=60)
        yield lc, client


def _square(x: int) -> int:
    return x * x


def test_dask_engine_maps_in_order_and_leaves_an_external_cluster_running(cluster):
    from anomaly.engines import DaskEngine, open_engine

    lc, client = cluster
    with open_engine("dask", 2, lc.scheduler_address) as eng:
        assert isinstance(eng, DaskEngine)
        assert eng.map(_square, range(30)) == [x * x for x in range(30)]
        assert eng.map(_square, []) == []
    assert len(client.scheduler_info()["workers"]) == 2


def test_dask_scan_equals_local_on_the_bundled_panel(local_run, cluster, tmp_path):
    lc, _ = cluster
    assert _scan(tmp_path, "--engine", "dask", "--scheduler", lc.scheduler_address) == 0
    _assert_same_as(local_run, tmp_path)
    # the defining case is in there, and the week is not trivially empty
    assert "002230@2023-05-24" in [e["id"] for e in _events(tmp_path, "2023-05-24")]
    assert sum(len(_events(tmp_path, d)) for d in DATES) >= 20


class KillOnSecondBatch(distributed.WorkerPlugin):
    """Exit this worker's process (as a crash would) when it starts its second detection batch.

    The first worker to get there dies, once for the whole cluster: ``marker`` is created with
    O_EXCL and holds the dead worker's pid. Its nanny then starts a fresh worker process.
    """

    name = "anomaly-test-kill-on-second-batch"

    def __init__(self, marker: str, prefix: str = "_detect_job"):
        self.marker, self.prefix, self.started = marker, prefix, 0

    def setup(self, worker):
        self.started = 0

    def transition(self, key, start, finish, **kwargs):
        if finish != "executing" or not str(key).startswith(self.prefix):
            return
        self.started += 1
        if self.started < 2:
            return
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        os._exit(1)


def test_killed_worker_mid_backfill_loses_and_duplicates_nothing(local_run, cluster, tmp_path):
    lc, client = cluster
    marker = tmp_path / "killed.pid"
    pids_before = set(client.run(os.getpid).values())
    module = sys.modules[__name__]
    cloudpickle.register_pickle_by_value(module)  # workers cannot import this test module
    try:
        client.register_plugin(KillOnSecondBatch(str(marker)))
        code = _scan(tmp_path, "--engine", "dask", "--scheduler", lc.scheduler_address)
    finally:
        client.unregister_worker_plugin(KillOnSecondBatch.name)
        cloudpickle.unregister_pickle_by_value(module)
    assert code == 0
    # the kill really happened: one worker process died mid-run and its nanny replaced it
    assert marker.exists(), "no worker was killed"
    killed = int(marker.read_text())
    assert killed in pids_before
    client.wait_for_workers(2, timeout=60)
    pids_after = set(client.run(os.getpid).values())
    assert killed not in pids_after and len(pids_after) == 2
    # nothing lost, nothing duplicated: byte-identical to the undisturbed local run
    _assert_same_as(local_run, tmp_path)
    store = Store(tmp_path / "store")
    assert store.query("select id, count(*) c from events group by id having c > 1").empty
    assert store.query("select symbol, kind, \"end\", count(*) c from anomalies "
                       "group by symbol, kind, \"end\" having c > 1").empty
    n_events = sum(len(_events(tmp_path, d)) for d in DATES)
    assert len(store.events()) == n_events == int(store.query("select count(*) n from events")["n"][0])


def test_local_cluster_scheduler_starts_and_stops_its_own(tmp_path):
    """``--scheduler local-cluster`` on a small watch-list, one date: same bytes as local."""
    symbols = ("002230", "002015", "002020", "300222", "300486", "000021", "300033", "600031")
    for name, extra in (("local", ["--engine", "local"]), ("dask", ["--engine", "dask", "--scheduler", "local-cluster"])):
        folder = tmp_path / name
        cfg = _config(folder, "watchlist", symbols)
        assert _scan(folder, *extra, start="2023-05-24", end="2023-05-24", cfg=cfg) == 0
    ref, got = _outputs(tmp_path / "local"), _outputs(tmp_path / "dask")
    assert sorted(got) == ["2023-05-24/anomalies.csv", "2023-05-24/events.json"]
    assert got == ref
    assert "002230@2023-05-24" in [e["id"] for e in _events(tmp_path / "dask", "2023-05-24")]
