"""Offline tests of the baostock adapter with fake ResultData objects (all fields strings)."""
from __future__ import annotations

import csv
import datetime as dt
import random
import threading
import time
from pathlib import Path

import baostock
import numpy as np
import pandas as pd
import pytest

from anomaly.errors import BadInput, SchemaChanged, SourceError
from anomaly.schema import BAR_COLUMNS
from anomaly.sources import baostock_source as bsmod
from anomaly.sources.baostock_source import BaostockSource, baostock_code, map_daily
from anomaly.sources.net import NetPolicy, RateLimiter
from anomaly.sources.sample import SampleSource
from anomaly.symbols import resolve

FIX = Path(__file__).parent / "fixtures" / "upstream"
D = dt.date


def rows(name: str) -> tuple[list[str], list[list[str]]]:
    with open(FIX / name, encoding="utf-8", newline="") as fh:
        data = list(csv.reader(fh))
    return data[0], data[1:]


class FakeResult:
    """Mimics baostock.data.resultset.ResultData: error_code/error_msg/fields/next()/get_row_data().

    ``pages`` are lists of rows (lists of str); ``next()`` moves to the following page when the
    current one is exhausted, like the real object; ``page_error`` fails the page fetch.
    """

    def __init__(self, fields=(), pages=((),), error_code="0", error_msg="success", page_error=None):
        self.error_code, self.error_msg = error_code, error_msg
        self.fields = list(fields)
        self._pages = [list(p) for p in pages]
        self._page, self._row = 0, 0
        self._page_error = page_error

    def next(self):
        if self._row < len(self._pages[self._page]):
            return True
        if self._page + 1 < len(self._pages):
            if self._page_error:
                self.error_code, self.error_msg = self._page_error
                return False
            self._page, self._row = self._page + 1, 0
            return bool(self._pages[self._page])
        return False

    def get_row_data(self):
        row = self._pages[self._page][self._row]
        self._row += 1
        return row


class FakeBaostock:
    def __init__(self, answers, login_results=None):
        self.answers = answers                     # frequency → FakeResult | callable(code) | list
        self.logins = 0
        self.login_results = list(login_results or [])
        self.queries: list[dict] = []

    def login(self, *a, **k):
        self.logins += 1
        if self.login_results:
            return self.login_results.pop(0)
        return FakeResult(error_code="0", error_msg="success")

    def logout(self, *a, **k):
        return FakeResult()

    def query_history_k_data_plus(self, code, fields, start_date=None, end_date=None, frequency="d",
                                  adjustflag="3"):
        self.queries.append(dict(code=code, fields=fields, start_date=start_date, end_date=end_date,
                                 frequency=frequency, adjustflag=adjustflag))
        ans = self.answers[frequency]
        if isinstance(ans, list):
            ans = ans.pop(0)
        return ans(code) if callable(ans) else ans


@pytest.fixture(autouse=True)
def fresh_session():
    bsmod._Session.logged_in = False
    yield
    bsmod._Session.logged_in = False          # never log out against the real server at exit


def install(monkeypatch, fake: FakeBaostock):
    for name in ("login", "logout", "query_history_k_data_plus"):
        monkeypatch.setattr(baostock, name, getattr(fake, name))
    return fake


@pytest.fixture
def net():
    return NetPolicy(timeout=5.0, retries=2, sleep=lambda s: None, rng=random.Random(0),
                     limiter=RateLimiter(intervals={}, default=0.0, sleep=lambda s: None))


def daily_result():
    fields, data = rows("baostock_daily_sz.002230_20230515_20230526.csv")
    return FakeResult(fields, [data])


