"""Property tests: parsers, validators and detectors never crash (anything but ``BadInput``) and never
hang on arbitrary input. Bounded: a few dozen examples each, no deadline, a 20 s hang guard per call."""
from __future__ import annotations

import json
import math
import re
import string
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rt_support as rt
from anomaly import calendar
from anomaly.errors import BadInput, UnknownSymbol
from anomaly.schema import ANOMALY_COLUMNS, BAR_COLUMNS, TZ

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])
GUARD = 20.0

# --- value strategies -------------------------------------------------------------------------------

weird_floats = st.one_of(
    st.floats(min_value=1.0, max_value=200.0),
    st.sampled_from([0.0, -1.0, float("nan"), float("inf"), -float("inf"), 1e308, 5e-324, 1e-12, -0.0]),
    st.floats(allow_nan=True, allow_infinity=True),
)
cell = st.one_of(weird_floats, st.none(), st.text(max_size=6), st.integers(-10**20, 10**20), st.booleans())
DAYS = calendar.trading_days("2022-10-10", "2023-06-30")
ts_cell = st.one_of(
    st.sampled_from(list(DAYS)).map(lambda d: d.tz_localize(TZ) + pd.Timedelta(hours=15)),
    st.sampled_from(list(DAYS)).map(lambda d: d + pd.Timedelta(hours=15)),               # naive
    st.sampled_from(["2023-05-24", "2023-05-20", "2023-05-24T15:00:00+08:00", "2023-05-24T07:00:00Z", "",
                     "yesterday", "2023-02-30", "0001-01-01", "9999-12-31"]),
    st.none(), st.integers(-10**12, 10**12), weird_floats,
)
symbol_cell = st.one_of(st.sampled_from(["002230", "000021", "399001.SZ", "../x", "", "002230'--"]),
                        st.text(max_size=8))


@st.composite
def bar_frames(draw):
    n = draw(st.integers(0, 12))
    cols = draw(st.lists(st.sampled_from(BAR_COLUMNS + ["junk"]), min_size=0, max_size=12, unique=True))
    if draw(st.booleans()):
        cols = list(dict.fromkeys(BAR_COLUMNS[:8] + cols))
    data = {}
    for c in cols:
        if c == "ts":
            data[c] = draw(st.lists(ts_cell, min_size=n, max_size=n))
        elif c == "symbol":
            data[c] = draw(st.lists(symbol_cell, min_size=n, max_size=n))
        else:
            data[c] = draw(st.lists(cell, min_size=n, max_size=n))
    return pd.DataFrame(data)


@st.composite
def daily_bars(draw, symbol="002230"):
    """Mostly valid canonical daily bars (random walk), sometimes with one corrupted cell."""
    n = draw(st.integers(1, 160))
    start = draw(st.integers(0, len(DAYS) - n))
    days = DAYS[start:start + n]
    rets = np.array(draw(st.lists(st.floats(-0.2, 0.2), min_size=n, max_size=n)))
    scale = draw(st.sampled_from([1.0, 1e-6, 1e6, 1e150]))
    close = 50.0 * scale * np.exp(np.cumsum(rets))
    spread = np.array(draw(st.lists(st.floats(0, 0.1), min_size=n, max_size=n)))
    high, low = close * (1 + spread), close * (1 - spread / 2)
    open_ = np.clip(close * (1 - rets / 2), low, high)
    vol = np.array(draw(st.lists(st.sampled_from([0.0, 1.0, 1e5, 1e7, 1e12]), min_size=n, max_size=n)))
    df = pd.DataFrame({"symbol": symbol, "ts": days.tz_localize(TZ) + pd.Timedelta(hours=15), "open": open_,
                       "high": high, "low": low, "close": close, "prev_close": np.r_[np.nan, close[:-1]],
                       "volume": vol, "amount": vol * close, "turnover": np.nan})
    if draw(st.booleans()):
        i = draw(st.integers(0, n - 1))
        c = draw(st.sampled_from(["open", "high", "low", "close", "prev_close", "volume", "amount"]))
        df.loc[i, c] = draw(weird_floats)
    if draw(st.integers(0, 4)) == 0 and n > 1:
        df = df.iloc[::-1].reset_index(drop=True)                     # unsorted
    return df


def _index_like(bars):
    idx = bars.copy()
    idx["symbol"] = "399001.SZ"
    return idx


def _assert_canonical(out):
    assert list(out.columns) == BAR_COLUMNS
    if len(out):
        assert str(out["ts"].dt.tz) == TZ
        p = out[["open", "high", "low", "close"]].to_numpy()
        assert np.isfinite(p).all() and (p > 0).all()
        assert (out["high"] >= out["low"] - 1e-6).all()
        assert not out.duplicated(["symbol", "ts"]).any()


# --- schema -----------------------------------------------------------------------------------------


