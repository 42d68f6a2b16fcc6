"""Composition of the stages for the commands and the scan: load → detect → link → plot.

Nothing here computes a statistic; it decides which bars each stage sees (a lookback before the
requested window so trailing scores are defined, benchmark index bars, a few days after an event
for the event study) and keeps going when one symbol fails.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import calendar
from .config import Config
from .errors import AnomalyError, BadInput
from .fetch import load_bars, load_news
from .rules import BENCHMARK_FALLBACKS, DEFAULT_BENCHMARKS
from .schema import TZ, anomalies_frame, empty_anomalies, empty_bars
from .symbols import Symbol, resolve, resolve_many

log = logging.getLogger(__name__)

EVENT_STUDY_AFTER = 10   # trading days of bars after an event day loaded for the event study
DEFAULT_LOOKBACK = 260   # trading days before the window when a detector does not say


@dataclass
class DetectResult:
    anomalies: pd.DataFrame
    bars: pd.DataFrame                      # the symbols' bars incl. lookback
    index_bars: pd.DataFrame                # benchmark index bars
    meta: pd.DataFrame                      # symbol → name, board, exchange, industry, is_st
    benchmark: dict[str, str] = field(default_factory=dict)
    cross_section: pd.DataFrame | None = None
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)      # things worth saying that failed nothing


def pick_symbols(symbols, universe: str | None, config: Config, source_name: str) -> list[Symbol]:
    """The symbols a command works on: explicit ones, or a named universe."""
    if symbols and universe:
        raise BadInput("give symbols or --universe, not both")
    if symbols:
        return resolve_many(symbols)
    name = universe or config.universe.name
    if name == "watchlist":
        if not config.universe.watchlist:
            raise BadInput("the watch-list in the config is empty")
        return resolve_many(config.universe.watchlist)
    if name == "sample":
        from .sources.sample import SampleSource
        return SampleSource().universe()
    if name == "all":
        from .sources import get_source
        src = get_source(source_name if source_name not in ("store",) else config.source.default)
        syms = src.universe()
        if not syms:
            raise BadInput(f"source {src.name!r} cannot list the whole market; use --universe sample or a watch-list")
        return syms
    raise BadInput(f"unknown universe {name!r} (use sample, watchlist or all)")


def meta_frame(symbols: list[Symbol]) -> pd.DataFrame:
    return pd.DataFrame([{"symbol": s.id, "name": s.name, "board": s.board, "exchange": s.exchange,
                          "industry": s.industry, "is_st": s.is_st} for s in symbols]).set_index("symbol")


def benchmarks_for(symbols: list[Symbol], config: Config) -> dict[str, str]:
    out = {}
    for s in symbols:
        if s.is_index:
            continue
        key = f"{s.exchange}.{s.board}"
        out[s.id] = config.detect.benchmarks.get(key) or DEFAULT_BENCHMARKS.get((s.exchange, s.board), "000001.SH")
    return out


def detectors_for(freq: str, config: Config, only=None):
    from .detect import available, make_detector

    wanted = list(only) if only else list(config.detect.daily if freq == "daily" else config.detect.intraday)
    kind = "daily" if freq == "daily" else "intraday"
    out = []
    for name in wanted:
        det = make_detector(name, **config.detect.params.get(name, {}))
        if det.freq != kind:
            if only:
                raise BadInput(f"detector {name!r} works on {det.freq} bars, not {freq}")
            continue
        out.append(det)
    if not out:
        raise BadInput(f"no {kind} detector selected (available: {', '.join(available(kind))})")
    return out


def _load_many(source_name, symbols, start, end, freq, store, source_options, failures) -> pd.DataFrame:
    frames = []
    for s in symbols:
        try:
            frames.append(load_bars(source_name, [s], start, end, freq, store=store, **source_options))
        except AnomalyError as exc:
            if len(symbols) == 1:
                raise
            failures.append(f"{s.id}: {exc}")
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else empty_bars()


def _load_indices(ids, source_name, start, end, store, source_options, notes) -> pd.DataFrame:
    frames, have = [], set()
    for iid in sorted(set(ids)):
        for candidate in (iid, BENCHMARK_FALLBACKS.get(iid)):
            if candidate is None or candidate in have:
                break
            try:
                df = load_bars(source_name, [resolve(candidate)], start, end, "daily", store=store, **source_options)
            except AnomalyError as exc:
                log.info("benchmark %s unavailable: %s", candidate, exc)
                continue
            if len(df):
                frames.append(df)
                have.add(candidate)
                break
    missing = [i for i in set(ids) if i not in have and BENCHMARK_FALLBACKS.get(i) not in have]
    if missing:
        notes.append(f"benchmark index {', '.join(sorted(missing))} unavailable from {source_name}: "
                        "market-model figures skipped for the symbols measured against it")
    return pd.concat(frames, ignore_index=True) if frames else empty_bars()


def load_inputs(symbols: list[Symbol], start: dt.date, end: dt.date, freq: str, source_name: str,
                config: Config, store=None, source_options=None, keep_after: int = 0,
                lookback: int = DEFAULT_LOOKBACK) -> DetectResult:
    """Bars of ``symbols`` from ``lookback`` trading days before ``start`` to ``keep_after`` after
    ``end``, their benchmark index bars and metadata, as a DetectResult with no anomalies yet."""
    source_options = source_options or {}
    failures: list[str] = []
    notes: list[str] = []
    load_start = calendar.previous_trading_day(start, lookback).date()
    load_end = calendar.next_trading_day(end, keep_after).date() if keep_after else end
    bars = _load_many(source_name, symbols, load_start, load_end, freq, store, source_options, failures)
    bench = benchmarks_for(symbols, config)
    index_bars = _load_indices(bench.values(), source_name, load_start, load_end, store, source_options,
                               notes) if bench else empty_bars()
    bench = _available_benchmarks(bench, index_bars)
    return DetectResult(empty_anomalies(), bars, index_bars, meta_frame(symbols), bench, None, failures, notes)


def detect_range(symbols: list[Symbol], start: dt.date, end: dt.date, freq: str, source_name: str,
                 config: Config, store=None, only=None, source_options=None,
                 keep_after: int = 0, cross_section: bool = True) -> DetectResult:
    """Run the configured detectors for [start, end] and keep records that end in the window.

    ``keep_after`` loads that many extra trading days of bars after ``end`` (for event studies);
    detectors never see them (they run on bars up to ``end``). ``cross_section=False`` skips the
    market/sector-wide marking (the scan does it once over all batches).
    """
    from .detect import Context, run_detectors

    dets = detectors_for(freq, config, only)
    default = DEFAULT_LOOKBACK if freq == "daily" else 20
    lookback = max(d.history_days(default) for d in dets)
    result = load_inputs(symbols, start, end, freq, source_name, config, store, source_options,
                         keep_after, lookback)
    bars = result.bars
    if bars.empty:
        return result
    upto = bars[bars["ts"].dt.tz_convert(TZ).dt.date <= end]
    ctx = Context(index_bars=result.index_bars, benchmark=result.benchmark, meta=result.meta)
    anomalies = run_detectors(upto, dets, ctx)
    # A record belongs to the day it completes on (multi-day rules such as 异常波动 end on their last day).
    day = anomalies["end"].dt.tz_convert(TZ).dt.date if len(anomalies) else pd.Series(dtype=object)
    result.anomalies = anomalies_frame(anomalies[(day >= start) & (day <= end)]) if len(anomalies) else anomalies
    if cross_section and freq == "daily" and len(symbols) > 1:
        result.anomalies, result.cross_section = mark_cross_section(
            result.anomalies, upto, result.meta, config, start, end, result.index_bars)
    return result


def _available_benchmarks(bench: dict[str, str], index_bars: pd.DataFrame) -> dict[str, str]:
    have = set(index_bars["symbol"].unique()) if len(index_bars) else set()
    out = {}
    for sym, iid in bench.items():
        if iid in have:
            out[sym] = iid
        elif BENCHMARK_FALLBACKS.get(iid) in have:
            out[sym] = BENCHMARK_FALLBACKS[iid]
    return out


def mark_cross_section(anomalies, bars, meta, config: Config, start: dt.date, end: dt.date, index_bars):
    """Mark market-/sector-wide anomalies and return (marked, per-day table for [start, end])."""
    from .detect.cross_section import mark_cross_section as mark

    lc = config.link_config()
    marked, table = mark(anomalies, bars, meta, market_share=lc.market_wide_share,
                         sector_share=lc.sector_wide_share, index_bars=index_bars)
    if table is not None and len(table) and "date" in table:
        d = pd.to_datetime(table["date"]).dt.date
        table = table[(d >= start) & (d <= end)].reset_index(drop=True)
    return marked, table


def link_day(result: DetectResult, day: dt.date, source_name: str, config: Config, store=None,
             source_options=None, symbols: list[Symbol] | None = None) -> list[dict]:
    """Events of one day: anomalies of that day linked to the news around them."""
    from .correlate import link_events

    an = result.anomalies
    if an.empty:
        return []
    on_day = an[an["end"].dt.tz_convert(TZ).dt.date == day]
    if on_day.empty:
        return []
    lo = calendar.previous_trading_day(day, 3).date()
    hi = calendar.next_trading_day(day, 2).date()
    frames = []
    if config.link_news:
        for sid in sorted(on_day["symbol"].unique()):
            try:
                frames.append(load_news(source_name, resolve(sid), lo, hi, store=store, **(source_options or {})))
            except AnomalyError as exc:
                result.failures.append(f"{sid}: news unavailable: {exc}")
    from .schema import NEWS_COLUMNS
    news = pd.concat([f for f in frames if len(f)], ignore_index=True) if any(len(f) for f in frames) \
        else pd.DataFrame(columns=NEWS_COLUMNS)
    if len(news):
        news = news.drop_duplicates("id").sort_values(["ts", "id"]).reset_index(drop=True)
    return link_events(on_day, news, result.bars, result.index_bars, meta=result.meta,
                       cross_section=result.cross_section, config=config.link_config(),
                       benchmark=result.benchmark)


def link_symbol_day(sym: Symbol, day: dt.date, freq: str, source_name: str, config: Config, store=None,
                    source_options=None) -> list[dict]:
    """The ``anomaly link`` command: detect one symbol-day and link its news."""
    _require_trading_day(day)
    result = detect_range([sym], day, day, freq, source_name, config, store=store,
                          source_options=source_options, keep_after=EVENT_STUDY_AFTER if freq == "daily" else 0)
    if freq != "daily":
        # The event study needs daily bars even when the anomaly came from minute bars.
        daily = detect_range([sym], day, day, "daily", source_name, config, store=store,
                             source_options=source_options, keep_after=EVENT_STUDY_AFTER)
        result.bars, result.index_bars, result.benchmark = daily.bars, daily.index_bars, daily.benchmark
    return link_day(result, day, source_name, config, store, source_options)


def plot_symbol_day(sym: Symbol, day: dt.date, out: Path, freq: str, source_name: str, config: Config,
                    store=None, source_options=None) -> Path:
    """The ``anomaly plot`` command: the event plot (or a plain context plot when nothing was flagged)."""
    from .plot import plot_event

    events = link_symbol_day(sym, day, freq, source_name, config, store, source_options)
    daily = detect_range([sym], day, day, "daily", source_name, config, store=store,
                         source_options=source_options, keep_after=EVENT_STUDY_AFTER)
    intraday = None
    if freq != "daily":
        intraday = load_bars(source_name, [sym], day, day, freq, store=store, **(source_options or {}))
    event = events[0] if events else quiet_event(sym, day)
    plot_event(event, daily.bars, index_bars=daily.index_bars, intraday=intraday, out=out,
               note=synthetic_note(source_name))
    return out


def synthetic_note(source_name: str) -> str | None:
    """The label every figure drawn from simulated bars carries, so it is never taken for market data."""
    return "SYNTHETIC data, not market prices" if source_name.split(":")[0] == "synthetic" else None


def quiet_event(sym: Symbol, day: dt.date) -> dict:
    """A stand-in event for plotting a day on which nothing was flagged."""
    return {"id": f"{sym.id}@{day}", "symbol": sym.id, "name": sym.name, "date": day.isoformat(),
            "onset": None, "onset_precision": "day", "anomaly": None, "anomalies": [], "news": [],
            "verdict": "no_anomaly", "cross_section": None, "event_study": None, "recovery": None,
            "severity": 0.0, "explanation": f"{sym.name or sym.id} ({sym.id}) {day}: nothing abnormal flagged"}


def _require_trading_day(day: dt.date) -> None:
    reason = calendar.why_closed(day)
    if reason:
        raise BadInput(reason)
