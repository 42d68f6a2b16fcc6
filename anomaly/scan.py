"""The nightly job: fetch what is missing, detect, link, plot, and write the day's report.

One symbol failing (its source raised, its file is bad) is recorded and the scan goes on; the
report lists the failures and the CLI exits 1. A rerun of the same date replaces that date's
outputs and stored results whole, so it is idempotent. ``Store.scan_lock`` keeps two scans on one
store from interleaving. Output per date: ``<out>/<date>/report.md, report.html, events.json,
anomalies.csv, plots/<symbol>.png``; written into a temporary folder and swapped in at the end so
a killed scan never leaves a half-written report behind.
"""
from __future__ import annotations

import datetime as dt
import errno
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from . import calendar
from .config import Config
from .errors import AnomalyError, BadInput
from .pipeline import EVENT_STUDY_AFTER, detect_range, link_day, pick_symbols
from .schema import TZ, anomalies_frame, empty_anomalies
from .store import Store

log = logging.getLogger(__name__)


@dataclass
class ScanResult:
    dates: list[dt.date] = field(default_factory=list)
    out_dirs: list[Path] = field(default_factory=list)
    n_events: dict[str, int] = field(default_factory=dict)
    n_symbols: int = 0
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary_lines(self) -> list[str]:
        lines = list(self.notes)
        for d, out in zip(self.dates, self.out_dirs):
            lines.append(f"{d}: {self.n_events.get(d.isoformat(), 0)} event(s) over {self.n_symbols} symbols "
                         f"→ {out / 'report.html'}")
        if self.failures:
            lines.append(f"{len(self.failures)} failure(s):")
            lines.extend(f"  {f}" for f in self.failures)
        return lines


def scan_dates(day: dt.date | None, start: dt.date | None, end: dt.date | None) -> tuple[list[dt.date], list[str]]:
    """The trading dates to scan, and notes for requested dates that are not trading days."""
    if day and (start or end):
        raise BadInput("give --date or --start/--end, not both")
    if start or end:
        if not (start and end):
            raise BadInput("a backfill needs both --start and --end")
        days = [d.date() for d in calendar.trading_days(start, end)]
        return days, ([] if days else [f"no trading day between {start} and {end}"])
    day = day or calendar.latest_completed_session().date()
    reason = calendar.why_closed(day)
    if reason:
        return [], [f"{day} is not a trading day: {reason}; nothing to scan"]
    return [day], []


