"""Offline tests of the network plumbing (net.py) and the akshare bar adapter.

Upstream functions are monkeypatched with fakes that return frames in the exact layout (column
names and dtypes) the installed akshare returns; see tests/fixtures/upstream/README.md.
"""
from __future__ import annotations

import datetime as dt
import functools
import http.client
import json
import random
import subprocess
import sys
import threading
from pathlib import Path

import akshare
import numpy as np
import pandas as pd
import pytest
import requests

from anomaly.errors import BadInput, SchemaChanged, SourceError
from anomaly.schema import BAR_COLUMNS, TZ
from anomaly.sources import net as netmod
from anomaly.sources.akshare_source import AkshareSource, map_em_minute, map_tx_daily, shares_factor
from anomaly.sources.net import (NetPolicy, RateLimiter, UpstreamError, backoff_delays, call_upstream,
                                 describe, require_columns)
from anomaly.sources.sample import SampleSource
from anomaly.symbols import resolve

FIX = Path(__file__).parent / "fixtures" / "upstream"
D = dt.date


# --- loaders: the dtypes the real akshare functions return ------------------------------------------


def em_daily() -> pd.DataFrame:
    """stock_zh_a_hist: 日期 datetime.date, 股票代码 str, 成交量 int64, the rest float64."""
    df = pd.read_csv(FIX / "stock_zh_a_hist_002230_20230515_20230526.csv", dtype={"股票代码": str})
    df["日期"] = pd.to_datetime(df["日期"]).dt.date
    return df


def sina_daily() -> pd.DataFrame:
    df = pd.read_csv(FIX / "stock_zh_a_daily_sz002230_20230515_20230526.csv")
    df["date"] = pd.to_datetime(df["date"]).dt.date
    return df.astype({c: "float64" for c in df.columns if c != "date"})


def tx_daily() -> pd.DataFrame:
    df = pd.read_csv(FIX / "stock_zh_a_hist_tx_sz002230_20230515_20230526.csv")
    df["date"] = pd.to_datetime(df["date"]).dt.date
    return df


def em_index() -> pd.DataFrame:
    """index_zh_a_hist keeps 日期 as the string it split from the kline."""
    return pd.read_csv(FIX / "index_zh_a_hist_399001_20230515_20230526.csv", dtype={"日期": str})


def em_index_fallback() -> pd.DataFrame:
    return pd.read_csv(FIX / "stock_zh_index_daily_em_sz399001_20230515_20230526.csv", dtype={"date": str})


def em_minute(name: str) -> pd.DataFrame:
    return pd.read_csv(FIX / name, dtype={"时间": str})


class Fake:
    """A stand-in upstream function: records keyword calls, returns/raises from a script."""

    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.calls: list[dict] = []

    def __call__(self, *args, **kwargs):
        self.calls.append(kwargs)
        out = self.outcomes[min(len(self.calls), len(self.outcomes)) - 1]
        if isinstance(out, BaseException):
            raise out
        return out.copy() if isinstance(out, pd.DataFrame) else out


def like(real, fake):
    """``fake`` behind the signature of the real akshare function (so timeout passing is visible)."""
    @functools.wraps(real)
    def wrapper(*args, **kwargs):
        return fake(*args, **kwargs)

    return wrapper


class FakeClock:
    def __init__(self):
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.now += s


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def net(clock):
    """A policy whose sleeps and rate-limit waits are recorded, never slept."""
    return NetPolicy(timeout=10.0, retries=2, backoff=1.0, jitter=0.5, sleep=clock.sleep,
                     rng=random.Random(7), limiter=RateLimiter(clock=clock, sleep=clock.sleep))


def refused() -> requests.ConnectionError:
    return requests.ConnectionError(
        "HTTPSConnectionPool(host='push2his.eastmoney.com', port=443): Max retries exceeded "
        "(Caused by NewConnectionError('Failed to establish a new connection: [Errno 111] Connection refused'))")


def disconnected() -> requests.ConnectionError:
    inner = http.client.RemoteDisconnected("Remote end closed connection without response")
    return requests.ConnectionError(("Connection aborted.", inner))


# --- net.py ------------------------------------------------------------------------------------------


