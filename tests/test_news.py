"""News utilities: the files news source, cues, aliases, relevance, near-duplicates."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from anomaly.errors import BadInput
from anomaly.news import (collapse_near_duplicates, company_aliases, entity_relevance, find_cues, find_names,
                          is_company_own, known_companies, norm_text, normalise_title, read_news_file,
                          title_similarity, RUMOR_CUES, CLARIFICATION_CUES)
from anomaly.schema import NEWS_COLUMNS, news_id

CSV = (
    "ts,ts_precision,symbol,source,kind,title,body,url\n"
    "2023-05-24 13:00:00+08:00,session,002230,e公司,statement,科大讯飞回应股价跳水：系AI撰写的虚假小作文,,http://a\n"
    "2023-05-24 15:40:56,,sz002230,大河财立方,news,科大讯飞闪崩跳水！刚刚，原因找到了,正文,\n"
    "2023-05-24,,,微信群,传闻,小作文：某AI公司重大风险预警,,\n"
)


def _write(tmp_path, name, text, encoding="utf-8"):
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def test_read_csv_canonical(tmp_path):
    p = _write(tmp_path, "news.csv", CSV)
    df = read_news_file(p)
    assert list(df.columns) == NEWS_COLUMNS
    assert len(df) == 3
    by_title = df.set_index("title")
    st = by_title.loc["科大讯飞回应股价跳水：系AI撰写的虚假小作文"]
    assert st["ts"] == pd.Timestamp("2023-05-24 13:00", tz="Asia/Shanghai")
    assert st["ts_precision"] == "session" and st["kind"] == "statement" and st["url"] == "http://a"
    second = by_title.loc["科大讯飞闪崩跳水！刚刚，原因找到了"]
    assert second["symbol"] == "002230"                       # sz002230 resolved
    assert second["ts_precision"] == "second"                  # inferred from HH:MM:SS
    assert second["ts"] == pd.Timestamp("2023-05-24 15:40:56", tz="Asia/Shanghai")  # naive = Shanghai
    rumor = by_title.loc["小作文：某AI公司重大风险预警"]
    assert rumor["ts_precision"] == "day" and rumor["kind"] == "social"
    assert rumor["symbol"] is None                             # market-wide item
    assert str(df["ts"].dt.tz) == "Asia/Shanghai"


def test_same_file_twice_same_ids_and_equal_to_schema_hash(tmp_path):
    p = _write(tmp_path, "news.csv", CSV)
    a, b = read_news_file(p), read_news_file(p)
    assert a["id"].tolist() == b["id"].tolist()
    assert a["id"].is_unique
    expected = news_id(a["ts"], a["symbol"], a["source"], a["title"])
    assert a["id"].tolist() == expected.tolist()


def test_duplicate_rows_in_file_kept_once(tmp_path):
    lines = CSV.splitlines()
    p = _write(tmp_path, "dup.csv", "\n".join(lines + [lines[2]]) + "\n")
    assert len(read_news_file(p)) == 3


def test_reading_sample_csv_reproduces_sample_ids():
    from importlib import resources

    from anomaly.sources.sample import _news

    with resources.as_file(resources.files("anomaly.data").joinpath("sample", "news.csv")) as p:
        mine = read_news_file(p)
    assert mine["id"].tolist() == _news()["id"].tolist()


def test_store_import_twice_adds_nothing(tmp_path):
    store_mod = pytest.importorskip("anomaly.store")
    p = _write(tmp_path, "news.csv", CSV)
    store = store_mod.Store(tmp_path / "store")
    assert store.write_news(read_news_file(p)) == 3
    assert store.write_news(read_news_file(p)) == 0


def test_bom_and_chinese_headers(tmp_path):
    text = ("发布时间,代码,来源,类型,标题,内容,链接\n"
            "2023-05-24 15:40,002230.SZ,大河财立方,新闻,科大讯飞闪崩跳水！刚刚，原因找到了,正文,http://x\n"
            "2023年05月24日 16:28:10,科大讯飞,每日经济新闻,资讯,AI'小作文'导致千亿AI龙头闪崩！公司怒了,,\n")
    p = tmp_path / "bom.csv"
    p.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    df = read_news_file(p)
    assert df["symbol"].tolist() == ["002230", "002230"]
    assert df["ts_precision"].tolist() == ["minute", "second"]
    assert df["ts"].iloc[1] == pd.Timestamp("2023-05-24 16:28:10", tz="Asia/Shanghai")
    assert df["kind"].tolist() == ["news", "news"]
    assert df["url"].iloc[0] == "http://x"


def test_gbk_file_reads_like_utf8(tmp_path):
    utf = read_news_file(_write(tmp_path, "u.csv", CSV))
    gbk = read_news_file(_write(tmp_path, "g.csv", CSV, "gbk"))
    assert gbk["title"].tolist() == utf["title"].tolist()
    assert gbk["id"].tolist() == utf["id"].tolist()


def test_jsonl_and_json_array_same_ids_as_csv(tmp_path):
    csv = read_news_file(_write(tmp_path, "n.csv", CSV))
    rows = [
        {"ts": "2023-05-24T13:00:00+08:00", "ts_precision": "session", "symbol": "002230", "source": "e公司",
         "kind": "statement", "title": "科大讯飞回应股价跳水：系AI撰写的虚假小作文", "url": "http://a"},
        {"ts": "2023-05-24 15:40:56", "symbol": 2230, "source": "大河财立方", "kind": "news",
         "title": "科大讯飞闪崩跳水！刚刚，原因找到了", "body": "正文"},
        {"ts": "2023-05-24", "source": "微信群", "kind": "social", "title": "小作文：某AI公司重大风险预警"},
    ]
    jl = _write(tmp_path, "n.jsonl", "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n")
    arr = _write(tmp_path, "n.json", json.dumps(rows, ensure_ascii=False))
    a, b = read_news_file(jl), read_news_file(arr)
    assert a["id"].tolist() == csv["id"].tolist() == b["id"].tolist()
    assert a["symbol"].tolist() == csv["symbol"].tolist()


@pytest.mark.parametrize("body,row,message", [
    ("ts,title\n2023-05-24 10:00,ok\n2023-13-45 10:00,bad\n", 2,
     "column 'ts': '2023-13-45 10:00' is not a date/time (use e.g. 2023-05-24 15:40:56, optionally with +08:00)"),
    ("ts,title\n2023-05-24 10:00,\n", 1, "column 'title': empty title"),
    ("ts,title,kind\n2023-05-24 10:00,x,gossip\n", 1,
     "column 'kind': 'gossip' is not one of news, announcement, qa_reply, social, broker_note, statement "
     "(or 新闻/公告/互动易/研报/声明/传闻)"),
    ("ts,title,symbol\n2023-05-24 10:00,x,ABC\n", 1,
     "column 'symbol': unknown symbol 'ABC' (use e.g. 002230, sz002230, 002230.SZ or 科大讯飞; leave empty for a "
     "market-wide item)"),
    ("ts,title,ts_precision\n2023-05-24 10:00,x,hour\n", 1,
     "column 'ts_precision': 'hour' is not one of second, minute, session, day"),
    ("ts,title\n,x\n", 1, "column 'ts': empty timestamp"),
])
def test_bad_csv_rows_name_file_row_column(tmp_path, body, row, message):
    p = _write(tmp_path, "bad.csv", body)
    with pytest.raises(BadInput) as exc:
        read_news_file(p)
    assert str(exc.value) == f"{p}: row {row}: {message}"


def test_bad_jsonl_line(tmp_path):
    p = _write(tmp_path, "bad.jsonl", '{"ts": "2023-05-24", "title": "a"}\n{"ts": "2023-05-24", "title": \n')
    with pytest.raises(BadInput) as exc:
        read_news_file(p)
    assert str(exc.value).startswith(f"{p}: line 2: not valid JSON (")
    p2 = _write(tmp_path, "bad2.jsonl", '{"ts": "2023-05-24", "title": "a"}\n\n{"ts": "2023-05-32", "title": "b"}\n')
    with pytest.raises(BadInput) as exc:
        read_news_file(p2)
    assert str(exc.value).startswith(f"{p2}: line 3: column 'ts': '2023-05-32' is not a date/time")


def test_missing_columns_and_undecodable_bytes(tmp_path):
    p = _write(tmp_path, "nocol.csv", "ts,headline_x\n2023-05-24,x\n")
    with pytest.raises(BadInput) as exc:
        read_news_file(p)
    assert str(exc.value) == (f"{p}: missing column(s) 'title' (accepted names: title: headline, title, "
                              "新闻标题, 标题)")
    raw = tmp_path / "bin.csv"
    raw.write_bytes(b"ts,title\n\xff\xfe\xff")
    with pytest.raises(BadInput) as exc:
        read_news_file(raw)
    assert str(exc.value) == f"{raw}: not UTF-8 or GBK text (undecodable byte 0xff at offset 9)"
    with pytest.raises(BadInput, match="no such file"):
        read_news_file(tmp_path / "absent.csv")
    with pytest.raises(BadInput, match="empty file"):
        read_news_file(_write(tmp_path, "empty.csv", "  \n"))


def test_messages_use_the_files_own_header(tmp_path):
    p = _write(tmp_path, "cn.csv", "发布时间,标题\n2023-05-24 10:00,ok\n昨天,bad\n")
    with pytest.raises(BadInput) as exc:
        read_news_file(p)
    assert str(exc.value).startswith(f"{p}: row 2: column '发布时间': '昨天' is not a date/time")


def test_default_symbol_and_source_arguments(tmp_path):
    p = _write(tmp_path, "plain.csv", "time,title\n2023-05-24 09:45,科大讯飞午后跳水\n")
    df = read_news_file(p, symbol="科大讯飞", source="my archive")
    assert df["symbol"].iloc[0] == "002230" and df["source"].iloc[0] == "my archive"
    assert df["ts_precision"].iloc[0] == "minute"


# --- cues, aliases, relevance, duplicates ----------------------------------------------------------


def test_cue_lexicons():
    t = norm_text("网传：外媒援引知情人士称美国考虑将科大讯飞列入实体清单")
    assert find_cues(t, RUMOR_CUES) == ["网传", "知情人士"]
    t2 = norm_text("科大讯飞回应股价跳水：系生成式AI撰写的虚假小作文，所述风险不实")
    assert find_cues(t2, CLARIFICATION_CUES) == ["不实", "虚假"]
    assert find_cues(norm_text("公司发布严正声明"), ("声明", "严正声明")) == ["严正声明"]
    # bare "false" in a report about "'false' claims" is coverage, not a denial
    assert find_cues(norm_text("iFlytek stock nosedives on AI-generated 'false' claims"), CLARIFICATION_CUES) == []


def test_aliases_and_name_matching():
    al = company_aliases("002230")
    assert al[:2] == ("002230", "科大讯飞")
    assert "iFlytek" in al and "讯飞" in al
    hits = find_names(norm_text("AI giant iFlytek stock nosedives"), al)
    assert hits == [(9, "iFlytek")]
    # 讯飞 inside 科大讯飞 is one mention, not two
    assert find_names(norm_text("科大讯飞涨停"), al) == [(0, "科大讯飞")]
    # codes need digit boundaries
    assert find_names("1002230x", al) == []
    names = dict(known_companies())
    assert names["美亚柏科"] == "300188" and names["科大讯飞"] == "002230"


def test_passing_mention_weighs_less_than_own_news():
    al = company_aliases("002230")
    others = known_companies()
    own, r_own, _ = entity_relevance("科大讯飞发布星火大模型", None, None, "002230", al, others)
    passing, r_pass, facts = entity_relevance("美亚柏科发布2022年年报", "合作伙伴包括科大讯飞等", None, "002230",
                                              al, others)
    assert own == pytest.approx(0.6) and "names 科大讯飞 in title" in r_own
    assert passing == pytest.approx(0.3 * 0.4)
    assert facts["passing"] and any("only in passing" in r for r in r_pass)
    co, r_co, _ = entity_relevance("网传：美国考虑将科大讯飞、美亚柏科列入实体清单", None, "002230", "002230", al, others)
    assert co == pytest.approx(0.9) and "co-subject with 美亚柏科" in r_co
    led, r_led, _ = entity_relevance("美亚柏科澄清：与科大讯飞无关", None, None, "002230", al, others)
    assert led == pytest.approx(0.6 * 0.7) and "title is led by 美亚柏科" in r_led
    market, r_m, _ = entity_relevance("A股三大指数集体收跌", None, None, "002230", al, others)
    assert market == pytest.approx(0.1) and r_m == ["market-wide item; does not name 科大讯飞"]
    other, _, _ = entity_relevance("美亚柏科发布年报", None, "300188", "002230", al, others)
    assert other == 0.0


def test_company_own_statement():
    al = company_aliases("002230")
    assert is_company_own("statement", "iFlytek via media", "回应股价跳水", al, True)
    assert is_company_own("statement", "", "科大讯飞回应：…", al, True)
    assert not is_company_own("statement", "Baidu ERNIE Bot marketing head", "文心一言市场负责人回应科大讯飞股价下跌", al, True)
    assert is_company_own("qa_reply", "", "实体清单系旧闻", al, True)
    assert not is_company_own("qa_reply", "", "实体清单系旧闻", al, False)


def test_near_duplicates_collapse_to_earliest():
    assert normalise_title("科大讯飞闪崩跳水！刚刚，原因找到了 - 新浪财经") == "科大讯飞闪崩跳水刚刚原因找到了"
    assert title_similarity("科大讯飞闪崩跳水！刚刚，原因找到了", "科大讯飞闪崩跳水!刚刚,原因找到了") == 1.0
    assert title_similarity("科大讯飞闪崩跳水！刚刚，原因找到了", "文心一言回应科大讯飞股价下跌") < 0.2
    ts = pd.to_datetime(["2023-05-24 15:50:00", "2023-05-24 15:40:56", "2023-05-24 16:00:00", "2023-05-24 17:00:00"]
                        ).tz_localize("Asia/Shanghai")
    items = pd.DataFrame({
        "id": ["b", "a", "c", "d"], "ts": ts, "source": ["新浪", "大河财立方", "东财", "每经"],
        "title": ["科大讯飞闪崩跳水!刚刚,原因找到了 - 新浪财经", "科大讯飞闪崩跳水！刚刚，原因找到了",
                  "科大讯飞闪崩跳水！刚刚，原因找到了", "AI'小作文'导致千亿AI龙头闪崩！公司怒了"]})
    out = collapse_near_duplicates(items, threshold=0.8)
    assert out["id"].tolist() == ["a", "d"]
    assert out["duplicates"].tolist() == [2, 0]
    assert out["duplicate_ids"].iloc[0] == ["b", "c"]
    assert out["duplicate_sources"].iloc[0] == ["新浪", "东财"]