class Progress:
    """A bar on a terminal; plain timestamped lines otherwise (cron mail, log files)."""

    def __init__(self, echo: Callable[[str], None], total: int, label: str):
        self.echo, self.total, self.label, self.done = echo, max(total, 1), label, 0
        self.tty = sys.stderr.isatty()
        self._last = -1

    def step(self, what: str = "") -> None:
        self.done += 1
        pct = int(100 * self.done / self.total)
        if self.tty:
            bar = "#" * (pct // 4)
            sys.stderr.write(f"\r{self.label} [{bar:<25}] {pct:3d}% {what[:30]:<30}")
            if self.done >= self.total:
                sys.stderr.write("\n")
            sys.stderr.flush()
        elif pct // 25 != self._last // 25 or self.done == self.total:
            self._last = pct
            self.echo(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {self.label}: {self.done}/{self.total} {what}")


@dataclass(frozen=True)
class BatchJob:
    """One unit of engine work: a batch of symbols over the scan's dates (picklable, self-contained)."""
    symbols: tuple[str, ...]
    start: dt.date
    end: dt.date
    source: str
    config: Config
    store_root: str

    def context(self):
        from .symbols import resolve

        return [resolve(s) for s in self.symbols], Store(self.store_root)


def _detect_job(job: BatchJob):
    """Engine task 1: detect one batch (no cross-section: that needs every batch)."""
    syms, store = job.context()
    det = detect_range(syms, job.start, job.end, job.config.scan.freq, job.source, job.config, store=store,
                       source_options=_source_options(job.config, job.source), keep_after=EVENT_STUDY_AFTER,
                       cross_section=False)
    window = det.bars[(det.bars["ts"].dt.tz_convert(TZ).dt.date >= calendar.previous_trading_day(job.start).date())
                      & (det.bars["ts"].dt.tz_convert(TZ).dt.date <= job.end)] if len(det.bars) else det.bars
    return det.anomalies, window, det.meta, det.failures, det.notes


def _link_job(args):
    """Engine task 2: link the batch's anomalies of each date to news, with the global cross-section."""
    job, anomalies, cross, dates = args
    from .pipeline import load_inputs

    syms, store = job.context()
    det = load_inputs(syms, job.start, job.end, "daily", job.source, job.config, store,
                      _source_options(job.config, job.source), keep_after=EVENT_STUDY_AFTER)
    det.anomalies, det.cross_section = anomalies, cross
    out = {}
    for d in dates:
        out[d.isoformat()] = link_day(det, d, job.source, job.config, store, _source_options(job.config, job.source))
    return out, det.failures


def _plot_job(args):
    """Engine task 3: one event's PNG (bytes), or the error text."""
    job, event = args
    from .pipeline import load_inputs, synthetic_note
    from .plot import event_plot_png

    syms, store = job.context()
    day = dt.date.fromisoformat(event["date"])
    try:
        det = load_inputs(syms, day, day, "daily", job.source, job.config, store,
                          _source_options(job.config, job.source), keep_after=EVENT_STUDY_AFTER, lookback=60)
        return event["id"], event_plot_png(event, det.bars, index_bars=det.index_bars,
                                           note=synthetic_note(job.source)), None
    except Exception as exc:  # noqa: BLE001 - one bad plot must not sink the night's report
        return event["id"], None, f"{type(exc).__name__}: {exc}"


def batches(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def run_scan(config: Config, day=None, start=None, end=None, out=None, engine=None, scheduler=None,
             plots: bool = True, store: Store | None = None, source: str | None = None,
             echo: Callable[[str], None] = print, batch_size: int | None = None) -> ScanResult:
    from .engines import open_engine
    from .pipeline import mark_cross_section, meta_frame, load_inputs

    dates, notes = scan_dates(day, start, end)
    result = ScanResult(notes=notes)
    if not dates:
        return result
    store = store or Store(config.store or None)
    source = source or config.source.default
    out_root = Path(out or config.scan.out).expanduser()
    engine = engine or config.scan.engine
    scheduler = scheduler or config.scan.scheduler
    if config.scan.freq != "daily":
        raise BadInput(f"scan.freq = {config.scan.freq!r}: the scan runs on daily bars (set scan.freq = \"daily\"); "
                       "use `anomaly detect --freq` for minute bars")
    from .engines import check_engine

    check_engine(engine, scheduler)           # before any work: a missing dask is bad input
    symbols = pick_symbols(None, None, config, source)
    if source == "sample":
        from .sources.sample import sample_span

        first, last = sample_span(tuple(sorted(s.id for s in symbols)))
        outside = [d for d in dates if not first <= d <= last]
        if outside:
            asked = (f"the latest session ({outside[0]})" if day is None and start is None and end is None
                     else str(outside[0]))
            raise BadInput(f"the bundled sample covers {first}..{last} for most of these symbols, not {asked}; "
                           "scan a date in that range, e.g. --date 2023-05-24")
    with store.scan_lock():
        _check_writable(out_root)
        _clean_leftovers(store, out_root, dates)
        result.n_symbols = len(symbols)
        stamp = time.strftime('%Y-%m-%d %H:%M:%S')
        echo(f"{stamp} scan {dates[0]}..{dates[-1]}: {len(symbols)} symbols from {source} on {engine}")
        read_from, fetch_failed = _fetch_remote(config, store, source, symbols, dates, result, echo)
        todo = [s for s in symbols if s.id not in fetch_failed]  # a failed symbol is reported once
        size = batch_size or max(25, -(-len(todo) // max(1, 4 * config.scan.workers)))
        # Workers may run elsewhere (dask): give them the store's absolute path.
        jobs = [BatchJob(tuple(s.id for s in b), dates[0], dates[-1], read_from, config, str(store.root.resolve()))
                for b in batches(todo, size)]
        if read_from == "sample" and engine == "local":
            from .sources.sample import sample_daily_bars
            sample_daily_bars()  # load once here; forked workers inherit it instead of each re-reading
        with open_engine(engine, config.scan.workers, scheduler) as eng:
            found = eng.map(_detect_job, jobs) if jobs else []
            frames = [f[0] for f in found if len(f[0])]
            anomalies = anomalies_frame(pd.concat(frames, ignore_index=True)) if frames else empty_anomalies()
            window = pd.concat([f[1] for f in found if len(f[1])], ignore_index=True) if any(len(f[1]) for f in found) \
                else pd.DataFrame()
            for f in found:
                result.failures.extend(x for x in f[3] if x not in result.failures)
                result.notes.extend(x for x in f[4] if x not in result.notes)
            cross = None
            if len(window) and len(symbols) > 1:
                idx = load_inputs(symbols[:1], dates[0], dates[-1], "daily", read_from, config, store,
                                  _source_options(config, read_from), lookback=5).index_bars
                anomalies, cross = mark_cross_section(anomalies, window, meta_frame(symbols), config,
                                                      dates[0], dates[-1], idx)
            echo(f"{time.strftime('%Y-%m-%d %H:%M:%S')} detected {len(anomalies)} anomalies")
            linked = eng.map(_link_job, [(j, anomalies[anomalies["symbol"].isin(j.symbols)].reset_index(drop=True),
                                          cross, dates) for j in jobs]) if jobs else []
            by_date: dict[str, list[dict]] = {d.isoformat(): [] for d in dates}
            for events, fails in linked:
                for k, v in events.items():
                    by_date[k].extend(v)
                result.failures.extend(f for f in fails if f not in result.failures)
            for k in by_date:
                by_date[k].sort(key=lambda e: e["id"])
            pngs = _plots(eng, jobs, by_date, config.scan.max_plots, echo) if plots and config.scan.plots else {}
        for d in dates:
            shown = read_from if read_from == source else f"{source} (fetched into the store)"
            out_dir = _write_day(d, by_date[d.isoformat()], anomalies, shown, config, store, out_root,
                                 pngs, result, echo)
            result.dates.append(d)
            result.out_dirs.append(out_dir)
    return result


def _plots(eng, jobs: list[BatchJob], by_date: dict[str, list[dict]], limit: int, echo) -> dict[str, bytes | str]:
    """PNG bytes (or an error text) per event id, for each date's ``limit`` highest-ranked events."""
    from .report import rank_events

    job_of = {s: j for j in jobs for s in j.symbols}
    tasks = []
    for events in by_date.values():
        for e in rank_events(events)[:limit]:
            j = job_of[e["symbol"]]
            tasks.append((BatchJob((e["symbol"],), j.start, j.end, j.source, j.config, j.store_root), e))
    echo(f"{time.strftime('%Y-%m-%d %H:%M:%S')} plotting {len(tasks)} event(s)")
    return {eid: (png if png is not None else err) for eid, png, err in eng.map(_plot_job, tasks)}


def _source_options(config: Config, source: str) -> dict:
    return config.source.options_for(source)


def _fetch_remote(config, store, source, symbols, dates, result, echo) -> tuple[str, set[str]]:
    """Network sources are fetched into the store first (with the benchmark indices the market
    model needs); later stages read the store. Returns the source to read and the failed symbols."""
    from .fetch import fetch
    from .pipeline import benchmarks_for
    from .rules import BENCHMARK_FALLBACKS
    from .sources import get_source
    from .symbols import resolve

    if source == "store":
        return source, set()
    src = get_source(source, **_source_options(config, source))
    if not src.remote:
        return source, set()
    lookback = calendar.previous_trading_day(dates[0], 300).date()
    wanted = set(benchmarks_for(symbols, config).values())
    indices = [resolve(i) for i in sorted(wanted | {BENCHMARK_FALLBACKS[i] for i in wanted if i in BENCHMARK_FALLBACKS})]
    failed: set[str] = set()
    prog = Progress(echo, len(symbols) + len(indices), "fetch")
    for sym in indices + list(symbols):
        for r in fetch(store, src, [sym], lookback, dates[-1], config.scan.freq,
                       news=config.scan.fetch_news and not sym.is_index):
            if not r.ok:
                failed.add(r.symbol)
                if sym.is_index:      # not a failed symbol: its stocks lose only the market-model figures
                    result.notes.append(f"note: benchmark {r.symbol} not fetched ({_first_reason(r.error)}); "
                                        "market-model figures use what the store already holds")
                else:
                    result.failures.append(f"{r.symbol}: {r.error}")
        prog.step(sym.id)
    return "store", failed


def _first_reason(error: str, limit: int = 200) -> str:
    """The first provider's failure of a multi-provider error line, shortened for a note."""
    first = error.split(" | ")[0].split("every provider failed: ", 1)[-1]
    return first if len(first) <= limit else first[: limit - 1] + "…"


def _check_writable(out_root: Path) -> None:
    """Fail before any work when the report folder cannot be written (bad input: exit 2)."""
    try:
        out_root.mkdir(parents=True, exist_ok=True)
        probe = tempfile.mkdtemp(prefix=".probe-", dir=out_root)
        os.rmdir(probe)
    except OSError as exc:
        raise BadInput(f"cannot write the report under {out_root}: {exc.strerror or exc}") from None


def _clean_leftovers(store: Store, out_root: Path, dates: list[dt.date]) -> None:
    """Undo what a killed scan left: restore a report moved aside, remove temp folders and files.

    Runs under the scan lock and the store's write lock, so nothing found is still being written.
    """
    for d in dates:
        final = out_root / d.isoformat()
        olds = sorted(out_root.glob(f".{d.isoformat()}.old-*"), key=lambda p: p.stat().st_mtime)
        if not final.exists() and olds:
            os.replace(olds[-1], final)  # killed between the two renames of _swap_in
            olds = olds[:-1]
        for p in olds + list(out_root.glob(f".{d.isoformat()}-*")):
            shutil.rmtree(p, ignore_errors=True)
    for p in out_root.glob(".*.tmp"):
        p.unlink(missing_ok=True)
    with store.write_lock():
        store.remove_temp_files()


def _write_day(d: dt.date, events: list[dict], anomalies: pd.DataFrame, source: str, config: Config,
               store: Store, out_root: Path, pngs: dict, result: ScanResult, echo) -> Path:
    """Write one date's report folder (swapped in whole) and its results in the store."""
    from .report import write_report

    result.n_events[d.isoformat()] = len(events)
    an = anomalies
    day_an = an[an["end"].dt.tz_convert(TZ).dt.date == d].reset_index(drop=True) if len(an) else an
    final = out_root / d.isoformat()
    try:
        out_root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{d.isoformat()}-", dir=out_root))
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; a report folder is for readers
    except OSError as exc:
        raise AnomalyError(f"cannot write the report under {out_root}: {exc.strerror or exc}") from None

    def plot(event):
        got = pngs.get(event["id"])
        if isinstance(got, str):
            raise RuntimeError(got)
        return got

    try:
        meta = {"date": d.isoformat(), "universe": config.universe.name, "n_symbols": result.n_symbols,
                "source": source, "config": Path(config.path).name if config.path else "(defaults)"}
        if result.notes:
            meta["notes"] = "; ".join(result.notes)
        write_report(tmp, d.isoformat(), events, day_an, list(result.failures), meta, plot=plot)
        _swap_in(tmp, final)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        what = "disk full" if exc.errno == errno.ENOSPC else "cannot write"
        raise AnomalyError(f"{what} while writing the report under {out_root}: {exc.strerror or exc}; "
                           "the previous report was left as it was") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    store.write_results(d, day_an, events)
    echo(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {d}: {len(day_an)} anomalies, {len(events)} events → {final}")
    return final


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _swap_in(tmp: Path, final: Path) -> None:
    """Replace ``final`` by ``tmp`` so readers see the old or the new folder, never a mix or none.

    Linux swaps the two in one step (renameat2 RENAME_EXCHANGE); elsewhere the old folder is moved
    aside first, and a scan killed between the two renames is repaired by ``_clean_leftovers``.
    """
    if final.exists() and _exchange(tmp, final):
        shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the old report
        return
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2); False when the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    AT_FDCWD, RENAME_EXCHANGE = -100, 2
    rc = fn(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE)
    return rc == 0
