"""The canonical schema: validate_bars / validate_news name the row and the column of every problem."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from anomaly.errors import BadInput
from anomaly.schema import (ANOMALY_COLUMNS, BAR_COLUMNS, NEWS_COLUMNS, anomalies_frame, empty_anomalies,
                            empty_bars, freq_minutes, validate_bars, validate_news)

TZ = "Asia/Shanghai"


def good_bars() -> dict:
    """Three real 002230 daily bars (2023-05-22..24), as plain lists (prev_close absent)."""
    return {
        "symbol": ["002230", "002230", "002230"],
        "ts": ["2023-05-22T15:00:00+08:00", "2023-05-23T15:00:00+08:00", "2023-05-24T15:00:00+08:00"],
        "open": [60.03, 58.83, 59.08],
        "high": [60.46, 60.17, 59.56],
        "low": [58.00, 57.48, 53.50],
        "close": [58.86, 59.09, 56.57],
        "volume": [45089000, 45097600, 110471900],
    }


def with_value(col: str, row: int, value) -> dict:
    d = good_bars()
    d[col] = list(d[col])
    d[col][row] = value
    return d


def _row_and_col(msg: str, row: int, col: str) -> None:
    assert re.search(rf"\brow {row}\b", msg), f"row {row} not named in: {msg}"
    assert col in msg, f"column {col!r} not named in: {msg}"


def test_good_bars_are_typed_and_ordered():
    out = validate_bars(pd.DataFrame(good_bars()))
    assert list(out.columns) == BAR_COLUMNS
    assert str(out["ts"].dt.tz) == TZ
    for c in BAR_COLUMNS[2:]:
        assert out[c].dtype == np.float64, c
    assert out["ts"].tolist() == [pd.Timestamp(f"2023-05-{d} 15:00", tz=TZ) for d in (22, 23, 24)]
    assert out["amount"].isna().all() and out["turnover"].isna().all()


def test_input_frame_is_not_modified():
    df = pd.DataFrame(good_bars())
    before = df.copy()
    validate_bars(df)
    pd.testing.assert_frame_equal(df, before)


BAD_BARS = [
    # id, data, row, column named in the message
    ("nan-open", with_value("open", 1, np.nan), 2, "open"),
    ("nan-close", with_value("close", 2, None), 3, "close"),
    ("zero-close", with_value("close", 2, 0.0), 3, "close"),
    ("negative-low", with_value("low", 0, -58.0), 1, "low"),
    ("negative-high", with_value("high", 1, -1.0), 2, "high"),
    ("inf-high", with_value("high", 1, np.inf), 2, "high"),
    ("high-below-low", with_value("high", 1, 57.0), 2, "high"),
    ("open-above-high", with_value("open", 2, 61.0), 3, "open"),
    ("open-below-low", with_value("open", 0, 57.0), 1, "open"),
    ("close-above-high", with_value("close", 0, 61.0), 1, "close"),
    ("text-in-open", with_value("open", 1, "abc"), 2, "open"),
    ("text-in-volume", with_value("volume", 2, "1,000"), 3, "volume"),
    ("text-in-amount", {**good_bars(), "amount": [1.0, "n/a", 3.0]}, 2, "amount"),
    ("negative-volume", with_value("volume", 1, -5), 2, "volume"),
    ("duplicate-ts", with_value("ts", 2, "2023-05-23T15:00:00+08:00"), 3, "timestamp"),
    ("unsorted-ts", with_value("ts", 1, "2023-05-25T15:00:00+08:00"), 3, "timestamp"),
    ("not-a-timestamp", with_value("ts", 1, "2023-05-3x"), 2, "ts"),
]


@pytest.mark.parametrize("data,row,col", [b[1:] for b in BAD_BARS], ids=[b[0] for b in BAD_BARS])
def test_bad_bars_name_row_and_column(data, row, col):
    with pytest.raises(BadInput) as ei:
        validate_bars(pd.DataFrame(data), origin="f.csv")
    msg = str(ei.value)
    assert msg.startswith("f.csv"), msg
    assert "\n" not in msg
    _row_and_col(msg, row, col)


@pytest.mark.parametrize("missing", ["symbol", "ts", "open", "high", "low", "close", "volume"])
def test_missing_column_is_named(missing):
    d = good_bars()
    del d[missing]
    with pytest.raises(BadInput) as ei:
        validate_bars(pd.DataFrame(d), origin="f.csv")
    msg = str(ei.value)
    assert re.search(rf"missing column\(s\) {missing}\b", msg), msg


def test_naive_timestamps_are_refused():
    d = good_bars()
    d["ts"] = ["2023-05-22 15:00", "2023-05-23 15:00", "2023-05-24 15:00"]
    with pytest.raises(BadInput, match=r"'ts'.*naive"):
        validate_bars(pd.DataFrame(d))


def test_same_ts_in_different_symbols_is_fine():
    d = good_bars()
    d["symbol"] = ["002230", "002230", "399001.SZ"]
    d["ts"] = ["2023-05-23T15:00:00+08:00", "2023-05-24T15:00:00+08:00", "2023-05-23T15:00:00+08:00"]
    out = validate_bars(pd.DataFrame(d))
    assert len(out) == 3


def test_prev_close_derived_from_previous_close():
    out = validate_bars(pd.DataFrame(good_bars()))
    assert np.isnan(out["prev_close"].iloc[0])
    assert out["prev_close"].tolist()[1:] == [58.86, 59.09]


def test_prev_close_given_is_kept_and_gaps_filled():
    d = good_bars()
    d["prev_close"] = [59.92, np.nan, 59.0]
    out = validate_bars(pd.DataFrame(d))
    assert out["prev_close"].tolist() == [59.92, 58.86, 59.0]


def test_prev_close_derived_per_symbol():
    d = {
        "symbol": ["A1", "B1", "A1", "B1"],
        "ts": ["2023-05-22T15:00+08:00", "2023-05-22T15:00+08:00", "2023-05-23T15:00+08:00",
               "2023-05-23T15:00+08:00"],
        "open": [10.0, 20.0, 11.0, 21.0], "high": [10.0, 20.0, 11.0, 21.0],
        "low": [10.0, 20.0, 11.0, 21.0], "close": [10.0, 20.0, 11.0, 21.0], "volume": [1, 1, 1, 1],
    }
    out = validate_bars(pd.DataFrame(d))
    got = dict(zip(zip(out["symbol"], out["ts"].dt.day), out["prev_close"]))
    assert got[("A1", 23)] == 10.0 and got[("B1", 23)] == 20.0
    assert np.isnan(got[("A1", 22)]) and np.isnan(got[("B1", 22)])


def test_prev_close_not_derived_when_asked_not_to_or_intraday():
    assert validate_bars(pd.DataFrame(good_bars()), derive_prev_close=False)["prev_close"].isna().all()
    d = good_bars()
    d["ts"] = ["2023-05-24T13:01:00+08:00", "2023-05-24T13:02:00+08:00", "2023-05-24T13:03:00+08:00"]
    out = validate_bars(pd.DataFrame(d), freq="1min")
    assert out["prev_close"].isna().all()
    assert out["ts"].dt.strftime("%H:%M").tolist() == ["13:01", "13:02", "13:03"]  # not moved to 15:00


@pytest.mark.parametrize("stamps", [
    ["2023-05-22T00:00:00+08:00", "2023-05-23T00:00:00+08:00", "2023-05-24T00:00:00+08:00"],
    ["2023-05-22T09:30:00+08:00", "2023-05-23T11:00:00+08:00", "2023-05-24T14:59:59+08:00"],
    ["2023-05-21T16:00:00Z", "2023-05-22T16:00:00Z", "2023-05-23T16:00:00Z"],  # Shanghai midnight in UTC
    ["2023-05-22T07:00:00Z", "2023-05-23T07:00:00Z", "2023-05-24T07:00:00Z"],  # 15:00 Shanghai in UTC
], ids=["midnight", "intraday-times", "utc-midnight", "utc-close"])
def test_daily_ts_normalized_to_1500_shanghai(stamps):
    d = good_bars()
    d["ts"] = stamps
    out = validate_bars(pd.DataFrame(d))
    assert out["ts"].tolist() == [pd.Timestamp(f"2023-05-{x} 15:00", tz=TZ) for x in (22, 23, 24)]
    assert str(out["ts"].dt.tz) == TZ


def test_mixed_utc_offsets_in_one_column():
    # Every stamp carries its zone, so the column is unambiguous even though offsets differ
    # (e.g. a file merged from two exports); it must be converted, not refused as "not a timestamp".
    d = good_bars()
    d["ts"] = ["2023-05-22T15:00:00+08:00", "2023-05-23T07:00:00Z", "2023-05-24T15:00:00+08:00"]
    out = validate_bars(pd.DataFrame(d))
    assert out["ts"].tolist() == [pd.Timestamp(f"2023-05-{x} 15:00", tz=TZ) for x in (22, 23, 24)]


def test_daily_bars_on_the_same_day_are_duplicates():
    # 2023-05-24 00:00 and 2023-05-24 15:00 both label the daily bar of 2023-05-24: after the
    # 15:00 normalisation they are duplicates and must be refused, not both returned.
    d = good_bars()
    d["ts"] = ["2023-05-22T15:00:00+08:00", "2023-05-24T00:00:00+08:00", "2023-05-24T15:00:00+08:00"]
    d["open"][1] = d["open"][2]
    with pytest.raises(BadInput, match="duplicate"):
        out = validate_bars(pd.DataFrame(d))
        assert out["ts"].is_unique, out[["ts"]]


def test_empty_bars():
    e = empty_bars()
    assert list(e.columns) == BAR_COLUMNS and len(e) == 0
    assert str(e["ts"].dt.tz) == TZ


@pytest.mark.parametrize("freq,n", [("1min", 1), ("5min", 5), ("60min", 60)])
def test_freq_minutes(freq, n):
    assert freq_minutes(freq) == n


@pytest.mark.parametrize("freq", ["daily", "2min", "5"])
def test_freq_minutes_bad(freq):
    with pytest.raises(BadInput):
        freq_minutes(freq)


# --- news --------------------------------------------------------------------------------------

def good_news() -> dict:
    return {
        "ts": ["2023-05-24T15:40:56+08:00", "2023-05-24T16:28:10+08:00", "2023-05-24T13:00:00+08:00"],
        "ts_precision": ["second", "second", "session"],
        "symbol": ["002230", "002230", None],
        "source": ["大河财立方", "每日经济新闻", "social"],
        "kind": ["news", "news", "social"],
        "title": ["科大讯飞回应股价大跌", "科大讯飞：网传小作文系AI生成 不实", "网传小作文"],
    }


def test_good_news():
    out = validate_news(pd.DataFrame(good_news()))
    assert list(out.columns) == NEWS_COLUMNS
    assert str(out["ts"].dt.tz) == TZ
    assert out["ts"].is_monotonic_increasing
    assert out["id"].notna().all() and out["id"].is_unique
    assert out["symbol"].iloc[0] is None  # market-wide item sorted first (13:00)
    assert out["body"].isna().all() and out["url"].isna().all()


def test_news_defaults():
    out = validate_news(pd.DataFrame({"ts": ["2023-05-24T15:40:56+08:00"], "title": ["x"]}))
    assert out.loc[0, "ts_precision"] == "minute" and out.loc[0, "kind"] == "news"
    assert out.loc[0, "source"] == ""


def test_news_missing_title_column():
    d = good_news()
    del d["title"]
    with pytest.raises(BadInput, match=r"missing column\(s\) title"):
        validate_news(pd.DataFrame(d))


@pytest.mark.parametrize("title", [None, np.nan, "", "   "], ids=["None", "NaN", "empty", "blank"])
def test_news_missing_title_value(title):
    d = good_news()
    d["title"][1] = title
    with pytest.raises(BadInput) as ei:
        validate_news(pd.DataFrame(d), origin="n.csv")
    _row_and_col(str(ei.value), 2, "title")


def test_news_bad_ts_precision():
    d = good_news()
    d["ts_precision"][2] = "hour"
    with pytest.raises(BadInput) as ei:
        validate_news(pd.DataFrame(d), origin="n.csv")
    msg = str(ei.value)
    _row_and_col(msg, 3, "ts_precision")
    assert "'hour'" in msg


def test_news_bad_kind():
    d = good_news()
    d["kind"][0] = "rumour"
    with pytest.raises(BadInput) as ei:
        validate_news(pd.DataFrame(d), origin="n.csv")
    msg = str(ei.value)
    _row_and_col(msg, 1, "kind")
    assert "'rumour'" in msg


def test_news_naive_ts_refused():
    d = good_news()
    d["ts"] = ["2023-05-24 15:40:56", "2023-05-24 16:28:10", "2023-05-24 13:00"]
    with pytest.raises(BadInput, match="naive"):
        validate_news(pd.DataFrame(d))


def _ids_by_title(df: pd.DataFrame) -> dict:
    return dict(zip(df["title"], df["id"]))


def test_news_ids_are_stable():
    a = validate_news(pd.DataFrame(good_news()))
    b = validate_news(pd.DataFrame(good_news()))
    assert a["id"].tolist() == b["id"].tolist()
    # row order in the input does not matter
    shuffled = pd.DataFrame(good_news()).iloc[[2, 0, 1]].reset_index(drop=True)
    assert _ids_by_title(validate_news(shuffled)) == _ids_by_title(a)
    # the same instant written in another zone is the same item
    utc = good_news()
    utc["ts"] = ["2023-05-24T07:40:56Z", "2023-05-24T08:28:10Z", "2023-05-24T05:00:00Z"]
    assert _ids_by_title(validate_news(pd.DataFrame(utc))) == _ids_by_title(a)
    # whitespace inside a title is not a different item
    spaced = good_news()
    spaced["title"] = [" 科大讯飞 回应股价大跌", "科大讯飞：网传小作文系AI生成  不实", "网传小作文 "]
    assert validate_news(pd.DataFrame(spaced))["id"].tolist() == a["id"].tolist()


@pytest.mark.parametrize("col,value", [
    ("title", "科大讯飞回应股价大跌!"), ("ts", "2023-05-24T15:40:57+08:00"),
    ("symbol", "000001"), ("source", "新浪财经"),
])
def test_news_id_changes_with_content(col, value):
    a = validate_news(pd.DataFrame(good_news()))
    d = good_news()
    d[col][0] = value
    b = validate_news(pd.DataFrame(d))
    old_id = a.loc[a["title"] == good_news()["title"][0], "id"].iloc[0]
    assert old_id not in set(b["id"])
    assert len(set(b["id"]) & set(a["id"])) == 2


def test_news_given_id_is_kept():
    d = good_news()
    d["id"] = ["a1", None, "c3"]
    out = validate_news(pd.DataFrame(d))
    assert {"a1", "c3"} <= set(out["id"])
    assert out["id"].notna().all()


# --- anomalies ---------------------------------------------------------------------------------

def test_anomalies_frame():
    e = empty_anomalies()
    assert list(e.columns) == ANOMALY_COLUMNS and len(e) == 0
    recs = [
        {"symbol": "002230", "kind": "b", "start": pd.Timestamp("2023-05-24 15:00", tz=TZ),
         "end": pd.Timestamp("2023-05-24 15:00", tz=TZ), "magnitude": -0.0946, "reference": "prev_close",
         "score": 4.2},
        {"symbol": "002230", "kind": "a", "start": pd.Timestamp("2023-05-23 15:00", tz=TZ),
         "end": pd.Timestamp("2023-05-23 15:00", tz=TZ), "magnitude": "0.01", "details": {"x": 1}},
    ]
    out = anomalies_frame(recs)
    assert list(out.columns) == ANOMALY_COLUMNS
    assert out["kind"].tolist() == ["a", "b"]  # sorted by start
    assert out["details"].tolist() == [{"x": 1}, {}]
    assert out["magnitude"].dtype == np.float64 and out["magnitude"].iloc[0] == 0.01
    assert np.isnan(out["p_value"]).all()


# --- the usual layout (symbols together, ascending) and every other layout agree ---------------------

def _real_two_symbols() -> pd.DataFrame:
    """Real daily bars of 002230 and 399001.SZ (bundled sample), grouped by symbol, prev_close dropped."""
    from anomaly.sources.sample import sample_daily_bars

    b = sample_daily_bars()
    b = b[b["symbol"].isin(["002230", "399001.SZ"]) & (b["ts"] >= "2023-05-01") & (b["ts"] < "2023-07-01")]
    return b.sort_values(["symbol", "ts"]).drop(columns=["prev_close"]).reset_index(drop=True)


@pytest.mark.parametrize("layout", ["grouped", "interleaved", "grouped-reversed-symbols"])
def test_every_layout_gives_the_same_bars(layout):
    grouped = _real_two_symbols()
    frame = {"grouped": grouped,
             "interleaved": grouped.sort_values(["ts", "symbol"], kind="stable"),
             "grouped-reversed-symbols": grouped.sort_values(["symbol", "ts"], ascending=[False, True])}[layout]
    key = ["symbol", "ts"]
    got = validate_bars(frame).sort_values(key).reset_index(drop=True)
    want = validate_bars(grouped).sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)
    first = got.groupby("symbol")["prev_close"].head(1)
    assert first.isna().all() and got["prev_close"].notna().sum() == len(got) - 2


@pytest.mark.parametrize("layout, swap, message", [
    ("grouped", (3, 4), "not in ascending order"),               # two adjacent rows swapped
    ("grouped", (3, 3), None),                                   # nothing swapped: fine
    ("interleaved", (6, 8), "not in ascending order"),
])
def test_order_errors_name_the_row_in_any_layout(layout, swap, message):
    frame = _real_two_symbols()
    if layout == "interleaved":
        frame = frame.sort_values(["ts", "symbol"], kind="stable").reset_index(drop=True)
    i, j = swap
    rows = list(range(len(frame)))
    rows[i], rows[j] = rows[j], rows[i]
    frame = frame.iloc[rows].reset_index(drop=True)
    if message is None:
        validate_bars(frame)
        return
    with pytest.raises(BadInput, match=message) as err:
        validate_bars(frame)
    assert re.search(rf"\brow {max(i, j) + 1}\b", str(err.value)), str(err.value)


def test_duplicate_in_grouped_layout_names_the_second_row():
    frame = _real_two_symbols()
    dup = pd.concat([frame.iloc[:5], frame.iloc[4:5], frame.iloc[5:]], ignore_index=True)
    with pytest.raises(BadInput, match=r"row 6\b.*duplicate timestamp"):
        validate_bars(dup)


def test_order_is_checked_beyond_the_nanosecond_range():
    """A year-2300 stamp (parsed in microseconds) before 2024 rows is out of order, not wrapped around."""
    d = good_bars()
    d["ts"] = ["2300-01-02T15:00:00+08:00", "2023-05-23T15:00:00+08:00", "2023-05-24T15:00:00+08:00"]
    with pytest.raises(BadInput, match=r"row 2\b.*not in ascending order"):
        validate_bars(pd.DataFrame(d))


@pytest.mark.parametrize("order", [[0, 1, 2], [0, 2, 1]])
def test_arrow_timestamps_become_canonical(order):
    pa = pytest.importorskip("pyarrow")
    d = good_bars()
    d["symbol"] = ["002230", "399001.SZ", "002230"]
    frame = pd.DataFrame(d).iloc[order].reset_index(drop=True)
    frame["ts"] = pd.to_datetime(frame["ts"]).astype(pd.ArrowDtype(pa.timestamp("us", tz="UTC")))
    out = validate_bars(frame)
    assert isinstance(out["ts"].dtype, pd.DatetimeTZDtype) and str(out["ts"].dt.tz) == TZ
    assert out["ts"].dt.hour.tolist() == [15, 15, 15]
