"""Exchange rules as data: sessions, board price limits, 异常波动 and 龙虎榜 thresholds.

Each table is a tuple of frozen rows read by small lookup functions below; detectors never
hard-code a threshold. Sources: SSE/SZSE 交易规则 (2023 revisions), 创业板 registration reform
(20 % limits from 2020-08-24), STAR market (20 % since listing), BSE (30 %), and the SSE/SZSE
main-board 风险警示 (ST) change from 5 % to 10 % effective 2025-07-07.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

# --- sessions (local time, Asia/Shanghai) -------------------------------------------------------


@dataclass(frozen=True)
class SessionPart:
    name: str
    start: dt.time
    end: dt.time
    continuous: bool  # continuous auction (bars) vs call auction (one print)


SESSIONS: tuple[SessionPart, ...] = (
    SessionPart("opening_call", dt.time(9, 15), dt.time(9, 25), False),
    SessionPart("morning", dt.time(9, 30), dt.time(11, 30), True),
    SessionPart("afternoon", dt.time(13, 0), dt.time(14, 57), True),
    SessionPart("closing_call", dt.time(14, 57), dt.time(15, 0), False),
)
# Trading minutes that produce bars: 09:30-11:30 and 13:00-15:00 (240 one-minute bars a day).
BAR_SESSIONS: tuple[tuple[dt.time, dt.time], ...] = ((dt.time(9, 30), dt.time(11, 30)),
                                                    (dt.time(13, 0), dt.time(15, 0)))
DAILY_CLOSE = dt.time(15, 0)


# --- boards and price limits --------------------------------------------------------------------


@dataclass(frozen=True)
class LimitRule:
    board: str             # main / chinext / star / bse
    st: bool               # 风险警示 (ST, *ST)
    start: dt.date         # first day the rule applies
    end: dt.date | None    # last day (None = still in force)
    limit: float | None    # fraction; None = no limit (e.g. first days after an IPO)


LIMIT_RULES: tuple[LimitRule, ...] = (
    LimitRule("main", False, dt.date(1996, 12, 16), None, 0.10),
    LimitRule("main", True, dt.date(1998, 4, 22), dt.date(2025, 7, 6), 0.05),
    LimitRule("main", True, dt.date(2025, 7, 7), None, 0.10),
    LimitRule("chinext", False, dt.date(2009, 10, 30), dt.date(2020, 8, 21), 0.10),
    LimitRule("chinext", True, dt.date(2009, 10, 30), dt.date(2020, 8, 21), 0.05),
    LimitRule("chinext", False, dt.date(2020, 8, 24), None, 0.20),
    LimitRule("chinext", True, dt.date(2020, 8, 24), None, 0.20),
    LimitRule("star", False, dt.date(2019, 7, 22), None, 0.20),
    LimitRule("star", True, dt.date(2019, 7, 22), None, 0.20),
    LimitRule("bse", False, dt.date(2021, 11, 15), None, 0.30),
    LimitRule("bse", True, dt.date(2021, 11, 15), None, 0.30),
)


def limit_pct(board: str, day: dt.date, st: bool = False) -> float | None:
    """The daily price-limit fraction for a board on a day (``None`` when unknown or no limit)."""
    for r in LIMIT_RULES:
        if r.board == board and r.st == st and r.start <= day and (r.end is None or day <= r.end):
            return r.limit
    return None


def limit_price(prev_close: float, pct: float, up: bool) -> float:
    """The exchange's limit price: previous close × (1 ± limit), rounded half-up to the cent."""
    raw = Decimal(str(prev_close)) * (Decimal(1) + (Decimal(str(pct)) if up else -Decimal(str(pct))))
    return float(raw.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


# --- 异常波动 / 严重异常波动 (cumulative 收盘价涨跌幅偏离值) --------------------------------------


@dataclass(frozen=True)
class DeviationRule:
    name: str          # short id used in anomaly kinds
    label: str         # the regulator's term
    boards: tuple[str, ...]
    days: int          # consecutive trading days
    up: float          # cumulative deviation ≥ up  (fraction)
    down: float        # cumulative deviation ≤ down (fraction, negative)


DEVIATION_RULES: tuple[DeviationRule, ...] = (
    DeviationRule("abnormal_3d", "异常波动", ("main",), 3, 0.20, -0.20),
    DeviationRule("abnormal_3d", "异常波动", ("chinext", "star"), 3, 0.30, -0.30),
    DeviationRule("serious_10d", "严重异常波动", ("main", "chinext", "star"), 10, 1.00, -0.50),
    DeviationRule("serious_30d", "严重异常波动", ("main", "chinext", "star"), 30, 2.00, -0.70),
)


# --- 龙虎榜 daily screens -----------------------------------------------------------------------


@dataclass(frozen=True)
class LhbScreen:
    boards: tuple[str, ...]
    deviation: float   # |日收盘价涨跌幅偏离值| ≥ this
    amplitude: float   # (high - low) / low ≥ this  (measured on the day's low)
    turnover: float    # 换手率 ≥ this (fraction)


LHB_SCREENS: tuple[LhbScreen, ...] = (
    LhbScreen(("main",), 0.07, 0.15, 0.20),
    LhbScreen(("chinext", "star"), 0.15, 0.30, 0.30),
)


def lhb_screen(board: str) -> LhbScreen | None:
    return next((s for s in LHB_SCREENS if board in s.boards), None)


def deviation_rules(board: str) -> tuple[DeviationRule, ...]:
    return tuple(r for r in DEVIATION_RULES if board in r.boards)


# --- benchmarks: the index each board's deviation and market model are measured against ----------

# The regulator measures deviation against the board's composite index; the bundled sample holds
# 深证成指 and 上证指数, so those are the defaults (configurable per board in the TOML config).
DEFAULT_BENCHMARKS: dict[tuple[str, str], str] = {
    ("SZ", "main"): "399001.SZ",
    ("SZ", "chinext"): "399006.SZ",
    ("SH", "main"): "000001.SH",
    ("SH", "star"): "000688.SH",
    ("BJ", "bse"): "899050.BJ",
}
# When a preferred benchmark is not available in a source, fall back along this list.
BENCHMARK_FALLBACKS: dict[str, str] = {
    "399006.SZ": "399001.SZ",
    "000688.SH": "000001.SH",
    "899050.BJ": "000001.SH",
}
