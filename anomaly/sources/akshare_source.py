"""akshare adapter: daily and minute bars (Eastmoney, with Sina/Tencent fallbacks) and news.

``import akshare`` happens only inside methods (it costs ~0.7 s and ~115 MB), so importing this
module — and ``anomaly --help`` — never loads it.

Upstream schemas mapped here (akshare 1.19.5, verified against the installed source and
akfamily/akshare on GitHub):

=====================================  ==========================================================
``stock_zh_a_hist`` (Eastmoney)         日期 (datetime.date), 股票代码, 开盘, 收盘, 最高, 最低,
                                        成交量 (**lots of 100**), 成交额 (yuan), 振幅, 涨跌幅 (%),
                                        涨跌额, 换手率 (%)
``stock_zh_a_daily`` (Sina)             date (datetime.date), open, high, low, close, volume
                                        (shares), amount (yuan), outstanding_share (shares),
                                        turnover (**fraction** = volume / outstanding_share)
``stock_zh_a_hist_tx`` (Tencent)        date, open, close, high, low, volume, turnover, amount —
                                        the volume unit changed between akshare releases (and
                                        1.19.5 leaves sz000xxx in lots), so it is *measured*:
                                        amount / volume must be a price inside [low, high]
``index_zh_a_hist`` (Eastmoney)         日期 (str), 开盘, 收盘, 最高, 最低, 成交量 (lots), 成交额,
                                        振幅, 涨跌幅, 涨跌额, 换手率
``stock_zh_index_daily_em`` (Eastmoney) date (str), open, close, high, low, volume (lots), amount
``stock_zh_a_hist_min_em`` period "1"   时间 (str, bar end), 开盘, 收盘, 最高, 最低, 成交量 (lots),
                                        成交额, 均价
``stock_zh_a_hist_min_em`` 5/15/30/60   时间, 开盘, 收盘, 最高, 最低, 涨跌幅, 涨跌额, 成交量 (lots),
                                        成交额, 振幅, 换手率
``stock_info_a_code_name``              code, name
=====================================  ==========================================================

Choices and known quirks:

* ``prev_close`` — Eastmoney: ``收盘 − 涨跌额``, which is the exchange's reference price (it is
  ex-rights adjusted on dividend days, as limit prices are). Sina/Tencent have no such column:
  their ``prev_close`` is the previous row's close, so every daily request starts a few trading
  days before ``start`` and drops those rows afterwards; on an ex-dividend day the fallback's
  ``prev_close`` is the unadjusted close (documented limitation).
* 1-minute bars: Eastmoney serves only the last ~5 trading days. The frame has a **09:30 row**
  (the opening call-auction print); it is passed through with ts 09:30 and the intraday module
  folds it into the first bar. Eastmoney reports ``开盘 == 0`` on 1-minute rows of every day but
  the latest (akshare issues #3350, #4884, #5798): such an open is replaced by the previous
  row's close of the same day clipped into the bar's [low, high] (the first row of a day — the
  auction print — gets its own close).
* ``prev_close`` of minute bars is the previous *daily* close, taken from :meth:`daily_bars`
  (one extra call); when that fails the minute bars still come back with ``prev_close`` NaN and
  a warning is logged.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Callable

import numpy as np
import pandas as pd

from ..errors import BadInput, SchemaChanged, SourceError, UnknownSymbol
from ..schema import BAR_COLUMNS, FREQS, TZ, empty_bars, validate_bars
from ..symbols import Symbol, resolve, stock_board
from .base import Source, in_range
from .net import NetPolicy, require_columns

log = logging.getLogger(__name__)

EASTMONEY, SINA, TENCENT = "eastmoney.com", "sina.com.cn", "qq.com"
EXCHANGE_LISTS = "sse.com.cn/szse.cn/bse.cn"
LOOKBACK_TRADING_DAYS = 5
MINUTE_PERIODS = {"1min": "1", "5min": "5", "15min": "15", "30min": "30", "60min": "60"}

EM_DAILY_COLUMNS = ["日期", "开盘", "收盘", "最高", "最低", "成交量", "成交额", "涨跌额"]
SINA_DAILY_COLUMNS = ["date", "open", "high", "low", "close", "volume", "amount"]
TX_DAILY_COLUMNS = ["date", "open", "close", "high", "low"]
EM_INDEX_COLUMNS = ["日期", "开盘", "收盘", "最高", "最低", "成交量", "成交额", "涨跌额"]
EM_INDEX_FALLBACK_COLUMNS = ["date", "open", "close", "high", "low", "volume", "amount"]
EM_MINUTE_COLUMNS = ["时间", "开盘", "收盘", "最高", "最低", "成交量", "成交额"]


def _ak():
    import akshare  # noqa: PLC0415 - lazy on purpose (0.7 s, 115 MB)

    return akshare


def _ymd(d: dt.date) -> str:
    return d.strftime("%Y%m%d")


def span(start: dt.date, end: dt.date) -> str:
    return f"{start:%Y-%m-%d}..{end:%Y-%m-%d}"


def lookback_start(start: dt.date, days: int = LOOKBACK_TRADING_DAYS) -> dt.date:
    """A few trading days before ``start`` (so the first requested bar gets its ``prev_close``)."""
    try:
        from ..calendar import previous_trading_day

        return previous_trading_day(start, days).date()
    except Exception:  # noqa: BLE001 - outside the calendar: a generous calendar-day margin
        return start - dt.timedelta(days=3 * days)


def has_trading_days(start: dt.date, end: dt.date) -> bool:
    """False only when the exchange calendar says [start, end] holds no session (no call needed)."""
    try:
        from ..calendar import trading_days

        return len(trading_days(start, end)) > 0
    except Exception:  # noqa: BLE001 - outside the calendar's range: ask the upstream
        return True


def prefixed(symbol: Symbol) -> str:
    """Sina/Tencent/Eastmoney-index spelling: ``sz002230``, ``sh000001``, ``csi931071``."""
    return f"{symbol.exchange.lower()}{symbol.code}"


def _num(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s, errors="coerce").astype("float64")


def daily_ts(dates: pd.Series) -> pd.Series:
    d = pd.to_datetime(pd.Series(dates).astype(str), errors="coerce")
    return (d.dt.normalize() + pd.Timedelta(hours=15)).dt.tz_localize(TZ)


def canonical_bars(symbol_id: str, ts, o, h, l, c, prev_close, volume, amount, turnover=None) -> pd.DataFrame:
    n = len(ts)
    nan = pd.Series(np.full(n, np.nan))
    df = pd.DataFrame({
        "symbol": [symbol_id] * n,
        "ts": pd.Series(ts).reset_index(drop=True),
        "open": _num(o).reset_index(drop=True),
        "high": _num(h).reset_index(drop=True),
        "low": _num(l).reset_index(drop=True),
        "close": _num(c).reset_index(drop=True),
        "prev_close": (nan if prev_close is None else _num(prev_close)).reset_index(drop=True),
        "volume": _num(volume).reset_index(drop=True),
        "amount": (nan if amount is None else _num(amount)).reset_index(drop=True),
        "turnover": (nan if turnover is None else _num(turnover)).reset_index(drop=True),
    })
    return df[BAR_COLUMNS]


def validated_bars(df: pd.DataFrame, freq: str, what: str) -> pd.DataFrame:
    """validate_bars, but a bad upstream row is the upstream's fault (SourceError, not BadInput)."""
    if df["ts"].isna().any():
        raise SourceError(f"{what}: upstream returned a row without a parsable date/time")
    df = df.sort_values("ts", kind="stable").drop_duplicates(["symbol", "ts"], keep="last")
    try:
        return validate_bars(df, freq=freq, origin=what, derive_prev_close=False)
    except BadInput as exc:
        raise SourceError(f"upstream returned bad bars: {exc}") from None


