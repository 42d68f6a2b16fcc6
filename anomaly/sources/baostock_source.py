"""baostock adapter: unadjusted daily bars (stocks and indices) and 5/15/30/60-minute stock bars.

baostock still serves historical 5-minute bars (Eastmoney keeps only a recent window), which is
why it is here. ``import baostock`` happens inside the methods only.

Upstream (baostock 0.9.4, verified against the installed package): ``bs.login()`` opens one
process-global socket; ``bs.query_history_k_data_plus(code, fields, start_date="YYYY-MM-DD",
end_date=..., frequency="d"|"5"|"15"|"30"|"60", adjustflag="3")`` returns a ``ResultData`` with
``error_code`` ("0" = success), ``error_msg``, ``fields`` and rows read with
``next()``/``get_row_data()`` — every value a **string** ("" when missing). Units: volume in
shares, amount in yuan, ``turn`` in percent, ``preclose`` is the exchange's previous close.
Minute rows carry ``time`` like ``"20230524093500000"`` (YYYYMMDDHHMMSSmmm), the bar **end**.
Daily rows of suspended days have ``tradestatus == "0"`` and are dropped. Indices have no
minute bars in baostock.

Care taken:
* The socket is process-global and not thread-safe → one lock serialises login, query and paging.
  After login the socket gets a read timeout so a stalled server cannot hang a worker forever.
* ``ResultData.get_data()`` uses ``DataFrame.append`` (removed in pandas 2), so rows are read
  with ``next()``/``get_row_data()``.
* baostock ``print``s to stdout ("login success!"), which would corrupt ``--format json``
  output; a module-level ``print`` is injected into the baostock modules that routes those
  lines to ``logging`` instead (no global ``sys.stdout`` swap, so other threads are unaffected).
* Network error codes (10002xxx) and "not logged in" (10001001) are retried after a fresh login;
  other error codes become ``SourceError`` with baostock's ``error_msg``.
"""
from __future__ import annotations

import atexit
import datetime as dt
import logging
import sys
import threading

import pandas as pd

from ..errors import BadInput, SourceError
from ..schema import TZ, empty_bars
from ..symbols import Symbol
from .akshare_source import (canonical_bars, daily_ts, has_trading_days, lookback_start, span,
                             validated_bars)
from .base import Source, in_range
from .net import NetPolicy, UpstreamError, require_columns

log = logging.getLogger(__name__)

BAOSTOCK = "baostock.com"
DAILY_FIELDS = "date,code,open,high,low,close,preclose,volume,amount,adjustflag,turn,tradestatus,pctChg,isST"
MINUTE_FIELDS = "date,time,code,open,high,low,close,volume,amount,adjustflag"
FREQUENCY = {"daily": "d", "5min": "5", "15min": "15", "30min": "30", "60min": "60"}
NO_LOGIN = "10001001"
NETWORK_PREFIX = "10002"


def _bs():
    import baostock  # noqa: PLC0415 - lazy on purpose

    return baostock


class _Session:
    """The one baostock login of this process."""

    lock = threading.Lock()
    logged_in = False
    atexit_registered = False


def _quiet_print(*args, **kwargs):
    log.debug("baostock: %s", " ".join(str(a) for a in args))


def _silence() -> None:
    for name, mod in list(sys.modules.items()):
        if name == "baostock" or name.startswith("baostock."):
            if mod is not None and getattr(mod, "print", None) is not _quiet_print:
                try:
                    mod.print = _quiet_print
                except (AttributeError, TypeError):
                    pass


def _logout() -> None:
    if not _Session.logged_in:
        return
    try:
        _bs().logout()
    except Exception:  # noqa: BLE001 - best effort at exit
        pass
    _Session.logged_in = False


def _failure(rs, doing: str) -> UpstreamError:
    code = str(getattr(rs, "error_code", "?"))
    msg = str(getattr(rs, "error_msg", "") or "no message").strip()
    transient = code == NO_LOGIN or code.startswith(NETWORK_PREFIX)
    if transient:
        _Session.logged_in = False
    return UpstreamError(f"{doing}: {msg} (baostock error {code})", transient=transient)


def baostock_code(symbol: Symbol) -> str:
    """``sz.002230``, ``sh.600000``, ``sh.000001`` (上证指数), ``sz.399001``."""
    if symbol.exchange not in ("SH", "SZ"):
        raise BadInput(f"baostock has no data for {symbol.id} (it covers SSE and SZSE stocks and "
                       "their indices only)")
    return f"{symbol.exchange.lower()}.{symbol.code}"


def map_daily(frame: pd.DataFrame, symbol_id: str, what: str) -> pd.DataFrame:
    """baostock daily strings → canonical (suspended rows dropped; prev_close = preclose)."""
    require_columns(frame, ["date", "open", "high", "low", "close", "preclose", "volume", "amount"], what)
    if "tradestatus" in frame.columns:
        frame = frame[frame["tradestatus"].astype(str).str.strip() != "0"]
    turnover = frame["turn"] if "turn" in frame.columns else None
    df = canonical_bars(symbol_id, daily_ts(frame["date"]), frame["open"], frame["high"], frame["low"],
                    frame["close"], frame["preclose"], frame["volume"], frame["amount"], turnover)
    df = df.sort_values("ts", kind="stable").reset_index(drop=True)
    df["prev_close"] = df["prev_close"].fillna(df["close"].shift(1))
    return df