def test_daily_bars_from_strings(monkeypatch, net):
    fake = install(monkeypatch, FakeBaostock({"d": daily_result()}))
    bars = BaostockSource(net=net).daily_bars(resolve("002230"), D(2023, 5, 22), D(2023, 5, 26))
    q = fake.queries[0]
    assert q["code"] == "sz.002230" and q["frequency"] == "d" and q["adjustflag"] == "3"
    assert q["start_date"] == "2023-05-15" and q["end_date"] == "2023-05-26"
    assert "preclose" in q["fields"] and "tradestatus" in q["fields"] and "turn" in q["fields"]
    assert list(bars.columns) == BAR_COLUMNS and len(bars) == 5
    row = bars.iloc[2]
    assert row["ts"].isoformat() == "2023-05-24T15:00:00+08:00"
    assert (row["open"], row["high"], row["low"], row["close"], row["prev_close"]) == (
        59.08, 59.56, 53.50, 56.57, 59.09)
    assert row["volume"] == 110471900.0 and row["amount"] == 6232977896.23 and row["turnover"] == 5.19
    sample = SampleSource().daily_bars(resolve("002230"), D(2023, 5, 22), D(2023, 5, 26))
    pd.testing.assert_frame_equal(bars, sample, check_exact=True, check_dtype=False)


def test_login_once_for_many_queries(monkeypatch, net):
    fake = install(monkeypatch, FakeBaostock({"d": lambda code: daily_result()}))
    src = BaostockSource(net=net)
    src.daily_bars(resolve("002230"), D(2023, 5, 22), D(2023, 5, 26))
    src.daily_bars(resolve("002230"), D(2023, 5, 24), D(2023, 5, 24))
    assert fake.logins == 1 and len(fake.queries) == 2


def test_suspended_rows_are_dropped():
    fields = ["date", "code", "open", "high", "low", "close", "preclose", "volume", "amount",
              "adjustflag", "turn", "tradestatus", "pctChg", "isST"]
    data = [["2023-05-24", "sz.000001", "10.0", "10.5", "9.9", "10.2", "10.0", "1000", "10200.0", "3", "0.1", "1", "2.0", "0"],
            ["2023-05-25", "sz.000001", "10.2", "10.2", "10.2", "10.2", "10.2", "0", "0.0", "3", "", "0", "0.0", "0"],
            ["2023-05-26", "sz.000001", "10.3", "10.4", "10.1", "10.1", "10.2", "900", "9200.0", "3", "0.09", "1", "-1.0", "0"]]
    out = map_daily(pd.DataFrame(data, columns=fields), "000001", "w")
    assert [t.day for t in out["ts"]] == [24, 26]
    assert list(out["prev_close"]) == [10.0, 10.2]


def test_pages_are_read_with_next_and_get_row_data(monkeypatch, net):
    fields, data = rows("baostock_daily_sz.002230_20230515_20230526.csv")
    install(monkeypatch, FakeBaostock({"d": FakeResult(fields, [data[:4], data[4:8], data[8:]])}))
    bars = BaostockSource(net=net).daily_bars(resolve("002230"), D(2023, 5, 15), D(2023, 5, 26))
    assert len(bars) == 10


def test_page_error_is_a_source_error(monkeypatch, net):
    fields, data = rows("baostock_daily_sz.002230_20230515_20230526.csv")
    res = FakeResult(fields, [data[:4], data[4:]], page_error=("10004001", "解析数据错误"))
    install(monkeypatch, FakeBaostock({"d": [res]}))
    with pytest.raises(SourceError, match=r"reading the next page failed: 解析数据错误 \(baostock error 10004001\)"):
        BaostockSource(net=net).daily_bars(resolve("002230"), D(2023, 5, 15), D(2023, 5, 26))


def test_error_code_becomes_source_error_with_error_msg(monkeypatch, net):
    fake = install(monkeypatch, FakeBaostock({"d": FakeResult(error_code="10004011", error_msg="无效的证券代码")}))
    with pytest.raises(SourceError) as info:
        BaostockSource(net=net).daily_bars(resolve("002230"), D(2023, 5, 22), D(2023, 5, 26))
    assert str(info.value) == ("baostock query_history_k_data_plus(sz.002230, 2023-05-15..2023-05-26, "
                               "frequency=d) failed after 1 try: query failed: 无效的证券代码 "
                               "(baostock error 10004011) (baostock.com)")
    assert len(fake.queries) == 1                                     # not retried