def _fill_prev_close(df: pd.DataFrame) -> pd.DataFrame:
    """Where prev_close is missing use the previous row's close (rows sorted by ts)."""
    df = df.sort_values("ts", kind="stable").reset_index(drop=True)
    df["prev_close"] = df["prev_close"].fillna(df["close"].shift(1))
    return df


# --- mappers: one upstream frame → canonical rows (pure; tested on frames in the real schemas) ---


def map_em_daily(frame: pd.DataFrame, symbol_id: str, what: str) -> pd.DataFrame:
    """Eastmoney ``stock_zh_a_hist`` → canonical (lots → shares, prev_close = 收盘 − 涨跌额)."""
    require_columns(frame, EM_DAILY_COLUMNS, what)
    close, change = _num(frame["收盘"]), _num(frame["涨跌额"])
    turnover = frame["换手率"] if "换手率" in frame.columns else None
    df = canonical_bars(symbol_id, daily_ts(frame["日期"]), frame["开盘"], frame["最高"], frame["最低"],
                    close, (close - change).round(4), _num(frame["成交量"]) * 100.0,
                    frame["成交额"], turnover)
    return _fill_prev_close(df)


def map_sina_daily(frame: pd.DataFrame, symbol_id: str, what: str) -> pd.DataFrame:
    """Sina ``stock_zh_a_daily`` → canonical (volume already shares; turnover fraction → %)."""
    require_columns(frame, SINA_DAILY_COLUMNS, what)
    turnover = _num(frame["turnover"]) * 100.0 if "turnover" in frame.columns else None
    df = canonical_bars(symbol_id, daily_ts(frame["date"]), frame["open"], frame["high"], frame["low"],
                    frame["close"], None, frame["volume"], frame["amount"], turnover)
    return _fill_prev_close(df)


