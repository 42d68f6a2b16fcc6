"""Session-aware intraday returns and the time-of-day volatility profile.

Why this module exists: A-share minute bars have two opens (09:30 and 13:00), a lunch break without
trading, an opening call auction whose print some vendors deliver as an extra 09:25 or 09:30 bar, and
a closing call auction (14:57–15:00) during which there is no continuous trading. ``close.pct_change()``
mixes all of that into "returns", and a fixed threshold on them then fires at every open, reopen and
close. Every intraday computation in the package goes through the functions here:

``validate_intraday``  one clear error (or one warned drop) for lunch-break, off-session, misaligned,
                       duplicate and non-trading-day bars; folds the opening-auction print
``to_panel``           dense ``symbol × day × bar`` arrays, so detectors vectorise across symbols
``session_returns``    per-bar log returns that never cross the lunch break or the night
``tod_profile``        robust per-slot volatility *shape* × per-day *level*, from trailing days only

Conventions (documented once, relied on everywhere):

* A bar is labelled by its end. 1-minute bars end 09:31…11:30 and 13:01…15:00 (240 a day); 5-minute
  bars end 09:35…11:30 and 13:05…15:00 (48). 13:00 is the afternoon *open*, never a bar end.
* Opening auction: a print stamped 09:25 or 09:30 is folded into the first bar of the day (its open
  becomes the bar's open, its volume/amount are added, high/low widened). Without a first bar the print
  becomes that bar. So the day's first return is measured from the auction price, never from a print.
* The first bar of each session is measured from its own open: no return spans the night or lunch.
  The two gaps are reported separately (``gap``): overnight = open / previous close, lunch = 13:00
  open / 11:30 close.
* Closing call (1-minute bars): no continuous trading after 14:57, so bars ending 14:58 and 14:59 carry
  no return (vendors print them flat) and the 15:00 bar carries the whole auction move from the 14:57
  close. For 5-minute and longer bars the last bar simply mixes two minutes and the auction; the
  time-of-day profile gives it its own scale.
* Detectors use the *path increment* ``inc``: the session return, except that the first afternoon bar
  also carries the lunch gap (news over lunch meets the 13:00 open, and a cliff there must be seen),
  while the overnight gap is left to the daily detectors. The profile's first-afternoon slot therefore
  measures the whole reopen (lunch gap + first minute).
* Asia/Shanghai has had no daylight saving since 1991, so wall-clock minutes are computed as UTC+8.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd

from . import calendar as cal
from .errors import BadInput
from .schema import BAR_COLUMNS, INTRADAY_FREQS, TZ, freq_minutes, to_shanghai, validate_bars

__all__ = ["Panel", "PanelRows", "TodProfile", "default_shape", "detector_panel", "infer_freq", "panel_rows",
           "path_arrays", "running_level",
           "session_returns", "slot_table", "to_panel", "tod_profile", "validate_intraday"]

_NS_MIN = 60_000_000_000
_NS_DAY = 86_400_000_000_000
_UTC8 = 8 * 60 * _NS_MIN

# minute-of-day codes for rows that are not regular bar ends
_AUCTION, _LUNCH, _REOPEN, _OUTSIDE, _MISALIGNED = -2, -3, -4, -5, -6
_OPEN_AM, _CLOSE_AM, _OPEN_PM, _CLOSE_PM = 9 * 60 + 30, 11 * 60 + 30, 13 * 60, 15 * 60
_AUCTION_MINUTES = (9 * 60 + 25, 9 * 60 + 30)
_CLOSING_CALL = 14 * 60 + 57


# --- slot tables --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Slots:
    """Per-frequency layout of a trading day's bars (all arrays have one entry per bar slot)."""
    freq: str
    minutes: int                # minutes per bar
    n: int                      # bars per day
    end_minute: np.ndarray      # bar-end minute of day (e.g. 571 = 09:31)
    first_pm: int               # index of the first afternoon bar
    flat: np.ndarray            # bool: 1-minute bars ending 14:58/14:59 (closing call, no trading)
    phase: np.ndarray           # object: open / continuous / reopen / closing_call / close_auction / close
    code_of_minute: np.ndarray  # (1441,) slot index or a negative reason code per minute of day
    labels: tuple[str, ...]     # "09:31" …


def slot_table(freq: str) -> Slots:
    """The bar layout of one trading day at ``freq`` (cached)."""
    return _slot_table(freq)


_SLOT_CACHE: dict[str, Slots] = {}


def _slot_table(freq: str) -> Slots:
    if freq in _SLOT_CACHE:
        return _SLOT_CACHE[freq]
    step = freq_minutes(freq)
    ends = np.array([t.hour * 60 + t.minute for t in cal.bar_end_times(freq)])
    n = len(ends)
    first_pm = int(np.flatnonzero(ends > _CLOSE_AM)[0])
    starts = ends - step
    flat = (ends > _CLOSING_CALL) & (ends < _CLOSE_PM)
    phase = np.full(n, "continuous", dtype=object)
    phase[0], phase[first_pm] = "open", "reopen"
    phase[flat] = "closing_call"
    phase[-1] = "close_auction" if starts[-1] >= _CLOSING_CALL else "close"
    code = np.full(24 * 60 + 1, _OUTSIDE, dtype=np.int64)
    code[_OPEN_AM:_CLOSE_PM + 1] = _MISALIGNED
    code[_CLOSE_AM + 1:_OPEN_PM] = _LUNCH
    code[_OPEN_PM] = _REOPEN
    for m in _AUCTION_MINUTES:
        code[m] = _AUCTION
    code[ends] = np.arange(n)
    labels = tuple(f"{m // 60:02d}:{m % 60:02d}" for m in ends)
    out = Slots(freq, step, n, ends, first_pm, flat, phase, code, labels)
    _SLOT_CACHE[freq] = out
    return out


def _default_shape_1min() -> np.ndarray:
    """Generic A-share 1-minute variance shape (mean 1 over the day's 240 slots).

    Rough fit to the bundled real 上证指数 1-minute bars (first minute ~4× the midday scale, decay over
    ~30 minutes, reopen minute ~2×, calm afternoon) with the mild end-of-day rise individual stocks show
    and a closing-auction print about as large as an opening-half-hour minute. Only used where a symbol
    has too little history; the estimated profile takes over as days accumulate.
    """
    j = np.arange(120)
    am = 0.85 + 1.3 * np.exp(-j / 12.0)
    am[0] = 3.5
    k = np.arange(120)
    pm = 0.75 + 0.5 * np.exp(-k / 5.0) + 0.25 * np.exp(-(116 - k) / 10.0)
    pm[0] = 2.0
    pm[117:119] = 0.0          # 14:58, 14:59: closing call, no continuous trading
    pm[119] = 1.5              # 15:00: the closing auction print
    g = np.concatenate([am, pm]) ** 2
    return g / g.mean()


