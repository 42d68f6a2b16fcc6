"""Rebuild the bundled sample (anomaly/data/) from the research data set in ../shared/data.

Run once by a maintainer: ``python scripts/build_sample.py [SHARED_DATA_DIR]``. The output is
committed so a fresh clone works offline; see anomaly/data/PROVENANCE.md for what each value is.
Transformations: canonical column names, index symbols with exchange suffix, ``ts`` = trade date
15:00 Asia/Shanghai, 931071 turnover ``amount`` kept (no volume in source), news timeline rewritten
into the canonical news schema with Chinese paraphrased titles (originals kept in ``body``).
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "anomaly" / "data"
INDEX_FILES = {
    "399001.SZ": ("399001", "深证成指"), "000300.SH": ("000300", "沪深300"), "000852.SH": ("000852", "中证1000"),
    "000905.SH": ("000905", "中证500"), "000001.SH": ("000001", "上证指数"), "931071.CSI": ("931071", "中证人工智能"),
}
CANON = ["symbol", "date", "open", "high", "low", "close", "prev_close", "volume", "amount", "turnover"]


def daily(src: Path) -> pd.DataFrame:
    frames = []
    stock = pd.read_csv(src / "002230_daily_2020_2024.csv", dtype={"code": str})
    panel = pd.read_csv(src / "a_share_panel_daily_2022_2024.csv", dtype={"code": str})
    panel = panel[panel["code"] != "002230"]
    for f in (stock, panel):
        f = f.rename(columns={"code": "symbol", "turnover_pct": "turnover"})
        frames.append(f)
    for sid, (code, _) in INDEX_FILES.items():
        f = pd.read_csv(src / f"{code}_daily_2020_2024.csv")
        f["symbol"] = sid
        if "prev_close" not in f:
            f["prev_close"] = f["close"].shift(1)
        for c in ("volume", "turnover"):
            if c not in f:
                f[c] = float("nan")
        frames.append(f)
    out = pd.concat([f.reindex(columns=CANON) for f in frames], ignore_index=True)
    out["date"] = pd.to_datetime(out["date"]).dt.date
    out["volume"] = out["volume"].astype("float64")
    return out.sort_values(["symbol", "date"]).reset_index(drop=True)


def intraday(src: Path) -> pd.DataFrame:
    files = {
        "000001_5min_2021-04_2023-04.csv": ("000001.SH", "5min"),
        "399006_5min_2021-04_2023-04.csv": ("399006.SZ", "5min"),
        "000001_1min_2019-01_2019-02_and_2020-07.csv": ("000001.SH", "1min"),
        "600000_1min_2020-01-02_from_trades.csv": ("600000", "1min"),
    }
    frames = []
    for name, (sid, freq) in files.items():
        f = pd.read_csv(src / "intraday" / name)
        f["symbol"], f["freq"] = sid, freq
        frames.append(f)
    out = pd.concat(frames, ignore_index=True)
    out["datetime"] = pd.to_datetime(out["datetime"])
    # The TDX exports have a few 0.01 rounding glitches (e.g. 399006 2022-06-08 15:00: close above
    # high); widen high/low to contain open/close so every bar is a valid OHLC bar.
    out["high"] = out[["high", "open", "close"]].max(axis=1)
    out["low"] = out[["low", "open", "close"]].min(axis=1)
    return out[["freq", "symbol", "datetime", "open", "high", "low", "close", "volume", "amount"]]


def securities(src: Path) -> pd.DataFrame:
    u = pd.read_csv(src / "a_share_panel_universe.csv", dtype=str, keep_default_na=False)
    sys.path.insert(0, str(ROOT))
    from anomaly.symbols import stock_board  # noqa: E402  (build-time only)
    rows = []
    for r in u.itertuples(index=False):
        ex, board = stock_board(r.code)
        rows.append(dict(id=r.code, code=r.code, exchange=ex, board=board, kind="stock",
                         name=r.name.replace(" ", ""), industry=r.industry, in_sample="1"))
    if "002230" not in set(u["code"]):
        rows.append(dict(id="002230", code="002230", exchange="SZ", board="main", kind="stock",
                         name="科大讯飞", industry="软件开发", in_sample="1"))
    for sid, (code, name) in INDEX_FILES.items():
        rows.append(dict(id=sid, code=code, exchange=sid.split(".")[1], board="index", kind="index",
                         name=name, industry="", in_sample="1"))
    # Well-known names outside the sample, so they resolve (no bars bundled for them).
    extra = [("000001", "SZ", "main", "stock", "平安银行", "银行"), ("600519", "SH", "main", "stock", "贵州茅台", "酿酒行业"),
             ("399006", "SZ", "index", "index", "创业板指", ""), ("000688", "SH", "index", "index", "科创50", ""),
             ("000016", "SH", "index", "index", "上证50", ""), ("399005", "SZ", "index", "index", "中小100", ""),
             ("600000", "SH", "main", "stock", "浦发银行", "银行")]
    have = {r["id"] for r in rows}
    for code, ex, board, kind, name, ind in extra:
        sid = code if kind == "stock" else f"{code}.{ex}"
        if sid not in have:
            rows.append(dict(id=sid, code=code, exchange=ex, board=board, kind=kind, name=name,
                             industry=ind, in_sample=""))
    return pd.DataFrame(rows)


def news(src: Path) -> pd.DataFrame:
    raw = pd.read_csv(src / "002230_news_events_20230524.csv", dtype=str, keep_default_na=False)
    zh = [  # Chinese paraphrases of each row, in file order (row 3 is the price move itself: skipped)
        ("2023-05-24 00:00", "day", "social", "网传：外媒援引知情人士称美国考虑将科大讯飞、美亚柏科列入实体清单"),
        ("2023-05-24 00:00", "day", "social", "小作文：科大讯飞重大风险预警，称其非法收集海量用户隐私数据用于AI研究"),
        None,
        ("2023-05-24 13:00", "session", "statement", "科大讯飞回应股价跳水：系生成式AI撰写的虚假小作文，所述风险不实，法务已取证"),
        ("2023-05-24 13:00", "session", "broker_note", "国联海外、兴业计算机：两则传闻均不实，实体清单系2019年旧闻，隐私传闻为AI撰写"),
        ("2023-05-24 15:40:56", "second", "news", "科大讯飞闪崩跳水！刚刚，原因找到了"),
        ("2023-05-24 16:28:10", "second", "news", "AI'小作文'导致千亿AI龙头闪崩！公司怒了"),
        ("2023-05-24 15:00", "session", "qa_reply", "科大讯飞互动易回复：实体清单消息系2019年旧闻，隐私文章经判断为AI生成，将以法律手段维权"),
        ("2023-05-24 18:00", "session", "statement", "文心一言市场负责人回应科大讯飞股价下跌：甩锅文心一言系碰瓷，将追究法律责任"),
        ("2023-05-25 00:00", "day", "news", "AI giant iFlytek stock nosedives over 4% on AI-generated 'false' claims"),
        ("2023-05-26 00:00", "day", "news", "Chinese AI firm iFlytek blames chatbot-generated article for sudden share price swing on Shenzhen bourse"),
    ]
    rows = []
    for item, r in zip(zh, raw.itertuples(index=False)):
        if item is None:
            continue
        ts, prec, kind, title = item
        body = f"{r.title_or_paraphrase} [{r.time_precision}] {r.note}".strip()
        rows.append(dict(ts=ts + ("" if ts.count(":") == 2 else ":00") + "+08:00", ts_precision=prec,
                         symbol="002230", source=r.source_name, kind=kind, title=title, body=body,
                         url=r.url or None))
    return pd.DataFrame(rows)


def main() -> None:
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data"
    (OUT / "sample").mkdir(parents=True, exist_ok=True)
    securities(src).to_csv(OUT / "securities.csv", index=False)
    daily(src).to_parquet(OUT / "sample" / "bars_daily.parquet", index=False, compression="zstd")
    intraday(src).to_parquet(OUT / "sample" / "bars_intraday.parquet", index=False, compression="zstd")
    news(src).to_csv(OUT / "sample" / "news.csv", index=False)
    print("sample written to", OUT)


if __name__ == "__main__":
    main()
