"""Flaky upstreams: connection errors, timeouts, empty answers, a changed schema, a failure half-way
through a multi-symbol fetch — each symbol's failure is recorded, the rest goes on, nothing bad is
cached, and the user reads one line per failure (exit 1).

The akshare adapter is exercised for real with its upstream functions monkeypatched (frames in the
real Eastmoney schema built from the bundled sample); the network itself is disabled so an
unpatched call fails fast instead of reaching the internet.
"""
from __future__ import annotations

import datetime as dt
import http.client
import json
import shutil
import socket
import threading

import akshare
import pandas as pd
import pytest
import requests

import rt_support as rt
from anomaly.sources.sample import SampleSource
from anomaly.symbols import resolve

D = dt.date.fromisoformat


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*a, **k):
        raise OSError(101, "Network is unreachable (network disabled by the reliability tests)")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def copy_prestore(prestore, tmp_path):
    dst = tmp_path / "store"
    shutil.copytree(prestore, dst)
    return dst


# --- a generic flaky source (fake adapter) ----------------------------------------------------------


def _scan_with_failing_symbol(cli, monkeypatch, tmp_path, prestore):
    store = copy_prestore(prestore, tmp_path)
    cfg = rt.write_config(tmp_path / "c.toml", store)
    rt.install_source(monkeypatch, rt.RemoteSample(fail={"000021"}))
    out = tmp_path / "out"
    r = cli(["scan", "--config", cfg, "--date", rt.DATE, "--out", out, "--no-plots"])
    return r, store, out / rt.DATE


def test_scan_one_symbol_source_error_exit1_others_reported(cli, monkeypatch, tmp_path, prestore):
    r, store, day_dir = _scan_with_failing_symbol(cli, monkeypatch, tmp_path, prestore)
    assert r.code == 1
    assert "  000021: rtremote bars(000021): connection reset by the server (rt.example)" in r.out.splitlines()
    assert "Traceback" not in r.err
    events = json.loads((day_dir / "events.json").read_text())
    assert [e["id"] for e in events] == ["002230@2023-05-24"]          # the healthy symbols were reported
    assert "| 000021 | rtremote bars(000021): connection reset by the server (rt.example) |" in \
        (day_dir / "report.md").read_text()
    assert "<td>000021</td><td>rtremote bars(000021): connection reset by the server (rt.example)</td>" in \
        (day_dir / "report.html").read_text()
    assert not (store / "bars" / "daily" / "000021.parquet").exists()   # nothing cached for the failure
    assert (store / "bars" / "daily" / "002230.parquet").exists()


def test_scan_failed_symbol_listed_once(cli, monkeypatch, tmp_path, prestore):
    """One failed symbol = one entry in the report, not a second "store holds no bars" echo of it."""
    r, store, day_dir = _scan_with_failing_symbol(cli, monkeypatch, tmp_path, prestore)
    summary = json.loads((day_dir / "summary.json").read_text())
    assert [f["symbol"] for f in summary["failures"]] == ["000021"], summary["failures"]
    assert sum("000021" in line for line in r.out.splitlines()) == 1, r.out


def test_fetch_fails_half_way_keeps_symbols_done(cli, monkeypatch, tmp_path):
    calls = []
    rt.install_source(monkeypatch, rt.RemoteSample(fail={"000021"}, calls=calls))
    store = tmp_path / "store"
    r = cli(["fetch", *rt.WATCH, "--start", "2023-05-01", "--end", rt.DATE, "--source", rt.REMOTE, "--store", store])
    assert r.code == 1
    lines = r.out.splitlines()
    assert lines[0].startswith("002230: 15 bars for 2023-05-04..2023-05-24")
    assert lines[1] == "000021: FAILED: rtremote bars(000021): connection reset by the server (rt.example)"
    assert lines[2].startswith("000333: 15 bars for 2023-05-04..2023-05-24")
    assert rt.parquet_files(store) == ["bars/daily/000333.parquet", "bars/daily/002230.parquet"]
    assert calls == list(rt.WATCH)
    # the rerun asks only for the failed symbol
    calls.clear()
    rt.install_source(monkeypatch, rt.RemoteSample(calls=calls))
    r2 = cli(["fetch", *rt.WATCH, "--start", "2023-05-01", "--end", rt.DATE, "--source", rt.REMOTE, "--store", store])
    assert r2.code == 0, r2.err
    assert calls == ["000021"]


