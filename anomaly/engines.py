"""Where the scan's work runs: ``local`` (this machine: in-process or a process pool) or ``dask``.

An engine only maps a picklable function over work items and returns the results in order; the
scan decides what the items are (symbol batches) and gathers and writes everything once, on the
driver, so results are identical whatever the engine. Dask is optional: it is imported only when
chosen, with a clear message telling how to install it when missing.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import re
from typing import Callable, Iterator, Sequence

from .errors import BadInput

DASK_HINT = "the dask engine needs dask.distributed: pip install 'anomaly[dask]' (or pip install 'dask[distributed]')"


class LocalEngine:
    """In-process for one worker; otherwise one process pool (fork) kept for the engine's lifetime."""

    name = "local"

    def __init__(self, workers: int = 1):
        self.workers = max(1, int(workers))
        self._pool: cf.ProcessPoolExecutor | None = None

    def map(self, fn: Callable, items: Sequence) -> list:
        items = list(items)
        if self.workers == 1 or len(items) <= 1:
            return [fn(x) for x in items]
        if self._pool is None:
            import multiprocessing as mp

            self._pool = cf.ProcessPoolExecutor(max_workers=self.workers, mp_context=mp.get_context("fork"))
        return list(self._pool.map(fn, items))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


class DaskEngine:
    """A dask.distributed client: an existing scheduler address, or ``local-cluster`` on this machine."""

    name = "dask"

    def __init__(self, scheduler: str, workers: int = 2, retries: int = 2):
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise BadInput(DASK_HINT) from None
        import logging

        # distributed resets its loggers to INFO on import; its chatter is for -vv only.
        root_level = logging.getLogger().level
        logging.getLogger("distributed").setLevel(logging.DEBUG if root_level <= logging.DEBUG else logging.WARNING)
        self._cluster = None
        if not scheduler:
            raise BadInput("--engine dask needs --scheduler ADDRESS (e.g. tcp://10.0.0.5:8786) or local-cluster")
        if scheduler == "local-cluster":
            self._cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                         host="127.0.0.1", dashboard_address=":0")
            self.client = Client(self._cluster)
        else:
            try:
                self.client = Client(scheduler, timeout="10s")
            except Exception as exc:  # noqa: BLE001
                # distributed's start-up failures vary by version and timing (OSError, TimeoutError,
                # ValueError, even a bare AssertionError from its loop); all mean "not reachable".
                detail = str(exc) or type(exc).__name__
                raise BadInput(f"cannot reach dask scheduler {scheduler}: {detail}") from None
        self.retries = retries

    def map(self, fn: Callable, items: Sequence) -> list:
        # pure=False: every item is its own task; retries cover a worker lost mid-task.
        futures = self.client.map(fn, list(items), pure=False, retries=self.retries)
        return self.client.gather(futures)

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


SCHEDULER_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")
_ADDRESS = re.compile(r"(?:(?P<scheme>[a-z]+)://)?"
                      r"(?P<host>\[[0-9a-fA-F:.]*[0-9a-fA-F][0-9a-fA-F:.]*(?:%[A-Za-z0-9_.-]+)?\]"
                      r"|[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?)"
                      r":(?P<port>[0-9]{1,5})", re.ASCII)


def check_scheduler_address(scheduler: str) -> None:
    """Reject an address dask could only fail on, with a line that says what is wrong with it.

    Checked here, not left to distributed, because its errors for a bad address differ between
    versions (and one path raises a bare AssertionError).
    """
    if scheduler == "local-cluster":
        return
    m = _ADDRESS.fullmatch(scheduler)
    if m is None:
        raise BadInput(f"bad dask scheduler address {scheduler!r}: expected tcp://HOST:PORT or local-cluster")
    scheme = m.group("scheme")
    if scheme is not None and scheme not in SCHEDULER_SCHEMES:
        raise BadInput(f"bad dask scheduler address {scheduler!r}: unknown scheme {scheme!r} "
                       f"(use one of {', '.join(SCHEDULER_SCHEMES)})")
    if not 0 < int(m.group("port")) < 65536:
        raise BadInput(f"bad dask scheduler address {scheduler!r}: port out of range")


def check_engine(engine: str, scheduler: str) -> None:
    """Fail early (before any work) when the chosen engine cannot run."""
    if engine == "dask":
        try:
            import dask.distributed  # noqa: F401
        except ImportError:
            raise BadInput(DASK_HINT) from None
        if not scheduler:
            raise BadInput("--engine dask needs --scheduler ADDRESS or local-cluster")
        check_scheduler_address(scheduler)
    elif engine != "local":
        raise BadInput(f"unknown engine {engine!r} (use local or dask)")


@contextlib.contextmanager
def open_engine(engine: str, workers: int = 1, scheduler: str = "") -> Iterator[LocalEngine | DaskEngine]:
    check_engine(engine, scheduler)
    eng = DaskEngine(scheduler, workers) if engine == "dask" else LocalEngine(workers)
    try:
        yield eng
    finally:
        eng.close()