def default_shape(freq: str) -> np.ndarray:
    """Default per-slot *variance* shape ``g`` (mean 1 over the day's slots) at any intraday freq.

    Coarser bars add up the 1-minute variances they span, so one documented 1-minute shape serves all.
    """
    s = _slot_table(freq)
    g1 = _default_shape_1min()
    if s.minutes == 1:
        return g1.copy()
    one = _slot_table("1min")
    idx = np.searchsorted(s.end_minute, one.end_minute)   # the coarse bar each minute belongs to
    g = np.bincount(idx, weights=g1, minlength=s.n)
    return g / g.mean()


# --- validation ---------------------------------------------------------------------------------


def _wall(ns_utc: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(local day start ns as naive, minute of day, leftover ns within the minute)."""
    return _wall_days(ns_utc)[:3]


def _wall_days(ns_utc: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``_wall`` plus the local day number (days since 1970-01-01), with few temporaries: these
    run over every bar of a whole-market frame."""
    local = ns_utc + _UTC8
    dd = local // _NS_DAY
    day = dd * _NS_DAY
    local -= day                                    # ns since local midnight, in [0, 1 day)
    minute, rest = np.divmod(local, _NS_MIN)
    return day, minute, rest, dd


def _ts_ns(ts: pd.Series) -> np.ndarray:
    return pd.DatetimeIndex(ts).as_unit("ns").asi8


def _fmt_ts(ns_utc: int) -> str:
    t = pd.Timestamp(int(ns_utc), tz="UTC").tz_convert(TZ)
    return t.strftime("%Y-%m-%d %H:%M:%S" if t.second else "%Y-%m-%d %H:%M") + "+08:00"


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _reasons(code: np.ndarray, rest: np.ndarray, day_bad: np.ndarray) -> np.ndarray:
    """Reason id per row (0 = fine); a bad day outranks a bad time of day."""
    rid = np.zeros(len(code), dtype=np.int64)
    rid[code == _MISALIGNED] = 4
    rid[code == _OUTSIDE] = 3
    rid[code == _REOPEN] = 2
    rid[code == _LUNCH] = 1
    rid[rest != 0] = 5
    rid[day_bad] = 6
    return rid


def _reason_text(rid: int, minute: int, rest: int, why: str | None, freq: str, s: Slots) -> str:
    hm = _hhmm(minute)
    if rid == 1:
        return f"{hm} is in the lunch break (11:30–13:00)"
    if rid == 2:
        return (f"13:00 is the afternoon open, not a bar end (the first afternoon {freq} bar ends "
                f"{s.labels[s.first_pm]})")
    if rid == 3:
        return (f"{hm} is outside the trading sessions (09:30–11:30, 13:00–15:00; "
                "opening-auction prints may be stamped 09:25 or 09:30)")
    if rid == 4:
        return (f"{hm} is not a {freq} bar end (bars are labelled by their end: "
                f"{s.labels[0]}, {s.labels[1]}, …)")
    if rid == 5:
        return (f"{hm}:{rest // 1_000_000_000:02d} is not on a whole minute "
                "(bars are labelled by their end minute)")
    if rid == 6:
        return why or "not a trading day"
    if rid == 7:
        return "duplicate timestamp for this symbol"
    return "bad bar"


_REASON_NAMES = {1: "in the lunch break", 2: "stamped 13:00", 3: "outside the sessions",
                 4: "not on a bar end", 5: "not on a whole minute", 6: "on a non-trading day",
                 7: "duplicate"}


def validate_intraday(bars: pd.DataFrame, freq: str, on_bad: str = "error", origin: str = "bars",
                      check_generic: bool = True) -> pd.DataFrame:
    """Check intraday bars against the session rules; return canonical bars sorted by (symbol, ts).

    Rejected (``BadInput`` naming the first offending row, 1-based in the frame as given, and why):
    naive timestamps, bars stamped in the lunch break (11:31–12:59), at 13:00 (the afternoon open),
    outside 09:25–15:00, not on a bar end of ``freq`` or not on a whole minute, on a non-trading day,
    and duplicate ``(symbol, ts)``. With ``on_bad="drop"`` those rows are dropped instead (duplicates keep
    the first) and one ``warnings.warn`` counts them by reason. Opening-auction prints (09:25/09:30) are
    folded into the day's first bar (see the module docstring). ``check_generic`` runs
    ``schema.validate_bars`` (prices, OHLC consistency, order); detectors that already did it pass False.
    A missing ``prev_close`` is filled from another bar of the same symbol-day, else from the previous
    trading day's last close when that day is in the frame. An input that needs no change may be
    returned as is (detectors only read it).
    """
    return _validate(bars, freq, on_bad, origin, check_generic)[0]


@dataclass
class _RowInfo:
    """Per-row arrays of a validated frame, computed once and reused by ``to_panel``.

    ``ns`` UTC nanoseconds; ``day`` local midnight (naive ns); ``code`` slot index of the bar's end
    minute; ``dcode`` index of ``day`` in ``udays`` (sorted); ``scode``/``syms`` the symbol codes
    in sorted order (None when not known).
    """
    ns: np.ndarray
    day: np.ndarray
    code: np.ndarray
    dcode: np.ndarray
    udays: np.ndarray
    scode: np.ndarray | None = None
    syms: pd.Index | None = None


def _code16(s: Slots) -> np.ndarray:
    """``s.code_of_minute`` as int16 (slot indices and reason codes are small): per-row code arrays
    of a whole-market frame then take a quarter of the memory."""
    c = _CODE16.get(s.freq)
    if c is None:
        c = _CODE16[s.freq] = s.code_of_minute.astype(np.int16)
    return c


_CODE16: dict[str, np.ndarray] = {}


def _day_codes(day: np.ndarray, dd: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(codes, sorted unique days) of local-midnight stamps; the same as ``np.unique(day,
    return_inverse=True)`` (swapped) without sorting millions of values: days are whole, so they
    are counted on a day grid. ``dd`` (the day numbers ``day // 1 day``, from ``_wall_days``) may be
    given; it is then used as scratch space."""
    if not len(day):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=day.dtype)
    if dd is None:
        dd = day // _NS_DAY
    lo, hi = int(dd.min()), int(dd.max())
    if hi - lo > 5_000_000:        # absurd spans: fall back to a hash factorisation
        codes, uniq = pd.factorize(day, sort=True)
        return codes.astype(np.int64), np.asarray(uniq)
    dd = np.subtract(dd, lo, out=dd if dd.dtype == np.int64 and dd.flags.writeable else None)
    seen = np.zeros(hi - lo + 1, dtype=bool)
    seen[dd] = True
    present = np.flatnonzero(seen)
    lut = np.zeros(hi - lo + 1, dtype=np.int32 if len(present) < 2**31 else np.int64)
    lut[present] = np.arange(len(present))
    return lut[dd], ((present + lo) * _NS_DAY).astype(day.dtype)


def _validate(bars: pd.DataFrame, freq: str, on_bad: str = "error", origin: str = "bars",
              check_generic: bool = True, wall=None) -> tuple[pd.DataFrame, _RowInfo | None]:
    """``validate_intraday`` plus, when the frame's rows came through unchanged in number and order,
    the per-row arrays it computed (so ``to_panel`` does not compute them again)."""
    if on_bad not in ("error", "drop"):
        raise BadInput(f"on_bad must be 'error' or 'drop', got {on_bad!r}")
    if freq not in INTRADAY_FREQS:
        raise BadInput(f"unknown intraday frequency {freq!r}; use one of {', '.join(INTRADAY_FREQS)}")
    if not isinstance(bars, pd.DataFrame):
        raise BadInput(f"{origin} must be a pandas DataFrame, got {type(bars).__name__}")
    if "ts" not in bars.columns or "symbol" not in bars.columns:
        validate_bars(bars, freq=freq, origin=origin)   # raises the canonical missing-column message
    s = _slot_table(freq)
    ts = bars["ts"]
    canonical = isinstance(ts.dtype, pd.DatetimeTZDtype) and str(ts.dtype.tz) == TZ
    if not canonical:
        ts = to_shanghai(ts, "ts")
    nat = ts.isna().to_numpy()
    if nat.any():
        i = int(np.flatnonzero(nat)[0])
        raise BadInput(f"{origin} row {i + 1}: empty timestamp")
    # no copy of a large, already canonical frame unless something has to change
    canonical &= bars["symbol"].dtype == "str"
    df = bars if canonical else bars.assign(ts=ts, symbol=bars["symbol"].astype(str))
    if wall is not None and canonical:
        ns, day, minute, rest, dd = wall
    else:
        ns = _ts_ns(ts)
        day, minute, rest, dd = _wall_days(ns)
    code = _code16(s)[minute]                   # minute is in 0..1439 by construction
    dinv, udays = _day_codes(day, dd)
    del dd
    why = []
    for d in udays:
        try:
            why.append(cal.why_closed(pd.Timestamp(int(d))))
        except BadInput as exc:
            why.append(str(exc))
    bad_days = np.array([w is not None for w in why], dtype=bool)
    # the common case, nothing wrong, is decided without building the per-row reasons
    suspect = check_generic or on_bad == "drop" or bad_days.any() or \
        bool(((code < 0) & (code != _AUCTION)).any()) or bool(rest.any())
    bad = None
    if suspect:
        day_bad = bad_days[dinv] if len(udays) else np.zeros(0, bool)
        rid = _reasons(code, rest, day_bad)
        if check_generic or on_bad == "drop":
            dup = df.duplicated(["symbol", "ts"], keep="first").to_numpy()
            rid[dup & (rid == 0)] = 7
        bad = rid != 0
    same_rows = True
    if bad is not None and bad.any():
        i = int(np.flatnonzero(bad)[0])
        msg = (f"{origin} row {i + 1} ({df['symbol'].iat[i]} {_fmt_ts(ns[i])}): "
               f"{_reason_text(int(rid[i]), int(minute[i]), int(rest[i]), why[dinv[i]], freq, s)}")
        if on_bad == "error":
            raise BadInput(msg)
        counts = pd.Series(rid[bad]).value_counts().sort_index()
        parts = ", ".join(f"{int(c)} {_REASON_NAMES[int(r)]}" for r, c in counts.items())
        warnings.warn(f"{origin}: dropped {int(bad.sum())} bar(s) ({parts}); first: {msg}", stacklevel=3)
        keep = ~bad
        df, code, day = df[keep], code[keep], day[keep]
        same_rows = False
    if check_generic:
        df = validate_bars(df, freq=freq, origin=origin, derive_prev_close=False)
    else:
        if list(df.columns) != BAR_COLUMNS or not isinstance(df.index, pd.RangeIndex) or df.index.start != 0:
            df = df.reindex(columns=BAR_COLUMNS).reset_index(drop=True)
    df.attrs = dict(bars.attrs)
    code = np.asarray(code)
    day = np.asarray(day)
    if (code == _AUCTION).any():
        df = _fold_auction(df, code, day, s)
        same_rows = False
    info = None
    if same_rows:
        info = _RowInfo(ns, day, code, dinv, udays)
        sc = _sorted_codes(df)
        if sc is None:
            df = df.sort_values(["symbol", "ts"], kind="stable").reset_index(drop=True)
            info = None
        else:
            info.scode, info.syms = sc
    elif not _is_sorted(df):
        df = df.sort_values(["symbol", "ts"], kind="stable").reset_index(drop=True)
    df = _fill_prev_close(df, None if info is None else info.day)
    if info is not None:
        info.day = None                             # only _fill_prev_close needed it
    df.attrs = dict(bars.attrs)
    return df, info


def _sorted_codes(df: pd.DataFrame) -> tuple[np.ndarray, pd.Index] | None:
    """Symbol codes and labels when rows are already ordered by (symbol, ts), else None
    (``marketmodel.sorted_codes``: the codes then number the symbols in sorted order)."""
    from .marketmodel import sorted_codes

    return sorted_codes(df)


def _is_sorted(df: pd.DataFrame) -> bool:
    """True when rows are already ordered by (symbol, ts) — the usual case, and a sort saved."""
    if len(df) < 2:
        return True
    return _sorted_codes(df) is not None


def _fold_auction(df: pd.DataFrame, code: np.ndarray, day: np.ndarray, s: Slots) -> pd.DataFrame:
    """Fold 09:25/09:30 auction prints into the first bar of their symbol-day (see module doc)."""
    auc = code == _AUCTION
    if not auc.any():
        return df
    a = df[auc].copy()
    a["_first"] = pd.to_datetime(day[auc] + s.end_minute[0] * _NS_MIN).tz_localize(TZ)
    a = a.sort_values(["symbol", "ts"], kind="stable")
    agg = a.groupby(["symbol", "_first"], sort=False).agg(
        a_open=("open", "first"), a_high=("high", "max"), a_low=("low", "min"),
        a_vol=("volume", lambda v: v.sum(min_count=1)), a_amt=("amount", lambda v: v.sum(min_count=1)),
        a_close=("close", "last"), a_pc=("prev_close", "first")).reset_index()
    rest = df[~auc].reset_index(drop=True)
    key = pd.MultiIndex.from_arrays([rest["symbol"], rest["ts"]])
    pos = key.get_indexer(pd.MultiIndex.from_arrays([agg["symbol"], agg["_first"]]))
    hit = pos >= 0
    if hit.any():
        p, g = pos[hit], agg[hit]
        for col, src, how in (("open", "a_open", None), ("high", "a_high", np.fmax),
                              ("low", "a_low", np.fmin), ("volume", "a_vol", "add"),
                              ("amount", "a_amt", "add"), ("prev_close", "a_pc", "fill")):
            cur = rest[col].to_numpy(dtype="float64").copy()
            new = g[src].to_numpy(dtype="float64")
            if how is None:
                cur[p] = new
            elif how == "add":
                cur[p] = np.where(np.isnan(new), cur[p], np.nan_to_num(cur[p]) + new)
            elif how == "fill":
                cur[p] = np.where(np.isnan(cur[p]), new, cur[p])
            else:
                cur[p] = how(cur[p], new)
            rest[col] = cur
    if (~hit).any():
        g = agg[~hit]
        # A print without a first bar becomes that bar (open = first print, close = last print).
        extra = pd.DataFrame({"symbol": g["symbol"].to_numpy(), "ts": g["_first"].to_numpy(),
                              "open": g["a_open"].to_numpy(), "high": g["a_high"].to_numpy(),
                              "low": g["a_low"].to_numpy(), "close": g["a_close"].to_numpy(),
                              "prev_close": g["a_pc"].to_numpy(), "volume": g["a_vol"].to_numpy(),
                              "amount": g["a_amt"].to_numpy(), "turnover": np.nan})
        rest = pd.concat([rest, extra[BAR_COLUMNS]], ignore_index=True)
    return rest


def _fill_prev_close(df: pd.DataFrame, day: np.ndarray | None = None) -> pd.DataFrame:
    pc = df["prev_close"]
    if len(df) == 0 or not pc.isna().any():
        return df
    if day is None:
        ns = _ts_ns(df["ts"])
        day = (ns + _UTC8) // _NS_DAY * _NS_DAY
    key = pd.DataFrame({"symbol": df["symbol"].to_numpy(), "day": day})
    pc = pc.groupby([key["symbol"], key["day"]], sort=False).transform("first")
    if pc.isna().any():
        last = df.assign(day=day).groupby(["symbol", "day"], sort=True)["close"].last().reset_index()
        last["prev_day"] = last.groupby("symbol")["day"].shift(1)
        last["prev_last"] = last.groupby("symbol")["close"].shift(1)
        udays = np.unique(last["day"].to_numpy())
        expected = {int(d): cal.previous_trading_day(pd.Timestamp(int(d))).value for d in udays}
        ok = last["prev_day"].to_numpy() == last["day"].map(expected).to_numpy()
        last["derived"] = np.where(ok, last["prev_last"].to_numpy(), np.nan)
        m = pd.MultiIndex.from_frame(last[["symbol", "day"]]).get_indexer(
            pd.MultiIndex.from_frame(key))
        pc = pc.fillna(pd.Series(last["derived"].to_numpy()[m], index=pc.index))
    out = df.copy()
    out["prev_close"] = pc.to_numpy(dtype="float64")
    return out


def infer_freq(bars: pd.DataFrame) -> str:
    """The bar frequency implied by the bar-end times (gcd of minutes since each session's open)."""
    ns = _ts_ns(to_shanghai(bars["ts"], "ts"))
    _, minute, _ = _wall(ns)
    return _freq_of_minutes(minute)


def _freq_of_minutes(minute: np.ndarray) -> str:
    # the distinct minutes of day, sorted (as np.unique), counted on the 0..1439 grid
    m = np.flatnonzero(np.bincount(minute, minlength=24 * 60)) if len(minute) else np.zeros(0, np.int64)
    m = m[~np.isin(m, _AUCTION_MINUTES)]
    since = np.where(m <= _CLOSE_AM, m - _OPEN_AM, m - _OPEN_PM)
    since = since[since > 0]
    if len(since) == 0:
        return "1min"
    g = int(np.gcd.reduce(since))
    for f in INTRADAY_FREQS[::-1]:
        if g % freq_minutes(f) == 0:
            return f
    return "1min"


# --- dense panel --------------------------------------------------------------------------------


@dataclass
class Panel:
    """Intraday bars as dense arrays ``(symbol, day, slot)``; missing bars are NaN / not ``present``.

    ``rows`` maps each row of the source frame to its flat cell ``(s * D + d) * B + j``. ``days`` are
    the days present in the frame (union over symbols), as naive midnights.
    """
    freq: str
    symbols: np.ndarray
    days: pd.DatetimeIndex
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    prev_close: np.ndarray
    present: np.ndarray
    rows: np.ndarray

    @property
    def slots(self) -> Slots:
        return _slot_table(self.freq)

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.close.shape

    def bar_ts(self, s_idx, d_idx, j_idx) -> pd.DatetimeIndex:
        """Bar-end timestamps for arrays of (symbol, day, slot) indices."""
        del s_idx
        ns = (self.days.asi8[np.asarray(d_idx)] - _UTC8
              + self.slots.end_minute[np.asarray(j_idx)] * _NS_MIN)
        return pd.DatetimeIndex(pd.to_datetime(ns, utc=True)).tz_convert(TZ)

    def take(self, sym_idx: np.ndarray) -> "Panel":
        """The sub-panel of some symbols (rows are not carried)."""
        return Panel(self.freq, self.symbols[sym_idx], self.days, self.open[sym_idx], self.high[sym_idx],
                     self.low[sym_idx], self.close[sym_idx], self.volume[sym_idx],
                     self.prev_close[sym_idx], self.present[sym_idx], np.empty(0, np.int64))


def to_panel(bars: pd.DataFrame, freq: str) -> Panel:
    """Dense arrays from intraday bars already checked by ``validate_intraday``."""
    return panel_rows(bars, freq).full()


@dataclass
class PanelRows:
    """Validated intraday bars indexed for dense panels, materialised a block of symbols at a time.

    ``chunk(lo, hi)`` is ``to_panel(bars, freq).take(np.arange(lo, hi))`` — the same arrays — without
    building the whole market's ``symbol × day × bar`` grids first; ``full()`` is ``to_panel``.
    """
    freq: str
    symbols: np.ndarray            # sorted symbol labels (object)
    days: pd.DatetimeIndex         # naive midnights
    scode: np.ndarray              # per row: symbol index
    dcode: np.ndarray              # per row: day index
    slot: np.ndarray               # per row: bar slot
    values: dict                   # per row: open, high, low, close, volume, prev_close (float64)
    bounds: np.ndarray             # rows of symbol k are [bounds[k], bounds[k+1]) in ``order``
    order: np.ndarray | None       # row order grouping the symbols (None: rows already grouped)

    @property
    def shape(self) -> tuple[int, int, int]:
        return len(self.symbols), len(self.days), _slot_table(self.freq).n

    def full(self) -> Panel:
        S = len(self.symbols)
        return self._build(0, S, slice(0, len(self.scode)), rows_out=True)

    def chunk(self, lo: int, hi: int) -> Panel:
        r0, r1 = int(self.bounds[lo]), int(self.bounds[hi])
        rows = slice(r0, r1) if self.order is None else self.order[r0:r1]
        return self._build(lo, hi, rows, rows_out=False)

    def _build(self, lo: int, hi: int, rows, rows_out: bool) -> Panel:
        _, D, B = self.shape
        n = hi - lo
        sc = self.scode[rows] - lo
        dc = self.dcode[rows]
        flat = (sc * D + dc) * B + self.slot[rows]
        shape = (n, D, B)

        def grid(col: str) -> np.ndarray:
            a = np.full(n * D * B, np.nan)
            a[flat] = self.values[col][rows]
            return a.reshape(shape)

        present = np.zeros(n * D * B, dtype=bool)
        present[flat] = True
        pc = np.full(n * D, np.nan)
        # last write wins; prev_close is constant within a symbol-day after validate_intraday
        pc[sc * D + dc] = self.values["prev_close"][rows]
        return Panel(self.freq, self.symbols[lo:hi], self.days, grid("open"), grid("high"), grid("low"),
                     grid("close"), grid("volume"), pc.reshape(n, D), present.reshape(shape),
                     flat if rows_out else np.empty(0, np.int64))


def panel_rows(bars: pd.DataFrame, freq: str, info: _RowInfo | None = None) -> PanelRows:
    """Index intraday bars already checked by ``validate_intraday`` for ``to_panel``-style grids."""
    s = _slot_table(freq)
    if info is None:
        ns = _ts_ns(bars["ts"])
        day, minute, _ = _wall(ns)
        j = _code16(s)[minute]                  # minute is in 0..1439 by construction
    else:
        ns, j = info.ns, info.code
    if (j < 0).any():
        i = int(np.flatnonzero(j < 0)[0])
        raise BadInput(f"bars row {i + 1} ({bars['symbol'].iat[i]} {_fmt_ts(ns[i])}) is not a {freq} "
                       "bar end; run validate_intraday first")
    if info is not None and info.scode is not None:
        sc, syms = info.scode, info.syms
    else:
        sc, syms = pd.factorize(bars["symbol"].astype(str), sort=True)
    sc = sc.astype(np.int64, copy=False)
    if info is not None:
        dc, udays = info.dcode, info.udays
    else:
        dc, udays = _day_codes(day)
    S = len(syms)
    order = None
    if len(sc) > 1 and (np.diff(sc) < 0).any():
        order = np.argsort(sc, kind="stable")
    bounds = np.searchsorted(sc if order is None else sc[order], np.arange(S + 1), side="left")
    days = pd.DatetimeIndex(pd.to_datetime(np.asarray(udays, dtype=np.int64)))
    values = {c: bars[c].to_numpy(dtype="float64") for c in ("open", "high", "low", "close", "volume", "prev_close")}
    return PanelRows(freq, np.asarray(syms, dtype=object), days, sc, dc, j, values, bounds, order)


def detector_panel(bars: pd.DataFrame, freq: str | None = None, allowed: tuple[str, ...] = ("1min", "5min")
                   ) -> tuple[str, pd.DataFrame | None, PanelRows | None]:
    """What an intraday detector starts from: ``(freq, clean, rows)`` with ``freq`` inferred when
    None (``infer_freq``), ``clean = validate_intraday(bars, freq, check_generic=False)`` and
    ``rows = panel_rows(clean, freq)`` (``rows.chunk(lo, hi)`` = ``to_panel(clean, freq)`` for symbols
    lo..hi−1), computed in one pass over the timestamps: wall-clock minutes, days and symbol codes
    are derived once, not once per step, and the whole market's grids are never built at once. A
    ``freq`` outside ``allowed`` is returned with ``(None, None)`` before any validation, for the
    detector to report. Inside ``marketmodel.shared_inputs()`` (``run_detectors``) detectors given
    the same bars share the result.
    """
    from .marketmodel import scope_memo

    return scope_memo(("intraday_panel", id(bars), freq, tuple(allowed)), (bars,),
                      lambda: _detector_panel(bars, freq, tuple(allowed)))


def _detector_panel(bars: pd.DataFrame, freq: str | None, allowed: tuple[str, ...]):
    ts = bars["ts"] if "ts" in bars.columns else None
    if ts is None or not (isinstance(ts.dtype, pd.DatetimeTZDtype) and str(ts.dtype.tz) == TZ):
        freq = freq or infer_freq(bars)
        if freq not in allowed:
            return freq, None, None
        clean = validate_intraday(bars, freq, check_generic=False)
        return freq, clean, panel_rows(clean, freq)
    ns = _ts_ns(ts)
    wall = _wall_days(ns)
    freq = freq or _freq_of_minutes(wall[1])
    if freq not in allowed:
        return freq, None, None
    clean, info = _validate(bars, freq, check_generic=False, wall=(ns,) + wall)
    return freq, clean, panel_rows(clean, freq, info)


def _ffill_last(a: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Forward-fill along the last axis (leading gaps stay NaN)."""
    idx = np.where(valid, np.arange(a.shape[-1]), -1)
    np.maximum.accumulate(idx, axis=-1, out=idx)
    out = np.take_along_axis(a, np.maximum(idx, 0), axis=-1)
    out[idx < 0] = np.nan
    return out


class PathArrays:
    """Log-price path and increments of a panel (see the module docstring for the conventions).

    ``P``    (S, D, B+1) log price at positions 0..B: 0 = the day's open, j = after bar j
    ``inc``  (S, D, B) path increment of bar j (0 where absent or in the closing call)
    ``ret``  (S, D, B) strict session return (NaN where absent / closing call)
    ``gap``  (S, D, B) overnight gap at the first morning bar, lunch gap at the first afternoon bar
    ``est``  (S, D, B) bars whose increment is a clean one-bar move usable for volatility estimates

    ``ret`` and ``gap`` are computed on first use (the cliff detector never reads them).
    """

    def __init__(self, P: np.ndarray, inc: np.ndarray, ret=None, gap=None, est: np.ndarray | None = None,
                 _lazy=None):
        self.P, self.inc, self.est = P, inc, est
        self._ret, self._gap, self._lazy = ret, gap, _lazy

    def _fill(self) -> None:
        self._ret, self._gap = self._lazy()
        self._lazy = None

    @property
    def ret(self) -> np.ndarray:
        if self._ret is None:
            self._fill()
        return self._ret

    @property
    def gap(self) -> np.ndarray:
        if self._gap is None:
            self._fill()
        return self._gap

    def __repr__(self) -> str:
        return f"PathArrays(shape={self.inc.shape})"


def path_arrays(p: Panel) -> PathArrays:
    s = p.slots
    S, D, B = p.shape
    present = p.present
    live = present & ~s.flat                  # closing-call bars never move the path
    logc = np.log(p.close)
    fill = _ffill_last(logc, live)
    first = np.argmax(present, axis=-1)       # first present bar of the day
    any_bar = present.any(axis=-1)
    o_first = np.take_along_axis(p.open, first[..., None], axis=-1)[..., 0]
    P0 = np.where(any_bar, np.log(o_first), np.nan)
    P = np.empty((S, D, B + 1))
    P[..., 0] = P0
    P[..., 1:] = np.where(np.isnan(fill), P0[..., None], fill)
    del fill
    inc = np.diff(P, axis=-1)
    inc[~any_bar] = 0.0
    jj = np.arange(B)
    # a bar is a clean one-bar move if the bar before it (skipping the flat closing call) is present
    prev_live = np.zeros((S, D, B), dtype=bool)
    prev_live[..., 1:] = present[..., :-1]
    if s.flat.any():
        last_live = np.flatnonzero(~s.flat[:-1])[-1]      # 14:57 for the 15:00 auction bar
        prev_live[..., B - 1] = present[..., last_live]
    est = live & (prev_live | (jj == 0) | (jj == first[..., None]))

    def ret_gap() -> tuple[np.ndarray, np.ndarray]:
        # strict session returns: the first present bar of each session is measured from its own open
        am = jj < s.first_pm
        first_am = np.argmax(present & am, axis=-1)
        has_am = (present & am).any(axis=-1)
        first_pm = s.first_pm + np.argmax(present[..., s.first_pm:], axis=-1)
        has_pm = present[..., s.first_pm:].any(axis=-1)
        is_first_am = has_am[..., None] & (jj == first_am[..., None])
        is_first_pm = has_pm[..., None] & (jj == first_pm[..., None])
        logo = np.log(p.open)
        ret = np.where(live, inc, np.nan)
        own = logc - logo
        ret = np.where(is_first_am | is_first_pm, own, ret)
        gap = np.full((S, D, B), np.nan)
        lunch = logo - P[..., :B]                 # open vs path just before the bar (11:30 close at reopen)
        gap = np.where(is_first_pm & has_am[..., None], lunch, gap)
        gap = np.where(is_first_am, logo - np.log(p.prev_close)[..., None], gap)
        return ret, gap

    return PathArrays(P, inc, est=est, _lazy=ret_gap)


def session_returns(bars: pd.DataFrame, freq: str) -> pd.DataFrame:
    """Per-bar returns that never span the lunch break or the night.

    Returns one row per validated bar (sorted by symbol, ts) with ``symbol, ts, slot`` (1-based bar of
    the day), ``phase`` (open / continuous / reopen / closing_call / close_auction / close), ``ret``
    (log return within the session; the first bar of each session is measured from its own open;
    NaN for the flat 14:58/14:59 closing-call bars), ``gap`` (overnight gap at the first morning bar,
    lunch gap at the first afternoon bar, else NaN) and ``inc`` (the detectors' path increment: ``ret``
    plus the lunch gap at the reopen bar, 0 in the closing call).
    """
    clean = validate_intraday(bars, freq)
    p = to_panel(clean, freq)
    a = path_arrays(p)
    j = p.rows % p.shape[2]
    s = p.slots
    return pd.DataFrame({
        "symbol": clean["symbol"].to_numpy(), "ts": clean["ts"].to_numpy(), "slot": j + 1,
        "phase": s.phase[j], "ret": a.ret.ravel()[p.rows], "gap": a.gap.ravel()[p.rows],
        "inc": a.inc.ravel()[p.rows]})


# --- time-of-day profile ------------------------------------------------------------------------

_TRIM = 0.05
_Q = NormalDist().inv_cdf(1 - _TRIM / 2)
# E[z² | |z| < q] for a standard normal: makes the 5 %-trimmed RMS a consistent scale estimate
_TRIM_CONSISTENCY = math.sqrt(1 - 2 * _Q * math.exp(-_Q * _Q / 2) / math.sqrt(2 * math.pi) / (1 - _TRIM))
_WINSOR = 5.0            # robust cap, in units of the expected scale, for squared increments


def _trimmed_rms(z: np.ndarray, valid: np.ndarray, min_count: int) -> np.ndarray:
    """Per-row 5 %-trimmed RMS of ``z`` over ``valid`` cells, scaled to estimate a normal sd.

    Trimming the largest |z| makes a day's level immune to the few bars of a cliff; an RMS (rather
    than a median) survives tick discreteness, where most 1-minute moves of a cheap stock are zero.
    """
    a = np.where(valid, np.abs(z), np.nan)
    n = valid.sum(axis=-1)
    srt = np.sort(a, axis=-1)
    k = np.ceil((1 - _TRIM) * n).astype(np.int64)
    keep = np.arange(a.shape[-1]) < k[..., None]
    ss = np.where(keep, np.nan_to_num(srt) ** 2, 0.0).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.sqrt(ss / k) / _TRIM_CONSISTENCY
    return np.where(n >= min_count, out, np.nan)


def _trailing(a: np.ndarray, lookback: int) -> np.ndarray:
    """Sum over the ``lookback`` days strictly before each day (axis 1)."""
    D = a.shape[1]
    c = np.zeros((a.shape[0], D + 1) + a.shape[2:])
    np.cumsum(a, axis=1, out=c[:, 1:])
    # c[:, d] − c[:, max(d − lookback, 0)], with slices instead of gathers
    k = min(max(lookback, 0), D)
    if k == D:          # every day's window starts at the first day: x − 0.0 is x, bit for bit
        return c[:, :D]
    out = np.empty(a.shape)
    np.subtract(c[:, :k], c[:, :1], out=out[:, :k])
    if k < D:
        np.subtract(c[:, k:D], c[:, :D - k], out=out[:, k:])
    return out


def _smooth_weights(s: Slots, h: int) -> list[tuple[int, np.ndarray]]:
    """Per offset o = −h..h the integer weights of ``_smooth`` (one per slot)."""
    B = s.n
    special = np.zeros(B, dtype=bool)
    special[[0, s.first_pm, B - 1]] = True
    special |= s.flat
    seg = np.where(special, -1 - np.arange(B), (np.arange(B) >= s.first_pm).astype(np.int64))
    jj = np.arange(B)

    def same_seg(k: np.ndarray) -> np.ndarray:
        ok = (k >= 0) & (k < B)
        ok[ok] &= seg[k[ok]] == seg[ok]
        return ok

    out = []
    for o in range(-h, h + 1):
        # symmetric truncation: use offset ±o only if both sides exist, so the steep decay after an
        # open is not pulled down by a one-sided window of lower neighbours
        ok = same_seg(jj + abs(o)) & same_seg(jj - abs(o)) & (~special | (o == 0))
        out.append((o, (h + 1 - abs(o)) * ok))
    return out


_SMOOTH_CACHE: dict = {}


def _smooth_counts(ok: np.ndarray, lookback: int, s: Slots) -> np.ndarray:
    """``_smooth(_trailing(ok.astype(float), lookback), s)`` for a boolean ``ok``, in integers.

    Every intermediate is a small whole number (counts of days times weights of 1–3), which float64
    holds exactly whatever the order of the additions, so the integer sums convert to the very same
    floats — at a fraction of the memory traffic.
    """
    h = 2 if s.minutes == 1 else (1 if s.minutes == 5 else 0)
    D = ok.shape[1]
    c = np.zeros((ok.shape[0], D + 1) + ok.shape[2:], dtype=np.int32)
    np.cumsum(ok, axis=1, dtype=np.int32, out=c[:, 1:])
    k = min(max(lookback, 0), D)
    t = np.empty(ok.shape, dtype=np.int32)
    np.subtract(c[:, :k], c[:, :1], out=t[:, :k])
    if k < D:
        np.subtract(c[:, k:D], c[:, :D - k], out=t[:, k:])
    if h == 0:
        return t.astype(np.float64)
    _smooth(np.zeros(s.n), s)                      # fills the weight runs cache
    out = np.zeros(ok.shape, dtype=np.int32)
    for o, w, rr in _SMOOTH_CACHE[(s.freq, h)]:
        for lo, hi, cw in rr:
            out[..., lo:hi] += int(cw) * t[..., lo + o:hi + o]
    return out.astype(np.float64)


def _smooth(a: np.ndarray, s: Slots) -> np.ndarray:
    """Triangular smoothing across neighbouring regular slots along the last axis.

    Session opens, the closing call/auction and the last bar are kept apart: they are exactly the
    slots whose scale differs from their neighbours.
    """
    h = 2 if s.minutes == 1 else (1 if s.minutes == 5 else 0)
    if h == 0:
        return a
    B = s.n
    key = (s.freq, h)
    if key not in _SMOOTH_CACHE:
        ws = _smooth_weights(s, h)
        runs = []
        for o, w in ws:
            # runs of slots with the same non-zero weight (the weight of an offset is h + 1 − |o|)
            edges = np.flatnonzero(np.diff(np.r_[0, w, 0]))
            rr = [(int(lo), int(hi), float(w[lo])) for lo, hi in zip(edges[:-1], edges[1:]) if w[lo] != 0]
            runs.append((o, w, rr))
        _SMOOTH_CACHE[key] = runs
    runs = _SMOOTH_CACHE[key]
    out = np.zeros_like(a)
    if not np.isfinite(a).all():
        # 0 × inf/NaN must poison the sum exactly as a dense weighted sum does
        jj = np.arange(B)
        for o, w, _ in runs:
            out += w * np.take(a, np.clip(jj + o, 0, B - 1), axis=-1)
        return out
    # Terms of weight 0 add ±0 to a sum that starts at +0 and so leave it bitwise unchanged: only
    # the runs of slots with a weight are added, slot ranges shifted by o, in the same order of o.
    # Work on a slots × rows copy: each shifted slot range is then one contiguous block.
    at = np.ascontiguousarray(a.reshape(-1, B).T) if a.ndim > 1 else a[:, None]
    acc = np.zeros_like(at)
    tmp = np.empty_like(at)
    for o, w, rr in runs:
        for lo, hi, c in rr:
            t = np.multiply(at[lo + o:hi + o], c, out=tmp[:hi - lo])
            np.add(acc[lo:hi], t, out=acc[lo:hi])
    out[...] = acc.T.reshape(a.shape)
    return out


@dataclass
class TodProfile:
    """Per-symbol, per-day time-of-day volatility from trailing days only (no look-ahead).

    ``shape``     (S, D, B) variance shape ``g`` per bar slot, mean 1 over the day's slots; 0 for the
                  flat closing-call bars. Estimated from the ``lookback_days`` days strictly before
                  each day (winsorised squared increments, smoothed across neighbouring slots, shrunk
                  towards ``default_shape`` by ``shrink_days`` pseudo-days).
    ``level``     (S, D) per-bar volatility level from those trailing days (RMS of each day's 5 %-
                  trimmed level); NaN when there is no history (see ``running_level`` for the fallback).
    ``n_days``    (S, D) trailing days that had data.
    ``day_level`` (S, D) each day's own robust level (uses that day's bars; only later days read it).
    The bar's scale is ``level * sqrt(shape)``; the daily volatility is ``level * sqrt(B)``.
    """
    freq: str
    symbols: np.ndarray
    days: pd.DatetimeIndex
    shape: np.ndarray
    level: np.ndarray
    n_days: np.ndarray
    day_level: np.ndarray
    lookback_days: int

    @property
    def daily_vol(self) -> np.ndarray:
        return self.level * math.sqrt(self.shape.shape[-1])

    def sigma(self) -> np.ndarray:
        return self.level[..., None] * np.sqrt(self.shape)

    def to_frame(self) -> pd.DataFrame:
        """Long form: ``symbol, date, slot, time, shape, sigma, daily_vol, n_days``."""
        S, D, B = self.shape.shape
        s = _slot_table(self.freq)
        return pd.DataFrame({
            "symbol": np.repeat(self.symbols, D * B),
            "date": np.tile(np.repeat(self.days.to_numpy(), B), S),
            "slot": np.tile(np.arange(1, B + 1), S * D),
            "time": np.tile(np.array(s.labels, dtype=object), S * D),
            "shape": np.sqrt(self.shape).ravel(),
            "sigma": self.sigma().ravel(),
            "daily_vol": np.repeat(self.daily_vol.ravel(), B),
            "n_days": np.repeat(self.n_days.ravel(), B)})


def profile_arrays(p: Panel, a: PathArrays, lookback_days: int = 20, shrink_days: float = 3.0,
                   flat_profile: bool = False) -> TodProfile:
    """The profile of a panel (see ``TodProfile``); ``flat_profile`` = one scale for every slot.

    The flat variant exists to show what the profile buys: the same level estimate, no time of day.
    """
    s = p.slots
    S, D, B = p.shape
    g0 = default_shape(p.freq)
    if flat_profile:
        g0 = np.where(s.flat, 0.0, 1.0)
        g0 = g0 / g0.mean()
    est = a.est
    inc = a.inc
    root0 = np.sqrt(np.maximum(g0, 1e-12))
    a0 = _trimmed_rms(inc / root0, est, min_count=max(B // 8, 4))
    if flat_profile:
        g = np.broadcast_to(g0, (S, D, B)).copy()
    else:
        # Mean *absolute* normalised increments per slot: with fat tails, 20 days of squares give a
        # variance estimate with ±60 % noise at the unsmoothed open/reopen/auction slots, absolute
        # values about ±40 %; scale factors cancel in the normalisation below.
        with np.errstate(invalid="ignore", divide="ignore"):
            u = np.abs(inc) / a0[..., None]
        ok = est & np.isfinite(u)
        q = np.where(ok, np.minimum(u, _WINSOR * np.sqrt(np.maximum(g0, 0.05))), 0.0)
        ksum = _smooth(np.ones(B), s)
        num = _smooth(_trailing(q, lookback_days), s) / ksum
        den = _smooth_counts(ok, lookback_days, s) / ksum
        with np.errstate(invalid="ignore", divide="ignore"):
            gd = (num / den) ** 2
        live = (den > 0) & ~s.flat
        gd = np.where(live, gd, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            unit = gd.sum(axis=-1, keepdims=True) / np.where(live, g0, 0.0).sum(axis=-1, keepdims=True)
        gd = np.where(live, gd / np.where(unit > 0, unit, 1.0), 0.0)
        # the lone open/reopen/auction slots get no smoothing help, so lean on the default harder
        special = np.zeros(B, dtype=bool)
        special[[0, s.first_pm, B - 1]] = True
        k = np.where(special, 2.0 * shrink_days, shrink_days)
        g = (den * gd + k * g0) / (den + k)
        g[..., s.flat] = 0.0
        g /= g.mean(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        day_level = _trimmed_rms(inc / np.sqrt(np.maximum(g, 1e-12)), est, min_count=max(B // 8, 4))
    have = np.isfinite(day_level)
    ssum = _trailing(np.where(have, day_level ** 2, 0.0), lookback_days)
    cnt = _trailing(have.astype(np.float64), lookback_days)
    with np.errstate(invalid="ignore", divide="ignore"):
        level = np.where(cnt > 0, np.sqrt(ssum / cnt), np.nan)
    return TodProfile(p.freq, p.symbols, p.days, g, level, cnt.astype(np.int64), day_level, lookback_days)


def tod_profile(bars: pd.DataFrame, freq: str, lookback_days: int = 20, shrink_days: float = 3.0
                ) -> TodProfile:
    """Robust time-of-day volatility profile and daily level of intraday bars (see ``TodProfile``).

    Every number for day *d* uses only days strictly before *d*. With no history the shape is the
    documented ``default_shape`` and the level is NaN: detectors then start from a default daily
    volatility and learn the day's own level causally, bar by bar (``running_level``).
    """
    clean = validate_intraday(bars, freq)
    p = to_panel(clean, freq)
    return profile_arrays(p, path_arrays(p), lookback_days, shrink_days)


def running_level(inc: np.ndarray, est: np.ndarray, shape: np.ndarray, prior: np.ndarray,
                  prior_bars: np.ndarray) -> np.ndarray:
    """Causal per-bar level at positions 0..B: the trailing level updated with the day's own bars.

    ``Â²(p) = (n0·A² + Σ_{k≤p} min(inc_k²/g_k, (5A)²)) / (n0 + #k≤p)`` with prior ``A`` (trailing level
    or a default) worth ``n0`` bars. Position p uses bars up to p only, so a window starting at p is
    scaled by what was known before it began; the cap keeps a cliff from inflating its own yardstick.
    """
    S, D, B = inc.shape
    A2 = prior ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.where(est, np.minimum(inc ** 2 / np.maximum(shape, 0.05), (_WINSOR ** 2) * A2[..., None]), 0.0)
    cs = np.zeros((S, D, B + 1))
    np.cumsum(c, axis=-1, out=cs[..., 1:])
    n = np.zeros((S, D, B + 1))
    np.cumsum(est, axis=-1, out=n[..., 1:])
    return np.sqrt((prior_bars[..., None] * A2[..., None] + cs) / (prior_bars[..., None] + n))
