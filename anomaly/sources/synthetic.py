"""``--source synthetic[:SEED]`` — a seeded SYNTHETIC market for trying the detectors.

Not market data. Each symbol gets its own reproducible path (seeded by the source seed and the
code), and the last trading day of every request carries a planted event shaped like 2023-05-24
(a −8 % cliff from 13:01 with half of it recovered by the close), so ``anomaly detect --freq 1min
--source synthetic`` has something to find. Frames carry ``attrs["synthetic"] = True``.
"""
from __future__ import annotations

import datetime as dt
import zlib

import pandas as pd

from .. import calendar
from ..errors import BadInput
from ..symbols import Symbol
from .base import Source, in_range

PLANTED = dict(kind="cliff", day=-1, onset="13:01", depth=0.08, duration=3, recovery=0.5)


class SyntheticSource(Source):
    name = "synthetic"
    freqs = ("daily", "1min", "5min")

    def __init__(self, seed: int = 7):
        self.seed = int(seed)

    def _seed(self, symbol: Symbol) -> int:
        return (self.seed * 1_000_003 + zlib.crc32(symbol.id.encode())) % (2**32)

    def _n_days(self, start: dt.date, end: dt.date) -> int:
        n = len(calendar.trading_days(start, end))
        if n == 0:
            raise BadInput(f"no trading day between {start} and {end}")
        return n

    def daily_bars(self, symbol: Symbol, start: dt.date, end: dt.date) -> pd.DataFrame:
        from ..simulate import Plant, simulate_daily

        if symbol.is_index:
            _, index_bars, _ = simulate_daily(1, self._n_days(start, end), seed=self.seed, start=start,
                                              index_id=symbol.id)
            return _label(in_range(index_bars, start, end))
        bars, _, _ = simulate_daily(1, self._n_days(start, end), seed=self._seed(symbol), start=start,
                                    events=[Plant(kind="cliff", day=-1, depth=0.08, recovery=0.5)])
        return _label(in_range(bars.assign(symbol=symbol.id), start, end))

    def intraday_bars(self, symbol: Symbol, start: dt.date, end: dt.date, freq: str) -> pd.DataFrame:
        from ..simulate import Plant, simulate_market

        bars, _ = simulate_market(1, self._n_days(start, end), freq=freq, seed=self._seed(symbol), start=start,
                                  events=[Plant(**PLANTED)])
        return _label(in_range(bars.assign(symbol=symbol.id), start, end))


def _label(df: pd.DataFrame) -> pd.DataFrame:
    df.attrs["synthetic"] = True
    return df
