"""Sources → store: incremental fetching, and reading bars/news from wherever the user points.

``fetch`` asks a source only for trading days the store has not covered yet, writes each symbol
as soon as it arrives (a killed run keeps every symbol already written) and records failures per
symbol instead of stopping. ``load_bars``/``load_news`` serve the read commands: local sources
(sample, csv, synthetic) are read directly; remote sources go through the store as a cache.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import pandas as pd

from . import calendar
from .errors import AnomalyError, BadInput, SourceError
from .schema import NEWS_COLUMNS, empty_bars
from .sources import Source, get_source
from .store import Store, missing_spans
from .symbols import Symbol

log = logging.getLogger(__name__)


@dataclass
class FetchResult:
    symbol: str
    spans: list[tuple[dt.date, dt.date]] = field(default_factory=list)  # what was asked upstream
    rows: int = 0
    files_written: int = 0
    news_added: int = 0
    error: str | None = None
    bad_input: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


def _days(start: dt.date, end: dt.date) -> pd.DatetimeIndex:
    last = calendar.latest_completed_session().date()
    return calendar.trading_days(start, min(end, last))


def fetch(store: Store, source: Source, symbols: list[Symbol], start: dt.date, end: dt.date,
          freq: str = "daily", refresh: bool = False, news: bool = False) -> list[FetchResult]:
    """Bring the store up to date for ``symbols`` over [start, end]; one result per symbol."""
    days = _days(start, end)
    results = []
    for sym in symbols:
        res = FetchResult(sym.id)
        results.append(res)
        try:
            covered = [] if refresh else store.coverage(sym.id, freq, days)
            res.spans = missing_spans(covered, days)
            frames = [source.bars(sym, s, e, freq) for s, e in res.spans]
            if res.spans:
                bars = pd.concat(frames, ignore_index=True) if frames else empty_bars()
                res.rows = len(bars)
                res.files_written = store.write_bars(bars, freq, {sym.id: res.spans})
            if news:
                items = source.news(sym, start, end)
                res.news_added = store.write_news(items)
            log.info("fetched %s: %d span(s), %d rows, %d news", sym.id, len(res.spans), res.rows, res.news_added)
        except BadInput as exc:
            res.error, res.bad_input = str(exc), True
        except (SourceError, AnomalyError) as exc:
            res.error = str(exc)
            log.info("fetch %s failed: %s", sym.id, exc)  # the caller reports it
        except Exception as exc:  # noqa: BLE001 - an adapter bug must cost one symbol, not the night
            res.error = f"{type(exc).__name__}: {exc}"
            log.info("fetch %s failed", sym.id, exc_info=True)
    return results


def load_bars(source_name: str, symbols: list[Symbol], start: dt.date, end: dt.date,
              freq: str = "daily", store: Store | None = None, **source_options) -> pd.DataFrame:
    """Canonical bars of several symbols from a named source (``store`` = only what is stored)."""
    if source_name == "store":
        if store is None:
            raise BadInput("--source store needs a store (--store PATH or the default store)")
        out = store.bars([s.id for s in symbols], start, end, freq)
        if out.empty:
            raise BadInput(f"the store at {store.root} holds no {freq} bars for "
                           f"{', '.join(s.id for s in symbols[:5])} in {start}..{end}; run `anomaly fetch` first")
        return out
    source = get_source(source_name, **source_options)
    if source.remote:
        store = store or Store()
        failed = [r for r in fetch(store, source, symbols, start, end, freq) if not r.ok]
        if failed and len(failed) == len(symbols):
            raise SourceError(failed[0].error)
        return store.bars([s.id for s in symbols], start, end, freq)
    frames = [source.bars(s, start, end, freq) for s in symbols]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else empty_bars()


def load_news(source_name: str, symbol: Symbol | None, start: dt.date, end: dt.date,
              store: Store | None = None, **source_options) -> pd.DataFrame:
    """Canonical news about a symbol (plus market-wide items) in [start, end]."""
    if source_name == "store":
        return (store or Store()).news(symbol.id if symbol else None, start, end)
    source = get_source(source_name, **source_options)
    try:
        items = source.news(symbol, start, end)
    except BadInput:
        if source.name in ("csv", "synthetic"):  # bar-only sources: fall back to what the store has
            return store.news(symbol.id if symbol else None, start, end) if store else pd.DataFrame(columns=NEWS_COLUMNS)
        raise
    if source.remote and store is not None:
        store.write_news(items)
    return items