def test_retry_then_success_records_increasing_jittered_bounded_delays(clock):
    fake = Fake(refused(), refused(), refused(), pd.DataFrame({"x": [1]}))
    out = call_upstream(fake, site="eastmoney.com", timeout=None, retries=3, backoff=1.0, jitter=0.5,
                        what="akshare f()", sleep=clock.sleep, rng=random.Random(1),
                        limiter=RateLimiter(intervals={}, default=0.0, clock=clock, sleep=clock.sleep))
    assert list(out["x"]) == [1]
    assert len(fake.calls) == 4
    delays = clock.slept
    assert len(delays) == 3
    assert delays == sorted(delays) and len(set(delays)) == 3            # increasing
    for k, d in enumerate(delays, start=1):                                # jitter within [base, 1.5 base)
        base = 1.0 * 2 ** (k - 1)
        assert base <= d < 1.5 * base
    assert any(d != 2 ** k for k, d in enumerate(delays))                  # actually jittered


def test_backoff_is_bounded_and_seedable():
    a = backoff_delays(8, backoff=1.0, jitter=0.5, max_delay=10.0, rng=random.Random(3))
    b = backoff_delays(8, backoff=1.0, jitter=0.5, max_delay=10.0, rng=random.Random(3))
    c = backoff_delays(8, backoff=1.0, jitter=0.5, max_delay=10.0, rng=random.Random(4))
    assert a == b and a != c
    assert max(a) == 10.0 and all(x <= 10.0 for x in a)
    assert a == sorted(a)


def test_failure_after_retries_is_one_clear_line(clock):
    fake = Fake(refused())
    with pytest.raises(SourceError) as info:
        call_upstream(fake, site="eastmoney.com", timeout=None, retries=2, backoff=1.0, jitter=0.5,
                      what="akshare stock_zh_a_hist(002230, 2023-05-01..2023-05-31)",
                      sleep=clock.sleep, rng=random.Random(0),
                      limiter=RateLimiter(clock=clock, sleep=clock.sleep))
    msg = str(info.value)
    assert msg == ("akshare stock_zh_a_hist(002230, 2023-05-01..2023-05-31) failed after 3 tries: "
                   "connection refused (eastmoney.com)")
    assert "\n" not in msg
    assert len(fake.calls) == 3


@pytest.mark.parametrize("exc, reason, retried", [
    (disconnected(), "the server closed the connection without answering (blocked or rate-limited?)", True),
    (requests.ConnectionError("Failed to resolve 'push2his.eastmoney.com' (NameResolutionError)"),
     "cannot resolve the host (offline, or DNS blocked?)", True),
    (requests.ReadTimeout("read timed out"), "timed out", True),
    (json.JSONDecodeError("Expecting value", "<html>", 0),
     "the answer is not JSON (blocked, a captcha page, or the site changed)", True),
    (KeyError("klines"), "the answer lacks key 'klines' (the site changed its API or refused the request)", False),
    (TypeError("'NoneType' object is not subscriptable"),
     "unexpected answer (TypeError: 'NoneType' object is not subscriptable); the site changed or refused "
     "the request", False),
    (http.client.RemoteDisconnected("Remote end closed connection without response"),
     "the server closed the connection without answering (blocked or rate-limited?)", True),
])
def test_exception_mapping(exc, reason, retried, clock):
    fake = Fake(exc)
    with pytest.raises(SourceError) as info:
        call_upstream(fake, site="eastmoney.com", timeout=None, retries=2, what="akshare f(x)",
                      sleep=clock.sleep, rng=random.Random(0),
                      limiter=RateLimiter(clock=clock, sleep=clock.sleep))
    assert reason in str(info.value)
    assert len(fake.calls) == (3 if retried else 1)
    assert str(info.value).endswith("(eastmoney.com)")


def _http_error(status: int) -> requests.HTTPError:
    resp = requests.Response()
    resp.status_code = status
    return requests.HTTPError(f"{status} error", response=resp)


def test_http_status_decides_retry():
    assert describe(_http_error(503)) == ("HTTP 503", True)
    assert describe(_http_error(429)) == ("HTTP 429", True)
    assert describe(_http_error(404)) == ("HTTP 404", False)


def test_curl_cffi_dns_error_is_transient():
    from curl_cffi.requests.exceptions import DNSError

    reason, transient = describe(DNSError("Failed to perform, curl: (6) Could not resolve host: x"))
    assert transient and "cannot resolve the host" in reason


def test_hard_timeout_gives_up_without_waiting_for_the_server(clock):
    release = threading.Event()
    answered = threading.Event()

    def stuck():
        release.wait(60.0)   # a server that never answers (released at the end of the test)
        answered.set()
        return pd.DataFrame({"x": [1]})

    try:
        with pytest.raises(SourceError) as info:
            call_upstream(stuck, site="sina.com.cn", timeout=0.05, retries=1, what="akshare stock_zh_a_daily(sz002230)",
                          sleep=clock.sleep, rng=random.Random(0),
                          limiter=RateLimiter(clock=clock, sleep=clock.sleep))
        assert not answered.is_set()   # we gave up while the server was still silent
    finally:
        release.set()
    assert str(info.value) == ("akshare stock_zh_a_daily(sz002230) failed after 2 tries: "
                               "no answer within 0.05 s (sina.com.cn)")