def test_fetch_adapter_raising_a_raw_connection_error_fails_only_that_symbol(cli, monkeypatch, tmp_path):
    """An adapter that forgets to wrap (a raw ConnectionError/socket.timeout from a library) must not
    take the whole nightly run down: the symbol fails, the others are fetched (exit 1)."""
    raw = ConnectionError("[Errno 104] Connection reset by peer")
    rt.install_source(monkeypatch, rt.RemoteSample(raw={"000021": raw}))
    store = tmp_path / "store"
    r = cli(["fetch", *rt.WATCH, "--start", "2023-05-01", "--end", rt.DATE, "--source", rt.REMOTE, "--store", store])
    assert r.code == 1
    assert "000021: FAILED:" in r.out and "Connection reset by peer" in r.out
    assert rt.parquet_files(store) == ["bars/daily/000333.parquet", "bars/daily/002230.parquet"]


def test_remote_scan_on_fresh_store_fetches_its_benchmark(cli, monkeypatch, tmp_path):
    """A nightly scan against a network source on an empty store must also fetch the benchmark
    index it measures against; otherwise every night ends with exit 1 ("benchmark unavailable")."""
    rt.install_source(monkeypatch, rt.RemoteSample())
    cfg = rt.write_config(tmp_path / "c.toml", tmp_path / "store")
    r = cli(["scan", "--config", cfg, "--date", rt.DATE, "--out", tmp_path / "out", "--no-plots"])
    assert "benchmark index" not in r.out
    assert r.code == 0, r.out + r.err


# --- the akshare adapter, with its upstream functions faked -----------------------------------------


def em_daily(code: str, start_date: str, end_date: str) -> pd.DataFrame:
    """``stock_zh_a_hist`` output (Eastmoney schema, volume in lots) built from the bundled sample."""
    b = SampleSource().daily_bars(resolve(code), dt.datetime.strptime(start_date, "%Y%m%d").date(),
                                  dt.datetime.strptime(end_date, "%Y%m%d").date())
    return pd.DataFrame({
        "日期": b["ts"].dt.date, "股票代码": code, "开盘": b["open"], "收盘": b["close"], "最高": b["high"],
        "最低": b["low"], "成交量": (b["volume"] / 100).round().astype("int64"), "成交额": b["amount"],
        "振幅": ((b["high"] - b["low"]) / b["prev_close"] * 100).round(2),
        "涨跌幅": ((b["close"] / b["prev_close"] - 1) * 100).round(2),
        "涨跌额": (b["close"] - b["prev_close"]).round(2), "换手率": b["turnover"]})


def disconnected() -> requests.ConnectionError:
    return requests.ConnectionError(("Connection aborted.",
                                     http.client.RemoteDisconnected("Remote end closed connection without response")))


STOCK_FUNCS = ("stock_zh_a_hist", "stock_zh_a_daily", "stock_zh_a_hist_tx")


def fake_akshare(monkeypatch, behaviour):
    """Every stock-bar provider of the adapter runs ``behaviour(func_name, kwargs)``."""
    for name in STOCK_FUNCS:
        def fake(symbol, start_date="19700101", end_date="20500101", adjust="", period="daily", timeout=None,
                 _name=name):
            return behaviour(_name, dict(symbol=symbol, start_date=start_date, end_date=end_date))
        monkeypatch.setattr(akshare, name, fake)


def ak_config(tmp_path, timeout=5.0, extra=""):
    return rt.write_config(tmp_path / "ak.toml", tmp_path / "store", source="akshare",
                           extra=extra).read_text().replace("timeout = 5.0", f"timeout = {timeout}")


def write_ak_config(tmp_path, timeout=5.0):
    p = tmp_path / "ak.toml"
    p.write_text(ak_config(tmp_path, timeout), encoding="utf-8")
    return p


def fetch_ak(cli, tmp_path, cfg, *syms):
    return cli(["fetch", *(syms or ["002230"]), "--start", "2023-05-01", "--end", rt.DATE, "--source", "akshare",
                "--config", cfg, "--store", tmp_path / "store"])


def test_akshare_connection_error_one_line_nothing_cached(cli, monkeypatch, tmp_path):
    def behaviour(name, kw):
        raise disconnected()
    fake_akshare(monkeypatch, behaviour)
    r = fetch_ak(cli, tmp_path, write_ak_config(tmp_path))
    assert r.code == 1
    assert r.out.splitlines() == [
        "002230: FAILED: akshare daily bars for 002230 2023-05-04..2023-05-24: every provider failed: "
        "akshare stock_zh_a_hist(002230, 2023-05-04..2023-05-24) failed after 1 try: the server closed the "
        "connection without answering (blocked or rate-limited?) (eastmoney.com) | "
        "akshare stock_zh_a_daily(sz002230, 2023-05-04..2023-05-24) failed after 1 try: the server closed the "
        "connection without answering (blocked or rate-limited?) (sina.com.cn) | "
        "akshare stock_zh_a_hist_tx(sz002230, 2023-05-04..2023-05-24) failed after 1 try: the server closed the "
        "connection without answering (blocked or rate-limited?) (qq.com)"]
    assert "Traceback" not in r.err
    assert rt.parquet_files(tmp_path / "store") == []


