"""The correlator: session-aware placement, roles, ranking, verdicts, explanation, determinism."""
from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from anomaly.correlate import LinkConfig, events_json, link_events, meets_market
from anomaly.news import read_news_file
from anomaly.schema import validate_news

TZ = "Asia/Shanghai"


def T(s: str) -> pd.Timestamp:
    return pd.Timestamp(s, tz=TZ)


@pytest.fixture(scope="module")
def sample():
    from anomaly.sources.sample import SampleSource, sample_daily_bars
    from anomaly.symbols import resolve

    bars = sample_daily_bars()
    news = SampleSource().news(resolve("002230"), dt.date(2023, 5, 1), dt.date(2023, 6, 30))
    return (bars[bars["symbol"] == "002230"].reset_index(drop=True),
            bars[bars["symbol"] == "399001.SZ"].reset_index(drop=True), news)


def crash_record(day="2023-05-24", **kw):
    rec = dict(symbol="002230", kind="range_crash", start=T(f"{day} 09:30"), end=T(f"{day} 15:00"),
               magnitude=-0.0946, reference="prev_close", score=-5.0, p_value=None,
               details={"close_return": -0.0426, "recovery_off_low": 0.0574, "low_vs_prev_close": -0.0946})
    rec.update(kw)
    return rec


def news_frame(rows) -> pd.DataFrame:
    base = {"ts_precision": "second", "symbol": None, "source": "test", "kind": "news", "body": None, "url": None}
    return validate_news(pd.DataFrame([{**base, **r} for r in rows]), origin="test news")


# --- market time -----------------------------------------------------------------------------------

@pytest.mark.parametrize("ts,precision,lo,hi", [
    ("2023-05-24 10:00:00", "second", "2023-05-24 10:00:00", "2023-05-24 10:00:00"),    # in session: at once
    ("2023-05-24 12:10:00", "second", "2023-05-24 13:00", "2023-05-24 13:00"),          # lunch break → 13:00
    ("2023-05-24 11:30:00", "minute", "2023-05-24 13:00", "2023-05-24 13:00"),          # morning ended
    ("2023-05-24 08:05:00", "second", "2023-05-24 09:30", "2023-05-24 09:30"),          # pre-open → open
    ("2023-05-24 15:00:00", "second", "2023-05-25 09:30", "2023-05-25 09:30"),          # at the close → next open
    ("2023-05-24 15:40:56", "second", "2023-05-25 09:30", "2023-05-25 09:30"),          # after close
    ("2023-05-26 20:00:00", "second", "2023-05-29 09:30", "2023-05-29 09:30"),          # Friday evening → Monday
    ("2023-05-27 10:00:00", "minute", "2023-05-29 09:30", "2023-05-29 09:30"),          # Saturday → Monday open
    ("2023-06-21 16:00:00", "second", "2023-06-26 09:30", "2023-06-26 09:30"),          # before 端午 holiday
    ("2023-05-24 00:00:00", "day", "2023-05-24 09:30", "2023-05-25 09:30"),             # day: open .. next open
    ("2023-05-27 00:00:00", "day", "2023-05-29 09:30", "2023-05-29 09:30"),             # Saturday, day precision
    ("2023-05-24 13:00:00", "session", "2023-05-24 13:00", "2023-05-24 14:59:59.999999"),  # afternoon segment
    ("2023-05-24 15:00:00", "session", "2023-05-25 09:30", "2023-05-25 09:30"),          # after-close segment
    ("2023-05-24 00:00:00", "session", "2023-05-24 09:30", "2023-05-24 09:30"),          # pre-open segment
])
def test_meets_market_table(ts, precision, lo, hi):
    assert meets_market(T(ts), precision) == (T(lo), T(hi))


# --- acceptance on the real 2023-05-24 sample ------------------------------------------------------