def test_timeout_is_passed_to_functions_that_accept_it(clock):
    seen = {}

    def upstream(symbol="000001", timeout=None):
        seen["timeout"] = timeout
        return pd.DataFrame({"x": [1]})

    call_upstream(upstream, site="eastmoney.com", timeout=7.5, what="f", symbol="002230",
                  sleep=clock.sleep, limiter=RateLimiter(clock=clock, sleep=clock.sleep))
    assert seen["timeout"] == 7.5


def test_empty_answer_is_no_data_or_blocked(clock):
    lim = RateLimiter(clock=clock, sleep=clock.sleep)
    for empty in (pd.DataFrame(), None):
        with pytest.raises(SourceError, match=r"^akshare f\(002230\): no data or blocked \(eastmoney.com\)$"):
            call_upstream(Fake(empty), site="eastmoney.com", what="akshare f(002230)", sleep=clock.sleep,
                          limiter=lim, timeout=None)
    framed = pd.DataFrame(columns=["代码"])
    assert call_upstream(Fake(framed), site="cninfo.com.cn", what="f", allow_empty=True, timeout=None,
                         sleep=clock.sleep, limiter=lim).empty


def test_schema_changed_inside_call_propagates_without_retry(clock):
    fake = Fake(SchemaChanged("f: upstream columns changed, missing 收盘"))
    with pytest.raises(SchemaChanged, match="收盘"):
        call_upstream(fake, site="eastmoney.com", what="f", timeout=None, sleep=clock.sleep,
                      limiter=RateLimiter(clock=clock, sleep=clock.sleep))
    assert len(fake.calls) == 1


def test_upstream_error_carries_its_own_retry_decision(clock):
    fake = Fake(UpstreamError("session busy", transient=True), pd.DataFrame({"x": [1]}))
    call_upstream(fake, site="baostock.com", what="f", timeout=None, sleep=clock.sleep,
                  limiter=RateLimiter(clock=clock, sleep=clock.sleep))
    assert len(fake.calls) == 2


def test_rate_limiter_spaces_calls_per_site(clock):
    lim = RateLimiter(intervals={"eastmoney.com": 0.5, "sina.com.cn": 1.0}, clock=clock, sleep=clock.sleep)
    assert lim.wait("eastmoney.com") == 0.0
    assert lim.wait("eastmoney.com") == pytest.approx(0.5)       # second call waits the interval
    assert lim.wait("sina.com.cn") == 0.0                        # another site has its own budget
    clock.now += 10.0
    assert lim.wait("eastmoney.com") == 0.0                      # enough time passed
    assert lim.wait("sina.com.cn") == 0.0
    assert lim.wait("sina.com.cn") == pytest.approx(1.0)


def test_rate_limiter_is_thread_safe():
    frozen = [0.0]
    waits: list[float] = []
    lim = RateLimiter(intervals={"s": 0.25}, clock=lambda: frozen[0], sleep=lambda s: None)
    barrier = threading.Barrier(16)

    def worker():
        barrier.wait()
        waits.append(lim.wait("s"))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(waits) == pytest.approx([0.25 * i for i in range(16)])


