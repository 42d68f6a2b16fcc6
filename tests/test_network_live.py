"""Live upstream checks (opt-in): ``pytest -m network tests/test_network_live.py``.

They call the real services through the adapters and assert the canonical shape and the known
2023-05-24 values of 002230. Skipped by default (``addopts = -m 'not network'``); on a machine
that cannot resolve the upstream host they skip with that reason instead of failing.
"""
from __future__ import annotations

import datetime as dt
import socket

import pandas as pd
import pytest

from anomaly.schema import BAR_COLUMNS, NEWS_COLUMNS, TZ
from anomaly.symbols import resolve

pytestmark = pytest.mark.network


def need_host(host: str) -> None:
    try:
        socket.getaddrinfo(host, 443)
    except OSError as exc:
        pytest.skip(f"cannot resolve {host} ({exc}); no internet here")


def check_0524(bars: pd.DataFrame) -> None:
    assert list(bars.columns) == BAR_COLUMNS
    assert str(bars["ts"].dt.tz) == TZ
    assert (bars["ts"].dt.hour == 15).all()
    row = bars[bars["ts"] == pd.Timestamp("2023-05-24 15:00", tz=TZ)].iloc[0]
    assert row["open"] == pytest.approx(59.08, abs=0.005)
    assert row["high"] == pytest.approx(59.56, abs=0.005)
    assert row["low"] == pytest.approx(53.50, abs=0.005)
    assert row["close"] == pytest.approx(56.57, abs=0.005)
    assert row["prev_close"] == pytest.approx(59.09, abs=0.005)
    assert row["volume"] == pytest.approx(110471900, abs=100)     # shares (upstream rounds to lots)


def test_live_akshare_daily_bars_002230_may_2023():
    need_host("push2his.eastmoney.com")
    from anomaly.sources.akshare_source import AkshareSource

    bars = AkshareSource().daily_bars(resolve("002230"), dt.date(2023, 5, 1), dt.date(2023, 5, 31))
    assert 18 <= len(bars) <= 21                                   # May 2023 had 19 trading days
    assert bars["ts"].is_monotonic_increasing and (bars["symbol"] == "002230").all()
    check_0524(bars)


def test_live_akshare_eastmoney_function_directly():
    need_host("push2his.eastmoney.com")
    import akshare as ak

    from anomaly.sources.akshare_source import map_em_daily

    raw = ak.stock_zh_a_hist(symbol="002230", period="daily", start_date="20230522",
                             end_date="20230526", adjust="", timeout=30)
    assert list(raw.columns) == ["日期", "股票代码", "开盘", "收盘", "最高", "最低", "成交量", "成交额",
                                 "振幅", "涨跌幅", "涨跌额", "换手率"]
    check_0524(map_em_daily(raw, "002230", "live"))


def test_live_stock_news_em():
    need_host("search-api-web.eastmoney.com")
    import akshare as ak

    from anomaly.sources.akshare_news import NEWS_EM_COLUMNS, AkshareNews, map_news_em

    raw = ak.stock_news_em(symbol="002230")
    assert list(raw.columns) == NEWS_EM_COLUMNS and len(raw) > 0
    mapped = map_news_em(raw, "live stock_news_em(002230)", "002230")
    assert list(mapped.columns) == NEWS_COLUMNS and len(mapped) > 0
    assert str(mapped["ts"].dt.tz) == TZ and set(mapped["kind"]) == {"news"}
    today = pd.Timestamp.now(tz=TZ).date()
    recent = AkshareNews().company_news(resolve("002230"), today - dt.timedelta(days=3650), today)
    assert list(recent.columns) == NEWS_COLUMNS


def test_live_baostock_daily_bars_002230():
    need_host("public-api.baostock.com")
    from anomaly.sources.baostock_source import BaostockSource

    bars = BaostockSource().daily_bars(resolve("002230"), dt.date(2023, 5, 22), dt.date(2023, 5, 26))
    assert len(bars) == 5
    check_0524(bars)