def test_acceptance_002230_2023_05_24(sample):
    bars, index_bars, news = sample
    events = link_events(pd.DataFrame([crash_record()]), news, bars, index_bars)
    assert len(events) == 1
    ev = events[0]
    assert ev["id"] == "002230@2023-05-24" and ev["name"] == "科大讯飞"
    assert ev["verdict"] == "news_linked"
    assert ev["onset"] == "2023-05-24T09:30:00+08:00" and ev["onset_precision"] == "day"
    links = ev["news"]
    by_title = {l["title"][:6]: l for l in links}
    # the two rumors first, as precursor/concurrent
    assert [l["kind"] for l in links[:2]] == ["social", "social"]
    assert {l["role"] for l in links[:2]} <= {"precursor", "concurrent"}
    assert all(l["score"] < links[1]["score"] for l in links[2:])
    for l in links[:2]:
        assert any(r.startswith("rumor cue") for r in l["reasons"])
        assert any("time known only to the day" in r for r in l["reasons"])
    # the company's statement, the broker note and the 互动易 reply answer the rumor
    roles = {l["kind"]: l["role"] for l in links}
    assert by_title["科大讯飞回应"]["role"] in ("clarification", "response")
    assert roles["broker_note"] in ("clarification", "response")
    assert roles["qa_reply"] in ("clarification", "response")
    assert by_title["科大讯飞回应"]["role"] == "clarification"
    # the timed reports are responses
    timed = {l["ts"]: l for l in links}
    assert timed["2023-05-24T15:40:56+08:00"]["role"] == "response"
    assert timed["2023-05-24T16:28:10+08:00"]["role"] == "response"
    assert by_title["文心一言市场"]["role"] == "response"
    # next trading day's English report is a response; 05-26 is beyond the next session
    assert timed["2023-05-25T00:00:00+08:00"]["role"] == "response"
    assert "names iFlytek in title" in timed["2023-05-25T00:00:00+08:00"]["reasons"]
    assert "2023-05-26T00:00:00+08:00" not in timed
    assert len(links) == 9
    # every link carries a score and reasons; ranked by score
    for l in links:
        assert 0 <= l["score"] <= 1 and l["reasons"]
        assert set(l) >= {"id", "ts", "ts_precision", "source", "kind", "title", "url", "role", "score", "reasons"}
    assert [l["score"] for l in links] == sorted((l["score"] for l in links), reverse=True)
    # event study
    es = ev["event_study"]
    assert es["benchmark"] == "399001.SZ"
    assert set(es["estimation"]) >= {"start", "end", "n", "alpha", "beta", "sigma"}
    assert [w["window"] for w in es["windows"]] == ["[0,0]", "[-1,1]", "[0,5]"]
    assert all(w["car"] is not None and w["t"] is not None and w["p"] is not None for w in es["windows"])
    assert ev["recovery"] == pytest.approx((56.57 - 53.50) / (59.09 - 53.50), abs=1e-6)
    assert ev["severity"] == 5.0
    x = ev["explanation"]
    for part in ("科大讯飞 (002230) 2023-05-24", "fell as far as 9.46 % below the previous close intraday", "−4.26 %", "+5.74 % off the low", "vs 深证成指",
                 "「小作文：科大讯飞", "company called it false (不实, 虚假)"):
        assert part in x, (part, x)
    json.dumps(events, ensure_ascii=False, allow_nan=False)


def test_deterministic_and_order_independent(sample):
    bars, index_bars, news = sample
    an = pd.DataFrame([crash_record(), crash_record(kind="volume_surge", magnitude=1.45, score=8.0,
                                                    reference="trailing_median", details={})])
    a = events_json(link_events(an, news, bars, index_bars))
    b = events_json(link_events(an.iloc[::-1], news.sample(frac=1, random_state=3), bars, index_bars))
    assert a == b
    ev = json.loads(a)[0]
    assert ev["anomaly"]["kind"] == "range_crash"          # primary by kind priority, not raw |score|
    assert len(ev["anomalies"]) == 2
    assert ev["severity"] == 8.5                             # max |score| + 0.5 per extra kind


