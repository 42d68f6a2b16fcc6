"""The indexed correlator (``link_events``: ``newsindex.NewsIndex`` + batch linking) gives the same
events as the straightforward per-event path (``_prepare_news`` + ``_link`` per event) — links,
scores, reasons, roles, verdicts, explanations and order, byte for byte.

The archive is SYNTHETIC and seeded; it is built to reach the paths where a shortcut could go
wrong: names met through fullwidth, compatibility and Kangxi forms or next to combining marks,
codes beside other digits (ASCII, fullwidth, Arabic-Indic), overlapping and latin aliases, co-subjects
and passing mentions, market-wide items that name a company, company statements, near-duplicate
titles, every timestamp precision, items after the close and on weekends, repeated ids, unsorted
input, intraday onsets and several records per symbol-day.
"""
from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest

from anomaly import correlate
from anomaly.correlate import LinkConfig, link_events

TZ = "Asia/Shanghai"
REAL = {"002230": "科大讯飞", "300188": "美亚柏科", "002415": "海康威视", "600519": "贵州茅台",
        "000651": "格力电器", "601138": "工业富联"}
_A, _B = "华中恒金瑞东南北海天龙鑫泰盛嘉长安宏远新光明科创", "丰源晟宇锦博辰川峰岭港湾星辉泽润弘翔腾飞凯越"
_TAILS = ("科技", "股份", "电子", "医药", "精工", "金属")


