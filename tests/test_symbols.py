"""Symbol resolution: every spelling → one canonical Symbol; indices never confused with stocks."""
from __future__ import annotations

import dataclasses
import json

import pytest

from anomaly.errors import BadInput, UnknownSymbol
from anomaly.symbols import Symbol, resolve, resolve_many, stock_board

# (input, id, code, exchange, board, kind, name or None when the name is not asserted)
RESOLVES = [
    # 科大讯飞 in every spelling the design promises
    ("002230", "002230", "002230", "SZ", "main", "stock", "科大讯飞"),
    ("sz002230", "002230", "002230", "SZ", "main", "stock", "科大讯飞"),
    ("SZ002230", "002230", "002230", "SZ", "main", "stock", "科大讯飞"),
    ("002230.SZ", "002230", "002230", "SZ", "main", "stock", "科大讯飞"),
    ("002230.sz", "002230", "002230", "SZ", "main", "stock", "科大讯飞"),
    ("sz.002230", "002230", "002230", "SZ", "main", "stock", "科大讯飞"),
    ("002230.XSHE", "002230", "002230", "SZ", "main", "stock", "科大讯飞"),
    ("科大讯飞", "002230", "002230", "SZ", "main", "stock", "科大讯飞"),
    ("  002230 ", "002230", "002230", "SZ", "main", "stock", "科大讯飞"),
    # boards from the code
    ("300750", "300750", "300750", "SZ", "chinext", "stock", None),
    ("301236", "301236", "301236", "SZ", "chinext", "stock", None),
    ("688981", "688981", "688981", "SH", "star", "stock", "中芯国际"),
    ("689009", "689009", "689009", "SH", "star", "stock", None),
    ("835185", "835185", "835185", "BJ", "bse", "stock", None),
    ("920001", "920001", "920001", "BJ", "bse", "stock", None),
    ("430047", "430047", "430047", "BJ", "bse", "stock", None),
    ("bj835185", "835185", "835185", "BJ", "bse", "stock", None),
    ("600000", "600000", "600000", "SH", "main", "stock", "浦发银行"),
    ("600000.SS", "600000", "600000", "SH", "main", "stock", "浦发银行"),
    ("sh600000", "600000", "600000", "SH", "main", "stock", "浦发银行"),
    ("601318", "601318", "601318", "SH", "main", "stock", None),
    ("603259", "603259", "603259", "SH", "main", "stock", None),
    # indices carry their exchange suffix
    ("399001", "399001.SZ", "399001", "SZ", "index", "index", "深证成指"),
    ("sz399001", "399001.SZ", "399001", "SZ", "index", "index", "深证成指"),
    ("399001.SZ", "399001.SZ", "399001", "SZ", "index", "index", "深证成指"),
    ("深证成指", "399001.SZ", "399001", "SZ", "index", "index", "深证成指"),
    ("399006", "399006.SZ", "399006", "SZ", "index", "index", "创业板指"),
    ("000300", "000300.SH", "000300", "SH", "index", "index", "沪深300"),
    ("sh000300", "000300.SH", "000300", "SH", "index", "index", "沪深300"),
    ("000300.SH", "000300.SH", "000300", "SH", "index", "index", "沪深300"),
    ("sh000001", "000001.SH", "000001", "SH", "index", "index", "上证指数"),
    ("SH000001", "000001.SH", "000001", "SH", "index", "index", "上证指数"),
    ("000001.SH", "000001.SH", "000001", "SH", "index", "index", "上证指数"),
    ("上证指数", "000001.SH", "000001", "SH", "index", "index", "上证指数"),
    ("931071", "931071.CSI", "931071", "CSI", "index", "index", "中证人工智能"),
    ("931071.CSI", "931071.CSI", "931071", "CSI", "index", "index", "中证人工智能"),
    # plain 000001 is the stock 平安银行, never the index
    ("000001", "000001", "000001", "SZ", "main", "stock", "平安银行"),
    ("sz000001", "000001", "000001", "SZ", "main", "stock", "平安银行"),
    ("000001.SZ", "000001", "000001", "SZ", "main", "stock", "平安银行"),
    ("平安银行", "000001", "000001", "SZ", "main", "stock", "平安银行"),
]