def test_no_public_news(sample):
    bars, index_bars, news = sample
    rec = crash_record("2023-06-01", kind="limit_up_close", magnitude=0.1, score=4.0, details={})
    ev = link_events(pd.DataFrame([rec]), news, bars, index_bars)[0]
    assert ev["verdict"] == "no_public_news" and ev["news"] == []
    assert "no public news found in [2023-05-30 09:30 – 2023-06-02 15:00]" in ev["explanation"]
    ev2 = link_events(pd.DataFrame([rec]), None, bars, index_bars)[0]
    assert ev2["verdict"] == "no_public_news"
    assert ev2["news_window"] == {"start": "2023-05-30T09:30:00+08:00", "end": "2023-06-02T15:00:00+08:00"}


def test_passing_mention_ranks_below_own_news(tmp_path, sample):
    bars, index_bars, _ = sample
    archive = tmp_path / "archive.csv"
    archive.write_text(
        "ts,symbol,source,kind,title,body\n"
        "2023-05-24 10:00:00,,券商中国,news,美亚柏科发布2022年年报，营收同比增长,合作伙伴包括科大讯飞等多家公司\n"
        "2023-05-24 10:00:00,,证券时报,news,科大讯飞发布星火认知大模型升级,\n"
        "2023-05-24 10:05:00,002230,e公司,news,讯飞星火大模型将于6月发布,\n", encoding="utf-8")
    news = read_news_file(archive)
    ev = link_events(pd.DataFrame([crash_record()]), news, bars, index_bars)[0]
    ranked = [l["title"] for l in ev["news"]]
    passing = ranked.index("美亚柏科发布2022年年报，营收同比增长")
    assert passing == len(ranked) - 1
    assert ranked.index("科大讯飞发布星火认知大模型升级") < passing
    assert ranked.index("讯飞星火大模型将于6月发布") < passing
    p = ev["news"][passing]
    assert any("only in passing" in r for r in p["reasons"]) and p["score"] < 0.2
    assert ev["news"][0]["role"] == "concurrent"


def test_intraday_onset_roles_and_window(sample):
    bars, index_bars, _ = sample
    cliff = dict(symbol="002230", kind="cliff", start=T("2023-05-24 13:05"), end=T("2023-05-24 13:12"),
                 magnitude=-0.08, reference="pre_move_level", score=-9.0, p_value=1e-6, details={"minutes": 7})
    news = news_frame([
        {"ts": T("2023-05-24 12:10:00"), "symbol": "002230", "title": "午间传闻：科大讯飞遭调查"},
        {"ts": T("2023-05-24 13:08:00"), "symbol": "002230", "title": "科大讯飞盘中闪崩"},
        {"ts": T("2023-05-24 13:30:00"), "symbol": "002230", "title": "科大讯飞股价跳水原因"},
        {"ts": T("2023-05-24"), "ts_precision": "day", "symbol": "002230", "title": "科大讯飞今日股价异动"},
        {"ts": T("2023-05-23 20:00:00"), "symbol": "002230", "title": "科大讯飞晚间发布合作公告"},
        {"ts": T("2023-05-22 10:00:00"), "symbol": "002230", "title": "科大讯飞获北向资金增持"},
        {"ts": T("2023-05-19 10:00:00"), "symbol": "002230", "title": "科大讯飞举办开发者大会"},   # before window
        {"ts": T("2023-05-25 16:00:00"), "symbol": "002230", "title": "科大讯飞次日晚间点评"},     # after window
        *({"ts": T(f"2023-05-24 10:0{k}:00"), "title": f"A股{name}集体走低"} for k, name in
          enumerate(["三大指数", "沪指", "深成指", "创业板指"])),                                  # market-wide
    ])
    ev = link_events(pd.DataFrame([cliff]), news, bars, index_bars)[0]
    assert ev["onset"] == "2023-05-24T13:05:00+08:00" and ev["onset_precision"] == "minute"
    role = {l["title"]: l for l in ev["news"]}
    assert role["午间传闻：科大讯飞遭调查"]["role"] == "precursor"
    assert any("meets the market at 13:00" in r for r in role["午间传闻：科大讯飞遭调查"]["reasons"])
    assert role["科大讯飞盘中闪崩"]["role"] == "concurrent"
    assert role["科大讯飞股价跳水原因"]["role"] == "response"
    assert role["科大讯飞今日股价异动"]["role"] == "concurrent"
    assert any("time known only to the day" in r for r in role["科大讯飞今日股价异动"]["reasons"])
    assert role["科大讯飞晚间发布合作公告"]["role"] == "precursor"
    assert any("2023-05-24 09:30 open" in r for r in role["科大讯飞晚间发布合作公告"]["reasons"])
    assert any("2 trading days before" in r for r in role["科大讯飞获北向资金增持"]["reasons"])
    assert "科大讯飞举办开发者大会" not in role and "科大讯飞次日晚间点评" not in role
    market = [l for l in ev["news"] if l["title"].startswith("A股")]
    assert len(market) == 3                                   # max_market_links
    assert all(l["score"] < 0.1 and l["reasons"][0] == "market-wide item; does not name 科大讯飞" for l in market)
    assert ev["news"][-3:] == market
    # the rumor in the lunch break ranks first; older precursors decay
    assert ev["news"][0]["title"] == "午间传闻：科大讯飞遭调查"
    assert role["科大讯飞获北向资金增持"]["score"] < role["科大讯飞晚间发布合作公告"]["score"]


