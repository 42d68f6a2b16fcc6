"""``--source synthetic[:SEED]`` — a seeded SYNTHETIC market for trying the detectors.

Not market data. Each stock has ONE reproducible path (seeded by the source seed and the code),
simulated in one piece from ``ANCHOR`` to ``HORIZON`` and sliced to what is asked, so a day looks
the same whatever range is requested, and its daily bars are exactly its minute bars aggregated
(open, high, low, close, volume, amount of the day). Planted events (``EVENTS``): a cliff shaped like
2023-05-24 (−8 % from 13:01, half recovered by the close) on 2023-05-24, and on about 2 % of the
other days a cliff of 4–9 % at a random minute. Frames carry ``attrs["synthetic"] = True``; plots
drawn from them say SYNTHETIC in the title.
"""
from __future__ import annotations

import datetime as dt
import zlib
from functools import lru_cache

import pandas as pd

from .. import calendar
from ..errors import BadInput
from ..symbols import Symbol
from .base import Source, in_range

ANCHOR = dt.date(2020, 1, 2)       # the synthetic market starts where the bundled data starts …
HORIZON = dt.date(2026, 12, 31)    # … and is simulated through this day, in one piece
CASE_DAY = "2023-05-24"


def _events():
    from ..simulate import Plant

    return (Plant("cliff", day=CASE_DAY, onset="13:01", depth=0.08, duration=3, recovery=0.5),
            Plant("cliff", day=None, prob=0.02, onset="random", depth=(0.04, 0.09), recovery=(0.2, 0.8)))


@lru_cache(maxsize=1)
def _days() -> int:
    return len(calendar.trading_days(ANCHOR, HORIZON))


@lru_cache(maxsize=4)
def _minute_path(seed: int, freq: str) -> pd.DataFrame:
    from ..simulate import simulate_market

    bars, _ = simulate_market(1, _days(), freq=freq, seed=seed, start=ANCHOR, events=_events())
    return bars


@lru_cache(maxsize=4)
def _daily_path(seed: int) -> pd.DataFrame:
    """The 1-minute path aggregated to days (bar end 15:00), so daily and minute bars agree."""
    m = _minute_path(seed, "1min")
    day = m["ts"].dt.normalize()
    g = m.groupby(day, sort=True)
    out = pd.DataFrame({"open": g["open"].first(), "high": g["high"].max(), "low": g["low"].min(),
                        "close": g["close"].last(), "prev_close": g["prev_close"].first(),
                        "volume": g["volume"].sum(), "amount": g["amount"].sum(),
                        "turnover": g["turnover"].sum(min_count=1)})
    out.index = out.index + pd.Timedelta(hours=15)
    return out.rename_axis("ts").reset_index()


@lru_cache(maxsize=4)
def _index_path(seed: int, index_id: str) -> pd.DataFrame:
    from ..simulate import simulate_daily

    _, index_bars, _ = simulate_daily(1, _days(), seed=seed, start=ANCHOR, index_id=index_id)
    return index_bars


class SyntheticSource(Source):
    name = "synthetic"
    freqs = ("daily", "1min", "5min")

    def __init__(self, seed: int = 7):
        self.seed = int(seed)

    def _seed(self, symbol: Symbol) -> int:
        return (self.seed * 1_000_003 + zlib.crc32(symbol.id.encode())) % (2**32)

    def _check(self, start: dt.date, end: dt.date) -> None:
        if end < ANCHOR or start > HORIZON:
            raise BadInput(f"the synthetic market runs {ANCHOR}..{HORIZON}; nothing in {start}..{end}")
        if len(calendar.trading_days(start, end)) == 0:
            raise BadInput(f"no trading day between {start} and {end}")

    def daily_bars(self, symbol: Symbol, start: dt.date, end: dt.date) -> pd.DataFrame:
        self._check(start, end)
        if symbol.is_index:
            return _label(in_range(_index_path(self.seed, symbol.id), start, end).reset_index(drop=True))
        bars = _daily_path(self._seed(symbol)).assign(symbol=symbol.id)
        return _label(in_range(bars, start, end).reset_index(drop=True))

    def intraday_bars(self, symbol: Symbol, start: dt.date, end: dt.date, freq: str) -> pd.DataFrame:
        self._check(start, end)
        if freq not in ("1min", "5min"):
            raise BadInput(f"source 'synthetic' has no {freq} bars (it serves 1min and 5min)")
        bars = _minute_path(self._seed(symbol), freq).assign(symbol=symbol.id)
        return _label(in_range(bars, start, end).reset_index(drop=True))


def _label(df: pd.DataFrame) -> pd.DataFrame:
    df.attrs["synthetic"] = True
    return df