@SETTINGS
@given(bar_frames(), st.sampled_from(["daily", "1min", "5min"]))
def test_validate_bars_returns_canonical_or_bad_input(df, freq):
    from anomaly.schema import validate_bars

    with rt.bounded(GUARD, "validate_bars"):
        try:
            out = validate_bars(df, freq=freq)
        except BadInput as exc:
            assert "\n" not in str(exc)
            return
    _assert_canonical(out)


# --- detectors --------------------------------------------------------------------------------------


def _detectors(freq):
    from anomaly.detect import REGISTRY, make_detector

    return [make_detector(n) for n in sorted(REGISTRY) if REGISTRY[n].freq == freq]


@settings(SETTINGS, max_examples=40)
@given(daily_bars())
def test_daily_detectors_never_crash(bars):
    from anomaly.detect import Context

    ctx = Context(index_bars=_index_like(bars).iloc[: max(1, len(bars) // 2)], benchmark={"002230": "399001.SZ"})
    for det in _detectors("daily"):
        with rt.bounded(GUARD, f"detector {det.name}"):
            try:
                out = det.detect(bars, ctx)
            except BadInput as exc:
                assert "\n" not in str(exc)
                continue
        assert list(out.columns) == ANOMALY_COLUMNS, det.name
        assert out["symbol"].isin(["002230"]).all()


@st.composite
def minute_bars(draw):
    days = [pd.Timestamp(d) for d in draw(st.lists(st.sampled_from(list(DAYS[-30:])), min_size=1, max_size=3,
                                                   unique=True))]
    freq = draw(st.sampled_from(["1min", "5min"]))
    idx = calendar.intraday_index(sorted(days), freq)
    n = len(idx)
    rets = np.array(draw(st.lists(st.floats(-0.03, 0.03), min_size=8, max_size=8)))
    r = np.resize(rets, n) * np.array(draw(st.lists(st.sampled_from([0.0, 0.01, 1.0]), min_size=n, max_size=n)))
    close = 30.0 * np.exp(np.cumsum(r))
    df = pd.DataFrame({"symbol": "002230", "ts": idx, "open": close, "high": close * 1.001, "low": close * 0.999,
                       "close": close, "prev_close": 30.0, "volume": 1000.0, "amount": 1000.0 * close,
                       "turnover": np.nan})
    if draw(st.booleans()):
        i = draw(st.integers(0, n - 1))
        c = draw(st.sampled_from(["close", "high", "volume", "ts"]))
        df.loc[i, c] = draw(weird_floats) if c != "ts" else df.loc[i, "ts"].replace(hour=12)
    return df, freq


@SETTINGS
@given(minute_bars())
def test_intraday_detectors_and_validator_never_crash(case):
    from anomaly.detect import Context
    from anomaly.intraday import validate_intraday

    bars, freq = case
    with rt.bounded(GUARD, "validate_intraday"):
        try:
            validate_intraday(bars, freq)
        except BadInput:
            pass
    for det in _detectors("intraday"):
        with rt.bounded(GUARD, f"detector {det.name}"):
            try:
                out = det.detect(bars, Context())
            except BadInput:
                continue
        assert list(out.columns) == ANOMALY_COLUMNS, det.name


# --- readers ----------------------------------------------------------------------------------------

news_keys = st.sampled_from(["ts", "title", "symbol", "kind", "source", "url", "body", "ts_precision", "id",
                             "发布时间", "标题", "代码", "junk"])
news_values = st.one_of(st.text(max_size=12), st.integers(-10**25, 10**25), st.floats(allow_nan=True),
                        st.booleans(), st.none(), st.sampled_from(["2023-05-24 13:15", "2023-05-24", "002230",
                                                                     "social", "2023年5月24日 13时15分", "day"]),
                        st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2), st.integers(),
                                                                             max_size=1))


@st.composite
def news_files(draw):
    kind = draw(st.sampled_from(["jsonl", "json", "csv", "bytes"]))
    rows = draw(st.lists(st.dictionaries(news_keys, news_values, max_size=6), max_size=5))
    if kind == "jsonl":
        return "n.jsonl", "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows).encode()
    if kind == "json":
        return "n.json", json.dumps(rows, ensure_ascii=False, default=str).encode()
    if kind == "csv":
        keys = list(dict.fromkeys(k for r in rows for k in r)) or ["ts", "title"]
        lines = [",".join(keys)] + [",".join(str(r.get(k, "")).replace("\n", " ") for k in keys) for r in rows]
        enc = draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]))
        return "n.csv", "\n".join(lines).encode(enc, errors="replace")
    return draw(st.sampled_from(["n.csv", "n.jsonl", "n.json", "n.txt"])), draw(st.binary(max_size=200))


