"""Bad news archives through ``anomaly.news.read_news_file`` (CSV / JSONL / JSON): each is read
correctly or raises ``BadInput`` with one line naming the file, the row/line/item and the column."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from anomaly.errors import BadInput
from anomaly.news import read_news_file

H = "ts,symbol,source,kind,title,url\n"
ROW = "2023-05-24 13:15,002230,网传,social,网传科大讯飞小作文,https://example.com/a"


def J(*objs) -> bytes:
    return "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objs).encode()


# name: (file name, bytes, exact message with {p} | list of required fragments)
BAD = {
    "missing title column": ("n.csv", b"ts,symbol\n2023-05-24 13:15,002230\n",
                             "{p}: missing column(s) 'title' (accepted names: title: headline, title, 新闻标题, 标题)"),
    "timestamp not a date": ("n.csv", b"ts,title\nyesterday,hello\n",
                             "{p}: row 1: column 'ts': 'yesterday' is not a date/time (use e.g. 2023-05-24 15:40:56, "
                             "optionally with +08:00)"),
    "NaN timestamp": ("n.csv", b"ts,title\nNaN,hello\n",
                      "{p}: row 1: column 'ts': 'NaN' is not a date/time (use e.g. 2023-05-24 15:40:56, optionally "
                      "with +08:00)"),
    "empty timestamp": ("n.csv", b"ts,title\n,hello\n", "{p}: row 1: column 'ts': empty timestamp"),
    "empty title": ("n.csv", b"ts,title\n2023-05-24 13:15,   \n", "{p}: row 1: column 'title': empty title"),
    "unknown symbol": ("n.csv", (H + ROW.replace("002230", "999999") + "\n").encode(),
                       "{p}: row 1: column 'symbol': unknown symbol '999999' (use e.g. 002230, sz002230, 002230.SZ or "
                       "科大讯飞; leave empty for a market-wide item)"),
    "SQL in symbol": ("n.csv", (H + ROW.replace("002230", "002230' OR '1'='1") + "\n").encode(),
                      ["row 1", "column 'symbol'", "unknown symbol"]),
    "unknown kind": ("n.csv", (H + ROW.replace("social", "gossip") + "\n").encode(),
                     "{p}: row 1: column 'kind': 'gossip' is not one of news, announcement, qa_reply, social, "
                     "broker_note, statement (or 新闻/公告/互动易/研报/声明/传闻)"),
    "empty file": ("n.csv", b"", "{p}: empty file, no news rows"),
    "whitespace only": ("n.csv", b" \n \n", "{p}: empty file, no news rows"),
    "header only": ("n.csv", H.encode(), "{p}: no news rows"),
    "UTF-16": ("n.csv", (H + ROW).encode("utf-16"), "{p}: not UTF-8 or GBK text (undecodable byte 0xff at offset 0)"),
    "JSONL broken line": ("n.jsonl", J({"ts": "2023-05-24 13:15", "title": "x"}) + b"{not json\n",
                          "{p}: line 2: not valid JSON (Expecting property name enclosed in double quotes at column 2)"),
    "JSONL line not an object": ("n.jsonl", b"[1, 2]\n", "{p}: line 1: expected a JSON object, got list"),
    "JSON array item not an object": ("n.json", b'[{"ts": "2023-05-24", "title": "a"}, 5]',
                                      "{p}: item 2: expected a JSON object, got int"),
    "JSON scalar": ("n.json", b'"hello"', "{p}: expected a JSON array of objects or one JSON object per line"),
    "two columns mean title": ("n.csv", b"ts,title,headline\n2023-05-24,a,b\n",
                               "{p}: columns 'title' and 'headline' both mean 'title'; keep one"),
    "bad ts_precision": ("n.csv", b"ts,title,ts_precision\n2023-05-24,a,hour\n",
                         "{p}: row 1: column 'ts_precision': 'hour' is not one of second, minute, session, day"),
    "boolean timestamp": ("n.jsonl", J({"ts": True, "title": "x"}), ["line 1", "column 'ts'"]),
    "epoch far out of range (1e20)": ("n.jsonl", J({"ts": 1e20, "title": "x"}), ["line 1", "column 'ts'"]),
    "integer beyond int64": ("n.jsonl", b'{"ts": 99999999999999999999999, "title": "x"}\n', ["line 1", "column 'ts'"]),
    "JSON nested 100000 deep": ("n.json", b"[" * 100000 + b"]" * 100000, ["not valid JSON"]),
    "fractional numeric symbol": ("n.jsonl", J({"ts": "2023-05-24", "title": "x", "symbol": 2230.5}),
                                  ["line 1", "column 'symbol'"]),
    "title is an object": ("n.jsonl", J({"ts": "2023-05-24 13:15", "title": {"html": "<b>x</b>"}}),
                           ["line 1", "column 'title'"]),
    "row with extra fields": ("n.csv", b"ts,title\n2023-05-24 13:15,a,b,c\n", ["row 1", "fields"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_news_file_raises_one_clear_line(case, tmp_path):
    name, data, want = BAD[case]
    p = tmp_path / name
    p.write_bytes(data)
    with pytest.raises(BadInput) as info:
        read_news_file(p)
    msg = str(info.value)
    assert "\n" not in msg
    if isinstance(want, str):
        assert msg == want.format(p=p)
    else:
        assert msg.startswith(f"{p}: "), msg
        for frag in want:
            assert frag in msg, msg


def test_folder_and_missing_file(tmp_path):
    with pytest.raises(BadInput, match="is a folder, expected a news file"):
        read_news_file(tmp_path)
    with pytest.raises(BadInput, match="no such file"):
        read_news_file(tmp_path / "nope.csv")


WANT = {"ts": pd.Timestamp("2023-05-24 13:15", tz="Asia/Shanghai"), "symbol": "002230", "source": "网传",
        "kind": "social", "title": "网传科大讯飞小作文", "url": "https://example.com/a", "ts_precision": "minute"}


@pytest.mark.parametrize("variant", ["utf-8", "utf-8 with BOM", "gbk", "gb18030 Chinese headers", "jsonl",
                                     "json array", "crlf", "extra columns", "offset +00:00 same instant",
                                     "duplicate row"])
def test_valid_news_variants_read_identically(variant, tmp_path):
    text = H + ROW + "\n"
    name, data = "n.csv", text.encode()
    if variant == "utf-8 with BOM":
        data = b"\xef\xbb\xbf" + data
    elif variant == "gbk":
        data = text.encode("gbk")
    elif variant == "gb18030 Chinese headers":
        data = ("发布时间,代码,来源,类型,标题,链接\n2023-05-24 13:15,sz002230,网传,传闻,网传科大讯飞小作文,"
                "https://example.com/a\n").encode("gb18030")
    elif variant == "jsonl":
        name, data = "n.jsonl", J(dict(zip(H.strip().split(","), ROW.split(","))))
    elif variant == "json array":
        name, data = "n.json", json.dumps([dict(zip(H.strip().split(","), ROW.split(",")))]).encode()
    elif variant == "crlf":
        data = text.replace("\n", "\r\n").encode()
    elif variant == "extra columns":
        data = (H.strip() + ",views,comments\n" + ROW + ",1,2\n").encode()
    elif variant == "offset +00:00 same instant":
        data = (H + ROW.replace("2023-05-24 13:15", "2023-05-24T05:15:00+00:00") + "\n").encode()
    elif variant == "duplicate row":
        data = (H + ROW + "\n" + ROW + "\n").encode()
    p = tmp_path / name
    p.write_bytes(data)
    df = read_news_file(p)
    assert len(df) == 1
    got = df.iloc[0]
    for k, v in WANT.items():
        if variant == "offset +00:00 same instant" and k == "ts_precision":
            v = "second"
        assert got[k] == v, (k, got[k])
