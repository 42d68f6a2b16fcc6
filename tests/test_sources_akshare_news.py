"""Offline tests of the akshare news adapters on frames in the real upstream layouts."""
from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import akshare
import pandas as pd
import pytest
import requests

from anomaly.errors import SchemaChanged, SourceError
from anomaly.schema import NEWS_COLUMNS, TZ
from anomaly.sources.akshare_news import (AkshareNews, empty_news, map_announcements, map_cls,
                                          map_em_flash, map_irm, map_news_em, map_sse, parse_cn_time)
from anomaly.sources.akshare_source import AkshareSource
from anomaly.sources.net import NetPolicy, RateLimiter
from anomaly.symbols import resolve

FIX = Path(__file__).parent / "fixtures" / "upstream"
D = dt.date
NOW = pd.Timestamp("2024-05-23 10:00", tz=TZ)


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=TZ)


def load(name: str, **dtypes) -> pd.DataFrame:
    return pd.read_csv(FIX / name, dtype=str, keep_default_na=False).astype(dtypes or {})


def cninfo() -> pd.DataFrame:
    """stock_zh_a_disclosure_report_cninfo: every column a str (公告时间 via .astype(str))."""
    return load("stock_zh_a_disclosure_report_cninfo_002230_20230501_20230531.csv")


def irm() -> pd.DataFrame:
    """stock_irm_cninfo: strings; 回答ID/回答内容/回答者 None on unanswered questions."""
    df = load("stock_irm_cninfo_002230.csv")
    for c in ("回答ID", "回答内容", "回答者"):
        df[c] = df[c].where(df[c] != "", None)
    return df


def sse() -> pd.DataFrame:
    return load("stock_sns_sseinfo_603119.csv")


def news_em() -> pd.DataFrame:
    return load("stock_news_em_002230.csv")


def cls() -> pd.DataFrame:
    """stock_info_global_cls: 发布日期 datetime.date, 发布时间 datetime.time."""
    df = load("stock_info_global_cls.csv")
    df["发布日期"] = pd.to_datetime(df["发布日期"]).dt.date
    df["发布时间"] = pd.to_datetime(df["发布时间"], format="%H:%M:%S").dt.time
    return df


def em_flash() -> pd.DataFrame:
    return load("stock_info_global_em.csv")


class Fake:
    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.calls: list[dict] = []

    def __call__(self, *args, **kwargs):
        self.calls.append(kwargs)
        out = self.outcomes[min(len(self.calls), len(self.outcomes)) - 1]
        if isinstance(out, BaseException):
            raise out
        return out.copy()


@pytest.fixture
def net():
    return NetPolicy(timeout=10.0, retries=1, sleep=lambda s: None, rng=random.Random(0),
                     limiter=RateLimiter(intervals={}, default=0.0, sleep=lambda s: None))


@pytest.fixture
def news(net):
    return AkshareNews(net=net, now=lambda: NOW)


def assert_canonical(df: pd.DataFrame):
    assert list(df.columns) == NEWS_COLUMNS
    assert str(df["ts"].dt.tz) == TZ
    assert df["id"].notna().all() and df["id"].is_unique


# --- announcements (巨潮资讯) -----------------------------------------------------------------------


def test_announcements(monkeypatch, news):
    fake = Fake(cninfo())
    monkeypatch.setattr(akshare, "stock_zh_a_disclosure_report_cninfo", fake)
    out = news.announcements(resolve("002230"), D(2023, 5, 1), D(2023, 5, 31))
    assert fake.calls[0] == {"symbol": "002230", "market": "沪深京", "keyword": "", "category": "",
                             "start_date": "20230501", "end_date": "20230531"}
    assert_canonical(out)
    assert list(out["ts"]) == [ts("2023-05-05 18:31:07"), ts("2023-05-19"), ts("2023-05-24")]
    assert list(out["ts_precision"]) == ["second", "day", "day"]
    assert set(out["kind"]) == {"announcement"} and set(out["symbol"]) == {"002230"}
    assert set(out["source"]) == {"巨潮资讯"}
    assert out["title"].iloc[2] == "关于网络不实信息的澄清公告"          # <em> highlight removed
    assert out["url"].iloc[2].startswith("http://www.cninfo.com.cn/new/disclosure/detail?stockCode=002230")
    assert out["body"].isna().all()


