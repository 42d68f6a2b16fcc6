"""The embedded store: Parquet files on disk, queried with DuckDB.

Layout under the store root::

    bars/daily/<symbol>.parquet      one file per symbol, its whole daily history
    bars/<freq>/<YYYY-MM-DD>.parquet all symbols' intraday bars of one trading day
    news/<YYYY-MM>.parquet           news by publication month, one row per news ``id``
    results/<YYYY-MM-DD>/            a scan's anomalies.parquet and events.parquet for that date

Every write goes to a temporary file in the same folder, is fsync-ed and then ``os.replace``-d over
the old file, so a killed process leaves each file either as it was or complete. A file's
*coverage* (which trading days of which symbols were asked of a source, including days that came
back empty, such as suspensions) lives in the same file's Parquet metadata, so data and coverage
are committed together. Writing content identical to what is stored touches nothing. Writers hold
an exclusive lock on ``<root>/.write.lock``.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Iterable, Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import AnomalyError, BadInput, StoreLocked
from .schema import BAR_COLUMNS, NEWS_COLUMNS, TZ, ANOMALY_COLUMNS

FORMAT_VERSION = 1
_COVERAGE_KEY = b"anomaly.coverage"
_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once; restored at once
_SAFE = re.compile(r"^[0-9A-Za-z._-]{1,32}$")


def default_store_path() -> Path:
    """``$ANOMALY_STORE`` or the XDG data dir (``~/.local/share/anomaly/store``)."""
    env = os.environ.get("ANOMALY_STORE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "anomaly" / "store"


def _safe_name(part: str, what: str) -> str:
    # Symbols and dates become file names: refuse anything that could escape the folder.
    if not _SAFE.fullmatch(part) or part in (".", ".."):
        raise BadInput(f"refusing unsafe {what} {part!r} as a file name in the store")
    return part


# --- intervals of trading days ------------------------------------------------------------------

def _merge_intervals(iv: Iterable[tuple[str, str]]) -> list[list[str]]:
    out: list[list[str]] = []
    for s, e in sorted(iv):
        if out and s <= _next_day(out[-1][1]):
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return out


def _next_day(d: str) -> str:
    return (dt.date.fromisoformat(d) + dt.timedelta(days=1)).isoformat()


def missing_spans(covered: list[list[str]], days: pd.DatetimeIndex) -> list[tuple[dt.date, dt.date]]:
    """Contiguous runs of ``days`` (trading days) not inside any covered [start, end] interval."""
    if len(days) == 0:
        return []
    iso = [d.date().isoformat() for d in days]
    gaps: list[tuple[dt.date, dt.date]] = []
    run_start = prev = None
    for d in iso:
        inside = any(s <= d <= e for s, e in covered)
        if not inside:
            if run_start is None:
                run_start = d
            prev = d
        elif run_start is not None:
            gaps.append((dt.date.fromisoformat(run_start), dt.date.fromisoformat(prev)))
            run_start = None
    if run_start is not None:
        gaps.append((dt.date.fromisoformat(run_start), dt.date.fromisoformat(prev)))
    return gaps


# --- the store ----------------------------------------------------------------------------------

class Store:
    """A folder of Parquet files; see the module docstring for the layout and guarantees."""

    def __init__(self, root: str | os.PathLike | None = None, create: bool = True):
        self.root = Path(root).expanduser() if root is not None else default_store_path()
        if self.root.exists() and not self.root.is_dir():
            raise BadInput(f"store path {self.root} exists and is not a folder")
        self._create = create

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    # -- low-level file helpers --

    def _ensure(self) -> None:
        if not self.root.exists():
            if not self._create:
                raise BadInput(f"no store at {self.root}")
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise AnomalyError(f"cannot create store folder {self.root}: {exc.strerror}") from None
        marker = self.root / "store.json"
        if not marker.exists():
            self._atomic_bytes(marker, json.dumps({"format": FORMAT_VERSION}).encode())

    @contextlib.contextmanager
    def write_lock(self, wait: float = 30.0) -> Iterator[None]:
        """Exclusive writer lock (other writers wait up to ``wait`` seconds, then StoreLocked)."""
        self._ensure()
        fh = open(self.root / ".write.lock", "a+")
        deadline = time.monotonic() + wait
        try:
            while True:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise StoreLocked(f"store {self.root} is locked by another writer") from None
                    time.sleep(0.05)
            yield
        finally:
            fh.close()

    @contextlib.contextmanager
    def scan_lock(self) -> Iterator[None]:
        """Held for a whole scan so two scans on one store cannot interleave (fails at once)."""
        self._ensure()
        fh = open(self.root / ".scan.lock", "a+")
        try:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreLocked(f"another scan is running on store {self.root}") from None
            yield
        finally:
            fh.close()

    def _atomic_bytes(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; store files are shared with readers
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
            _fsync_dir(path.parent)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            if isinstance(exc, OSError):
                raise _io_error(path, exc) from None
            raise

    def _write_table(self, path: Path, df: pd.DataFrame, coverage: dict | None = None) -> bool:
        """Write ``df`` (+coverage) atomically unless the file already holds exactly that. True if written."""
        table = pa.Table.from_pandas(df, preserve_index=False)
        meta = dict(table.schema.metadata or {})
        if coverage is not None:
            meta[_COVERAGE_KEY] = json.dumps(coverage, sort_keys=True).encode()
        table = table.replace_schema_metadata(meta)
        if path.exists():
            try:
                old = pq.read_table(path)
                old_cov = (old.schema.metadata or {}).get(_COVERAGE_KEY)
                if old_cov == meta.get(_COVERAGE_KEY) and old.drop_columns([]).equals(
                        table.drop_columns([]).cast(old.schema)):
                    return False
            except (pa.ArrowException, OSError, ValueError, KeyError):
                pass  # unreadable or differently typed: rewrite it
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        self._atomic_bytes(path, sink.getvalue().to_pybytes())
        return True

    @staticmethod
    def _read_coverage(path: Path) -> dict:
        if not path.exists():
            return {}
        try:
            meta = pq.read_schema(path).metadata or {}
        except (pa.ArrowInvalid, OSError):
            return {}
        raw = meta.get(_COVERAGE_KEY)
        return json.loads(raw) if raw else {}

    # -- bars --

    def _daily_path(self, symbol: str) -> Path:
        return self.root / "bars" / "daily" / f"{_safe_name(symbol, 'symbol')}.parquet"

    def _intraday_path(self, freq: str, day: dt.date) -> Path:
        return self.root / "bars" / _safe_name(freq, "frequency") / f"{day.isoformat()}.parquet"

    def coverage(self, symbol: str, freq: str = "daily", days: pd.DatetimeIndex | None = None) -> list[list[str]]:
        """Covered [start, end] intervals of trading days for a symbol."""
        if freq == "daily":
            return self._read_coverage(self._daily_path(symbol)).get(symbol, [])
        covered = []
        for d in days if days is not None else []:
            cov = self._read_coverage(self._intraday_path(freq, d.date()))
            if symbol in cov:
                covered.append([d.date().isoformat(), d.date().isoformat()])
        return _merge_intervals(covered)

    def write_bars(self, bars: pd.DataFrame, freq: str, spans: dict[str, list[tuple[dt.date, dt.date]]]) -> int:
        """Merge canonical ``bars`` into the store and mark ``spans`` (per symbol) as covered.

        New rows replace stored rows with the same (symbol, ts). Returns the number of files
        rewritten (0 when nothing changed).
        """
        written = 0
        with self.write_lock():
            if freq == "daily":
                for sym in sorted(set(spans) | set(bars["symbol"].unique())):
                    new = bars[bars["symbol"] == sym]
                    path = self._daily_path(sym)
                    cov = self._read_coverage(path)
                    old = self._read_bars_file(path)
                    merged = _merge_bars(old, new)
                    iv = cov.get(sym, []) + [[s.isoformat(), e.isoformat()] for s, e in spans.get(sym, [])]
                    written += self._write_table(path, _to_storage(merged), {sym: _merge_intervals(iv)})
            else:
                day_of = bars["ts"].dt.tz_convert(TZ).dt.date
                days = set(day_of.unique())
                for sym, sps in spans.items():
                    for s, e in sps:
                        from .calendar import trading_days
                        days |= {d.date() for d in trading_days(s, e)}
                for day in sorted(days):
                    path = self._intraday_path(freq, day)
                    cov = self._read_coverage(path)
                    merged = _merge_bars(self._read_bars_file(path), bars[day_of == day])
                    for sym, sps in spans.items():
                        if any(s <= day <= e for s, e in sps):
                            cov[sym] = True
                    written += self._write_table(path, _to_storage(merged), dict(sorted(cov.items())))
        return written

    @staticmethod
    def _read_bars_file(path: Path) -> pd.DataFrame:
        if not path.exists():
            return pd.DataFrame(columns=BAR_COLUMNS)
        try:
            df = pd.read_parquet(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise AnomalyError(f"store file {path} is unreadable ({exc}); delete it and fetch again") from None
        return _from_storage(df)

    def bars(self, symbols: Iterable[str], start: dt.date, end: dt.date, freq: str = "daily") -> pd.DataFrame:
        """Stored canonical bars for symbols with trade date in [start, end]."""
        symbols = list(symbols)
        frames = []
        if freq == "daily":
            for sym in symbols:
                df = self._read_bars_file(self._daily_path(sym))
                if len(df):
                    frames.append(df)
        else:
            from .calendar import trading_days
            want = set(symbols)
            for d in trading_days(start, end):
                path = self._intraday_path(freq, d.date())
                if path.exists():
                    df = self._read_bars_file(path)
                    frames.append(df[df["symbol"].isin(want)])
        if not frames:
            from .schema import empty_bars
            return empty_bars()
        out = pd.concat(frames, ignore_index=True)
        dates = out["ts"].dt.tz_convert(TZ).dt.date
        out = out[(dates >= start) & (dates <= end)]
        return out.sort_values(["symbol", "ts"]).reset_index(drop=True)

    def symbols(self, freq: str = "daily") -> list[str]:
        folder = self.root / "bars" / freq
        if freq != "daily":
            return []
        return sorted(p.stem for p in folder.glob("*.parquet")) if folder.exists() else []

    # -- news --

    def _news_path(self, month: str) -> Path:
        return self.root / "news" / f"{_safe_name(month, 'month')}.parquet"

    def write_news(self, news: pd.DataFrame) -> int:
        """Append canonical news, ignoring ids already stored. Returns the number of new items."""
        if news.empty:
            return 0
        added = 0
        month = news["ts"].dt.tz_convert(TZ).dt.strftime("%Y-%m")
        with self.write_lock():
            for m in sorted(month.unique()):
                path = self._news_path(m)
                old = self._read_news_file(path)
                new = news[month == m]
                fresh = new[~new["id"].isin(set(old["id"]))].drop_duplicates("id")
                if fresh.empty:
                    continue
                merged = pd.concat([old, fresh], ignore_index=True) if len(old) else fresh
                merged = merged.sort_values(["ts", "id"]).reset_index(drop=True)
                self._write_table(path, _news_to_storage(merged))
                added += len(fresh)
        return added

    @staticmethod
    def _read_news_file(path: Path) -> pd.DataFrame:
        if not path.exists():
            return pd.DataFrame(columns=NEWS_COLUMNS)
        df = pd.read_parquet(path)
        df["ts"] = pd.to_datetime(df["ts"], utc=True).dt.tz_convert(TZ)
        return df

    def news(self, symbol: str | None, start: dt.date, end: dt.date, include_market: bool = True) -> pd.DataFrame:
        frames = []
        folder = self.root / "news"
        if folder.exists():
            months = pd.period_range(start, end, freq="M").strftime("%Y-%m")
            for m in months:
                df = self._read_news_file(self._news_path(m))
                if len(df):
                    frames.append(df)
        if not frames:
            return pd.DataFrame(columns=NEWS_COLUMNS)
        out = pd.concat(frames, ignore_index=True)
        d = out["ts"].dt.tz_convert(TZ).dt.date
        out = out[(d >= start) & (d <= end)]
        if symbol is not None:
            keep = out["symbol"] == symbol
            if include_market:
                keep |= out["symbol"].isna()
            out = out[keep]
        return out.sort_values(["ts", "id"]).reset_index(drop=True)

    # -- scan results --

    def _results_dir(self, day: dt.date) -> Path:
        return self.root / "results" / day.isoformat()

    def write_results(self, day: dt.date, anomalies: pd.DataFrame, events: list[dict]) -> None:
        """Replace the stored results of one scan date (idempotent: a rerun overwrites, never appends)."""
        folder = self._results_dir(day)
        an = anomalies.copy()
        an["details"] = an["details"].map(lambda d: json.dumps(d, ensure_ascii=False, sort_keys=True, default=str))
        for c in ("start", "end"):
            an[c] = pd.to_datetime(an[c]).dt.tz_convert(TZ).map(lambda t: t.isoformat()) if len(an) else an[c].astype(str)
        ev = pd.DataFrame([{
            "id": e["id"], "symbol": e["symbol"], "date": e["date"], "verdict": e.get("verdict"),
            "severity": e.get("severity"), "explanation": e.get("explanation"),
            "json": json.dumps(e, ensure_ascii=False, sort_keys=True, default=str)} for e in events],
            columns=["id", "symbol", "date", "verdict", "severity", "explanation", "json"])
        with self.write_lock():
            self._write_table(folder / "anomalies.parquet", an.reindex(columns=ANOMALY_COLUMNS))
            self._write_table(folder / "events.parquet", ev)

    def events(self, start: dt.date | None = None, end: dt.date | None = None) -> list[dict]:
        """Stored events of past scans in [start, end], as event dicts."""
        out = []
        folder = self.root / "results"
        if not folder.exists():
            return out
        for d in sorted(folder.iterdir()):
            try:
                day = dt.date.fromisoformat(d.name)
            except ValueError:
                continue
            if (start and day < start) or (end and day > end):
                continue
            f = d / "events.parquet"
            if f.exists():
                out.extend(json.loads(s) for s in pd.read_parquet(f)["json"])
        return out

    def remove_temp_files(self) -> int:
        """Delete temp files a killed writer left behind (call only while holding the write lock)."""
        n = 0
        if self.root.exists():
            for p in self.root.rglob(".tmp-*"):
                with contextlib.suppress(OSError):
                    p.unlink()
                    n += 1
        return n

    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        """Run SQL (DuckDB) over views ``bars_daily``, ``news``, ``anomalies`` and ``events``.

        Values go in ``params`` (``?`` placeholders), never into the SQL string.
        """
        import duckdb

        con = duckdb.connect()
        try:
            con.execute(f"SET TimeZone = '{TZ}'")
            views = {"bars_daily": "bars/daily/*.parquet", "news": "news/*.parquet",
                     "anomalies": "results/*/anomalies.parquet", "events": "results/*/events.parquet"}
            for name, pattern in views.items():
                # Files are listed here and opened by pyarrow, so no path text reaches DuckDB (which
                # would treat *, ?, [ ] in a folder name as a glob).
                files = sorted(str(p) for p in self.root.glob(pattern) if not p.name.startswith("."))
                if files:
                    con.register(name, _dataset(files))
            return con.sql(sql, params=params or None).to_arrow_table().to_pandas()
        finally:
            con.close()


def _dataset(files: list[str]):
    """A lazy pyarrow dataset over exactly these files, columns unified by name."""
    import pyarrow.dataset as ds

    schema = pa.unify_schemas([pq.read_schema(f) for f in files], promote_options="permissive")
    return ds.dataset(files, schema=schema, format="parquet")


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _io_error(path: Path, exc: OSError) -> AnomalyError:
    if exc.errno == errno.ENOSPC:
        return AnomalyError(f"disk full while writing {path}; the store was left as it was")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return AnomalyError(f"cannot write {path}: {exc.strerror}; the store was left as it was")
    return AnomalyError(f"cannot write {path}: {exc.strerror or exc}")


def _merge_bars(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    if old.empty:
        merged = new
    elif new.empty:
        merged = old
    else:
        merged = pd.concat([old, new], ignore_index=True).drop_duplicates(["symbol", "ts"], keep="last")
    return merged.sort_values(["symbol", "ts"]).reset_index(drop=True)[BAR_COLUMNS]


def _to_storage(df: pd.DataFrame) -> pd.DataFrame:
    out = df[BAR_COLUMNS].copy()
    out["symbol"] = out["symbol"].astype(str)
    out["ts"] = pd.to_datetime(out["ts"], utc=True).dt.tz_convert(TZ).astype(f"datetime64[ns, {TZ}]")
    for c in BAR_COLUMNS[2:]:
        out[c] = out[c].astype("float64")
    return out


def _from_storage(df: pd.DataFrame) -> pd.DataFrame:
    if df.empty:
        return df.reindex(columns=BAR_COLUMNS)
    df["ts"] = pd.to_datetime(df["ts"], utc=True).dt.tz_convert(TZ)
    df["symbol"] = df["symbol"].astype(str)
    return df[BAR_COLUMNS]


def _news_to_storage(df: pd.DataFrame) -> pd.DataFrame:
    out = df[NEWS_COLUMNS].copy()
    out["ts"] = pd.to_datetime(out["ts"], utc=True).dt.tz_convert(TZ).astype(f"datetime64[ns, {TZ}]")
    for c in NEWS_COLUMNS:
        if c != "ts":
            out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out
