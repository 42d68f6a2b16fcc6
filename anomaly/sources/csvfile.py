"""User files: ``csv:PATH`` where PATH is one CSV file or a folder of them.

Two layouts are understood:

* canonical: ``symbol, ts, open, high, low, close[, prev_close], volume[, amount, turnover]`` with
  tz-aware ``ts`` (a date-only ``ts``/``date`` column is a daily bar ending 15:00 Shanghai time);
* akshare/Eastmoney export: ``日期`` or ``时间``, ``开盘, 收盘, 最高, 最低, 成交量`` (lots of 100 shares),
  ``成交额`` (yuan), optional ``股票代码``, ``换手率`` — stamps are exchange-local (Asia/Shanghai), as
  Eastmoney serves them, so naive times are localized rather than refused.

Files may be UTF-8 (with or without BOM) or GBK, as Chinese tools often export. A file without a
``symbol``/``股票代码`` column belongs to the symbol asked for, or to the one its file name names.

Refused with one line naming the file (and row/column where there is one): repeated header names, rows
with more (non-empty) fields than the header, unknown or empty symbols, unparsable or zoned-and-naive
mixed stamps, and daily bars on days SSE/SZSE did not trade (``schema.check_trading_days``); intraday
files get ``intraday.validate_intraday``'s session checks.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import BadInput
from ..schema import BAR_REQUIRED, INTRADAY_FREQS, TZ, check_trading_days, validate_bars
from ..symbols import Symbol, resolve
from .base import Source, in_range

AKSHARE_COLUMNS = {"日期": "ts", "时间": "ts", "股票代码": "symbol", "开盘": "open", "收盘": "close",
                   "最高": "high", "最低": "low", "成交量": "volume", "成交额": "amount", "换手率": "turnover"}
ALIASES = {"date": "ts", "datetime": "ts", "time": "ts", "code": "symbol", "vol": "volume",
           "turnover_pct": "turnover", "pre_close": "prev_close", "preclose": "prev_close"}


def read_text(path: Path) -> str:
    """Decode a user file as UTF-8 (BOM allowed) or GBK; say which when neither works."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BadInput(f"file {path} does not exist") from None
    except IsADirectoryError:
        raise BadInput(f"{path} is a folder, expected a file") from None
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc.strerror}") from None
    if not data.strip():
        raise BadInput(f"{path} is empty")
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise BadInput(f"{path} is neither UTF-8 nor GBK text")


def csv_layout_problem(text: str, sep: str = ",", check_rows: bool = True) -> tuple[int | None, str] | None:
    """What pandas would silently misread in a CSV text: a repeated header name (pandas renames the
    second ``close`` to ``close.1``) or a data row with more fields than the header (pandas turns the
    surplus into an index and shifts every column). Returns ``(data row number or None, problem)``.

    ``check_rows=False`` checks the header only (cheap: one record is parsed).
    """
    reader = csv.reader(io.StringIO(text), delimiter=sep)
    try:
        header = next((r for r in reader if r), None)
        if header is None:
            return None
        names = [h.strip() for h in header]
        dups = [n for n in dict.fromkeys(names) if n and names.count(n) > 1]
        if dups:
            return None, f"duplicate column(s) {', '.join(dups)}"
        if not check_rows:
            return None
        width = len(header)
        n = 0
        for row in reader:
            if not row:          # blank line: pandas skips it, so it has no row number
                continue
            n += 1
            if len(row) > width and any(f.strip() for f in row[width:]):   # trailing commas are harmless
                return n, f"{len(row)} fields, the header has {width}"
    except csv.Error:
        return None              # pandas reports unreadable quoting itself
    return None


def _layout_error(path: Path, text: str, check_rows: bool) -> BadInput | None:
    found = csv_layout_problem(text, check_rows=check_rows)
    if found is None:
        return None
    row, problem = found
    return BadInput(f"{path}: {problem}" if row is None else f"{path} row {row}: {problem}")


def _has_zone(value) -> bool | None:
    try:
        t = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        return None
    return None if pd.isna(t) else t.tzinfo is not None