def test_clarification_category_is_marked_in_body(monkeypatch, news):
    fake = Fake(cninfo().iloc[[0]])
    monkeypatch.setattr(akshare, "stock_zh_a_disclosure_report_cninfo", fake)
    out = news.clarifications(resolve("002230"), D(2023, 5, 1), D(2023, 5, 31))
    assert fake.calls[0]["category"] == "澄清致歉"
    assert "澄清致歉" in out["body"].iloc[0]


def test_keyword_search(monkeypatch, news):
    fake = Fake(cninfo().iloc[[0]])
    monkeypatch.setattr(akshare, "stock_zh_a_disclosure_report_cninfo", fake)
    out = news.announcements(resolve("002230"), D(2023, 5, 1), D(2023, 5, 31), keyword="传闻")
    assert fake.calls[0]["keyword"] == "传闻" and len(out) == 1


def test_no_announcements_is_a_normal_empty_answer(monkeypatch, news):
    empty = pd.DataFrame(columns=["代码", "简称", "公告标题", "公告时间", "公告链接"])
    monkeypatch.setattr(akshare, "stock_zh_a_disclosure_report_cninfo", Fake(empty))
    out = news.announcements(resolve("002230"), D(2023, 5, 1), D(2023, 5, 31))
    assert out.empty
    assert_canonical(out)


# --- Q&A platforms ----------------------------------------------------------------------------------


def test_irm_replies(monkeypatch, news):
    fake = Fake(irm())
    monkeypatch.setattr(akshare, "stock_irm_cninfo", fake)
    out = news.irm_replies(resolve("002230"), D(2023, 5, 20), D(2023, 5, 31))
    assert fake.calls[0] == {"symbol": "002230"}
    assert_canonical(out)
    assert len(out) == 2                                            # the unanswered question is dropped
    first = out.iloc[0]
    assert first["ts"] == ts("2023-05-24 17:05:12") and first["ts_precision"] == "second"
    assert first["kind"] == "qa_reply" and first["source"] == "深交所互动易" and first["symbol"] == "002230"
    assert first["title"].startswith("科大讯飞互动易回复：您好，网传实体清单消息系2019年5月23日旧闻")
    assert first["body"].startswith("问：网传公司将被列入实体清单") and "\n答：" in first["body"]
    assert first["url"] == ("https://irm.cninfo.com.cn/ircs/question/questionDetail"
                            "?questionId=1230524134122000001")
    only_24 = news.irm_replies(resolve("002230"), D(2023, 5, 24), D(2023, 5, 24))
    assert len(only_24) == 1


def test_sse_replies_parse_page_text_times(monkeypatch, news):
    fake = Fake(sse())
    monkeypatch.setattr(akshare, "stock_sns_sseinfo", fake)
    out = news.sse_replies(resolve("603119"), D(2024, 5, 1), D(2024, 5, 31))
    assert fake.calls[0] == {"symbol": "603119"}
    assert_canonical(out)
    assert list(out["ts"]) == [ts("2024-05-21 16:32"), ts("2024-05-22 18:22")]   # "昨天 18:22" vs NOW
    assert list(out["ts_precision"]) == ["minute", "minute"]
    assert set(out["source"]) == {"上证e互动"} and set(out["kind"]) == {"qa_reply"}
    assert out["title"].iloc[1].startswith("浙江荣泰e互动回复：")


@pytest.mark.parametrize("text, expected, precision", [
    ("2023年05月24日 16:32", "2023-05-24 16:32", "minute"),
    ("2023-05-24 16:32:05", "2023-05-24 16:32:05", "second"),
    ("05月20日 08:30", "2024-05-20 08:30", "minute"),
    ("12月30日 08:30", "2023-12-30 08:30", "minute"),          # would be in the future: last year
    ("今天 09:31", "2024-05-23 09:31", "minute"),
    ("前天 21:00", "2024-05-21 21:00", "minute"),
    ("5分钟前", "2024-05-23 09:55", "minute"),
    ("3小时前", "2024-05-23 07:00", "minute"),
    ("2天前", "2024-05-21 00:00", "day"),
    ("刚刚", "2024-05-23 10:00", "minute"),
    ("09:31", "2024-05-23 09:31", "minute"),
])
def test_parse_cn_time(text, expected, precision):
    assert parse_cn_time(text, NOW) == (ts(expected), precision)


