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
from .pipeline import EVENT_STUDY_AFTER, DetectResult, detect_range, link_day, pick_symbols
from .schema import TZ
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


def run_scan(config: Config, day=None, start=None, end=None, out=None, engine=None, scheduler=None,
             plots: bool = True, store: Store | None = None, source: str | None = None,
             echo: Callable[[str], None] = print) -> ScanResult:
    dates, notes = scan_dates(day, start, end)
    result = ScanResult(notes=notes)
    if not dates:
        return result
    store = store or Store(config.store or None)
    source = source or config.source.default
    out_root = Path(out or config.scan.out)
    engine = engine or config.scan.engine
    if engine != "local":
        from .engines import check_engine
        check_engine(engine, scheduler or config.scan.scheduler)
    with store.scan_lock():
        symbols = pick_symbols(None, None, config, source)
        result.n_symbols = len(symbols)
        echo(f"{time.strftime('%Y-%m-%d %H:%M:%S')} scan {dates[0]}..{dates[-1]}: {len(symbols)} symbols "
             f"from {source}")
        read_from = _fetch_remote(config, store, source, symbols, dates, result, echo)
        det = detect_range(symbols, dates[0], dates[-1], config.scan.freq, read_from, config, store=store,
                           source_options=_source_options(config, source), keep_after=EVENT_STUDY_AFTER)
        result.failures.extend(det.failures)
        for d in dates:
            out_dir = _scan_one_day(d, det, read_from, config, store, out_root, plots, result, echo)
            result.dates.append(d)
            result.out_dirs.append(out_dir)
    return result


def _source_options(config: Config, source: str) -> dict:
    return config.source.options_for(source)


def _fetch_remote(config, store, source, symbols, dates, result, echo) -> str:
    """Network sources are fetched into the store first; later stages read the store."""
    from .sources import get_source
    from .fetch import fetch

    if source == "store":
        return source
    src = get_source(source, **_source_options(config, source))
    if not src.remote:
        return source
    lookback = calendar.previous_trading_day(dates[0], 300).date()
    prog = Progress(echo, len(symbols), "fetch")
    for sym in symbols:
        for r in fetch(store, src, [sym], lookback, dates[-1], config.scan.freq, news=config.scan.fetch_news):
            if not r.ok:
                result.failures.append(f"{r.symbol}: {r.error}")
        prog.step(sym.id)
    return "store"


def _scan_one_day(d: dt.date, det: DetectResult, source: str, config: Config, store: Store, out_root: Path,
                  plots: bool, result: ScanResult, echo) -> Path:
    from .report import write_report

    events = link_day(det, d, source, config, store, _source_options(config, source))
    result.n_events[d.isoformat()] = len(events)
    an = det.anomalies
    day_an = an[an["end"].dt.tz_convert(TZ).dt.date == d].reset_index(drop=True) if len(an) else an
    final = out_root / d.isoformat()
    out_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{d.isoformat()}-", dir=out_root))
    try:
        meta = {"date": d.isoformat(), "universe": config.universe.name, "n_symbols": result.n_symbols,
                "source": source, "config": Path(config.path).name if config.path else "(defaults)"}
        plot = _plotter(events, det, config.scan.max_plots, echo) if plots else None
        write_report(tmp, d.isoformat(), events, day_an, list(result.failures), meta, plot=plot)
        _swap_in(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    store.write_results(d, day_an, events)
    echo(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {d}: {len(day_an)} anomalies, {len(events)} events → {final}")
    return final


def _plotter(events, det: DetectResult, limit: int, echo):
    """The report's plot callback: PNGs for the ``limit`` highest-ranked events, None for the rest."""
    from .plot import event_plot_png
    from .report import rank_events

    chosen = {e["id"] for e in rank_events(events)[:limit]}
    prog = Progress(echo, len(chosen), "plots")

    def plot(event):
        if event["id"] not in chosen:
            return None
        sym = event["symbol"]
        try:
            return event_plot_png(event, det.bars[det.bars["symbol"] == sym], index_bars=det.index_bars)
        finally:
            prog.step(sym)
    return plot


def _swap_in(tmp: Path, final: Path) -> None:
    """Replace ``final`` by ``tmp`` so readers see the old or the new folder, never a mix."""
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
