"""Symbol resolution: every spelling a user types → one ``Symbol`` with exchange and board.

Canonical ids: a stock is its 6-digit code (``"002230"``); an index carries its exchange suffix
(``"399001.SZ"``, ``"000001.SH"``, ``"931071.CSI"``) so that the index 000001 (上证指数) can never be
confused with the stock 000001 (平安银行). Plain digits mean the stock, except codes that no stock
uses (399xxx, and 000300 沪深300 as everyone writes it).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import pandas as pd

from .errors import UnknownSymbol


@dataclass(frozen=True)
class Symbol:
    id: str            # canonical: "002230" or "399001.SZ"
    code: str          # 6 digits
    exchange: str      # SZ / SH / BJ / CSI
    board: str         # main / chinext / star / bse / index
    kind: str          # stock / index
    name: str = ""     # Chinese short name when known
    industry: str = ""

    @property
    def is_index(self) -> bool:
        return self.kind == "index"

    @property
    def is_st(self) -> bool:
        return "ST" in self.name.upper()

    def __str__(self) -> str:
        return f"{self.id} {self.name}".strip()


def stock_board(code: str) -> tuple[str, str] | None:
    """(exchange, board) of a stock code, or None when no A-share stock uses that prefix."""
    p3, p2 = code[:3], code[:2]
    if p3 in ("600", "601", "603", "605"):
        return "SH", "main"
    if p3 in ("688", "689"):
        return "SH", "star"
    if p3 in ("000", "001", "002", "003", "004"):
        return "SZ", "main"
    if p3 in ("300", "301", "302"):
        return "SZ", "chinext"
    if p2 in ("43", "83", "87", "88") or p3 == "920":
        return "BJ", "bse"
    return None


_INDEX_EXCHANGE_BY_PREFIX = {"399": "SZ", "000": "SH", "880": "SH", "93": "CSI", "899": "BJ"}
# Plain codes that mean an index because no stock uses them in practice.
_PLAIN_INDEX_CODES = {"000300": "SH"}

_PATTERNS = (
    # re.ASCII: ``\d`` must mean 0-9 only — "00223٠" (Arabic-Indic zero) or fullwidth digits are not codes.
    re.compile(r"^(?P<ex>sh|sz|bj)\.?(?P<code>\d{6})$", re.I | re.ASCII),      # sz002230, sh.600000
    re.compile(r"^(?P<code>\d{6})\.(?P<ex>sh|sz|bj|ss|xshg|xshe|csi)$", re.I | re.ASCII),  # 002230.SZ
    re.compile(r"^(?P<code>\d{6})$", re.ASCII),
)


@lru_cache(maxsize=1)
def security_table() -> pd.DataFrame:
    """Names, kinds and industries shipped with the package (sample universe, indices, well-known)."""
    with resources.files("anomaly.data").joinpath("securities.csv").open("r", encoding="utf-8") as fh:
        t = pd.read_csv(fh, dtype=str, keep_default_na=False)
    return t


@lru_cache(maxsize=1)
def _by_id() -> dict[str, Symbol]:
    out = {}
    for r in security_table().itertuples(index=False):
        out[r.id] = Symbol(r.id, r.code, r.exchange, r.board, r.kind, r.name, r.industry)
    return out


@lru_cache(maxsize=1)
def _by_name() -> dict[str, str]:
    out: dict[str, str] = {}
    for s in _by_id().values():
        for alias in {s.name, s.name.replace(" ", "").replace("\u3000", "")}:
            if alias:
                out.setdefault(alias, s.id)
                # 万科A and 万科Ａ are one name: exchanges print half- and full-width letters
                out.setdefault(unicodedata.normalize("NFKC", alias).replace(" ", ""), s.id)
    return out


def _index_exchange(code: str) -> str | None:
    for prefix, ex in _INDEX_EXCHANGE_BY_PREFIX.items():
        if code.startswith(prefix):
            return ex
    return None


def _make(code: str, exchange: str, kind: str) -> Symbol:
    sid = code if kind == "stock" else f"{code}.{exchange}"
    known = _by_id().get(sid)
    if known:
        return known
    if kind == "stock":
        ex, board = stock_board(code)  # type: ignore[misc]
        return Symbol(sid, code, ex, board, "stock")
    return Symbol(sid, code, exchange, "index", "index")


def resolve(text: str) -> Symbol:
    """Resolve ``002230``, ``sz002230``, ``002230.SZ``, ``SZ002230``, ``科大讯飞`` or ``399001`` to a Symbol.

    Raises ``UnknownSymbol`` naming the input when nothing matches.
    """
    raw = str(text).strip()
    if not raw or len(raw) > 40 or any(ord(ch) < 32 for ch in raw):
        raise UnknownSymbol(f"unknown symbol {raw[:40]!r}: expected a 6-digit code like 002230, "
                            "sz002230, 002230.SZ or a short name like 科大讯飞")
    key = raw.replace(" ", "")
    name_hit = _by_name().get(key) or _by_name().get(unicodedata.normalize("NFKC", key))
    if name_hit:
        return _by_id()[name_hit]
    for pat in _PATTERNS:
        m = pat.match(raw)
        if not m:
            continue
        code = m.group("code")
        ex = (m.groupdict().get("ex") or "").upper()
        ex = {"SS": "SH", "XSHG": "SH", "XSHE": "SZ"}.get(ex, ex)
        board = stock_board(code)
        if not ex:
            if code in _PLAIN_INDEX_CODES:
                return _make(code, _PLAIN_INDEX_CODES[code], "index")
            if board:
                return _make(code, board[0], "stock")
            iex = _index_exchange(code)
            if iex:
                return _make(code, iex, "index")
            break
        if board and board[0] == ex:
            return _make(code, ex, "stock")
        if _index_exchange(code) == ex or (ex == "CSI" and code.startswith("93")):
            return _make(code, ex, "index")
        break
    raise UnknownSymbol(f"unknown symbol {raw!r}: not an A-share stock or index code "
                        "(try 002230, sz002230, 002230.SZ, 399001 or a name like 科大讯飞)")


def resolve_many(texts) -> list[Symbol]:
    """Resolve several inputs, keeping order and dropping repeats."""
    seen, out = set(), []
    for t in texts:
        s = resolve(t)
        if s.id not in seen:
            seen.add(s.id)
            out.append(s)
    return out