def test_near_duplicates_collapse_in_links(sample):
    bars, index_bars, _ = sample
    news = news_frame([
        {"ts": T("2023-05-24 15:50:00"), "symbol": "002230", "source": "新浪财经",
         "title": "科大讯飞闪崩跳水!刚刚,原因找到了 - 新浪财经"},
        {"ts": T("2023-05-24 15:40:56"), "symbol": "002230", "source": "大河财立方",
         "title": "科大讯飞闪崩跳水！刚刚，原因找到了"},
        {"ts": T("2023-05-24 16:10:00"), "symbol": "002230", "source": "东方财富", "title": "科大讯飞闪崩跳水！刚刚，原因找到了"},
    ])
    ev = link_events(pd.DataFrame([crash_record()]), news, bars, index_bars)[0]
    assert len(ev["news"]) == 1
    l = ev["news"][0]
    assert l["source"] == "大河财立方" and l["ts"] == "2023-05-24T15:40:56+08:00" and l["duplicates"] == 2
    assert "2 near-duplicates collapsed (新浪财经; 东方财富)" in l["reasons"]


def test_market_and_sector_wide(sample):
    bars, index_bars, news = sample
    an = pd.DataFrame([crash_record()])
    cs = pd.DataFrame([{"date": "2023-05-24", "scope": "market", "share": 0.62, "n": 292, "industry": None,
                        "direction": "down"}])
    ev = link_events(an, None, bars, index_bars, cross_section=cs)[0]
    assert ev["verdict"] == "market_wide"
    assert "the market moved together that day (62 % of 292 stocks)" in ev["explanation"]
    assert ev["cross_section"]["market"]["moved_together"] is True
    # strong company-specific news wins, and the explanation still mentions the market
    ev = link_events(an, news, bars, index_bars, cross_section=cs)[0]
    assert ev["verdict"] == "news_linked" and "note: the market moved together" in ev["explanation"]
    # a market move in the other direction does not explain a crash
    up = cs.assign(direction="up")
    assert link_events(an, None, bars, index_bars, cross_section=up)[0]["verdict"] == "no_public_news"
    # sector: only the stock's own industry counts
    sec = pd.DataFrame([{"date": "2023-05-24", "scope": "industry", "share": 0.7, "n": 10, "industry": "软件开发"},
                        {"date": "2023-05-24", "scope": "market", "share": 0.1, "n": 292, "industry": None}])
    ev = link_events(an, None, bars, index_bars, cross_section=sec)[0]
    assert ev["verdict"] == "sector_wide" and "its industry (软件开发) moved together" in ev["explanation"]
    other = sec.assign(industry=["银行", None])
    assert link_events(an, None, bars, index_bars, cross_section=other)[0]["verdict"] == "no_public_news"