def test_network_error_is_retried_after_a_fresh_login(monkeypatch, net):
    fake = install(monkeypatch, FakeBaostock(
        {"d": [FakeResult(error_code="10002007", error_msg="网络接收错误。"), daily_result()]}))
    bars = BaostockSource(net=net).daily_bars(resolve("002230"), D(2023, 5, 22), D(2023, 5, 26))
    assert len(bars) == 5 and len(fake.queries) == 2 and fake.logins == 2


def test_login_failure(monkeypatch, net):
    install(monkeypatch, FakeBaostock({"d": daily_result()}, login_results=[
        FakeResult(error_code="10001011", error_msg="黑名单用户")]))
    with pytest.raises(SourceError, match=r"login failed: 黑名单用户 \(baostock error 10001011\)"):
        BaostockSource(net=net).daily_bars(resolve("002230"), D(2023, 5, 22), D(2023, 5, 26))


def test_empty_result_is_no_data(monkeypatch, net):
    install(monkeypatch, FakeBaostock({"d": FakeResult(["date", "code"], [[]])}))
    with pytest.raises(SourceError, match="no data or blocked"):
        BaostockSource(net=net).daily_bars(resolve("002230"), D(2023, 5, 22), D(2023, 5, 26))


def test_changed_fields_are_schema_changed(monkeypatch, net):
    fields, data = rows("baostock_daily_sz.002230_20230515_20230526.csv")
    i = fields.index("close")
    install(monkeypatch, FakeBaostock({"d": FakeResult([f for f in fields if f != "close"],
                                                      [[[r[j] for j in range(len(r)) if j != i] for r in data]])}))
    with pytest.raises(SchemaChanged, match="missing close"):
        BaostockSource(net=net).daily_bars(resolve("002230"), D(2023, 5, 22), D(2023, 5, 26))


def test_five_minute_bars(monkeypatch, net):
    fields, data = rows("baostock_5min_sh.600000_20200102.csv")
    daily_fields = ["date", "code", "open", "high", "low", "close", "preclose", "volume", "amount",
                    "adjustflag", "turn", "tradestatus", "pctChg", "isST"]
    # illustrative daily row: only preclose matters here
    daily = [["2020-01-02", "sh.600000", "12.4700", "12.6400", "12.4500", "12.4700", "12.3600", "66800000",
              "838000000.0000", "3", "0.2300", "1", "0.8900", "0"]]
    fake = install(monkeypatch, FakeBaostock({"5": FakeResult(fields, [data]),
                                              "d": FakeResult(daily_fields, [daily])}))
    bars = BaostockSource(net=net).intraday_bars(resolve("600000"), D(2020, 1, 2), D(2020, 1, 2), "5min")
    q = fake.queries[0]
    assert q["code"] == "sh.600000" and q["frequency"] == "5" and q["fields"].startswith("date,time,code")
    assert q["start_date"] == q["end_date"] == "2020-01-02"
    assert [t.isoformat() for t in bars["ts"]] == ["2020-01-02T09:35:00+08:00", "2020-01-02T09:40:00+08:00",
                                                   "2020-01-02T13:05:00+08:00"]
    assert list(bars["open"]) == [12.48, 12.55, 12.55]
    assert list(bars["volume"]) == [6830432.0, 3222193.0, 735796.0]
    assert list(bars["amount"]) == [85478811.33, 40417598.85, 9235300.84]
    assert (bars["prev_close"] == 12.36).all()
    assert bars["turnover"].isna().all()