def _archive(seed: int = 11, n_news: int = 2200, n_records: int = 80):
    from anomaly import calendar
    from anomaly.simulate import synthetic_symbols
    from anomaly.schema import anomalies_frame

    rng = np.random.default_rng(seed)
    syms = sorted(set(synthetic_symbols(150)["symbol"]) | set(REAL))
    names, used = {}, set(REAL.values())
    for s in syms:
        if s in REAL:
            names[s] = REAL[s]
            continue
        while True:
            n = _A[rng.integers(len(_A))] + _B[rng.integers(len(_B))] + _TAILS[rng.integers(len(_TAILS))]
            if n not in used:
                used.add(n)
                names[s] = n
                break
    focus = list(REAL) + syms[:6]

    def name_form(s: str) -> str:
        """The company as a text might write it."""
        n, u = names[s], rng.random()
        if s == "002230" and u < 0.3:
            return ["讯飞", "iFlytek", "ＩＦＬＹＴＥＫ", "IFLYTEK", "iFLYTEK星火", "İflytek"][rng.integers(6)]
        if u < 0.05:
            return n.replace("金", "⾦")                  # Kangxi radical: NFKC gives 金
        if u < 0.08:
            return n[:2] + "\u0301" + n[2:]              # a combining mark inside the name
        if u < 0.12:
            return f"{n}({s})"
        if u < 0.15:
            return [f"代码{s}1", f"SZ{s}", f"({s})", "".join(chr(0xFF10 + int(c)) for c in s),
                    "\u0663" + s, s + "号"][rng.integers(6)]
        return n

    days = pd.date_range("2023-03-01", "2023-06-30", freq="D")
    rows = []
    for i in range(n_news):
        s = focus[rng.integers(len(focus))] if rng.random() < 0.45 else syms[rng.integers(len(syms))]
        other = syms[rng.integers(len(syms))]
        u = rng.random()
        kind, symbol, source, body = "news", s, ["财联社", "证券时报", "微博", ""][rng.integers(4)], None
        if u < 0.25:
            title = [f"A股三大指数集体低开{rng.integers(100)}", "北向资金净买入", f"沪指收涨0.{rng.integers(99)}%",
                     f"{name_form(other)}领涨，半导体走强", f"代码{other}1异动", "！！！", "——"][rng.integers(7)]
            symbol = None
            if rng.random() < 0.1:
                kind, source = "statement", names[other]
        elif u < 0.33:
            title = [f"网传{name_form(s)}被立案调查", f"小作文：{name_form(s)}核心客户流失",
                     f"据悉{name_form(s)}拟重组"][rng.integers(3)]
            kind = "social"
        elif u < 0.40:
            title = [f"{name_form(s)}澄清：网传消息不实", f"{name_form(s)}回应：系谣言，已报警",
                     f"{name_form(s)}声明：将追究法律责任"][rng.integers(3)]
            kind = ["announcement", "statement", "qa_reply"][rng.integers(3)]
            source = [names[s], names[s] + "董秘", "财联社"][rng.integers(3)]
        elif u < 0.48:
            real = list(REAL)[rng.integers(len(REAL))]                       # a known company
            title = [f"{name_form(s)}、{name_form(real)}联合发布新品", f"{names[real]}领衔，{name_form(s)}跟涨"][
                rng.integers(2)]
        elif u < 0.55:
            other = list(REAL)[rng.integers(len(REAL))] if rng.random() < 0.7 else other
            title = f"{name_form(other)}发布年报，营收增长"                       # passing mention in body
            body = f"合作伙伴包括{name_form(s)}等多家公司"
            symbol = None if rng.random() < 0.5 else other
        else:
            title = f"{name_form(s)}发布{rng.integers(1, 5)}季度报告，营收同比增长{rng.integers(1, 40)}%"
            body = f"据公司公告，{name_form(s)}相关事项以正式披露为准。" if rng.random() < 0.7 else None
            if rng.random() < 0.15:
                title = title.replace(names[s], "公司")
        if rng.random() < 0.05:
            symbol = other if symbol is not None else symbol
        d = days[rng.integers(len(days))]
        prec = ["second", "minute", "session", "day"][rng.choice(4, p=[0.45, 0.35, 0.08, 0.12])]
        minute = int(rng.integers(0, 24 * 60)) if rng.random() < 0.5 else int(rng.integers(570, 900))
        ts = d + pd.Timedelta(minutes=minute, seconds=int(rng.integers(60)) if prec == "second" else 0)
        if prec == "day":
            ts = d
        rows.append({"id": f"n{i:05d}", "ts": ts.tz_localize(TZ), "ts_precision": prec, "symbol": symbol,
                     "source": source, "kind": kind, "title": title, "body": body, "url": None})
    news = pd.DataFrame(rows)
    dup = news.sample(n=100, random_state=seed).copy()                 # near-duplicate titles
    dup["title"] = [t + (" - 新浪财经" if k % 2 else "！") for k, t in enumerate(dup["title"])]
    dup["ts"] = dup["ts"] + pd.to_timedelta(rng.integers(0, 7200, len(dup)), unit="s")
    dup["source"] = "新浪财经"
    dup["id"] = [f"d{k:04d}" for k in range(len(dup))]
    dup.iloc[:3, dup.columns.get_loc("id")] = news["id"].iloc[:3].to_numpy()   # repeated ids
    news = pd.concat([news, dup], ignore_index=True).sort_values(["ts", "id"], kind="stable")
    news = news.reset_index(drop=True)

    trading = calendar.trading_days("2023-03-10", "2023-06-20")
    recs = []
    for k in range(n_records):
        s = focus[k % len(focus)] if k < 40 else syms[rng.integers(len(syms))]
        d = trading[rng.integers(len(trading))]
        if rng.random() < 0.35:
            m = int(rng.integers(0, 230))
            st = (d + pd.Timedelta(hours=9, minutes=30 + m + (90 if m >= 120 else 0))).tz_localize(TZ)
            recs.append(dict(symbol=s, kind="cliff", start=st, end=st + pd.Timedelta(minutes=int(rng.integers(1, 15))),
                             magnitude=-float(rng.uniform(0.03, 0.1)), reference="pre_move_level",
                             score=-float(rng.uniform(3, 9)), p_value=1e-4, details={"minutes": 5}))
        recs.append(dict(symbol=s, kind=["range_crash", "volume_surge", "limit_up_close"][rng.integers(3)],
                         start=(d + pd.Timedelta(hours=9, minutes=30)).tz_localize(TZ),
                         end=(d + pd.Timedelta(hours=15)).tz_localize(TZ), magnitude=float(rng.uniform(-0.1, 0.1)),
                         reference="prev_close", score=float(rng.uniform(-6, 6)), p_value=None, details={}))
    anomalies = anomalies_frame(pd.DataFrame(recs))
    meta = pd.DataFrame({"name": [names[s] for s in syms], "industry": ""}, index=pd.Index(syms, name="symbol"))
    return news, anomalies, meta


@pytest.fixture(scope="module")
def archive():
    return _archive()


def _same(*args, **kw) -> tuple[str, str]:
    fast = json.dumps(link_events(*args, **kw), sort_keys=True, ensure_ascii=False)
    ref = json.dumps(correlate._link_events(*args, reference=True, **kw), sort_keys=True, ensure_ascii=False)
    return fast, ref


def test_fast_path_gives_the_reference_events(archive):
    news, anomalies, meta = archive
    fast, ref = _same(anomalies, news, None, None, meta=meta)
    assert fast == ref
    events = json.loads(fast)
    links = [l for e in events for l in e["news"]]
    # the archive reaches the interesting paths
    assert len(events) >= 70 and len(links) > 300
    reasons = " | ".join(r for l in links for r in l["reasons"])
    for part in ("names iFlytek in title", "co-subject with", "title is led by", "only in passing", "market-wide item",
                 "near-duplicate", "clarification cue", "rumor cue", "time known only to the day",
                 "the company's own statement", "filed under another symbol"):
        assert part in reasons, part
    assert {e["onset_precision"] for e in events} == {"minute", "day"}