def test_events_grouped_and_ordered(sample):
    bars, index_bars, news = sample
    recs = [crash_record("2023-06-01", kind="limit_up_close", magnitude=0.1, score=4.0, details={}),
            crash_record(), crash_record(kind="abnormal_return", magnitude=-0.034, score=-1.4,
                                         reference="market_model", details={})]
    events = link_events(pd.DataFrame(recs), news, bars, index_bars)
    assert [e["id"] for e in events] == ["002230@2023-05-24", "002230@2023-06-01"]
    assert [a["kind"] for a in events[0]["anomalies"]] == ["abnormal_return", "range_crash"]


def test_config_changes_window_and_event_study_notes(sample):
    bars, index_bars, news = sample
    cfg = LinkConfig(response_days=2)
    ev = link_events(pd.DataFrame([crash_record()]), news, bars, index_bars, config=cfg)[0]
    assert any(l["ts"].startswith("2023-05-26") for l in ev["news"])     # 05-26 now inside the window
    short = bars[bars["ts"] >= T("2023-03-01")]
    ev = link_events(pd.DataFrame([crash_record()]), news, short, index_bars)[0]
    assert ev["event_study"] is None and ev["notes"][0].startswith("event study skipped:")
    assert ev["verdict"] == "news_linked"


def test_link_config_from_dict():
    from anomaly.errors import ConfigError

    cfg = LinkConfig.from_dict({"precursor_days": 3, "linked_threshold": 0.6, "cues": {"rumor": 0.9},
                                "aliases": {"002230": ["讯飞公司"]}, "windows": [[0, 0], [0, 10]]})
    assert cfg.precursor_days == 3 and cfg.linked_threshold == 0.6
    assert cfg.cues["rumor"] == 0.9 and cfg.cues["clarification"] == 0.7
    assert cfg.aliases == {"002230": ("讯飞公司",)} and cfg.windows == ((0, 0), (0, 10))
    with pytest.raises(ConfigError, match=r"^link\.bogus: unknown key"):
        LinkConfig.from_dict({"bogus": 1})
    with pytest.raises(ConfigError, match=r"^link\.precursor_days: expected a whole number"):
        LinkConfig.from_dict({"precursor_days": 1.5})
    with pytest.raises(ConfigError, match=r"^link\.cues: unknown entry 'x'"):
        LinkConfig.from_dict({"cues": {"x": 1}})


@pytest.mark.parametrize("magnitude, words", [
    (0.1542, "1-day deviation (龙虎榜 screen) 15.42 % above the index (399001.SZ)"),
    (-0.0812, "1-day deviation (龙虎榜 screen) 8.12 % below the index (399001.SZ)"),
])
def test_deviation_records_are_described_against_the_index(sample, magnitude, words):
    """A deviation is the stock's return minus the index's: never 'vs prev_close'."""
    bars, index_bars, _ = sample
    rec = crash_record(kind="deviation_1d_lhb", magnitude=magnitude, reference="index", score=2.0,
                       details={"index": ["399001.SZ"], "threshold": [0.07]})
    ev = link_events(pd.DataFrame([rec]), None, bars, index_bars)[0]
    assert words in ev["explanation"] and "vs prev_close" not in ev["explanation"]


def test_intraday_cliff_text_gives_the_move_and_where_it_left_the_price(sample):
    """The cliff's own size (from its pre-move level) and its depth vs the previous close are different
    figures; the explanation says both, each for what it is."""
    bars, index_bars, _ = sample
    rec = crash_record(kind="cliff", start=T("2023-05-24 13:01"), end=T("2023-05-24 13:03"), magnitude=-0.0963,
                       details={"depth_vs_pre_move": -0.0804, "depth_vs_prev_close": -0.0963})
    ev = link_events(pd.DataFrame([rec]), None, bars, index_bars)[0]
    assert "fell 8.04 % in 2 min from 13:01 (cliff), to 9.63 % below the previous close" in ev["explanation"]
