"""The canonical vocabulary: column lists, dtypes and the one place input frames are validated.

Bars   ``symbol, ts, open, high, low, close, prev_close, volume, amount[, turnover]``
       ``ts`` is tz-aware Asia/Shanghai and labels the bar's *end* (a daily bar ends 15:00);
       ``volume`` is in shares, ``amount`` in yuan, ``turnover`` in percent; prices unadjusted.
News   ``id, ts, ts_precision, symbol, source, kind, title, body, url``
       ``ts_precision`` is one of minute/second/day/session; ``symbol`` is null for market-wide items.
Anomaly ``symbol, kind, start, end, magnitude, reference, score, p_value, details``
       ``magnitude`` is a signed fraction measured against ``reference``; ``details`` a dict.

Everything after a source adapter speaks only these names.
"""
from __future__ import annotations

import hashlib
from typing import Iterable

import numpy as np
import pandas as pd

from .errors import BadInput

TZ = "Asia/Shanghai"

BAR_COLUMNS = ["symbol", "ts", "open", "high", "low", "close", "prev_close", "volume", "amount", "turnover"]
BAR_REQUIRED = ["symbol", "ts", "open", "high", "low", "close", "volume"]
PRICE_COLUMNS = ["open", "high", "low", "close"]

NEWS_COLUMNS = ["id", "ts", "ts_precision", "symbol", "source", "kind", "title", "body", "url"]
NEWS_REQUIRED = ["ts", "title"]
TS_PRECISIONS = ("second", "minute", "session", "day")
NEWS_KINDS = ("news", "announcement", "qa_reply", "social", "broker_note", "statement")

ANOMALY_COLUMNS = ["symbol", "kind", "start", "end", "magnitude", "reference", "score", "p_value", "details"]

FREQS = ("daily", "1min", "5min", "15min", "30min", "60min")
INTRADAY_FREQS = FREQS[1:]


def freq_minutes(freq: str) -> int:
    """Minutes per bar of an intraday frequency (``"5min"`` → 5)."""
    if freq not in INTRADAY_FREQS:
        raise BadInput(f"unknown intraday frequency {freq!r}; use one of {', '.join(INTRADAY_FREQS)}")
    return int(freq[:-3])


def empty_bars() -> pd.DataFrame:
    return _typed_bars(pd.DataFrame({c: [] for c in BAR_COLUMNS}))


