"""Exchange rules as data: sessions, board price limits, 异常波动 / 严重异常波动 and 龙虎榜 thresholds.

Each table is a tuple of frozen rows read by small lookup functions below; detectors never
hard-code a threshold. Every row says where it comes from. The rule texts were checked against
public copies of the exchanges' wording (third-party reproductions; the exchanges' own PDFs were
not reachable from this machine), so clause numbers are given as "section" where certain and as
the quoted phrase otherwise.

Price limits (涨跌幅限制)
    SZSE/SSE 交易规则, 价格涨跌幅限制: "涨跌幅价格 = 前收盘价 × (1 ± 涨跌幅限制比例)，计算结果按照四舍五入
    原则取至价格最小变动单位" (A-share tick 0.01 yuan) → ``limit_price`` / ``limit_prices`` (integer-cent
    arithmetic, half-up). Main board 10 % (since 1996-12-16); main-board 风险警示 (ST, *ST) 5 % since
    1998-04-22. ChiNext 10 % until 2020-08-21, 20 % (ST included) from the registration reform's first
    trading day 2020-08-24. STAR 20 % since its first day 2019-07-22. BSE 30 % since 2021-11-15.
    **ST 5 % → 10 %**: the exchanges consulted on aligning main-board 风险警示 stocks with the other
    main-board stocks on 2025-06-27 (征求意见稿《关于调整主板风险警示股票价格涨跌幅限制比例及有关事项的
    通知》: "一是主板风险警示股票价格涨跌幅限制比例由5%调整为10%…二是同步调整主板风险警示股票的异常波动
    指标"). The change took effect with the exchanges' July rule package on **2026-07-06** (Monday):
    tushare ``stk_shock`` still lists main-board ST stocks under "连续三个交易日涨跌幅偏离值累计达到12%的
    ST证券" on 2026-03-12 and 2026-04-16 (so the 5 % regime was still in force then), and reports of the
    package ("Starting July 6 … main-board risk-flagged stocks … ±10 %") and maintainers' notes
    (akfamily/akquant#249: "主板的st将在2026-07-06之后…改为10%") date it to 2026-07-06. An earlier
    project note said 2025-07-07; that date is the consultation's, not the rule's.
    New listings: registration-based IPOs have no limit on their first 5 trading days (STAR since
    2019-07-22, ChiNext since 2020-08-24, main board since 2023-04-10); BSE the first day only. The
    detectors use ``meta["list_date"]`` when given and otherwise treat any day whose range leaves the
    limit band as a no-limit day.

收盘价格涨跌幅偏离值 (closing-price deviation)
    SZSE 交易规则, 交易信息公开 section (4.4.x in recent revisions; clause numbers not verified against
    the PDF) and the SSE equivalent: "收盘价涨跌幅偏离值 = 单只证券涨跌幅 −
    对应分类指数涨跌幅；证券价格达到涨跌幅限制的，取对应的涨跌幅限制比例进行计算" — a stock that closes at
    its limit price counts as exactly ±limit (not its cent-rounded return). "三日连续收盘价涨跌幅偏离值" is
    the sum of the daily deviations over the window (the rule says "日收盘价格涨跌幅偏离值累计").
    The "对应分类指数" is the exchange's classification index (SZSE main: 深证综指 399106, ChiNext:
    创业板综指 399102 as commonly reported; SSE: its A-share/STAR classification index); see
    ``REGULATOR_INDEX``. When that index is not available the detectors fall back to the board's
    benchmark (``DEFAULT_BENCHMARKS``: 399001 for the Shenzhen main board in the bundled sample) and
    say so in every record.

异常波动 (abnormal fluctuation, 3-day) and 严重异常波动 (serious, 10/30-day)
    "连续三个交易日内日收盘价格涨跌幅偏离值累计达到±20%" (main board; "±12%" for main-board ST under the
    5 % regime; older texts give ±15 %); ChiNext (since 2020-08-24) and STAR: "连续3个交易日内日收盘价格
    涨跌幅偏离值累计达到±30%". The window is "within 3 consecutive trading days" of the stock, so 2- and
    3-day windows count (tushare's periods such as "2026-03-11-2026-03-12" confirm 2-day triggers), and
    the count restarts after each announced 异常波动 ("异常波动指标自公告之日起重新计算"), which we model
    as a restart on the day after each trigger. 严重异常波动: "连续10个交易日内日收盘价格涨跌幅偏离值累计
    达到+100%（或−50%）" and "连续30个交易日内…累计达到+200%（或−70%）". (The companion criteria "连续10个
    交易日内3次（主板4次）出现同向异常波动" and the main-board turnover criterion — 3-day mean turnover ≥ 30×
    the previous 5 days' and cumulative ≥ 20 % — are not implemented.)

龙虎榜 (交易公开信息) daily screens
    SZSE 交易规则, 交易信息公开 (first article of the section, 4.4.1 as usually cited) and the SSE
    equivalent: "(一)当日收盘价格涨跌幅偏离值达到±7%的各前五只证券；
    (二)当日价格振幅达到15%的前五只证券，价格振幅 = (当日最高价 − 当日最低价) / 当日最低价 × 100%；
    (三)当日换手率达到20%的前五只证券，换手率 = 成交股数 / 无限售条件股份总数 × 100%；…相同的，依次按成交
    金额和成交量选取". ChiNext (since 2020-08-24) and STAR: ±15 %, 30 %, 30 %. The exchange publishes only
    the top 5 per criterion (SSE historically top 3/5) ranked across the whole market; with one symbol
    or a partial universe that ranking cannot be replicated, so the detectors flag every stock that
    meets the threshold and say so in ``details["note"]``.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Collection, Mapping

import numpy as np

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

ST_TEN_PCT_FROM = dt.date(2026, 7, 6)   # main-board 风险警示 stocks move to 10 % (see module doc)


@dataclass(frozen=True)
class LimitRule:
    board: str             # main / chinext / star / bse
    st: bool               # 风险警示 (ST, *ST)
    start: dt.date         # first day the rule applies
    end: dt.date | None    # last day (None = still in force)
    limit: float | None    # fraction; None = no limit (e.g. first days after an IPO)


LIMIT_RULES: tuple[LimitRule, ...] = (
    LimitRule("main", False, dt.date(1996, 12, 16), None, 0.10),
    LimitRule("main", True, dt.date(1998, 4, 22), ST_TEN_PCT_FROM - dt.timedelta(days=1), 0.05),
    LimitRule("main", True, ST_TEN_PCT_FROM, None, 0.10),
    LimitRule("chinext", False, dt.date(2009, 10, 30), dt.date(2020, 8, 21), 0.10),
    LimitRule("chinext", True, dt.date(2009, 10, 30), dt.date(2020, 8, 21), 0.05),
    LimitRule("chinext", False, dt.date(2020, 8, 24), None, 0.20),
    LimitRule("chinext", True, dt.date(2020, 8, 24), None, 0.20),
    LimitRule("star", False, dt.date(2019, 7, 22), None, 0.20),
    LimitRule("star", True, dt.date(2019, 7, 22), None, 0.20),
    LimitRule("bse", False, dt.date(2021, 11, 15), None, 0.30),
    LimitRule("bse", True, dt.date(2021, 11, 15), None, 0.30),
)


@dataclass(frozen=True)
class IpoNoLimitRule:
    """Trading days without a price limit right after listing (registration-based IPOs)."""
    board: str
    start: dt.date      # listings on or after this date
    days: int


IPO_NO_LIMIT_RULES: tuple[IpoNoLimitRule, ...] = (
    IpoNoLimitRule("star", dt.date(2019, 7, 22), 5),
    IpoNoLimitRule("chinext", dt.date(2020, 8, 24), 5),
    IpoNoLimitRule("main", dt.date(2023, 4, 10), 5),
    IpoNoLimitRule("bse", dt.date(2021, 11, 15), 1),
)


def ipo_no_limit_days(board: str, list_date: dt.date) -> int:
    """Number of first trading days without a price limit for a listing on ``list_date``."""
    for r in IPO_NO_LIMIT_RULES:
        if r.board == board and list_date >= r.start:
            return r.days
    return 1  # older listings: the first day had no (ordinary) limit


def limit_pct(board: str, day: dt.date, st: bool = False) -> float | None:
    """The daily price-limit fraction for a board on a day (``None`` when unknown or no limit)."""
    for r in LIMIT_RULES:
        if r.board == board and r.st == st and r.start <= day and (r.end is None or day <= r.end):
            return r.limit
    return None


def limit_pct_array(board, st, day) -> np.ndarray:
    """Vectorised ``limit_pct``: arrays of board names, ST flags and dates → fractions (NaN = none)."""
    import pandas as pd

    codes, names = pd.factorize(np.asarray(board, dtype=object).ravel())
    shape = np.shape(board)
    st = np.asarray(st, dtype=bool).ravel()
    d = np.asarray(day, dtype="datetime64[D]").ravel()
    out = np.full(codes.shape, np.nan)
    for r in LIMIT_RULES:
        hit = np.flatnonzero(np.asarray(names) == r.board)
        if not len(hit):
            continue
        m = (codes == hit[0]) & (st == r.st) & (d >= np.datetime64(r.start, "D"))
        if r.end is not None:
            m &= d <= np.datetime64(r.end, "D")
        out[m] = np.nan if r.limit is None else r.limit
    return out.reshape(shape)


def limit_price(prev_close: float, pct: float, up: bool) -> float:
    """The exchange's limit price: previous close × (1 ± limit), rounded half-up to the cent."""
    raw = Decimal(str(prev_close)) * (Decimal(1) + (Decimal(str(pct)) if up else -Decimal(str(pct))))
    return float(raw.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def limit_prices(prev_close, pct) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised limit-up and limit-down prices in yuan (NaN where ``pct`` or ``prev_close`` is NaN).

    Exact integer-cent arithmetic: ``(cents × (100 ± pct%) + 50) // 100`` = half-up rounding of
    ``prev_close × (1 ± pct)`` to the cent, identical to ``limit_price`` for every cent price.
    """
    pc = np.asarray(prev_close, dtype=float)
    p = np.asarray(pct, dtype=float)
    # Integer cents only where they cannot overflow int64 (≤ 1e14 yuan × 1.3); larger, absurd prices
    # get no limit prices rather than wrapped-around integers or a numpy cast warning.
    with np.errstate(over="ignore", invalid="ignore"):
        ok = np.isfinite(pc) & np.isfinite(p) & (np.abs(pc) < 1e14) & (np.abs(p) <= 100)
    cents = np.where(ok, np.rint(np.where(ok, pc, 0) * 100), 0).astype(np.int64)
    pp = np.where(ok, np.rint(p * 100), 0).astype(np.int64)
    up = (cents * (100 + pp) + 50) // 100
    down = (cents * (100 - pp) + 50) // 100
    return np.where(ok, up / 100.0, np.nan), np.where(ok, down / 100.0, np.nan)


# --- 异常波动 / 严重异常波动 (cumulative 收盘价涨跌幅偏离值) --------------------------------------


@dataclass(frozen=True)
class DeviationRule:
    name: str          # short id used in anomaly kinds
    label: str         # the regulator's term
    boards: tuple[str, ...]
    days: int          # "within N consecutive trading days" (windows of 1..N of the stock's days)
    up: float          # cumulative deviation ≥ up  (fraction)
    down: float        # cumulative deviation ≤ down (fraction, negative)
    st: bool | None = None            # None: any stock; True/False: only (non-)ST stocks
    start: dt.date = dt.date(1990, 1, 1)
    end: dt.date | None = None
    reset: bool = False               # the count restarts after each trigger (异常波动)
    source: str = ""


DEVIATION_RULES: tuple[DeviationRule, ...] = (
    DeviationRule("abnormal_3d", "异常波动", ("main",), 3, 0.20, -0.20, st=False, reset=True,
                  source="交易规则 异常波动: 连续三个交易日内日收盘价格涨跌幅偏离值累计达到±20%"),
    DeviationRule("abnormal_3d", "异常波动", ("main",), 3, 0.12, -0.12, st=True,
                  end=ST_TEN_PCT_FROM - dt.timedelta(days=1), reset=True,
                  source="风险警示股票 连续三个交易日内日收盘价格涨跌幅偏离值累计达到±12%"),
    DeviationRule("abnormal_3d", "异常波动", ("main",), 3, 0.20, -0.20, st=True,
                  start=ST_TEN_PCT_FROM, reset=True,
                  source="2026-07-06: 主板风险警示股票异常波动指标与主板其他股票保持一致"),
    DeviationRule("abnormal_3d", "异常波动", ("chinext",), 3, 0.20, -0.20, end=dt.date(2020, 8, 21),
                  reset=True, source="创业板 (before the 2020-08-24 reform): ±20%"),
    DeviationRule("abnormal_3d", "异常波动", ("chinext",), 3, 0.30, -0.30, start=dt.date(2020, 8, 24),
                  reset=True, source="创业板交易特别规定: 连续3个交易日内日收盘价格涨跌幅偏离值累计达到±30%"),
    DeviationRule("abnormal_3d", "异常波动", ("star",), 3, 0.30, -0.30, start=dt.date(2019, 7, 22),
                  reset=True, source="科创板股票交易特别规定: 连续3个交易日内日收盘价格涨跌幅偏离值累计达到±30%"),
    DeviationRule("serious_10d", "严重异常波动", ("main", "chinext", "star"), 10, 1.00, -0.50,
                  source="连续10个交易日内日收盘价格涨跌幅偏离值累计达到+100%（-50%）"),
    DeviationRule("serious_30d", "严重异常波动", ("main", "chinext", "star"), 30, 2.00, -0.70,
                  source="连续30个交易日内日收盘价格涨跌幅偏离值累计达到+200%（-70%）"),
)


def deviation_rules(board: str, st: bool | None = None, day: dt.date | None = None
                    ) -> tuple[DeviationRule, ...]:
    """Rules that apply to a board (and, when given, an ST flag and a day)."""
    out = []
    for r in DEVIATION_RULES:
        if board not in r.boards:
            continue
        if st is not None and r.st is not None and r.st != st:
            continue
        if day is not None and (day < r.start or (r.end is not None and day > r.end)):
            continue
        out.append(r)
    return tuple(out)


# --- 龙虎榜 daily screens -----------------------------------------------------------------------


@dataclass(frozen=True)
class LhbScreen:
    boards: tuple[str, ...]
    deviation: float   # |日收盘价涨跌幅偏离值| ≥ this
    amplitude: float   # (high - low) / low ≥ this  (measured on the day's low)
    turnover: float    # 换手率 ≥ this (fraction)
    start: dt.date = dt.date(1990, 1, 1)
    end: dt.date | None = None
    top_n: int = 5     # the exchange publishes only the top N per criterion (market-wide ranking)


LHB_SCREENS: tuple[LhbScreen, ...] = (
    LhbScreen(("main",), 0.07, 0.15, 0.20),
    LhbScreen(("chinext",), 0.07, 0.15, 0.20, end=dt.date(2020, 8, 21)),
    LhbScreen(("chinext",), 0.15, 0.30, 0.30, start=dt.date(2020, 8, 24)),
    LhbScreen(("star",), 0.15, 0.30, 0.30, start=dt.date(2019, 7, 22)),
)


def lhb_screen(board: str, day: dt.date | None = None) -> LhbScreen | None:
    for s in LHB_SCREENS:
        if board in s.boards and (day is None or (s.start <= day and (s.end is None or day <= s.end))):
            return s
    return None


# --- benchmarks: the index each board's deviation and market model are measured against ----------

# The regulator measures deviation against the board's classification index; the bundled sample
# holds 深证成指 and 上证指数, so those are the defaults (configurable per board in the TOML config,
# key "SZ.main" etc.).
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
    "399106.SZ": "399001.SZ",
    "399107.SZ": "399106.SZ",
    "399102.SZ": "399006.SZ",
    "000002.SH": "000001.SH",
}
# The exchange's own "对应分类指数" for 收盘价涨跌幅偏离值 (preferred by the exchange-rule detectors when
# present in the index bars; as commonly reported — SZSE main 深证综指, ChiNext 创业板综指; SSE A-share
# index and 科创50 — not verified against the exchanges' technical notices).
REGULATOR_INDEX: dict[tuple[str, str], str] = {
    ("SZ", "main"): "399106.SZ",
    ("SZ", "chinext"): "399102.SZ",
    ("SH", "main"): "000002.SH",
    ("SH", "star"): "000688.SH",
}


def resolve_benchmark(exchange: str, board: str, available: Collection[str],
                      overrides: Mapping[str, str] | None = None,
                      table: Mapping[tuple[str, str], str] = DEFAULT_BENCHMARKS) -> str | None:
    """The index to measure a stock of ``exchange``/``board`` against, among ``available`` ids.

    ``overrides`` maps ``"SZ.main"`` (config style) to an index id. The preferred id is followed
    along ``BENCHMARK_FALLBACKS`` until one is available; then the exchange's composite
    (399001.SZ / 000001.SH), then 000300.SH. ``None`` when nothing is available.
    """
    avail = set(available)
    first = (overrides or {}).get(f"{exchange}.{board}") or table.get((exchange, board))
    seen: set[str] = set()
    cand = first
    while cand and cand not in seen:
        if cand in avail:
            return cand
        seen.add(cand)
        cand = BENCHMARK_FALLBACKS.get(cand)
    for cand in (("399001.SZ" if exchange == "SZ" else "000001.SH"), "000001.SH", "399001.SZ",
                 "000300.SH"):
        if cand in avail:
            return cand
    return None


def limit_flags(board, st, day, prev_close, high, low, close, no_limit=None) -> dict[str, np.ndarray]:
    """Vectorised price-limit state of daily bars.

    Returns arrays ``pct`` (NaN: no limit applies), ``up``/``down`` (limit prices, yuan),
    ``touched_up``/``touched_down`` (high ≥ limit-up / low ≤ limit-down, compared in cents),
    ``closed_up``/``closed_down`` (close at the limit) and ``no_limit`` — days that had no limit:
    ``no_limit`` given by the caller (IPO days from a listing date) or a range outside the limit
    band (an unlimited day, or a ``prev_close`` that is not the exchange's 前收盘价).
    """
    pct = limit_pct_array(board, st, day)
    pc = np.asarray(prev_close, dtype=float)
    up, down = limit_prices(pc, pct)
    # absurd (but finite) prices such as 1e308 overflow to inf in cents: harmless, no warning
    with np.errstate(over="ignore", invalid="ignore"):
        hc, lc, cc = (np.rint(np.asarray(v, dtype=float) * 100) for v in (high, low, close))
        uc, dc = np.rint(up * 100), np.rint(down * 100)
        limited = np.isfinite(pct) & np.isfinite(pc)
        outside = limited & ((hc > uc) | (lc < dc))
        nl = outside if no_limit is None else (outside | (np.asarray(no_limit, dtype=bool) & limited))
        has = limited & ~nl
        out = dict(pct=np.where(has, pct, np.nan), up=np.where(has, up, np.nan),
                   down=np.where(has, down, np.nan),
                   touched_up=has & (hc >= uc), touched_down=has & (lc <= dc),
                   closed_up=has & (cc >= uc), closed_down=has & (cc <= dc), no_limit=nl)
    return out