def test_akshare_timeout_is_bounded(cli, monkeypatch, tmp_path):
    release = threading.Event()
    answered = threading.Event()

    def behaviour(name, kw):
        release.wait(60.0)  # a stalled server (released when the test ends)
        answered.set()
        raise AssertionError("unreachable")
    fake_akshare(monkeypatch, behaviour)
    try:
        r = fetch_ak(cli, tmp_path, write_ak_config(tmp_path, timeout=0.2))
        assert not answered.is_set()   # fetch gave up on every site while they were all still silent
    finally:
        release.set()
    assert r.code == 1
    assert "failed after 1 try: no answer within 0.2 s (eastmoney.com)" in r.out
    assert "no answer within 0.2 s (qq.com)" in r.out
    assert rt.parquet_files(tmp_path / "store") == []


def test_akshare_empty_answer_is_an_error_and_not_cached_as_nothing_there(cli, monkeypatch, tmp_path):
    def behaviour(name, kw):
        return pd.DataFrame()
    fake_akshare(monkeypatch, behaviour)
    r = fetch_ak(cli, tmp_path, write_ak_config(tmp_path))
    assert r.code == 1
    assert "akshare stock_zh_a_hist(002230, 2023-05-04..2023-05-24): no data or blocked (eastmoney.com)" in r.out
    assert rt.parquet_files(tmp_path / "store") == []   # no coverage recorded: tomorrow asks again


def test_akshare_changed_schema_names_the_missing_columns(cli, monkeypatch, tmp_path):
    def behaviour(name, kw):
        if name == "stock_zh_a_hist":
            return em_daily(kw["symbol"], kw["start_date"], kw["end_date"]).rename(columns={"收盘": "收盘价"})
        return pd.DataFrame({"date": ["2023-05-24"], "price": [1.0]})
    fake_akshare(monkeypatch, behaviour)
    r = fetch_ak(cli, tmp_path, write_ak_config(tmp_path))
    assert r.code == 1
    assert ("akshare stock_zh_a_hist(002230, 2023-05-04..2023-05-24): upstream columns changed, missing 收盘 "
            "(got: 日期, 股票代码, 开盘, 收盘价, 最高, 最低, 成交量, 成交额, 振幅, 涨跌幅, 涨跌额, 换手率); "
            "update akshare or the adapter") in r.out
    assert ("akshare stock_zh_a_daily(sz002230, 2023-05-04..2023-05-24): upstream columns changed, missing open, "
            "high, low, close, volume, amount (got: date, price)") in r.out
    assert rt.parquet_files(tmp_path / "store") == []


def test_akshare_fails_half_way_through_multi_symbol_fetch(cli, monkeypatch, tmp_path):
    def behaviour(name, kw):
        if kw["symbol"].endswith("000021"):
            raise disconnected()
        if name != "stock_zh_a_hist":
            raise AssertionError("fallback used for a healthy symbol")
        return em_daily(kw["symbol"], kw["start_date"], kw["end_date"])
    fake_akshare(monkeypatch, behaviour)
    r = fetch_ak(cli, tmp_path, write_ak_config(tmp_path), *rt.WATCH)
    assert r.code == 1
    lines = r.out.splitlines()
    assert lines[0].startswith("002230: 15 bars for 2023-05-04..2023-05-24")
    assert lines[1].startswith("000021: FAILED: akshare daily bars for 000021")
    assert lines[2].startswith("000333: 15 bars for 2023-05-04..2023-05-24")
    assert rt.parquet_files(tmp_path / "store") == ["bars/daily/000333.parquet", "bars/daily/002230.parquet"]
    got = pd.read_parquet(tmp_path / "store" / "bars" / "daily" / "002230.parquet")
    want = SampleSource().daily_bars(resolve("002230"), D("2023-05-04"), D(rt.DATE))
    assert list(got["close"]) == list(want["close"])
    assert list(got["prev_close"]) == pytest.approx(list(want["prev_close"]), abs=0.011)


