"""Helpers shared by the reliability tests and their subprocess driver (``_driver.py``).

Nothing here changes library code: fake sources are ``anomaly.sources.base.Source`` subclasses,
installed by replacing ``get_source`` where the library looks it up, and the pause points used by
the kill tests wrap ``os.replace`` / ``Store.bars`` *inside the driver's own process only*.
"""
from __future__ import annotations

import datetime as dt
import fnmatch
import json
import os
import signal
import time
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from anomaly.errors import SourceError
from anomaly.sources.base import Source
from anomaly.sources.sample import SampleSource

DATE = "2023-05-24"
# Three SZ main-board stocks of the bundled sample (benchmark 399001.SZ); 002230 has the defining event.
WATCH = ("002230", "000021", "000333")
BENCH = "399001.SZ"
REMOTE = "rtremote"


class RemoteSample(SampleSource):
    """The bundled real sample, but declared *remote*: the scan fetches it into the store first.

    ``delay`` seconds per bars() call; symbols in ``fail`` raise ``SourceError`` (a flaky upstream);
    ``raw`` maps symbol → an exception instance raised as is (an adapter that forgot to wrap).
    """

    name = REMOTE
    remote = True

    def __init__(self, delay: float = 0.0, fail=(), raw=None, empty=(), calls=None):
        self.delay = float(delay)
        self.fail = set(fail)
        self.raw = dict(raw or {})
        self.empty = set(empty)
        self.calls = calls if calls is not None else []

    def bars(self, symbol, start, end, freq="daily"):
        self.calls.append(symbol.id)
        _pause_hook("bars")
        if self.delay:
            time.sleep(self.delay)
        if symbol.id in self.raw:
            raise self.raw[symbol.id]
        if symbol.id in self.fail:
            raise SourceError(f"rtremote bars({symbol.code}): connection reset by the server (rt.example)")
        if symbol.id in self.empty:
            return super().bars(symbol, start, end, freq).iloc[0:0]
        return super().bars(symbol, start, end, freq)


def install_source(monkeypatch, source: Source, name: str = REMOTE) -> None:
    """Make ``get_source(name)`` return ``source`` everywhere the library looks it up."""
    import anomaly.fetch
    import anomaly.sources

    orig = anomaly.sources.get_source

    def get_source(n, **opts):
        return source if (n or "").strip() == name else orig(n, **opts)

    monkeypatch.setattr(anomaly.sources, "get_source", get_source)
    monkeypatch.setattr(anomaly.fetch, "get_source", get_source)


def write_config(path: Path, store: Path | str, *, source: str = REMOTE, watch=WATCH, plots: bool = False,
                 out: Path | str | None = None, extra: str = "") -> Path:
    lines = [f"store = {json.dumps(str(store))}", "", "[source]", f"default = {json.dumps(source)}",
             "retries = 0", "backoff = 0.0", "min_interval = 0.0", "timeout = 5.0", "",
             "[universe]", 'name = "watchlist"', f"watchlist = {json.dumps(list(watch))}", "",
             "[scan]", f"plots = {'true' if plots else 'false'}", "workers = 1"]
    if out is not None:
        lines.append(f"out = {json.dumps(str(out))}")
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return path


# --- store inspection -------------------------------------------------------------------------------


def parquet_files(root: Path) -> list[str]:
    root = Path(root)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.parquet")) if root.exists() else []


def temp_litter(root: Path) -> list[str]:
    """Temporary files/folders a writer leaves when killed (store: ``.tmp-*``; report: ``.*.tmp``,
    ``.<date>-*`` folders, ``.<date>.old-*``)."""
    root = Path(root)
    if not root.exists():
        return []
    out = []
    for p in root.rglob(".*"):
        n = p.name
        if n in (".scan.lock", ".write.lock"):
            continue
        out.append(str(p.relative_to(root)))
    return sorted(out)


def read_store(root: Path) -> dict[str, pd.DataFrame]:
    """Every Parquet file of a store as a frame (raises if one is unreadable = a partial file)."""
    root = Path(root)
    return {rel: pd.read_parquet(root / rel) for rel in parquet_files(root)}


def store_problems(root: Path) -> list[str]:
    """Consistency problems of a store: unreadable files, duplicate or unsorted rows."""
    import pyarrow.parquet as pq

    problems = []
    root = Path(root)
    for rel in parquet_files(root):
        try:
            df = pq.read_table(root / rel).to_pandas()
        except Exception as exc:  # noqa: BLE001 - a partial file is exactly what we look for
            problems.append(f"{rel}: unreadable ({type(exc).__name__}: {exc})")
            continue
        if rel.startswith("bars/"):
            if df.duplicated(["symbol", "ts"]).any():
                problems.append(f"{rel}: duplicate (symbol, ts) rows")
            if not df.sort_values(["symbol", "ts"]).index.equals(df.index):
                problems.append(f"{rel}: rows not sorted by (symbol, ts)")
            meta = pq.read_schema(root / rel).metadata or {}
            cov = json.loads(meta.get(b"anomaly.coverage", b"{}"))
            if rel.startswith("bars/daily/"):
                sym = Path(rel).stem
                if len(df) and sym not in cov:
                    problems.append(f"{rel}: rows without coverage metadata")
                if set(df["symbol"].unique()) - {sym}:
                    problems.append(f"{rel}: rows of another symbol")
        elif rel.startswith("news/"):
            if df["id"].duplicated().any():
                problems.append(f"{rel}: duplicate news ids")
        elif rel.endswith("events.parquet"):
            if df["id"].duplicated().any():
                problems.append(f"{rel}: duplicate event ids")
        elif rel.endswith("anomalies.parquet"):
            if df.astype(str).duplicated().any():
                problems.append(f"{rel}: duplicate anomaly rows")
    return problems