def test_fast_path_with_config_and_unsorted_news(archive):
    news, anomalies, meta = archive
    cfg = LinkConfig(aliases={"002230": ("讯飞公司", "IFLY"), "300188": ("美亚", "美亚\n柏科"), "999999": ("华丰科技",)},
                     max_market_links=2, precursor_days=3, duplicate_threshold=0.6)
    fast, ref = _same(anomalies, news, None, None, meta=meta, config=cfg)
    assert fast == ref
    shuffled = news.sample(frac=1, random_state=5)
    fast, ref = _same(anomalies.iloc[:40], shuffled, None, None)
    assert fast == ref


def test_fast_path_edge_configs(archive):
    news, anomalies, meta = archive
    cfg = LinkConfig(aliases={"002230": ("Crédit Agricole", "Tech+.co[1]"), "300188": ("美亚柏科",)},
                     relevance={"market": 0.0}, max_links=3)
    fast, ref = _same(anomalies.iloc[:50], news, None, None, meta=meta, config=cfg)
    assert fast == ref


def test_fast_path_on_an_unvalidated_frame():
    """A frame that skips validation (tz-aware ts, ids present): missing and non-string cells, a
    missing precision, symbols spelled oddly, items from before 1992 (clock changes in Shanghai)."""
    ts = pd.to_datetime(["2023-05-24 10:00", "2023-05-24 12:10", "2023-05-23 20:00", "1991-07-01 10:00",
                         "2023-05-24 00:00", "2023-05-25 09:40", "2023-05-24 10:05"]).tz_localize(TZ)
    news = pd.DataFrame({
        "id": ["a", "b", "c", "d", "e", "f", "g"], "ts": ts,
        "ts_precision": ["second", None, "minute", "second", "day", "second", "second"],
        "symbol": ["002230", "", None, "002230", 2230, "002230", np.nan],
        "source": [None, "e公司", "", None, "科大讯飞", None, None],
        "kind": ["news", "social", "statement", "news", "statement", "announcement", "news"],
        "title": ["科大讯飞发布新品", None, "科大讯飞回应传闻", "讯飞旧闻", 12345, "科大讯飞澄清公告", "ＩＦＬＹＴＥＫ跌停"],
        "body": [None, "网传讯飞出事", 3.5, None, float("nan"), "不实", None],
        "url": [None, None, None, None, None, None, None]}, dtype=object)
    news["ts"] = ts
    rec = dict(symbol="002230", kind="range_crash", start=pd.Timestamp("2023-05-24 09:30", tz=TZ),
               end=pd.Timestamp("2023-05-24 15:00", tz=TZ), magnitude=-0.09, reference="prev_close", score=-5.0,
               p_value=None, details={})
    fast, ref = _same(pd.DataFrame([rec]), news, None, None)
    assert fast == ref and json.loads(fast)[0]["news"]
    strings = news.assign(title=pd.Series(["科大讯飞发布新品", None, "科大讯飞回应传闻", "讯飞旧闻", "讯飞", "科大讯飞澄清公告",
                                           float("nan")], dtype=object))
    fast, ref = _same(pd.DataFrame([rec]), strings, None, None)         # object titles, some missing
    assert fast == ref
    nullable = strings.assign(title=strings["title"].astype("string"), body=strings["body"].astype(str))
    fast, ref = _same(pd.DataFrame([rec]), nullable, None, None)        # pd.NA titles
    assert fast == ref


def test_fast_path_restores_interpreter_state(archive):
    import gc

    news, anomalies, _ = archive
    interval, enabled = sys.getswitchinterval(), gc.isenabled()
    link_events(anomalies.iloc[:5], news, None, None)
    assert sys.getswitchinterval() == interval and gc.isenabled() == enabled
    assert link_events(anomalies.iloc[:5], news.iloc[:0], None, None) == \
        correlate._link_events(anomalies.iloc[:5], news.iloc[:0], None, None, reference=True)


def test_unicode_facts_the_name_scan_relies_on():
    """Among canonical composites only İ lower-cases into an ASCII or unified CJK character (and
    'I' + combining dot lower-cases to the same text raw or normalised); the flag class catches the
    raw forms that normalise into a literal's characters."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from anomaly import newsindex

    _, composites = newsindex._context_chars()
    assert [c for c in composites if any(newsindex._inert(x) for x in c.lower())] == ["\u0130"]
    flag = newsindex._flag_class(frozenset("金0123456789iflytek"))

    probe = pa.array(["⾦", "金", "０", "①", "ＩＦＬＹ", "IFLY", "ﬂ", "x"], type=pa.large_string())
    assert pc.match_substring_regex(probe, flag).to_pylist() == [True, False, True, True, True, False, True, False]
