"""The bundled real sample (offline): daily bars of 002230 (2020–2024), a 292-stock panel
(2022–2024), six indices, a few real intraday index/stock files, and the 2023-05-24 news timeline.
See ``anomaly/data/PROVENANCE.md`` for where every value comes from."""
from __future__ import annotations

import datetime as dt
from functools import lru_cache
from importlib import resources

import pandas as pd

from ..errors import BadInput
from ..schema import BAR_COLUMNS, TZ, validate_bars, validate_news
from ..symbols import Symbol, resolve, security_table
from .base import Source, in_range


def _path(name: str):
    return resources.files("anomaly.data").joinpath("sample", name)


@lru_cache(maxsize=1)
def _daily() -> pd.DataFrame:
    with resources.as_file(_path("bars_daily.parquet")) as p:
        raw = pd.read_parquet(p)
    raw["ts"] = (pd.to_datetime(raw.pop("date")) + pd.Timedelta(hours=15)).dt.tz_localize(TZ)
    return validate_bars(raw[BAR_COLUMNS], origin="sample daily bars", derive_prev_close=False)


@lru_cache(maxsize=1)
def _intraday() -> pd.DataFrame:
    with resources.as_file(_path("bars_intraday.parquet")) as p:
        raw = pd.read_parquet(p)
    raw["ts"] = pd.to_datetime(raw.pop("datetime")).dt.tz_localize(TZ)
    return raw


@lru_cache(maxsize=1)
def _news() -> pd.DataFrame:
    with resources.as_file(_path("news.csv")) as p:
        raw = pd.read_csv(p, dtype={"symbol": str}, keep_default_na=False, na_values={"url": [""]})
    return validate_news(raw, origin="sample news")


def _local_date(ts) -> dt.date:
    return pd.Timestamp(ts).tz_convert("Asia/Shanghai").date()


@lru_cache(maxsize=8)
def sample_span(ids: tuple[str, ...] | None = None) -> tuple[dt.date, dt.date]:
    """First and last day of the bundled daily bars; with ``ids``, the span most of those symbols
    share (the panel: 2022-01-04..2024-12-31; 002230 and the indices start 2020-01-02)."""
    d = _daily()
    rows = d if ids is None else d[d["symbol"].isin(ids)]
    if rows.empty:
        rows = d
    if ids is None:
        return _local_date(rows["ts"].min()), _local_date(rows["ts"].max())
    # where most of them have bars: the median first and last day (one long-history stock or a late
    # listing does not stretch the span)
    g = rows.groupby("symbol")["ts"]
    return _local_date(g.min().sort_values().iloc[len(g) // 2]), _local_date(g.max().sort_values().iloc[len(g) // 2])


class SampleSource(Source):
    name = "sample"
    freqs = ("daily", "1min", "5min")

    def _check(self, symbol: Symbol, table: pd.DataFrame) -> pd.DataFrame:
        rows = table[table["symbol"] == symbol.id]
        if rows.empty:
            raise BadInput(f"the bundled sample has no bars for {symbol} "
                           "(it holds 002230, a 292-stock panel and six indices; see `anomaly symbols --source sample`)")
        return rows

    def daily_bars(self, symbol: Symbol, start: dt.date, end: dt.date) -> pd.DataFrame:
        got = in_range(self._check(symbol, _daily()), start, end)
        if got.empty:
            first, last = sample_span()
            if end < first or start > last:   # not a listing gap or a quiet stretch: no data reaches there
                raise BadInput(f"the bundled sample covers {first}..{last}; nothing in {start}..{end}")
        return got

    def intraday_bars(self, symbol: Symbol, start: dt.date, end: dt.date, freq: str) -> pd.DataFrame:
        table = _intraday()
        rows = table[(table["symbol"] == symbol.id) & (table["freq"] == freq)]
        if rows.empty:
            have = table.groupby("freq")["symbol"].unique()
            listing = "; ".join(f"{f}: {', '.join(sorted(map(str, ids)))}" for f, ids in have.items())
            raise BadInput(f"the bundled sample has no {freq} bars for {symbol} (its real minute bars, a few "
                           f"days each: {listing}; use --source synthetic)")
        daily = _daily()
        rows = in_range(rows.drop(columns="freq"), start, end)
        mine = daily[daily["symbol"] == symbol.id]
        prev = pd.Series(mine["prev_close"].to_numpy(), index=mine["ts"].dt.date)
        rows["prev_close"] = rows["ts"].dt.date.map(prev)
        rows["turnover"] = float("nan")
        return validate_bars(rows[BAR_COLUMNS], freq=freq, origin=f"sample {freq} bars",
                             derive_prev_close=False)

    def news(self, symbol: Symbol | None, start: dt.date, end: dt.date) -> pd.DataFrame:
        n = _news()
        if symbol is not None:
            n = n[n["symbol"] == symbol.id]
        return in_range(n, start, end)

    def universe(self) -> list[Symbol]:
        t = security_table()
        ids = t[(t["in_sample"] == "1") & (t["kind"] == "stock")]["id"]
        return [resolve(i) for i in ids]


def sample_daily_bars() -> pd.DataFrame:
    """Every bundled daily bar (stocks and indices) as one canonical frame."""
    return _daily().copy()