def test_call_upstream_goes_through_the_limiter(clock):
    lim = RateLimiter(intervals={"eastmoney.com": 0.5}, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        call_upstream(Fake(pd.DataFrame({"x": [1]})), site="eastmoney.com", what="f", timeout=None,
                      sleep=clock.sleep, limiter=lim)
    assert clock.slept == pytest.approx([0.5, 0.5])


def test_require_columns_names_what_is_missing():
    df = pd.DataFrame(columns=["日期", "开盘", "最高"])
    with pytest.raises(SchemaChanged) as info:
        require_columns(df, ["日期", "开盘", "收盘", "最高", "成交量"], "akshare stock_zh_a_hist(002230)")
    msg = str(info.value)
    assert "missing 收盘, 成交量" in msg and msg.startswith("akshare stock_zh_a_hist(002230)")
    assert require_columns(df, ["日期"], "x") is df


# --- daily bars --------------------------------------------------------------------------------------


def test_eastmoney_daily_maps_the_real_2023_05_24_values(monkeypatch, net):
    fake = Fake(em_daily())
    monkeypatch.setattr(akshare, "stock_zh_a_hist", like(akshare.stock_zh_a_hist, fake))
    bars = AkshareSource(net=net).daily_bars(resolve("002230"), D(2023, 5, 22), D(2023, 5, 26))

    assert list(bars.columns) == BAR_COLUMNS
    assert len(bars) == 5
    assert str(bars["ts"].dtype) == "datetime64[ns, Asia/Shanghai]" or bars["ts"].dt.tz is not None
    row = bars[bars["ts"] == pd.Timestamp("2023-05-24 15:00", tz=TZ)].iloc[0]
    assert row["symbol"] == "002230"
    assert (row["open"], row["high"], row["low"], row["close"]) == (59.08, 59.56, 53.50, 56.57)
    assert row["prev_close"] == 59.09
    assert row["volume"] == 110471900.0
    assert row["amount"] == 6232977896.23
    assert row["turnover"] == 5.19
    assert row["ts"].isoformat() == "2023-05-24T15:00:00+08:00"

    # every value equals the bundled sample (which akshare's stock_zh_a_hist produced)
    sample = SampleSource().daily_bars(resolve("002230"), D(2023, 5, 22), D(2023, 5, 26))
    pd.testing.assert_frame_equal(bars, sample, check_exact=True, check_dtype=False)

    call = fake.calls[0]
    assert call["symbol"] == "002230" and call["period"] == "daily" and call["adjust"] == ""
    assert call["start_date"] == "20230515" and call["end_date"] == "20230526"   # lookback for prev_close
    assert call["timeout"] == 10.0                                               # passed down


def test_first_requested_bar_gets_prev_close_without_eastmoney_change_column(monkeypatch, net):
    raw = em_daily()
    raw.loc[raw["日期"] == D(2023, 5, 22), "涨跌额"] = np.nan
    monkeypatch.setattr(akshare, "stock_zh_a_hist", Fake(raw))
    bars = AkshareSource(net=net).daily_bars(resolve("002230"), D(2023, 5, 22), D(2023, 5, 23))
    assert list(bars["prev_close"]) == [59.92, 58.86]     # 05-22 from the dropped look-back row


def test_fallback_to_sina_when_eastmoney_disconnects(monkeypatch, net, clock):
    em = Fake(disconnected())
    sina = Fake(sina_daily())
    monkeypatch.setattr(akshare, "stock_zh_a_hist", em)
    monkeypatch.setattr(akshare, "stock_zh_a_daily", sina)
    monkeypatch.setattr(akshare, "stock_zh_a_hist_tx", Fake(AssertionError("Tencent must not be called")))
    bars = AkshareSource(net=net).daily_bars(resolve("002230"), D(2023, 5, 22), D(2023, 5, 26))

    assert len(em.calls) == 3                              # 1 try + 2 retries
    backoffs = [s for s in clock.slept if s >= 1.0]
    assert len(backoffs) == 2 and backoffs[0] < backoffs[1]
    assert sina.calls[0]["symbol"] == "sz002230" and sina.calls[0]["adjust"] == ""
    assert sina.calls[0]["start_date"] == "20230515"
    row = bars.iloc[2]
    assert row["ts"] == pd.Timestamp("2023-05-24 15:00", tz=TZ)
    assert (row["open"], row["high"], row["low"], row["close"], row["prev_close"]) == (
        59.08, 59.56, 53.50, 56.57, 59.09)
    assert row["volume"] == 110471900.0                    # Sina reports shares already
    assert row["turnover"] == pytest.approx(5.19, abs=0.005)   # fraction → percent
    assert list(bars["prev_close"]) == [59.92, 58.86, 59.09, 56.57, 55.61]


def test_fallback_to_tencent_when_eastmoney_and_sina_fail(monkeypatch, net):
    monkeypatch.setattr(akshare, "stock_zh_a_hist", Fake(refused()))
    monkeypatch.setattr(akshare, "stock_zh_a_daily", Fake(KeyError("data")))
    tx = Fake(tx_daily())
    monkeypatch.setattr(akshare, "stock_zh_a_hist_tx", tx)
    bars = AkshareSource(net=net).daily_bars(resolve("002230"), D(2023, 5, 22), D(2023, 5, 26))
    assert tx.calls[0]["symbol"] == "sz002230"
    row = bars.iloc[2]
    assert (row["close"], row["prev_close"], row["volume"]) == (56.57, 59.09, 110471900.0)
    assert row["amount"] == pytest.approx(6232977896.23, rel=1e-6)
    assert np.isnan(row["turnover"])                       # unit changed across releases: not trusted


def test_tencent_volume_unit_is_measured_not_assumed():
    raw = tx_daily()
    lots = raw.assign(volume=raw["volume"] / 100)          # akshare 1.19.5 leaves sz000xxx in lots
    assert shares_factor(lots["volume"], lots["amount"], lots["low"], lots["high"], "w") == 100.0
    bars = map_tx_daily(lots, "000001", "w")
    assert bars["volume"].iloc[7] == 110471900.0
    old = raw[["date", "open", "close", "high", "low"]].assign(amount=raw["volume"] / 100)  # pre-PR#7328
    bars = map_tx_daily(old, "002230", "w")
    assert bars["volume"].iloc[7] == 110471900.0 and bars["amount"].isna().all()
    nonsense = raw.assign(volume=raw["volume"] * 7)
    with pytest.raises(SchemaChanged, match="volume unit"):
        map_tx_daily(nonsense, "002230", "w")


def test_every_provider_failing_names_each_one(monkeypatch, net):
    monkeypatch.setattr(akshare, "stock_zh_a_hist", Fake(refused()))
    monkeypatch.setattr(akshare, "stock_zh_a_daily", Fake(pd.DataFrame()))
    monkeypatch.setattr(akshare, "stock_zh_a_hist_tx", Fake(disconnected()))
    with pytest.raises(SourceError) as info:
        AkshareSource(net=net).daily_bars(resolve("002230"), D(2023, 5, 22), D(2023, 5, 26))
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("akshare daily bars for 002230 2023-05-22..2023-05-26: every provider failed")
    # connection refused: the host is unreachable, so it is retried once, not twice
    assert "stock_zh_a_hist(002230, 2023-05-22..2023-05-26) failed after 2 tries: connection refused (eastmoney.com)" in msg
    assert "stock_zh_a_daily(sz002230, 2023-05-22..2023-05-26): no data or blocked (sina.com.cn)" in msg
    assert "stock_zh_a_hist_tx(sz002230, 2023-05-22..2023-05-26) failed after 3 tries" in msg and "(qq.com)" in msg


def dns_failure() -> requests.ConnectionError:
    return requests.ConnectionError(
        "HTTPSConnectionPool(host='push2his.eastmoney.com', port=443): Max retries exceeded (Caused by "
        "NameResolutionError(\"Failed to resolve 'push2his.eastmoney.com' ([Errno -3] Temporary failure in "
        "name resolution)\"))")


def test_offline_machine_gives_up_on_each_site_once(monkeypatch, net, clock):
    """No network: the first symbol tries every provider (with retries); the rest are not retried."""
    fakes = {name: Fake(dns_failure()) for name in ("stock_zh_a_hist", "stock_zh_a_daily", "stock_zh_a_hist_tx")}
    for name, fake in fakes.items():
        monkeypatch.setattr(akshare, name, fake)
    src = AkshareSource(net=net)
    messages = []
    for code in ("002230", "000001", "300033", "600031", "688001"):
        with pytest.raises(SourceError) as info:
            src.daily_bars(resolve(code), D(2023, 5, 22), D(2023, 5, 26))
        messages.append(str(info.value))
    assert [len(f.calls) for f in fakes.values()] == [2, 2, 2]        # 1 try + 1 retry (unreachable), first symbol only
    assert "cannot resolve the host" in messages[0]
    assert all("not tried: eastmoney.com failed earlier in this run (cannot resolve the host" in m
               for m in messages[1:])
    assert net.breaker.down() == {site: "cannot resolve the host (offline, or DNS blocked?)"
                                  for site in ("eastmoney.com", "sina.com.cn", "qq.com")}


@pytest.mark.parametrize("outcomes, after, calls, down", [
    ([dns_failure()], 2, 1, True),                                  # unreachable: given up at once
    ([refused()], 2, 1, True),
    ([requests.Timeout("read timed out")], 2, 2, True),             # slow: given up after 2 failed calls
    ([requests.Timeout("read timed out")], 3, 3, True),
    ([requests.Timeout("read timed out"), pd.DataFrame({"x": [1]})], 2, 3, False),   # a success resets
    ([KeyError("data")], 2, 3, False),                              # a parser failure says nothing of the site
])
def test_breaker_decides_from_the_kind_of_failure(clock, outcomes, after, calls, down):
    """Each call has no retries; outcomes are per call, the last one repeating."""
    breaker = netmod.SiteBreaker(after=after)
    fn = Fake(*outcomes)
    for _ in range(3):
        try:
            call_upstream(fn, site="x.com", timeout=None, retries=0, what="f()", sleep=clock.sleep,
                          limiter=RateLimiter(clock=clock, sleep=clock.sleep), breaker=breaker)
        except SourceError:
            pass
    assert len(fn.calls) == calls
    assert ("x.com" in breaker.down()) is down


def test_empty_eastmoney_frame_is_no_data_or_blocked(monkeypatch, net):
    monkeypatch.setattr(akshare, "stock_zh_a_hist", Fake(pd.DataFrame()))
    with pytest.raises(SourceError) as info:
        AkshareSource(net=net, fallbacks=False).daily_bars(resolve("002230"), D(2023, 5, 22), D(2023, 5, 26))
    assert str(info.value) == ("akshare stock_zh_a_hist(002230, 2023-05-22..2023-05-26): "
                               "no data or blocked (eastmoney.com)")


def test_changed_schema_names_the_missing_column(monkeypatch, net):
    monkeypatch.setattr(akshare, "stock_zh_a_hist", Fake(em_daily().drop(columns=["收盘"])))
    with pytest.raises(SchemaChanged) as info:
        AkshareSource(net=net, fallbacks=False).daily_bars(resolve("002230"), D(2023, 5, 22), D(2023, 5, 26))
    assert "missing 收盘" in str(info.value)
    assert str(info.value).startswith("akshare stock_zh_a_hist(002230, 2023-05-22..2023-05-26)")


def test_schema_change_everywhere_stays_schema_changed(monkeypatch, net):
    monkeypatch.setattr(akshare, "stock_zh_a_hist", Fake(em_daily().drop(columns=["收盘"])))
    monkeypatch.setattr(akshare, "stock_zh_a_daily", Fake(sina_daily().drop(columns=["close"])))
    monkeypatch.setattr(akshare, "stock_zh_a_hist_tx", Fake(tx_daily().drop(columns=["close"])))
    with pytest.raises(SchemaChanged, match="missing 收盘.*missing close.*missing close"):
        AkshareSource(net=net).daily_bars(resolve("002230"), D(2023, 5, 22), D(2023, 5, 26))


def test_bad_upstream_row_is_a_source_error_not_bad_input(monkeypatch, net):
    raw = em_daily()
    raw.loc[7, "最高"] = 50.0                                  # high below low on 2023-05-24
    monkeypatch.setattr(akshare, "stock_zh_a_hist", Fake(raw))
    with pytest.raises(SourceError) as info:
        AkshareSource(net=net, fallbacks=False).daily_bars(resolve("002230"), D(2023, 5, 22), D(2023, 5, 26))
    assert not isinstance(info.value, BadInput)
    assert "high is below low" in str(info.value)


def test_index_daily_from_eastmoney(monkeypatch, net):
    fake = Fake(em_index())
    monkeypatch.setattr(akshare, "index_zh_a_hist", fake)
    bars = AkshareSource(net=net).daily_bars(resolve("399001"), D(2023, 5, 22), D(2023, 5, 26))
    assert fake.calls[0]["symbol"] == "399001" and fake.calls[0]["period"] == "daily"
    row = bars[bars["ts"] == pd.Timestamp("2023-05-24 15:00", tz=TZ)].iloc[0]
    assert row["symbol"] == "399001.SZ"
    assert (row["open"], row["high"], row["low"], row["close"], row["prev_close"]) == (
        10976.73, 11028.57, 10920.33, 10920.33, 11012.58)
    assert row["volume"] == 345570374 * 100.0
    assert row["amount"] == 460018122724.0
    assert np.isnan(row["turnover"])
    assert row["close"] / row["prev_close"] - 1 == pytest.approx(-0.0084, abs=5e-5)   # 深证成指 −0.84 %


def test_index_falls_back_to_stock_zh_index_daily_em(monkeypatch, net):
    monkeypatch.setattr(akshare, "index_zh_a_hist", Fake(KeyError("399001")))
    fb = Fake(em_index_fallback())
    monkeypatch.setattr(akshare, "stock_zh_index_daily_em", fb)
    bars = AkshareSource(net=net).daily_bars(resolve("399001"), D(2023, 5, 22), D(2023, 5, 26))
    assert fb.calls[0]["symbol"] == "sz399001"
    assert list(bars["close"]) == [11127.04, 11012.58, 10920.33, 10896.58, 10909.65]
    assert list(bars["prev_close"]) == [11091.36, 11127.04, 11012.58, 10920.33, 10896.58]
    assert bars["volume"].iloc[2] == 34557037400.0


# --- minute bars -------------------------------------------------------------------------------------


def _daily_603777_20240513() -> pd.DataFrame:
    # Illustrative daily row (only 涨跌额 matters here: prev_close = 11.20 + 0.08 = 11.28).
    return pd.DataFrame({"日期": [D(2024, 5, 13)], "股票代码": ["603777"], "开盘": [11.30], "收盘": [11.20],
                         "最高": [11.34], "最低": [11.10], "成交量": [50000], "成交额": [5.6e7],
                         "振幅": [2.13], "涨跌幅": [-0.71], "涨跌额": [-0.08], "换手率": [0.9]})


def test_one_minute_bars_keep_the_auction_row_and_fix_zero_opens(monkeypatch, net):
    minute = Fake(em_minute("stock_zh_a_hist_min_em_1_603777_20240513.csv"))
    monkeypatch.setattr(akshare, "stock_zh_a_hist_min_em", minute)
    monkeypatch.setattr(akshare, "stock_zh_a_hist", Fake(_daily_603777_20240513()))
    bars = AkshareSource(net=net).intraday_bars(resolve("603777"), D(2024, 5, 13), D(2024, 5, 13), "1min")

    call = minute.calls[0]
    assert call["symbol"] == "603777" and call["period"] == "1" and call["adjust"] == ""
    assert call["start_date"] == "2024-05-13 09:00:00" and call["end_date"] == "2024-05-13 15:30:00"
    assert [t.strftime("%H:%M") for t in bars["ts"]] == ["09:30", "09:31", "09:32", "09:33", "09:34"]
    assert bars["ts"].iloc[0].isoformat() == "2024-05-13T09:30:00+08:00"
    # 09:30 auction print: O=H=L=C; zero opens → previous close clipped into [low, high]
    assert list(bars["open"]) == [11.30, 11.30, 11.26, 11.25, 11.25]
    assert list(bars["close"]) == [11.30, 11.26, 11.24, 11.25, 11.27]
    assert list(bars["volume"]) == [13200.0, 49400.0, 35400.0, 27500.0, 53200.0]
    assert list(bars["amount"]) == [149160.0, 557776.0, 398357.0, 309664.0, 598979.0]
    assert (bars["prev_close"] == 11.28).all()               # the previous *daily* close
    assert (bars["open"] >= bars["low"]).all() and (bars["open"] <= bars["high"]).all()


def test_one_minute_bars_of_the_latest_day_keep_their_opens():
    raw = em_minute("stock_zh_a_hist_min_em_1_603777_20250107.csv")
    bars = map_em_minute(raw, "603777", "w")
    assert list(bars["open"]) == list(raw["开盘"])
    assert bars["ts"].iloc[0] == pd.Timestamp("2025-01-07 09:35", tz=TZ)


def test_five_minute_bars(monkeypatch, net):
    monkeypatch.setattr(akshare, "stock_zh_a_hist_min_em",
                        Fake(em_minute("stock_zh_a_hist_min_em_5_603777_20250107.csv")))
    monkeypatch.setattr(akshare, "stock_zh_a_hist", Fake(disconnected()))
    monkeypatch.setattr(akshare, "stock_zh_a_daily", Fake(disconnected()))
    monkeypatch.setattr(akshare, "stock_zh_a_hist_tx", Fake(disconnected()))
    bars = AkshareSource(net=net).intraday_bars(resolve("603777"), D(2025, 1, 7), D(2025, 1, 7), "5min")
    assert [t.strftime("%H:%M") for t in bars["ts"]] == ["09:40", "09:45"]
    assert list(bars["volume"]) == [3328000.0, 1694100.0]
    assert list(bars["turnover"]) == [0.03, 0.02]
    assert bars["prev_close"].isna().all()                   # daily unavailable: degrade, do not fail


def test_old_one_minute_request_explains_the_five_day_window(monkeypatch, net):
    empty = pd.DataFrame(columns=["时间", "开盘", "收盘", "最高", "最低", "成交量", "成交额", "均价"])
    monkeypatch.setattr(akshare, "stock_zh_a_hist_min_em", Fake(empty))
    with pytest.raises(SourceError, match="no data or blocked.*last 5 trading days"):
        AkshareSource(net=net).intraday_bars(resolve("002230"), D(2023, 5, 24), D(2023, 5, 24), "1min")


def test_index_minute_uses_the_index_function(monkeypatch, net):
    fake = Fake(em_minute("stock_zh_a_hist_min_em_1_603777_20250107.csv"))
    monkeypatch.setattr(akshare, "index_zh_a_hist_min_em", fake)
    monkeypatch.setattr(akshare, "index_zh_a_hist", Fake(pd.DataFrame()))
    monkeypatch.setattr(akshare, "stock_zh_index_daily_em", Fake(pd.DataFrame()))
    bars = AkshareSource(net=net).intraday_bars(resolve("399006"), D(2025, 1, 7), D(2025, 1, 7), "1min")
    assert fake.calls[0]["symbol"] == "399006" and fake.calls[0]["period"] == "1"
    assert (bars["symbol"] == "399006.SZ").all()


def test_unknown_frequency_is_bad_input(net):
    with pytest.raises(BadInput):
        AkshareSource(net=net).bars(resolve("002230"), D(2023, 5, 24), D(2023, 5, 24), freq="2min")


# --- universe, news delegation, laziness -------------------------------------------------------------


def test_universe_from_stock_info_a_code_name(monkeypatch, net):
    raw = pd.DataFrame({"code": ["002230", "600000", "300750", "688981", "830799", "900901", "000001"],
                        "name": ["科大讯飞", "浦发银行", "宁德时代", "中芯国际", "艾融软件", "云赛B股", "平安银行"]})
    fake = Fake(raw)
    monkeypatch.setattr(akshare, "stock_info_a_code_name", fake)
    syms = AkshareSource(net=net).universe()
    assert [s.id for s in syms] == ["002230", "600000", "300750", "688981", "830799", "000001"]
    by = {s.id: s for s in syms}
    assert by["300750"].board == "chinext" and by["300750"].name == "宁德时代"
    assert by["830799"].exchange == "BJ" and by["000001"].kind == "stock"


def test_news_delegates_to_the_news_adapter(net):
    class Stub:
        def __init__(self):
            self.args = None

        def news(self, symbol, start, end):
            self.args = (symbol, start, end)
            return "frame"

    stub = Stub()
    src = AkshareSource(net=net, news_source=stub)
    assert src.news(resolve("002230"), D(2023, 5, 24), D(2023, 5, 25)) == "frame"
    assert stub.args[0].id == "002230"
    assert AkshareSource.remote is True and AkshareSource.name == "akshare"
    assert AkshareSource.freqs == ("daily", "1min", "5min", "15min", "30min", "60min")


def test_importing_the_adapters_does_not_import_akshare_or_baostock():
    code = ("import sys, anomaly.sources.akshare_source, anomaly.sources.akshare_news, "
            "anomaly.sources.baostock_source, anomaly.sources.net; "
            "bad = [m for m in ('akshare', 'baostock') if m in sys.modules]; "
            "print(','.join(bad)); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1], timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_default_limiter_is_shared():
    assert netmod.default_limiter() is netmod.default_limiter()
    assert netmod.default_limiter().interval("sina.com.cn") >= netmod.default_limiter().interval("qq.com")


def test_range_without_sessions_needs_no_call(monkeypatch, net):
    fake = Fake(AssertionError("no call expected"))
    monkeypatch.setattr(akshare, "stock_zh_a_hist", fake)
    bars = AkshareSource(net=net).daily_bars(resolve("002230"), D(2023, 5, 27), D(2023, 5, 28))  # weekend
    assert bars.empty and list(bars.columns) == BAR_COLUMNS and not fake.calls


def test_answer_with_no_bars_in_range_is_a_true_empty_answer(monkeypatch, net):
    raw = em_daily()
    monkeypatch.setattr(akshare, "stock_zh_a_hist", Fake(raw[raw["日期"] < D(2023, 5, 22)]))   # suspended
    monkeypatch.setattr(akshare, "stock_zh_a_daily", Fake(AssertionError("no fallback expected")))
    bars = AkshareSource(net=net).daily_bars(resolve("002230"), D(2023, 5, 22), D(2023, 5, 26))
    assert bars.empty and list(bars.columns) == BAR_COLUMNS


def test_network_options_from_a_config():
    from anomaly.errors import ConfigError

    src = AkshareSource(timeout=12.0, retries=5)
    assert (src.net.timeout, src.net.retries, src.net.backoff) == (12.0, 5, 1.0)
    base = NetPolicy(jitter=0.1)
    assert AkshareSource(net=base, retries=None).net is base
    with pytest.raises(ConfigError, match="unknown network option.*tiemout"):
        AkshareSource(tiemout=3)