def shares_factor(volume: pd.Series, amount: pd.Series, low: pd.Series, high: pd.Series,
                  what: str) -> float:
    """Measure the volume unit: amount / volume must be a price between low and high.

    Returns the factor that turns ``volume`` into shares (1 or 100, or 0.01 when a release already
    multiplied a share count by 100). Raises ``SchemaChanged`` when no unit fits.
    """
    v, a = _num(volume), _num(amount)
    mid = (_num(low) + _num(high)) / 2.0
    ok = (v > 0) & (a > 0) & (mid > 0)
    if not ok.any():
        return 1.0
    ratio = float(np.median((a[ok] / v[ok]) / mid[ok]))
    for factor in (1.0, 100.0, 0.01):
        if 0.8 <= ratio / factor <= 1.25:
            return factor
    raise SchemaChanged(f"{what}: cannot tell the volume unit (amount/volume is {ratio:.3g}× the price)")


def map_tx_daily(frame: pd.DataFrame, symbol_id: str, what: str) -> pd.DataFrame:
    """Tencent ``stock_zh_a_hist_tx`` → canonical.

    akshare ≥ 1.17.7x: ``date, open, close, high, low, volume, turnover, amount`` (amount yuan; the
    volume unit is measured, see :func:`shares_factor`; turnover is dropped because its unit also
    changed between releases). Older releases: ``date, open, close, high, low, amount`` where
    ``amount`` actually holds the volume in lots (akshare PR #7328) — mapped as such, amount NaN.
    """
    require_columns(frame, TX_DAILY_COLUMNS, what)
    if "volume" in frame.columns:
        require_columns(frame, ["amount"], what)
        factor = shares_factor(frame["volume"], frame["amount"], frame["low"], frame["high"], what)
        volume, amount = _num(frame["volume"]) * factor, frame["amount"]
    else:
        require_columns(frame, ["amount"], what)
        volume, amount = _num(frame["amount"]) * 100.0, None
    df = canonical_bars(symbol_id, daily_ts(frame["date"]), frame["open"], frame["high"], frame["low"],
                    frame["close"], None, volume, amount)
    return _fill_prev_close(df)


def map_em_index_daily(frame: pd.DataFrame, symbol_id: str, what: str) -> pd.DataFrame:
    """Eastmoney ``index_zh_a_hist`` → canonical (lots → shares, prev_close = 收盘 − 涨跌额)."""
    require_columns(frame, EM_INDEX_COLUMNS, what)
    close, change = _num(frame["收盘"]), _num(frame["涨跌额"])
    df = canonical_bars(symbol_id, daily_ts(frame["日期"]), frame["开盘"], frame["最高"], frame["最低"],
                    close, (close - change).round(4), _num(frame["成交量"]) * 100.0, frame["成交额"])
    return _fill_prev_close(df)


def map_em_index_fallback(frame: pd.DataFrame, symbol_id: str, what: str) -> pd.DataFrame:
    """Eastmoney ``stock_zh_index_daily_em`` → canonical (lots → shares, prev_close = prior close)."""
    require_columns(frame, EM_INDEX_FALLBACK_COLUMNS, what)
    df = canonical_bars(symbol_id, daily_ts(frame["date"]), frame["open"], frame["high"], frame["low"],
                    frame["close"], None, _num(frame["volume"]) * 100.0, frame["amount"])
    return _fill_prev_close(df)


def fix_minute_open(df: pd.DataFrame) -> pd.DataFrame:
    """Replace a zero/missing minute open (Eastmoney quirk) by the previous close, clipped.

    The previous row's close of the same day, clipped into the bar's [low, high]; the first row
    of a day (the 09:30 auction print) takes its own close.
    """
    bad = ~(df["open"] > 0)
    if not bad.any():
        return df
    out = df.copy()
    day = out["ts"].dt.date
    prev = out.groupby(day, sort=False)["close"].shift(1)
    fill = prev.where(prev.notna(), out["close"]).clip(lower=out["low"], upper=out["high"])
    out.loc[bad, "open"] = fill[bad]
    return out