def _typed_bars(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out["symbol"] = out["symbol"].astype(str)
    if not isinstance(out["ts"].dtype, pd.DatetimeTZDtype):
        out["ts"] = pd.to_datetime(out["ts"]).dt.tz_localize(TZ) if len(out) else pd.Series(
            [], dtype=f"datetime64[ns, {TZ}]")
    for c in ["open", "high", "low", "close", "prev_close", "volume", "amount", "turnover"]:
        out[c] = pd.to_numeric(out[c], errors="coerce").astype("float64")
    return out[BAR_COLUMNS]


def _where(df: pd.DataFrame, mask: np.ndarray, origin: str) -> str:
    """Describe the first offending row of ``df`` as ``origin row N (symbol ts)``."""
    i = int(np.flatnonzero(mask)[0])
    row = df.iloc[i]
    sym = row.get("symbol", "?")
    ts = row.get("ts", "?")
    return f"{origin} row {i + 1} ({sym} {ts})"


def to_shanghai(ts: pd.Series, what: str = "ts", origin: str = "") -> pd.Series:
    """Parse/convert a timestamp column to tz-aware Asia/Shanghai; naive stamps are an error."""
    where = f"{origin} " if origin else ""
    if not pd.api.types.is_datetime64_any_dtype(ts):
        try:
            with np.errstate(invalid="ignore", over="ignore"):   # float ±inf → NaT, quietly
                ts = pd.to_datetime(ts, format="mixed")
        except (ValueError, TypeError, OverflowError):
            aware = []
            for i, v in enumerate(ts):
                if v is None or (isinstance(v, float) and np.isnan(v)):
                    aware.append(None)
                    continue
                try:
                    aware.append(pd.Timestamp(v).tzinfo is not None)
                except (ValueError, TypeError, OverflowError):
                    raise BadInput(f"{where}row {i + 1}: column {what!r} value {v!r} is not a timestamp") from None
            if False in aware:  # a mix of zoned and naive stamps
                i = aware.index(False)
                raise BadInput(f"{where}row {i + 1}: column {what!r} value {ts.iloc[i]!r} has no time zone "
                               "while other rows have one") from None
            ts = pd.to_datetime(ts, format="mixed", utc=True)  # zoned stamps with different offsets
    if ts.dt.tz is None:
        raise BadInput(f"column {what!r} holds naive timestamps; give them a zone (e.g. +08:00) "
                       "or read the file with a source that knows its zone")
    if isinstance(ts.dtype, pd.ArrowDtype):   # Arrow timestamps (Parquet, pyarrow readers) → numpy-backed
        ts = ts.astype(pd.DatetimeTZDtype(unit=ts.dtype.pyarrow_dtype.unit, tz=str(ts.dt.tz)))
    return ts.dt.tz_convert(TZ)


def validate_bars(df: pd.DataFrame, freq: str = "daily", origin: str = "bars",
                  derive_prev_close: bool = True) -> pd.DataFrame:
    """Check a frame against the canonical bar schema and return a clean, typed copy.

    Raises ``BadInput`` with one line naming the first problem: a missing column, a non-numeric,
    NaN, zero or negative price, ``high < low`` or an OHLC outside the range, a duplicate or
    out-of-order timestamp per symbol, or a naive timestamp. ``prev_close`` is derived from the
    previous bar's close of the same symbol when absent (first bar stays NaN); for intraday
    frames the caller is expected to supply the *daily* previous close.
    """
    missing = [c for c in BAR_REQUIRED if c not in df.columns]
    if missing:
        raise BadInput(f"{origin}: missing column(s) {', '.join(missing)} "
                       f"(need {', '.join(BAR_REQUIRED)})")
    out = df.copy()
    for c in ("prev_close", "amount", "turnover"):
        if c not in out.columns:
            out[c] = np.nan
    out["symbol"] = out["symbol"].astype(str)
    out["ts"] = to_shanghai(out["ts"], "ts", origin)
    nat = out["ts"].isna().to_numpy()
    if nat.any():
        i = int(np.flatnonzero(nat)[0])
        raise BadInput(f"{origin} row {i + 1}: column 'ts' is empty or not a timestamp ({df['ts'].iloc[i]!r})")
    for c in PRICE_COLUMNS + ["prev_close", "volume", "amount", "turnover"]:
        num = pd.to_numeric(out[c], errors="coerce")
        bad = num.isna() & out[c].notna()
        if bad.any():
            raise BadInput(f"{_where(out, bad.to_numpy(), origin)}: column {c!r} is not a number "
                           f"({out[c][bad].iloc[0]!r})")
        out[c] = num.astype("float64")
    for c in PRICE_COLUMNS:
        v = out[c].to_numpy()
        if np.isnan(v).any():
            raise BadInput(f"{_where(out, np.isnan(v), origin)}: column {c!r} is NaN")
        if (v <= 0).any():
            raise BadInput(f"{_where(out, v <= 0, origin)}: column {c!r} is not positive ({v[v <= 0][0]})")
        if np.isinf(v).any():
            raise BadInput(f"{_where(out, np.isinf(v), origin)}: column {c!r} is infinite")
    for c in ("prev_close", "volume", "amount", "turnover"):   # NaN allowed here, ±inf never
        v = out[c].to_numpy()
        inf = np.isinf(v)
        if inf.any():
            raise BadInput(f"{_where(out, inf, origin)}: column {c!r} is infinite")
    if (out["volume"] < 0).any():
        raise BadInput(f"{_where(out, (out['volume'] < 0).to_numpy(), origin)}: negative volume")
    o, h, l, c = (out[k].to_numpy() for k in PRICE_COLUMNS)
    tol = 1e-6
    if (h < l - tol).any():
        raise BadInput(f"{_where(out, h < l - tol, origin)}: high is below low")
    bad = (np.maximum(o, c) > h + tol) | (np.minimum(o, c) < l - tol)
    if bad.any():
        raise BadInput(f"{_where(out, bad, origin)}: open/close outside the high-low range")
    if freq == "daily":
        t = out["ts"]
        if ((t.dt.hour != 15) | (t.dt.minute != 0)).any():
            # Daily bars are labelled by their end; a date-only stamp means 15:00 that day.
            out["ts"] = t.dt.normalize() + pd.Timedelta(hours=15)
    same_symbol = _ascending_runs(out)
    if same_symbol is None:                    # not the usual layout, or something is wrong: find what
        dup = out.duplicated(["symbol", "ts"], keep="first").to_numpy()
        if dup.any():
            raise BadInput(f"{_where(out, dup, origin)}: duplicate timestamp for this symbol")
        back = (out.groupby("symbol", sort=False)["ts"].diff() <= pd.Timedelta(0)).to_numpy()
        if back.any():
            raise BadInput(f"{_where(out, back, origin)}: timestamps are not in ascending order "
                           "(sort the file by time)")
    if derive_prev_close and freq == "daily":
        if same_symbol is not None:
            close = out["close"].to_numpy()
            derived = pd.Series(np.where(same_symbol, np.r_[np.nan, close[:-1]], np.nan), index=out.index)
        else:
            derived = out.groupby("symbol", sort=False)["close"].shift(1)
        out["prev_close"] = out["prev_close"].fillna(derived)
    return out[BAR_COLUMNS].reset_index(drop=True)


def _ascending_runs(out: pd.DataFrame) -> np.ndarray | None:
    """The fast answer for the usual layout — each symbol's rows together, strictly ascending in time:
    a boolean array (row i has the same symbol as row i − 1). ``None`` when the frame is laid out
    otherwise or breaks the order, so the caller runs the general checks that name the bad row."""
    codes, uniques = pd.factorize(out["symbol"], sort=False)
    if len(codes) == 0:
        return np.zeros(0, dtype=bool)
    same = np.r_[False, codes[1:] == codes[:-1]]
    if int((~same).sum()) != len(uniques):     # some symbol's rows are split up
        return None
    ticks = pd.DatetimeIndex(out["ts"]).asi8       # in the column's own unit: no overflow past 2262
    if (same[1:] & (ticks[1:] <= ticks[:-1])).any():
        return None
    return same


def check_trading_days(bars: pd.DataFrame, origin: str = "bars") -> None:
    """Raise ``BadInput`` naming the first daily bar dated on a day SSE/SZSE did not trade (a weekend,
    an exchange holiday, or a date outside the exchange calendar, which cannot be checked).

    ``bars`` are canonical (tz-aware Shanghai ``ts``, as ``validate_bars`` returns them). Vectorised
    over the distinct dates, so it costs little even on a million rows. Not part of ``validate_bars``:
    detectors and tests legitimately build frames on synthetic business days.
    """
    if bars.empty:
        return
    from . import calendar

    ts = bars["ts"]
    if not isinstance(ts.dtype, pd.DatetimeTZDtype):
        ts = to_shanghai(ts, "ts", origin)
    local = ts.dt.tz_convert(TZ).dt.tz_localize(None).to_numpy().astype("datetime64[D]")
    days = pd.unique(local)
    lo, hi = pd.Timestamp(days.min()), pd.Timestamp(days.max())
    cal = calendar._cal()
    first, last = cal.first_session.tz_localize(None), cal.last_session.tz_localize(None)
    if lo < first or hi > last:
        outside = (local < np.datetime64(first.date())) | (local > np.datetime64(last.date()))
        i = int(np.flatnonzero(outside)[0])
        raise BadInput(f"{_where(bars, outside, origin)}: {local[i]} is outside the exchange calendar "
                       f"({first.date()}..{last.date()}), so it cannot be checked as a trading day")
    sessions = calendar.trading_days(lo, hi).to_numpy().astype("datetime64[D]")
    closed = np.setdiff1d(days, sessions)
    if len(closed):
        bad = np.isin(local, closed)
        i = int(np.flatnonzero(bad)[0])
        reason = calendar.why_closed(pd.Timestamp(local[i])) or f"{local[i]} is not a trading day"
        if "not a trading day" not in reason and "weekend" not in reason:
            reason += ", not a trading day"
        raise BadInput(f"{_where(bars, bad, origin)}: {reason}")


def news_id(ts: pd.Series, symbol: pd.Series, source: pd.Series, title: pd.Series) -> pd.Series:
    """A stable id per news item: a hash of (ts, symbol, source, normalised title).

    Importing the same archive twice therefore adds nothing the second time.
    """
    norm = title.fillna("").astype(str).str.replace(r"\s+", "", regex=True)
    keys = (ts.astype(str) + "|" + symbol.fillna("").astype(str) + "|" + source.fillna("").astype(str)
            + "|" + norm)
    return keys.map(lambda k: hashlib.sha1(k.encode("utf-8")).hexdigest()[:16])


def validate_news(df: pd.DataFrame, origin: str = "news") -> pd.DataFrame:
    """Check a news frame and return a typed canonical copy (with ``id`` filled in)."""
    missing = [c for c in NEWS_REQUIRED if c not in df.columns]
    if missing:
        raise BadInput(f"{origin}: missing column(s) {', '.join(missing)} (need {', '.join(NEWS_REQUIRED)})")
    out = df.copy()
    for c in NEWS_COLUMNS:
        if c not in out.columns:
            out[c] = None
    out["ts"] = to_shanghai(out["ts"], "ts")
    if out["ts"].isna().any():
        raise BadInput(f"{_where(out, out['ts'].isna().to_numpy(), origin)}: empty timestamp")
    out["ts_precision"] = out["ts_precision"].fillna("minute").astype(str)
    bad = ~out["ts_precision"].isin(TS_PRECISIONS)
    if bad.any():
        raise BadInput(f"{_where(out, bad.to_numpy(), origin)}: ts_precision "
                       f"{out['ts_precision'][bad].iloc[0]!r} is not one of {', '.join(TS_PRECISIONS)}")
    out["kind"] = out["kind"].fillna("news").astype(str)
    bad = ~out["kind"].isin(NEWS_KINDS)
    if bad.any():
        raise BadInput(f"{_where(out, bad.to_numpy(), origin)}: kind {out['kind'][bad].iloc[0]!r} "
                       f"is not one of {', '.join(NEWS_KINDS)}")
    if out["title"].isna().any():
        raise BadInput(f"{_where(out, out['title'].isna().to_numpy(), origin)}: empty title")
    out["title"] = out["title"].astype(str)
    if (out["title"].str.strip() == "").any():
        raise BadInput(f"{_where(out, (out['title'].str.strip() == '').to_numpy(), origin)}: empty title")
    for c in ("symbol", "source", "body", "url"):
        out[c] = out[c].astype(object).where(out[c].notna(), None)
    out["source"] = out["source"].where(out["source"].notna(), "")
    need_id = out["id"].isna()
    if need_id.any():
        out.loc[need_id, "id"] = news_id(out["ts"], out["symbol"], out["source"], out["title"])[need_id]
    return out[NEWS_COLUMNS].sort_values(["ts", "id"]).reset_index(drop=True)


def empty_anomalies() -> pd.DataFrame:
    return anomalies_frame([])


def anomalies_frame(records: Iterable[dict] | pd.DataFrame) -> pd.DataFrame:
    """Build a canonical anomaly frame from dicts (or reorder/typecheck an existing frame)."""
    df = records.copy() if isinstance(records, pd.DataFrame) else pd.DataFrame(list(records))
    for c in ANOMALY_COLUMNS:
        if c not in df.columns:
            df[c] = None if c in ("details", "reference", "p_value") else np.nan
    if len(df):
        df["details"] = df["details"].map(lambda d: d if isinstance(d, dict) else {})
    df["magnitude"] = pd.to_numeric(df["magnitude"], errors="coerce").astype("float64")
    df["score"] = pd.to_numeric(df["score"], errors="coerce").astype("float64")
    df["p_value"] = pd.to_numeric(df["p_value"], errors="coerce").astype("float64")
    for c in ("start", "end"):
        if len(df) == 0:
            df[c] = pd.Series([], dtype=f"datetime64[ns, {TZ}]")
    df = df[ANOMALY_COLUMNS]
    if len(df):
        df = df.sort_values(["start", "symbol", "kind"], kind="stable").reset_index(drop=True)
    return df