def _parse_stamps(ts: pd.Series, path: Path) -> pd.Series:
    """Strings → timestamps (NaT where unparsable). All-zoned stamps with different offsets
    (``+08:00`` next to ``Z``) are converted to Shanghai time; zoned next to naive is refused."""
    try:
        return pd.to_datetime(ts, errors="coerce", format="mixed")
    except (ValueError, TypeError, OverflowError):
        pass                     # "Mixed timezones detected": different offsets, or zoned and naive
    zoned = ts.map({v: _has_zone(v) for v in ts.unique()})
    naive = (zoned == False).to_numpy()  # noqa: E712  (None: unparsable, reported by the caller)
    if not (zoned == True).any():  # noqa: E712
        raise BadInput(f"{path}: column ts has a value that is not a timestamp")
    if naive.any():
        i = int(np.flatnonzero(naive)[0])
        raise BadInput(f"{path} row {i + 1}: column ts mixes zoned and naive stamps ({ts.iloc[i]!r} has no "
                       "time zone while other rows have one)")
    return pd.to_datetime(ts, errors="coerce", format="mixed", utc=True).dt.tz_convert(TZ)


def _first_bad(path: Path, raw: pd.Series, bad: pd.Series, what: str) -> BadInput:
    i = int(np.flatnonzero(bad.to_numpy())[0])
    v = raw.iloc[i]
    if v is None or (isinstance(v, float) and np.isnan(v)) or str(v).strip() == "":
        return BadInput(f"{path} row {i + 1}: column ts is empty")
    return BadInput(f"{path} row {i + 1}: {v!r} is not a {what}")


def _resolve_symbols(path: Path, col: pd.Series) -> pd.Series:
    empty = col.isna() | (col.astype(str).str.strip() == "")
    if empty.any():
        i = int(np.flatnonzero(empty.to_numpy())[0])
        raise BadInput(f"{path} row {i + 1}: column 'symbol' is empty")
    ids = {}
    for s in col.unique():
        t = str(s).strip()
        try:
            ids[s] = resolve(t.zfill(6) if t.isascii() and t.isdigit() else t).id
        except BadInput as exc:
            i = int(np.flatnonzero((col == s).to_numpy())[0])
            raise BadInput(f"{path} row {i + 1}: column 'symbol': {exc}") from None
    return col.map(ids)