def test_minute_bars_without_daily_keep_nan_prev_close(monkeypatch, net):
    fields, data = rows("baostock_5min_sh.600000_20200102.csv")
    install(monkeypatch, FakeBaostock({"5": FakeResult(fields, [data]),
                                       "d": FakeResult(error_code="10004011", error_msg="无效的证券代码")}))
    bars = BaostockSource(net=net).intraday_bars(resolve("600000"), D(2020, 1, 2), D(2020, 1, 2), "5min")
    assert len(bars) == 3 and bars["prev_close"].isna().all()


def test_index_daily_and_unsupported_requests(monkeypatch, net):
    fields = ["date", "code", "open", "high", "low", "close", "preclose", "volume", "amount",
              "adjustflag", "turn", "tradestatus", "pctChg", "isST"]
    data = [["2023-05-23", "sh.000001", "3294.7877", "3298.2257", "3246.2380", "3246.2380", "3296.4696",
             "27527910000", "324667900000.0", "3", "", "1", "-1.5213", "0"],
            ["2023-05-24", "sh.000001", "3237.7045", "3237.7045", "3204.3813", "3204.7494", "3246.2380",
             "28872030000", "342677300000.0", "3", "", "1", "-1.2781", "0"]]
    fake = install(monkeypatch, FakeBaostock({"d": FakeResult(fields, [data])}))
    src = BaostockSource(net=net)
    bars = src.daily_bars(resolve("000001.SH"), D(2023, 5, 24), D(2023, 5, 24))
    assert fake.queries[0]["code"] == "sh.000001"
    assert bars["symbol"].iloc[0] == "000001.SH" and bars["close"].iloc[0] == 3204.7494
    assert np.isnan(bars["turnover"].iloc[0])
    with pytest.raises(BadInput, match="no minute bars for indices"):
        src.intraday_bars(resolve("000001.SH"), D(2023, 5, 24), D(2023, 5, 24), "5min")
    with pytest.raises(BadInput, match="has no 1min bars"):
        src.bars(resolve("002230"), D(2023, 5, 24), D(2023, 5, 24), freq="1min")
    with pytest.raises(BadInput, match="SSE and SZSE"):
        baostock_code(resolve("830799"))
    assert baostock_code(resolve("399001")) == "sz.399001"


def test_queries_are_serialised_on_the_one_socket(monkeypatch, net):
    active, peak = [0], [0]
    lock = threading.Lock()

    def answer(code):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.01)
        with lock:
            active[0] -= 1
        return daily_result()

    install(monkeypatch, FakeBaostock({"d": answer}))
    src = BaostockSource(net=net)
    threads = [threading.Thread(target=src.daily_bars, args=(resolve("002230"), D(2023, 5, 22), D(2023, 5, 26)))
               for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 1


def test_baostock_prints_are_routed_to_logging(capsys):
    import sys

    loginout = sys.modules["baostock.login.loginout"]   # baostock.login is the function, not the module
    bsmod._silence()
    assert loginout.print is bsmod._quiet_print
    loginout.print("login success!")
    assert capsys.readouterr().out == ""


def test_source_attributes():
    assert BaostockSource.name == "baostock" and BaostockSource.remote is True
    assert BaostockSource.freqs == ("daily", "5min", "15min", "30min", "60min")


def test_only_suspended_rows_in_range_give_an_empty_answer(monkeypatch, net):
    fields, data = rows("baostock_daily_sz.002230_20230515_20230526.csv")
    ts_i = fields.index("tradestatus")
    data = [r[:ts_i] + (["0"] if r[0] >= "2023-05-22" else ["1"]) + r[ts_i + 1:] for r in data]
    install(monkeypatch, FakeBaostock({"d": FakeResult(fields, [data])}))
    bars = BaostockSource(net=net).daily_bars(resolve("002230"), D(2023, 5, 22), D(2023, 5, 26))
    assert bars.empty and list(bars.columns) == BAR_COLUMNS