def map_em_minute(frame: pd.DataFrame, symbol_id: str, what: str) -> pd.DataFrame:
    """Eastmoney minute frame (``stock_zh_a_hist_min_em`` / ``index_zh_a_hist_min_em``) → canonical.

    ``时间`` is the bar end; the 09:30 auction row is kept as is; lots → shares; 开盘 0 fixed.
    """
    require_columns(frame, EM_MINUTE_COLUMNS, what)
    ts = pd.to_datetime(frame["时间"].astype(str), errors="coerce").dt.tz_localize(TZ)
    turnover = frame["换手率"] if "换手率" in frame.columns else None
    df = canonical_bars(symbol_id, ts, frame["开盘"], frame["最高"], frame["最低"], frame["收盘"], None,
                    _num(frame["成交量"]) * 100.0, frame["成交额"], turnover)
    return fix_minute_open(df.sort_values("ts", kind="stable").reset_index(drop=True))


# --- the source ---------------------------------------------------------------------------------


class AkshareSource(Source):
    """Bars from akshare (Eastmoney first; Sina, then Tencent when Eastmoney fails) and news."""

    name = "akshare"
    remote = True
    freqs = FREQS

    def __init__(self, net: NetPolicy | None = None, news_source=None, fallbacks: bool = True,
                 **net_options):
        """``net_options`` (timeout, retries, backoff, jitter, max_delay) tune the network policy."""
        self.net = NetPolicy.build(net, **net_options)
        self.fallbacks = fallbacks
        self._news = news_source

    # daily ------------------------------------------------------------------------------------

    def daily_bars(self, symbol: Symbol, start: dt.date, end: dt.date) -> pd.DataFrame:
        """Canonical daily bars; tries each provider in turn and names every failure if all fail."""
        if not has_trading_days(start, end):
            return empty_bars()
        fetch_from = lookback_start(start)
        providers = self._index_providers(symbol) if symbol.is_index else self._stock_providers(symbol)
        if not self.fallbacks:
            providers = providers[:1]
        errors: list[SourceError] = []
        for label, fetch in providers:
            try:
                raw = fetch(fetch_from, start, end)
                got = in_range(validated_bars(raw, "daily", f"akshare {label}({symbol.code})"), start, end)
                if got.empty:
                    # The site answered (rows before ``start``) but has none in range: the stock
                    # did not trade (suspended, not yet listed). A true, empty answer.
                    log.info("akshare %s(%s): no bars in %s (suspended or not listed?)", label,
                             symbol.code, span(start, end))
            except SourceError as exc:
                log.info("%s", exc)
                errors.append(exc)
                continue
            if errors:
                log.warning("akshare daily bars for %s served by the fallback %s after: %s", symbol.id,
                            label, " | ".join(map(str, errors)))
            return got
        if len(errors) == 1:
            raise errors[0]
        kind = SchemaChanged if all(isinstance(e, SchemaChanged) for e in errors) else SourceError
        raise kind(f"akshare daily bars for {symbol.id} {span(start, end)}: every provider failed: "
                   + " | ".join(map(str, errors)))

    def _stock_providers(self, symbol: Symbol) -> list[tuple[str, Callable]]:
        return [("stock_zh_a_hist", lambda f, s, e: self._em_daily(symbol, f, s, e)),
                ("stock_zh_a_daily", lambda f, s, e: self._sina_daily(symbol, f, s, e)),
                ("stock_zh_a_hist_tx", lambda f, s, e: self._tx_daily(symbol, f, s, e))]

    def _index_providers(self, symbol: Symbol) -> list[tuple[str, Callable]]:
        return [("index_zh_a_hist", lambda f, s, e: self._em_index(symbol, f, s, e)),
                ("stock_zh_index_daily_em", lambda f, s, e: self._em_index_fallback(symbol, f, s, e))]

    def _em_daily(self, symbol: Symbol, fetch_from, start, end) -> pd.DataFrame:
        ak = _ak()
        what = f"akshare stock_zh_a_hist({symbol.code}, {span(start, end)})"
        raw = self.net.call(ak.stock_zh_a_hist, site=EASTMONEY, what=what, symbol=symbol.code,
                            period="daily", start_date=_ymd(fetch_from), end_date=_ymd(end), adjust="")
        return map_em_daily(raw, symbol.id, what)

    def _sina_daily(self, symbol: Symbol, fetch_from, start, end) -> pd.DataFrame:
        ak = _ak()
        what = f"akshare stock_zh_a_daily({prefixed(symbol)}, {span(start, end)})"
        raw = self.net.call(ak.stock_zh_a_daily, site=SINA, what=what, symbol=prefixed(symbol),
                            start_date=_ymd(fetch_from), end_date=_ymd(end), adjust="")
        return map_sina_daily(raw, symbol.id, what)

    def _tx_daily(self, symbol: Symbol, fetch_from, start, end) -> pd.DataFrame:
        ak = _ak()
        what = f"akshare stock_zh_a_hist_tx({prefixed(symbol)}, {span(start, end)})"
        raw = self.net.call(ak.stock_zh_a_hist_tx, site=TENCENT, what=what, symbol=prefixed(symbol),
                            start_date=_ymd(fetch_from), end_date=_ymd(end), adjust="")
        return map_tx_daily(raw, symbol.id, what)

    def _em_index(self, symbol: Symbol, fetch_from, start, end) -> pd.DataFrame:
        ak = _ak()
        what = f"akshare index_zh_a_hist({symbol.code}, {span(start, end)})"
        raw = self.net.call(ak.index_zh_a_hist, site=EASTMONEY, what=what, symbol=symbol.code,
                            period="daily", start_date=_ymd(fetch_from), end_date=_ymd(end))
        return map_em_index_daily(raw, symbol.id, what)

    def _em_index_fallback(self, symbol: Symbol, fetch_from, start, end) -> pd.DataFrame:
        ak = _ak()
        what = f"akshare stock_zh_index_daily_em({prefixed(symbol)}, {span(start, end)})"
        raw = self.net.call(ak.stock_zh_index_daily_em, site=EASTMONEY, what=what,
                            symbol=prefixed(symbol), start_date=_ymd(fetch_from), end_date=_ymd(end))
        return map_em_index_fallback(raw, symbol.id, what)

    # intraday ---------------------------------------------------------------------------------

    def intraday_bars(self, symbol: Symbol, start: dt.date, end: dt.date, freq: str) -> pd.DataFrame:
        if freq not in MINUTE_PERIODS:
            raise BadInput(f"source 'akshare' has no {freq} bars (it serves {', '.join(self.freqs)})")
        ak = _ak()
        period = MINUTE_PERIODS[freq]
        s, e = f"{start:%Y-%m-%d} 09:00:00", f"{end:%Y-%m-%d} 15:30:00"
        hint = ("Eastmoney serves only about the last 5 trading days of 1-minute bars and a limited "
                "recent window of 5-60-minute bars; use --source baostock for older 5-minute bars")
        if symbol.is_index:
            what = f"akshare index_zh_a_hist_min_em({symbol.code}, {freq}, {span(start, end)})"
            raw = self.net.call(ak.index_zh_a_hist_min_em, site=EASTMONEY, what=what, empty_hint=hint,
                                symbol=symbol.code, period=period, start_date=s, end_date=e)
        else:
            what = f"akshare stock_zh_a_hist_min_em({symbol.code}, {freq}, {span(start, end)})"
            raw = self.net.call(ak.stock_zh_a_hist_min_em, site=EASTMONEY, what=what, empty_hint=hint,
                                symbol=symbol.code, start_date=s, end_date=e, period=period, adjust="")
        bars = map_em_minute(raw, symbol.id, what)
        bars = in_range(bars, start, end)
        if bars.empty:
            raise SourceError(f"{what}: no data or blocked ({EASTMONEY}); {hint}")
        bars["prev_close"] = self.daily_prev_close(symbol, bars)
        return validated_bars(bars, freq, what)


    # news and universe ------------------------------------------------------------------------

    @property
    def news_source(self):
        if self._news is None:
            from .akshare_news import AkshareNews

            self._news = AkshareNews(net=self.net)
        return self._news

    def news(self, symbol: Symbol | None, start: dt.date, end: dt.date) -> pd.DataFrame:
        return self.news_source.news(symbol, start, end)

    def universe(self) -> list[Symbol]:
        """Every listed A-share stock (``stock_info_a_code_name``: columns code, name)."""
        ak = _ak()
        what = "akshare stock_info_a_code_name()"
        raw = self.net.call(ak.stock_info_a_code_name, site=EXCHANGE_LISTS, what=what,
                            timeout=max(self.net.timeout or 0, 120.0))
        require_columns(raw, ["code", "name"], what)
        out, seen = [], set()
        for code, name in zip(raw["code"].astype(str).str.strip().str.zfill(6),
                              raw["name"].astype(str).str.replace(" ", "", regex=False)):
            if code in seen or not code.isdigit() or stock_board(code) is None:
                continue
            try:
                sym = resolve(code)
            except UnknownSymbol:
                continue
            if sym.kind != "stock":
                continue
            if not sym.name:
                sym = dataclasses.replace(sym, name=name)
            seen.add(code)
            out.append(sym)
        return out