@pytest.mark.parametrize("text,sid,code,exchange,board,kind,name", RESOLVES, ids=[r[0] for r in RESOLVES])
def test_resolve(text, sid, code, exchange, board, kind, name):
    s = resolve(text)
    assert (s.id, s.code, s.exchange, s.board, s.kind) == (sid, code, exchange, board, kind)
    if name is not None:
        assert s.name == name
    assert s.is_index == (kind == "index")


UNKNOWN = [
    "XYZ", "999999", "123456", "00223", "0022300", "", "   ", "\x00", "00\n2230", "0022\t30", "002230\x1b",
    "../etc", "../../etc/passwd", "002230.SH",  # 002230 is a Shenzhen code
    "sz600000", "399001.SH", "sh399001", "abc002230", "002230.HK", "科大讯飞X", "x" * 100,
]


@pytest.mark.parametrize("text", UNKNOWN, ids=[repr(t)[:24] for t in UNKNOWN])
def test_unknown_symbol_names_the_input(text):
    with pytest.raises(UnknownSymbol) as ei:
        resolve(text)
    msg = str(ei.value)
    assert isinstance(ei.value, BadInput)  # → exit code 2 in the CLI
    assert repr(text.strip()[:40]) in msg, msg
    assert "\n" not in msg and "\r" not in msg  # printable as one line even for control characters


def test_plain_000001_is_stock_and_index_needs_a_suffix():
    stock, index = resolve("000001"), resolve("sh000001")
    assert stock != index
    assert stock.id == "000001" and stock.kind == "stock"
    assert index.id == "000001.SH" and index.kind == "index"


def test_resolve_many_keeps_order_and_drops_repeats():
    got = resolve_many(["科大讯飞", "399001", "sz002230", "002230.SZ", "000001", "sh000001"])
    assert [s.id for s in got] == ["002230", "399001.SZ", "000001", "000001.SH"]


def test_resolve_many_raises_on_first_unknown():
    with pytest.raises(UnknownSymbol, match="NOPE"):
        resolve_many(["002230", "NOPE"])


@pytest.mark.parametrize("code,expected", [
    ("600519", ("SH", "main")), ("605001", ("SH", "main")), ("688001", ("SH", "star")),
    ("000002", ("SZ", "main")), ("003816", ("SZ", "main")), ("300001", ("SZ", "chinext")),
    ("830799", ("BJ", "bse")), ("870199", ("BJ", "bse")), ("920118", ("BJ", "bse")),
    ("399001", None), ("999999", None), ("123456", None), ("500001", None),
])
def test_stock_board(code, expected):
    assert stock_board(code) == expected


def test_symbol_is_frozen_and_prints_id_and_name():
    s = resolve("002230")
    assert str(s) == "002230 科大讯飞"
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.id = "x"  # type: ignore[misc]
    assert isinstance(s, Symbol) and hash(s) == hash(resolve("sz002230"))


def test_symbols_command_json(run_cli):
    r = run_cli(["symbols", "科大讯飞", "000001", "sh000001", "399001", "--format", "json"])
    assert r.code == 0, r.err
    rows = json.loads(r.out)
    assert [(x["input"], x["symbol"], x["kind"]) for x in rows] == [
        ("科大讯飞", "002230", "stock"), ("000001", "000001", "stock"),
        ("sh000001", "000001.SH", "index"), ("399001", "399001.SZ", "index")]
    assert rows[1]["name"] == "平安银行" and rows[2]["name"] == "上证指数"


def test_symbols_command_unknown(run_cli):
    r = run_cli(["symbols", "002230", "XYZ"])
    assert r.code == 2
    assert r.out == ""
    assert len(r.err_lines) == 1 and "XYZ" in r.err


@pytest.mark.parametrize("text", ["万科A", "万科Ａ", "万科 A"])
def test_half_and_full_width_letters_in_names_are_one_name(text):
    assert resolve(text).id == "000002"