@pytest.mark.parametrize("text", ["时间待定", "", "2023年13月40日 99:99", None])
def test_parse_cn_time_unknown(text):
    assert parse_cn_time(text, NOW) == (None, "")


def test_sse_time_format_change_is_schema_changed():
    raw = sse()
    raw["回答时间"] = "稍后"
    with pytest.raises(SchemaChanged, match="回答时间"):
        map_sse(raw, "akshare stock_sns_sseinfo(603119)", NOW)


# --- company news and market-wide flashes ---------------------------------------------------------


def test_company_news(monkeypatch, news):
    fake = Fake(news_em())
    monkeypatch.setattr(akshare, "stock_news_em", fake)
    out = news.company_news(resolve("002230"), D(2023, 5, 24), D(2023, 5, 24))
    assert fake.calls[0] == {"symbol": "002230"}
    assert_canonical(out)
    assert list(out["ts"]) == [ts("2023-05-24 15:40:56"), ts("2023-05-24 16:28:10")]
    assert list(out["source"]) == ["大河财立方", "每日经济新闻"]
    assert set(out["ts_precision"]) == {"second"} and set(out["kind"]) == {"news"}
    assert set(out["symbol"]) == {"002230"}
    assert out["title"].iloc[1] == 'AI"小作文"导致千亿AI龙头闪崩！公司怒了'
    whole = news.company_news(resolve("002230"), D(2023, 5, 1), D(2023, 5, 31))
    assert whole["source"].iloc[-1] == "东方财富"                     # empty 文章来源


def test_company_news_empty_answer_means_blocked(monkeypatch, news):
    monkeypatch.setattr(akshare, "stock_news_em", Fake(pd.DataFrame()))
    with pytest.raises(SourceError, match=r"stock_news_em\(002230\): no data or blocked \(eastmoney.com\)"):
        news.company_news(resolve("002230"), D(2023, 5, 24), D(2023, 5, 24))


def test_cls_flash(monkeypatch, news):
    fake = Fake(cls())
    monkeypatch.setattr(akshare, "stock_info_global_cls", fake)
    out = news.cls_flash(D(2023, 5, 24), D(2023, 5, 24))
    assert fake.calls[0] == {"symbol": "全部"}
    assert_canonical(out)
    assert list(out["ts"]) == [ts("2023-05-24 14:35:12"), ts("2023-05-24 15:01:05")]
    assert out["symbol"].isna().all() and set(out["source"]) == {"财联社"}
    assert out["title"].iloc[0].startswith("【科大讯飞：网传小作文系AI生成】")   # untitled: from the text
    assert out["title"].iloc[1] == "深成指跌0.84%"


def test_em_flash(monkeypatch, news):
    monkeypatch.setattr(akshare, "stock_info_global_em", Fake(em_flash()))
    out = news.em_flash(D(2023, 5, 24), D(2023, 5, 24))
    assert_canonical(out)
    assert list(out["ts"]) == [ts("2023-05-24 13:42:18"), ts("2023-05-24 15:00:31")]
    assert out["symbol"].isna().all() and set(out["source"]) == {"东方财富快讯"}
    assert out["url"].iloc[0] == "https://finance.eastmoney.com/a/202305242732000004.html"


@pytest.mark.parametrize("mapper, frame, column, extra", [
    (map_announcements, cninfo, "公告时间", ()),
    (map_irm, irm, "回答内容", ()),
    (map_sse, sse, "回答", (NOW,)),
    (map_news_em, news_em, "发布时间", ("002230",)),
    (map_cls, cls, "内容", ()),
    (map_em_flash, em_flash, "标题", ()),
])
def test_changed_schema_names_the_missing_column(mapper, frame, column, extra):
    with pytest.raises(SchemaChanged, match=f"missing {column}"):
        mapper(frame().drop(columns=[column]), "akshare f()", *extra)


def test_unparsable_times_are_schema_changed():
    raw = news_em()
    raw["发布时间"] = "昨天"
    with pytest.raises(SchemaChanged, match="发布时间"):
        map_news_em(raw, "akshare stock_news_em(002230)", "002230")


