"""The source adapter contract.

A source turns an upstream (a web API, a file, the bundled sample, a simulator) into canonical
frames. It is the *only* place where upstream column names, units, symbol spellings and time
zones appear. Every method returns frames already passed through ``schema.validate_bars`` /
``schema.validate_news`` and raises ``BadInput`` (the user's fault: bad file, unknown symbol) or
``SourceError`` (the upstream's fault: network, blocked, empty, changed schema).
"""
from __future__ import annotations

import datetime as dt

import pandas as pd

from ..errors import BadInput
from ..schema import INTRADAY_FREQS
from ..symbols import Symbol


class Source:
    """Base adapter. Subclasses override what they can serve."""

    name: str = ""
    #: True when the source answers from the network (the store caches its answers).
    remote: bool = False
    freqs: tuple[str, ...] = ("daily",)

    def bars(self, symbol: Symbol, start: dt.date, end: dt.date, freq: str = "daily") -> pd.DataFrame:
        """Canonical bars of one symbol with ``start <= trade date <= end``."""
        if freq not in self.freqs:
            raise BadInput(f"source {self.name!r} has no {freq} bars (it serves {', '.join(self.freqs)})")
        if freq == "daily":
            return self.daily_bars(symbol, start, end)
        if freq in INTRADAY_FREQS:
            return self.intraday_bars(symbol, start, end, freq)
        raise BadInput(f"unknown frequency {freq!r}")

    def daily_bars(self, symbol: Symbol, start: dt.date, end: dt.date) -> pd.DataFrame:
        raise BadInput(f"source {self.name!r} has no daily bars")

    def intraday_bars(self, symbol: Symbol, start: dt.date, end: dt.date, freq: str) -> pd.DataFrame:
        raise BadInput(f"source {self.name!r} has no {freq} bars")

    def news(self, symbol: Symbol | None, start: dt.date, end: dt.date) -> pd.DataFrame:
        """Canonical news about ``symbol`` (or market-wide when None) published in [start, end]."""
        raise BadInput(f"source {self.name!r} has no news")

    def daily_prev_close(self, symbol: Symbol, bars: pd.DataFrame) -> pd.Series:
        """The previous *daily* close for each intraday bar (the "down X % on the day" reference),
        from this source's daily bars; NaN (with a warning) when the daily bars are unavailable."""
        import logging

        import numpy as np

        from ..errors import SourceError

        dates = bars["ts"].dt.date
        try:
            daily = self.daily_bars(symbol, min(dates), max(dates))
        except SourceError as exc:
            logging.getLogger(__name__).warning("minute bars of %s come without prev_close: %s", symbol.id, exc)
            return pd.Series(np.nan, index=bars.index)
        prev = pd.Series(daily["prev_close"].to_numpy(), index=daily["ts"].dt.date)
        return dates.map(prev).astype("float64")

    def universe(self) -> list[Symbol]:
        """The symbols this source can list (for ``--universe``); empty when it cannot."""
        return []


def in_range(df: pd.DataFrame, start: dt.date, end: dt.date, col: str = "ts") -> pd.DataFrame:
    """Rows whose local calendar date lies in [start, end]."""
    if df.empty:
        return df
    d = df[col].dt.tz_convert("Asia/Shanghai").dt.date
    return df[(d >= start) & (d <= end)].reset_index(drop=True)