def rows_missing(before: dict[str, pd.DataFrame], after: dict[str, pd.DataFrame]) -> list[str]:
    """Files/rows of ``before`` that ``after`` no longer has (bars by (symbol, ts), news by id)."""
    lost = []
    for rel, old in before.items():
        new = after.get(rel)
        if new is None:
            lost.append(f"{rel}: file gone")
            continue
        if rel.startswith("bars/"):
            k_old = set(zip(old["symbol"], old["ts"]))
            k_new = set(zip(new["symbol"], new["ts"]))
            if k_old - k_new:
                lost.append(f"{rel}: {len(k_old - k_new)} bar(s) lost")
        elif rel.startswith("news/"):
            if set(old["id"]) - set(new["id"]):
                lost.append(f"{rel}: news lost")
        elif len(new) < len(old):
            lost.append(f"{rel}: {len(old) - len(new)} row(s) lost")
    return lost


def frames_equal(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> list[str]:
    diffs = []
    for rel in sorted(set(a) | set(b)):
        if rel not in a or rel not in b:
            diffs.append(f"{rel}: only in {'first' if rel in a else 'second'}")
            continue
        x, y = a[rel].reset_index(drop=True), b[rel].reset_index(drop=True)
        try:
            pd.testing.assert_frame_equal(x, y, check_dtype=False)
        except AssertionError as exc:
            diffs.append(f"{rel}: {str(exc).splitlines()[0]}")
    return diffs


def report_files(out_day: Path) -> dict[str, bytes]:
    out_day = Path(out_day)
    if not out_day.exists():
        return {}
    return {str(p.relative_to(out_day)): p.read_bytes() for p in sorted(out_day.rglob("*")) if p.is_file()}


# --- hang guard -------------------------------------------------------------------------------------


class Hang(Exception):
    pass


@contextmanager
def bounded(seconds: float, what: str = "call"):
    """Fail (raise ``Hang``) if the block runs longer than ``seconds`` (main thread, SIGALRM)."""
    def on_alarm(signum, frame):
        raise Hang(f"{what} did not return within {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# --- pause points (used only inside the driver subprocess) ------------------------------------------

_COUNTS: dict[str, int] = {}


def _pause_spec():
    spec = os.environ.get("RT_PAUSE", "")
    return spec.split("|") if spec else None


def _stop_here(label: str) -> None:
    mark = os.environ.get("RT_MARK")
    if mark:
        Path(mark).write_text(label)
    release = os.environ.get("RT_RELEASE")
    parent = os.getppid()
    while True:
        if release and Path(release).exists():
            return
        if os.getppid() != parent:   # a forked worker whose driver was killed: do not linger
            os._exit(1)
        time.sleep(0.02)


def _pause_hook(kind: str, detail: str = "") -> None:
    """``RT_PAUSE="bars|N"``, ``"storebars|N"``, ``"replace|GLOB|N|before|after"``."""
    spec = _pause_spec()
    if not spec or spec[0] != kind:
        return
    if kind == "replace":
        if not fnmatch.fnmatch(detail, spec[1]):
            return
        n = int(spec[2])
    else:
        n = int(spec[1])
    _COUNTS[kind] = _COUNTS.get(kind, 0) + 1
    if _COUNTS[kind] == n:
        _stop_here(f"{kind} {n} {detail}")


def install_pause_points() -> None:
    """Wrap ``os.replace`` and ``Store.bars`` so the driver can stop at a named point."""
    spec = _pause_spec()
    if not spec:
        return
    if spec[0] == "replace":
        real_replace = os.replace
        when = spec[3] if len(spec) > 3 else "before"

        def replace(src, dst, *a, **k):
            if when == "before":
                _pause_hook("replace", os.fspath(dst))
            real_replace(src, dst, *a, **k)
            if when == "after":
                _pause_hook("replace", os.fspath(dst))

        os.replace = replace
    if spec[0] == "storebars":
        from anomaly.store import Store

        real_bars = Store.bars

        def bars(self, *a, **k):
            _pause_hook("storebars")
            return real_bars(self, *a, **k)

        Store.bars = bars


def day(s: str = DATE) -> dt.date:
    return dt.date.fromisoformat(s)


# --- stderr shape -----------------------------------------------------------------------------------

import re as _re

_PROGRESS = _re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ")


def the_error_line(err: str) -> str:
    """The single ``error: …`` line of a failed command's stderr. Every other stderr line must be a
    timestamped progress line or a ``warning: …`` / ``note: …`` line: no traceback, no Python warning, no second error."""
    lines = [l for l in err.splitlines() if l.strip()]
    errors = [l for l in lines if l.startswith("error: ")]
    others = [l for l in lines if not l.startswith("error: ") and not _PROGRESS.match(l)
              and not l.startswith(("warning: ", "note: "))]
    assert len(errors) == 1, f"expected exactly one 'error:' line, got {errors!r}\n{err}"
    assert others == [], f"unexpected stderr lines {others!r}"
    return errors[0]