def test_akshare_scan_one_symbol_down_exit1_others_reported(cli, monkeypatch, tmp_path, prestore):
    def behaviour(name, kw):
        if kw["symbol"].endswith("000021"):
            raise disconnected()
        return em_daily(kw["symbol"], kw["start_date"], kw["end_date"])
    fake_akshare(monkeypatch, behaviour)
    copy_prestore(prestore, tmp_path)   # the benchmark index is already in the store
    cfg = tmp_path / "ak.toml"
    cfg.write_text(ak_config(tmp_path) + "[link]\nnews = false\n", encoding="utf-8")
    cfg.write_text(cfg.read_text().replace("workers = 1", "workers = 1\nfetch_news = false"), encoding="utf-8")
    out = tmp_path / "out"
    r = cli(["scan", "--config", cfg, "--date", rt.DATE, "--out", out, "--no-plots"])
    assert r.code == 1, r.err
    assert "000021: akshare daily bars for 000021" in r.out
    events = json.loads((out / rt.DATE / "events.json").read_text())
    assert [e["id"] for e in events] == ["002230@2023-05-24"]
    report = (out / rt.DATE / "report.md").read_text()
    assert "000021" in report and "the server closed the connection without answering" in report


class HalfSample(rt.RemoteSample):
    """A degraded upstream: answers with only the first half of the rows asked for."""

    def bars(self, symbol, start, end, freq="daily"):
        full = super().bars(symbol, start, end, freq)
        return full.iloc[: len(full) // 2].reset_index(drop=True)


def test_refresh_against_a_degraded_source_loses_nothing(cli, monkeypatch, tmp_path):
    store = tmp_path / "store"
    rt.install_source(monkeypatch, rt.RemoteSample())
    args = ["fetch", "002230", "--start", "2023-05-04", "--end", rt.DATE, "--source", rt.REMOTE, "--store", store]
    assert cli(args).code == 0
    before = rt.read_store(store)
    rt.install_source(monkeypatch, HalfSample())
    r = cli([*args, "--refresh"])
    assert r.code == 0, r.err
    assert rt.rows_missing(before, rt.read_store(store)) == []
    assert rt.frames_equal(before, rt.read_store(store)) == []


def test_offline_akshare_scan_gives_up_on_each_site_once(cli, monkeypatch, tmp_path):
    """No network at all, fresh store: every site is tried once, then the scan stops calling it. Stocks
    are failures (exit 1); an index that cannot be fetched is a note."""
    calls: dict[str, int] = {}

    def offline(*args, _name="", **kwargs):
        calls[_name] = calls.get(_name, 0) + 1
        raise requests.ConnectionError(
            "HTTPSConnectionPool(host='x', port=443): Max retries exceeded (Caused by NameResolutionError("
            "\"Failed to resolve 'x' ([Errno -3] Temporary failure in name resolution)\"))")
    for name in STOCK_FUNCS + ("index_zh_a_hist", "stock_zh_index_daily_em"):
        monkeypatch.setattr(akshare, name, lambda *a, _n=name, **k: offline(*a, _name=_n, **k))
    cfg = tmp_path / "ak.toml"
    cfg.write_text(ak_config(tmp_path).replace("retries = 0", "retries = 2") + "[link]\nnews = false\n",
                   encoding="utf-8")
    cfg.write_text(cfg.read_text().replace("workers = 1", "workers = 1\nfetch_news = false"), encoding="utf-8")
    out = tmp_path / "out"
    r = cli(["scan", "--config", cfg, "--date", rt.DATE, "--out", out, "--no-plots"])
    assert r.code == 1, r.err
    # eastmoney serves both index functions and the first stock function: an unreachable host gets one
    # retry, then the site is never called again in this run
    assert calls["index_zh_a_hist"] == 2 and "stock_zh_index_daily_em" not in calls
    assert "stock_zh_a_hist" not in calls
    assert calls["stock_zh_a_daily"] == 2 and calls["stock_zh_a_hist_tx"] == 2
    failed = [ln.strip() for ln in r.out.splitlines() if ln.startswith("  ")]
    assert sorted(f.split(":")[0] for f in failed) == sorted(rt.WATCH)
    assert ("note: benchmark 399001.SZ not fetched (akshare index_zh_a_hist(399001, 2022-02-28..2023-05-24) "
            "failed after 2 tries: cannot resolve the host (offline, or DNS blocked?) (eastmoney.com)); "
            "market-model figures use what the store already holds") in r.out
    summary = json.loads((out / rt.DATE / "summary.json").read_text())
    assert summary["meta"]["source"] == "akshare (fetched into the store)"
    assert "Traceback" not in r.err
