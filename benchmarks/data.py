"""SYNTHETIC inputs for the link benchmark: company names, news items and anomaly records.

Nothing here is real news. Items are built from templates so that the correlator meets every path
it has in production: items filed under a stock that name it in the title or only in the body,
market-wide items (no symbol) that name no company, a few market-wide items that do name one, rumor
cues (网传, 小作文, 据悉 …), clarification cues (澄清, 不实, 辟谣 …), exact (second/minute) and
coarse (session/day) timestamps, items published in the lunch break, after the close and on
weekends. Every frame carries ``attrs["synthetic"] = True``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

TZ = "Asia/Shanghai"

_FIRST = list("华中恒金瑞东南北海天龙鑫泰盛嘉长安宏远新光明科创达信诚通汇联银云和德荣")
_SECOND = list("丰源晟宇锦博辰川峰岭港湾星辉泽润弘翔腾飞凯越昌隆智慧航盈")
_TAIL = ["科技", "股份", "电子", "医药", "能源", "材料", "智能", "环保", "控股", "精工", "生物", "传媒"]

_SPECIFIC = [
    "{name}发布{q}季度报告，营收同比增长{x}%", "{name}：关于股东减持股份计划的公告", "{name}获机构调研，聚焦新业务进展",
    "{name}中标{x}亿元项目", "{name}回购股份进展公告", "{name}董事会决议公告", "{name}涨停，换手率{x}%",
    "{name}盘中跳水，成交额放大", "券商研报：维持{name}买入评级", "{name}互动易回复：产品已实现量产",
]
_RUMOR = ["网传{name}被立案调查", "小作文称{name}核心客户流失", "据悉{name}拟重大资产重组", "市场传言{name}高管被带走"]
_CLAR = ["{name}澄清：网传消息不实", "{name}发布澄清公告，否认相关传闻", "{name}回应：系谣言，已报警"]
_MARKET = [
    "沪指收涨{x}%，两市成交额超{y}亿元", "央行开展{y}亿元逆回购操作", "北向资金净买入{y}亿元", "A股三大指数集体低开",
    "统计局：{q}月CPI同比上涨{x}%", "证监会：进一步活跃资本市场", "创业板指午后拉升，半导体板块走强", "多只新股今日申购",
]
_BODY = "据公司公告及公开信息整理，{name}相关事项以公司正式披露为准。"


def company_names(symbols) -> dict[str, str]:
    """A distinct synthetic Chinese short name per symbol (deterministic in the symbol list)."""
    out, seen = {}, set()
    rng = np.random.default_rng(12345)
    for s in symbols:
        while True:
            n = (_FIRST[rng.integers(len(_FIRST))] + _SECOND[rng.integers(len(_SECOND))]
                 + _TAIL[rng.integers(len(_TAIL))])
            if n not in seen:
                seen.add(n)
                out[s] = n
                break
    return out


def make_news(n: int, symbols, names: dict[str, str], start="2023-01-03", end="2023-12-29",
              seed: int = 5) -> pd.DataFrame:
    """``n`` canonical news items spread over [start, end] (calendar days, weekends included)."""
    rng = np.random.default_rng(seed)
    symbols = np.asarray(list(symbols), dtype=object)
    day0 = pd.Timestamp(start).value
    span_days = (pd.Timestamp(end) - pd.Timestamp(start)).days + 1
    day = rng.integers(0, span_days, n)
    # time of day: half in the sessions, the rest before the open, at lunch and in the evening
    minute = np.where(rng.random(n) < 0.5, rng.integers(9 * 60 + 30, 15 * 60, n), rng.integers(0, 24 * 60, n))
    second = rng.integers(0, 60, n)
    ts_ns = day0 + day * 86_400_000_000_000 + minute * 60_000_000_000 + second * 1_000_000_000
    prec = rng.choice(np.array(["second", "minute", "session", "day"]), size=n, p=[0.45, 0.4, 0.05, 0.1])
    ts_ns = np.where(prec == "minute", ts_ns - second * 1_000_000_000, ts_ns)
    ts_ns = np.where(prec == "day", day0 + day * 86_400_000_000_000, ts_ns)
    ts = pd.to_datetime(ts_ns).tz_localize(TZ)
    u = rng.random(n)
    market = u < 0.35
    sym = rng.choice(symbols, size=n)
    kind_u = rng.random(n)
    titles, bodies, kinds, syms = [], [], [], []
    q = rng.integers(1, 5, n)
    x = np.round(rng.uniform(0.1, 30, n), 2)
    y = rng.integers(100, 9000, n)
    t_spec = rng.integers(len(_SPECIFIC), size=n)
    t_mkt = rng.integers(len(_MARKET), size=n)
    t_r = rng.integers(len(_RUMOR), size=n)
    t_c = rng.integers(len(_CLAR), size=n)
    in_body = rng.random(n) < 0.15
    market_names = rng.random(n) < 0.05
    for i in range(n):
        s = sym[i]
        nm = names[s]
        if market[i]:
            t = _MARKET[t_mkt[i]].format(x=x[i], y=y[i], q=q[i])
            if market_names[i]:
                t = f"{t}，{nm}领涨"
            titles.append(t)
            bodies.append(None)
            kinds.append("news")
            syms.append(None)
            continue
        k = kind_u[i]
        if k < 0.03:
            t, kd = _RUMOR[t_r[i]].format(name=nm), "social"
        elif k < 0.05:
            t, kd = _CLAR[t_c[i]].format(name=nm), "announcement"
        elif k < 0.35:
            t, kd = _SPECIFIC[t_spec[i]].format(name=nm, x=x[i], q=q[i]), "announcement"
        else:
            t, kd = _SPECIFIC[t_spec[i]].format(name=nm, x=x[i], q=q[i]), "news"
        if in_body[i]:
            t = t.replace(nm, "公司")
        titles.append(t)
        bodies.append(_BODY.format(name=nm))
        kinds.append(kd)
        syms.append(s)
    df = pd.DataFrame({"id": [f"n{i:08d}" for i in range(n)], "ts": ts, "ts_precision": prec, "symbol": syms,
                       "source": rng.choice(np.array(["财联社", "东方财富", "证券时报", "互动易", "微博"]), size=n),
                       "kind": kinds, "title": titles, "body": bodies, "url": None})
    df = df.sort_values(["ts", "id"], kind="stable").reset_index(drop=True)
    df.attrs["synthetic"] = True
    return df


def make_anomalies(n: int, symbols, start="2023-02-01", end="2023-11-30", seed: int = 9) -> pd.DataFrame:
    """``n`` daily anomaly records (``range_crash``) on random symbol × trading days."""
    from anomaly import calendar as cal
    from anomaly.schema import anomalies_frame

    rng = np.random.default_rng(seed)
    days = cal.trading_days(start, end)
    symbols = np.asarray(list(symbols), dtype=object)
    pairs = set()
    while len(pairs) < n:
        k = n - len(pairs)
        for s, d in zip(rng.choice(symbols, size=k), rng.integers(0, len(days), size=k)):
            pairs.add((s, int(d)))
    pairs = sorted(pairs)
    ts = (days[[d for _, d in pairs]] + pd.Timedelta(hours=15)).tz_localize(TZ)
    mag = -rng.uniform(0.05, 0.10, n)
    recs = pd.DataFrame({"symbol": [s for s, _ in pairs], "kind": "range_crash", "start": ts, "end": ts,
                         "magnitude": mag, "reference": "prev_close", "score": -rng.uniform(4, 8, n),
                         "p_value": np.nan, "details": [{} for _ in range(n)]})
    out = anomalies_frame(recs)
    out.attrs["synthetic"] = True
    return out