def read_bars_csv(path: Path, freq: str = "daily", symbol: Symbol | None = None) -> pd.DataFrame:
    """Read one CSV of bars in canonical or akshare layout into canonical bars."""
    text = read_text(path)
    problem = _layout_error(path, text, check_rows=False)
    if problem is not None:
        raise problem
    try:
        raw = pd.read_csv(io.StringIO(text), dtype={"symbol": str, "code": str, "股票代码": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        problem = _layout_error(path, text, check_rows=True)
        if problem is not None:
            raise problem from None
        raise BadInput(f"{path} is not a readable CSV: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw.index, pd.RangeIndex):
        # pandas made the surplus fields of a too-long row into an index: every column is shifted
        problem = _layout_error(path, text, check_rows=True)
        if problem is not None:
            raise problem
        # only empty surplus fields (lines ending in a comma, as some exports write them)
        with warnings.catch_warnings():   # "loss of data with index_col=False": only empty fields are lost
            warnings.simplefilter("ignore", pd.errors.ParserWarning)
            raw = pd.read_csv(io.StringIO(text), dtype={"symbol": str, "code": str, "股票代码": str},
                              index_col=False)
    raw.columns = [str(c).strip() for c in raw.columns]
    akshare_layout = any(c in raw.columns for c in ("日期", "时间", "开盘"))
    df = raw.rename(columns=AKSHARE_COLUMNS if akshare_layout else ALIASES)
    if df.columns.duplicated().any():
        raise BadInput(f"{path}: duplicate column(s) {', '.join(df.columns[df.columns.duplicated()])}")
    if "ts" not in df.columns:
        raise BadInput(f"{path}: missing column ts (or date/日期/时间)")
    if akshare_layout:
        missing = [c for c in BAR_REQUIRED if c not in df.columns and c not in ("symbol", "ts")]
        if missing:
            original = {v: k for k, v in AKSHARE_COLUMNS.items() if v not in ("ts", "symbol")}
            need = ", ".join(["日期 or 时间"] + [original[c] for c in BAR_REQUIRED if c not in ("symbol", "ts")])
            raise BadInput(f"{path}: missing column(s) {', '.join(f'{original[c]} ({c})' for c in missing)} "
                           f"(need {need})")
    if "symbol" not in df.columns:
        if symbol is None:
            try:
                symbol = resolve(path.stem.split("_")[0])
            except BadInput:
                raise BadInput(f"{path}: no symbol column and the file name does not name a symbol") from None
        df["symbol"] = symbol.id
    else:
        df["symbol"] = _resolve_symbols(path, df["symbol"])
    if akshare_layout and "涨跌额" in df.columns and "prev_close" not in df.columns and "close" in df.columns:
        df["prev_close"] = (pd.to_numeric(df["close"], errors="coerce")
                            - pd.to_numeric(df["涨跌额"], errors="coerce")).round(4)
    if akshare_layout and "volume" in df.columns:
        df["volume"] = pd.to_numeric(df["volume"], errors="coerce") * 100  # lots → shares
    ts = df["ts"].astype(str).str.strip()
    if freq == "daily":
        parsed = _parse_stamps(ts, path)
        bad = parsed.isna()
        if bad.any():
            raise _first_bad(path, df["ts"], bad, "date")
        if parsed.dt.tz is None:
            parsed = parsed.dt.normalize().dt.tz_localize(TZ) + pd.Timedelta(hours=15)
        df["ts"] = parsed
    elif freq in INTRADAY_FREQS:
        parsed = _parse_stamps(ts, path)
        bad = parsed.isna()
        if bad.any():
            raise _first_bad(path, df["ts"], bad, "timestamp")
        if parsed.dt.tz is None:
            if not akshare_layout:
                raise BadInput(f"{path}: timestamps have no time zone; write them like "
                               "2023-05-24T13:01:00+08:00 (Eastmoney-layout files with 时间 are read as Shanghai time)")
            parsed = parsed.dt.tz_localize(TZ)
        df["ts"] = parsed
    else:
        raise BadInput(f"unknown frequency {freq!r}")
    bars = validate_bars(df, freq=freq, origin=str(path))
    if freq == "daily":
        check_trading_days(bars, origin=str(path))
    else:
        from ..intraday import validate_intraday
        bars = validate_intraday(bars, freq, origin=str(path))
    return bars


class CsvSource(Source):
    """``csv:PATH`` — a file, or a folder of files named after their symbol (``002230.csv``)."""

    name = "csv"
    freqs = ("daily",) + INTRADAY_FREQS

    def __init__(self, path: str):
        self.path = Path(path).expanduser()
        if not self.path.exists():
            raise BadInput(f"csv source: {self.path} does not exist")

    def _files(self, symbol: Symbol) -> list[Path]:
        if self.path.is_file():
            return [self.path]
        hits = sorted(p for p in self.path.glob("*.csv") if p.stem.split("_")[0] in (symbol.code, symbol.id))
        if not hits:
            raise BadInput(f"csv source: no file for {symbol.id} in {self.path} (expected {symbol.code}.csv)")
        return hits

    def _read(self, symbol: Symbol, start: dt.date, end: dt.date, freq: str) -> pd.DataFrame:
        frames = []
        for f in self._files(symbol):
            bars = read_bars_csv(f, freq, symbol if not self.path.is_dir() else symbol)
            frames.append(bars[bars["symbol"] == symbol.id])
        out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        if out.empty:
            raise BadInput(f"csv source: {self.path} has no bars for {symbol.id}")
        return in_range(out, start, end)

    def daily_bars(self, symbol, start, end):
        return self._read(symbol, start, end, "daily")

    def intraday_bars(self, symbol, start, end, freq):
        return self._read(symbol, start, end, freq)