def map_minute(frame: pd.DataFrame, symbol_id: str, what: str) -> pd.DataFrame:
    """baostock minute strings → canonical (``time`` YYYYMMDDHHMMSSmmm is the bar end)."""
    require_columns(frame, ["time", "open", "high", "low", "close", "volume", "amount"], what)
    ts = pd.to_datetime(frame["time"].astype(str).str.strip(), format="%Y%m%d%H%M%S%f",
                        errors="coerce").dt.tz_localize(TZ)
    return canonical_bars(symbol_id, ts, frame["open"], frame["high"], frame["low"], frame["close"], None,
                      frame["volume"], frame["amount"])


class BaostockSource(Source):
    name = "baostock"
    remote = True
    freqs = ("daily", "5min", "15min", "30min", "60min")

    def __init__(self, net: NetPolicy | None = None, **net_options):
        """``net_options`` (timeout, retries, backoff, jitter, max_delay) tune the network policy."""
        self.net = NetPolicy.build(net, **net_options)

    # the one query path -------------------------------------------------------------------------

    def query(self, code: str, fields: str, start: dt.date, end: dt.date, frequency: str) -> pd.DataFrame:
        """Rows of ``query_history_k_data_plus`` as a frame of strings (SourceError on failure)."""
        what = (f"baostock query_history_k_data_plus({code}, {span(start, end)}, "
                f"frequency={frequency})")
        wait = max(1.0, float(self.net.timeout or 60.0))

        def fetch() -> pd.DataFrame:
            bs = _bs()
            if not _Session.lock.acquire(timeout=wait):
                raise UpstreamError("the baostock session is busy with a call that does not return",
                                    transient=True)
            try:
                self._login(bs)
                rs = bs.query_history_k_data_plus(code, fields, start_date=f"{start:%Y-%m-%d}",
                                                  end_date=f"{end:%Y-%m-%d}", frequency=frequency,
                                                  adjustflag="3")
                if rs is None:
                    raise UpstreamError("baostock returned no result object")
                if str(rs.error_code) != "0":
                    raise _failure(rs, "query failed")
                rows = []
                while str(rs.error_code) == "0" and rs.next():
                    rows.append(rs.get_row_data())
                if str(rs.error_code) != "0":
                    raise _failure(rs, "reading the next page failed")
                return pd.DataFrame(rows, columns=list(rs.fields) or fields.split(","))
            finally:
                _Session.lock.release()

        try:
            return self.net.call(fetch, site=BAOSTOCK, what=what)
        except SourceError:
            _Session.logged_in = False  # the socket state is unknown: log in afresh next time
            raise

    def _login(self, bs) -> None:
        if _Session.logged_in:
            return
        _silence()
        lg = bs.login()
        _silence()  # modules imported during login
        if lg is None or str(getattr(lg, "error_code", "")) != "0":
            raise _failure(lg, "login failed")
        _Session.logged_in = True
        sock = getattr(sys.modules.get("baostock.common.context"), "default_socket", None)
        if sock is not None and self.net.timeout:
            try:
                sock.settimeout(float(self.net.timeout))
            except (OSError, AttributeError):
                pass
        if not _Session.atexit_registered:
            atexit.register(_logout)
            _Session.atexit_registered = True

    # bars -------------------------------------------------------------------------------------------

    def daily_bars(self, symbol: Symbol, start: dt.date, end: dt.date) -> pd.DataFrame:
        code = baostock_code(symbol)
        if not has_trading_days(start, end):
            return empty_bars()
        what = f"baostock daily bars {code} {span(start, end)}"
        raw = self.query(code, DAILY_FIELDS, lookback_start(start), end, "d")
        # An empty answer already raised "no data or blocked"; rows only before ``start`` (or only
        # suspended rows) mean the stock did not trade in range: a true, empty answer.
        return in_range(validated_bars(map_daily(raw, symbol.id, what), "daily", what), start, end)

    def intraday_bars(self, symbol: Symbol, start: dt.date, end: dt.date, freq: str) -> pd.DataFrame:
        if freq not in FREQUENCY or freq == "daily":
            raise BadInput(f"source 'baostock' has no {freq} bars (it serves {', '.join(self.freqs)})")
        if symbol.is_index:
            raise BadInput(f"baostock has no minute bars for indices ({symbol.id}); "
                           "use --source akshare for recent index minute bars")
        code = baostock_code(symbol)
        what = f"baostock {freq} bars {code} {span(start, end)}"
        raw = self.query(code, MINUTE_FIELDS, start, end, FREQUENCY[freq])
        bars = in_range(map_minute(raw, symbol.id, what), start, end)
        if bars.empty:
            raise SourceError(f"{what}: no data or blocked ({BAOSTOCK})")
        bars["prev_close"] = self.daily_prev_close(symbol, bars)
        return validated_bars(bars, freq, what)


