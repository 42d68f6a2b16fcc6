"""User files: ``csv:PATH`` where PATH is one CSV file or a folder of them.

Two layouts are understood:

* canonical: ``symbol, ts, open, high, low, close[, prev_close], volume[, amount, turnover]`` with
  tz-aware ``ts`` (a date-only ``ts``/``date`` column is a daily bar ending 15:00 Shanghai time);
* akshare/Eastmoney export: ``日期`` or ``时间``, ``开盘, 收盘, 最高, 最低, 成交量`` (lots of 100 shares),
  ``成交额`` (yuan), optional ``股票代码``, ``换手率`` — stamps are exchange-local (Asia/Shanghai), as
  Eastmoney serves them, so naive times are localized rather than refused.

Files may be UTF-8 (with or without BOM) or GBK, as Chinese tools often export. A file without a
``symbol``/``股票代码`` column belongs to the symbol asked for, or to the one its file name names.
"""
from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pandas as pd

from ..errors import BadInput
from ..schema import INTRADAY_FREQS, TZ, validate_bars
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


def read_bars_csv(path: Path, freq: str = "daily", symbol: Symbol | None = None) -> pd.DataFrame:
    """Read one CSV of bars in canonical or akshare layout into canonical bars."""
    text = read_text(path)
    try:
        raw = pd.read_csv(io.StringIO(text), dtype={"symbol": str, "code": str, "股票代码": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise BadInput(f"{path} is not a readable CSV: {str(exc).splitlines()[0]}") from None
    raw.columns = [str(c).strip() for c in raw.columns]
    akshare_layout = any(c in raw.columns for c in ("日期", "时间", "开盘"))
    df = raw.rename(columns=AKSHARE_COLUMNS if akshare_layout else ALIASES)
    if df.columns.duplicated().any():
        raise BadInput(f"{path}: duplicate column(s) {', '.join(df.columns[df.columns.duplicated()])}")
    if "ts" not in df.columns:
        raise BadInput(f"{path}: missing column ts (or date/日期/时间)")
    if "symbol" not in df.columns:
        if symbol is None:
            try:
                symbol = resolve(path.stem.split("_")[0])
            except BadInput:
                raise BadInput(f"{path}: no symbol column and the file name does not name a symbol") from None
        df["symbol"] = symbol.id
    else:
        ids = {s: resolve(str(s).zfill(6) if str(s).isdigit() else s).id for s in df["symbol"].dropna().unique()}
        df["symbol"] = df["symbol"].map(ids)
    if akshare_layout and "涨跌额" in df.columns and "prev_close" not in df.columns and "close" in df.columns:
        df["prev_close"] = (pd.to_numeric(df["close"], errors="coerce")
                            - pd.to_numeric(df["涨跌额"], errors="coerce")).round(4)
    if akshare_layout and "volume" in df.columns:
        df["volume"] = pd.to_numeric(df["volume"], errors="coerce") * 100  # lots → shares
    ts = df["ts"].astype(str).str.strip()
    if freq == "daily":
        parsed = pd.to_datetime(ts, errors="coerce", format="mixed")
        bad = parsed.isna()
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise BadInput(f"{path} row {i + 1}: {df['ts'].iloc[i]!r} is not a date")
        if parsed.dt.tz is None:
            parsed = parsed.dt.normalize().dt.tz_localize(TZ) + pd.Timedelta(hours=15)
        df["ts"] = parsed
    elif freq in INTRADAY_FREQS:
        try:
            parsed = pd.to_datetime(ts, format="mixed")
        except (ValueError, TypeError):
            raise BadInput(f"{path}: column ts has a value that is not a timestamp") from None
        if parsed.dt.tz is None:
            if not akshare_layout:
                raise BadInput(f"{path}: timestamps have no time zone; write them like "
                               "2023-05-24T13:01:00+08:00 (Eastmoney-layout files with 时间 are read as Shanghai time)")
            parsed = parsed.dt.tz_localize(TZ)
        df["ts"] = parsed
    else:
        raise BadInput(f"unknown frequency {freq!r}")
    bars = validate_bars(df, freq=freq, origin=str(path))
    if freq in INTRADAY_FREQS:
        from ..intraday import validate_intraday
        bars = validate_intraday(bars, freq)
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