@SETTINGS
@given(news_files())
def test_read_news_file_returns_news_or_bad_input(case):
    from anomaly.news import read_news_file
    from anomaly.schema import NEWS_COLUMNS

    name, data = case
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / name
        p.write_bytes(data)
        with rt.bounded(GUARD, "read_news_file"):
            try:
                out = read_news_file(p)
            except BadInput as exc:
                assert "\n" not in str(exc)
                return
    assert list(out.columns) == NEWS_COLUMNS
    assert str(out["ts"].dt.tz) == TZ and out["id"].is_unique


csv_cells = st.one_of(st.sampled_from(["002230", "2023-05-24", "2023-05-23T07:00:00Z", "2023-05-22T15:00+08:00",
                                       "60.1", "59", "NaN", "", "inf", "-1", "1e400", "abc", "\"", "a,b"]),
                      st.text(alphabet=string.printable + "日期开盘收盘最高最低成交量", max_size=8))


@st.composite
def bar_csvs(draw):
    header = draw(st.sampled_from([
        "symbol,ts,open,high,low,close,volume", "日期,开盘,收盘,最高,最低,成交量,成交额",
        "ts,open,high,low,close,volume", "symbol,date,open,high,low,close,prev_close,volume,amount,turnover"]))
    if draw(st.booleans()):
        header += "," + draw(st.sampled_from(["close", "junk", "时间", "code"]))
    width = len(header.split(","))
    rows = draw(st.lists(st.lists(csv_cells, min_size=width - 1, max_size=width + 1), max_size=6))
    body = "\n".join(",".join(r) for r in rows)
    return (header + "\n" + body + "\n").encode(draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030"])),
                                                errors="replace")


@SETTINGS
@given(bar_csvs(), st.sampled_from(["daily", "1min"]))
def test_read_bars_csv_returns_bars_or_bad_input(data, freq):
    from anomaly.sources.csvfile import read_bars_csv

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "002230.csv"
        p.write_bytes(data)
        with rt.bounded(GUARD, "read_bars_csv"):
            try:
                out = read_bars_csv(p, freq)
            except BadInput as exc:
                assert "\n" not in str(exc)
                return
    _assert_canonical(out)


SYMBOL_ID = re.compile(r"^[0-9]{6}(\.(SH|SZ|BJ|CSI))?$")


@SETTINGS
@given(st.one_of(st.text(max_size=14),
                 st.from_regex(r"(sh|sz|SZ|bj)?[0-9\u0660-\u0669\uff10-\uff19]{6}(\.(SZ|SH|ss|csi|XSHE))?", fullmatch=True),
                 st.sampled_from(["科大讯飞", "平安银行", "000001", "sh000001", "399001", "931071.CSI", "000300"])))
def test_resolve_returns_a_canonical_ascii_symbol_or_unknown(text):
    from anomaly.symbols import resolve

    with rt.bounded(GUARD, "resolve"):
        try:
            sym = resolve(text)
        except UnknownSymbol as exc:
            assert "\n" not in str(exc)
            return
    assert SYMBOL_ID.match(sym.id), repr(sym.id)
    assert sym.code.isascii() and sym.code.isdigit() and len(sym.code) == 6


toml_scalars = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False, width=32),
                         st.booleans(), st.text(alphabet=string.ascii_letters + string.digits + "._-/ ", max_size=10),
                         st.lists(st.text(alphabet=string.ascii_letters + string.digits, max_size=6), max_size=3))
SECTIONS = {"": ["store", "path"], "source": ["default", "timeout", "retries", "backoff", "min_interval"],
            "universe": ["name", "watchlist"], "scan": ["out", "freq", "engine", "workers", "plots", "max_plots",
                                                        "fetch_news", "scheduler"],
            "detect": ["daily", "intraday"], "link": ["news", "precursor_days", "max_links", "ngram", "digits",
                                                      "linked_threshold", "windows", "estimation"],
            "detect.params.range": ["window", "z_threshold", "min_move"], "detect.benchmarks": ['"SZ.main"']}


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else "0.0"
    if isinstance(v, list):
        return "[" + ", ".join(json.dumps(x) for x in v) + "]"
    if isinstance(v, str):
        return json.dumps(v)
    return str(v)


@st.composite
def configs(draw):
    lines = []
    for sec in draw(st.lists(st.sampled_from(list(SECTIONS)), unique=True, max_size=4)):
        if sec:
            lines.append(f"[{sec}]")
        for key in draw(st.lists(st.sampled_from(SECTIONS[sec]), unique=True, max_size=3)):
            lines.append(f"{key} = {_toml_value(draw(toml_scalars))}")
    return "\n".join(lines) + "\n"


@SETTINGS
@given(configs())
def test_load_config_returns_config_or_config_error(text):
    from anomaly.config import Config, load_config

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "c.toml"
        p.write_text(text, encoding="utf-8")
        with rt.bounded(GUARD, "load_config"):
            try:
                cfg = load_config(p)
            except BadInput as exc:      # ConfigError is a BadInput
                assert "\n" not in str(exc)
                return
    assert isinstance(cfg, Config)