# --- combined ---------------------------------------------------------------------------------------


def _patch_all(monkeypatch, **overrides):
    fakes = {"stock_zh_a_disclosure_report_cninfo": Fake(cninfo()), "stock_irm_cninfo": Fake(irm()),
             "stock_sns_sseinfo": Fake(sse()), "stock_news_em": Fake(news_em()),
             "stock_info_global_cls": Fake(cls()), "stock_info_global_em": Fake(em_flash())}
    fakes.update(overrides)
    for name, fake in fakes.items():
        monkeypatch.setattr(akshare, name, fake)
    return fakes


def test_news_for_a_shenzhen_stock_combines_its_feeds(monkeypatch, news):
    fakes = _patch_all(monkeypatch)
    out = news.news(resolve("002230"), D(2023, 5, 24), D(2023, 5, 24))
    assert_canonical(out)
    assert not fakes["stock_sns_sseinfo"].calls                       # SSE platform not asked for SZ
    assert list(out["kind"]) == ["announcement", "news", "news", "qa_reply"]
    assert list(out["ts"]) == [ts("2023-05-24"), ts("2023-05-24 15:40:56"), ts("2023-05-24 16:28:10"),
                               ts("2023-05-24 17:05:12")]
    assert out.attrs["failed_feeds"] == []


def test_news_for_a_shanghai_stock_uses_e_interaction(monkeypatch, news):
    fakes = _patch_all(monkeypatch)
    out = news.news(resolve("603119"), D(2024, 5, 1), D(2024, 5, 31))
    assert not fakes["stock_irm_cninfo"].calls and fakes["stock_sns_sseinfo"].calls
    assert set(out["kind"]) == {"qa_reply"}


def test_one_failing_feed_is_reported_not_fatal(monkeypatch, news):
    _patch_all(monkeypatch, stock_irm_cninfo=Fake(requests.ConnectionError("[Errno 111] Connection refused")))
    out = news.news(resolve("002230"), D(2023, 5, 24), D(2023, 5, 24))
    assert list(out["kind"]) == ["announcement", "news", "news"]
    (failed,) = out.attrs["failed_feeds"]
    assert failed.startswith("irm_replies: akshare stock_irm_cninfo(002230) failed after 2 tries: "
                             "connection refused (irm.cninfo.com.cn)")


def test_strict_news_raises_on_any_failing_feed(monkeypatch, net):
    _patch_all(monkeypatch, stock_irm_cninfo=Fake(KeyError("rows")))
    with pytest.raises(SourceError, match="stock_irm_cninfo.*lacks key 'rows'"):
        AkshareNews(net=net, strict=True).news(resolve("002230"), D(2023, 5, 24), D(2023, 5, 24))


def test_every_feed_failing_raises_one_line(monkeypatch, news):
    boom = requests.ConnectionError("Remote end closed connection without response")
    _patch_all(monkeypatch, stock_zh_a_disclosure_report_cninfo=Fake(boom), stock_irm_cninfo=Fake(boom),
               stock_news_em=Fake(boom))
    with pytest.raises(SourceError) as info:
        news.news(resolve("002230"), D(2023, 5, 24), D(2023, 5, 24))
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("akshare news for 002230 2023-05-24..2023-05-24: announcements: ")
    assert "irm_replies: " in msg and "company_news: " in msg


def test_market_news_for_none_and_indices(monkeypatch, news):
    fakes = _patch_all(monkeypatch)
    out = news.news(None, D(2023, 5, 24), D(2023, 5, 24))
    assert len(out) == 4 and out["symbol"].isna().all()
    assert not fakes["stock_news_em"].calls
    assert len(news.news(resolve("399001"), D(2023, 5, 24), D(2023, 5, 24))) == 4


def test_akshare_source_news_delegates(monkeypatch, net):
    _patch_all(monkeypatch)
    out = AkshareSource(net=net).news(resolve("002230"), D(2023, 5, 24), D(2023, 5, 24))
    assert len(out) == 4 and set(out["symbol"]) == {"002230"}


def test_empty_news_is_canonical():
    e = empty_news()
    assert e.empty and list(e.columns) == NEWS_COLUMNS and str(e["ts"].dt.tz) == TZ
