"""News utilities: cue lexicons, company aliases and entity relevance, near-duplicate collapse, and the
"files" news source (``read_news_file``: a user's CSV / JSONL archive → canonical news).

Everything here is plain data and small pure functions; the correlator (``anomaly.correlate``) composes
them. Lexicons and the alias table are data, extendable through ``linkconfig.LinkConfig``.

Cue lexicons (matched case-insensitively on NFKC-normalised text):

* ``RUMOR_CUES``: words that mark unconfirmed information circulating (传闻, 网传, 小作文, 据悉, 知情人士,
  消息称, 市场传言 …). Together with ``kind == "social"`` they mark an item as a *rumor*.
* ``CLARIFICATION_CUES``: denial words (澄清, 辟谣, 不实, 谣言, 造谣, 否认, 虚假, 严正声明 …). One of them in a
  title makes the item a *clarification*.
* ``REACTION_CUES``: weaker reaction words (回应, 声明, 旧闻, 维权, 法律手段 …). They make an item a
  clarification only when it is the company's own (an announcement, a 互动易 reply, or a statement whose
  source or title subject is the company); otherwise they are just a reason on a response.

English cues deliberately leave out bare "false": reports write "'false' claims" when quoting a denial,
which is coverage, not the denial itself.
"""
from __future__ import annotations

import io
import json
import re
import unicodedata
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from .errors import BadInput, UnknownSymbol
from .schema import NEWS_COLUMNS, NEWS_KINDS, TS_PRECISIONS, TZ, validate_news

# --- lexicons ------------------------------------------------------------------------------------

RUMOR_CUES: tuple[str, ...] = (
    "小作文", "传闻", "网传", "市场传言", "传言", "据传", "据悉", "知情人士", "消息称", "消息人士", "爆料",
    "网络流传", "朋友圈", "疑似", "rumor", "rumour", "reportedly", "people familiar", "sources said",
    "unconfirmed",
)
CLARIFICATION_CUES: tuple[str, ...] = (
    "澄清", "辟谣", "不实", "不属实", "谣言", "造谣", "否认", "虚假", "严正声明", "假消息", "纯属捏造",
    "子虚乌有", "denies", "denied", "refutes", "refuted", "debunk", "clarif", "untrue", "fabricated",
    "fake news",
)
REACTION_CUES: tuple[str, ...] = (
    "回应", "声明", "说明", "旧闻", "维权", "法律手段", "法律责任", "报警", "取证", "responds",
    "responded", "statement", "legal action",
)

# --- aliases -------------------------------------------------------------------------------------

#: Extra names per stock beyond the short name in ``anomaly/data/securities.csv``: former names,
#: colloquial short forms and English names. Stocks outside the shipped table may be listed too;
#: their names then also count as "another company" in relevance checks. Keep entries unambiguous
#: (no common words: 美的 is "beautiful", so 美的集团 has no short alias here).
ALIASES: dict[str, tuple[str, ...]] = {
    "002230": ("科大讯飞", "讯飞", "iFlytek", "iFLYTEK", "iFly"),
    "300188": ("美亚柏科", "Meiya Pico"),
    "002415": ("海康威视", "海康", "Hikvision"),
    "688981": ("中芯国际", "SMIC"),
    "600519": ("贵州茅台", "茅台", "Kweichow Moutai"),
    "000651": ("格力电器", "格力", "Gree Electric"),
    "000333": ("美的集团", "Midea"),
    "300750": ("宁德时代", "CATL"),
    "002594": ("比亚迪", "BYD"),
    "300059": ("东方财富", "East Money"),
    "601138": ("工业富联", "Foxconn Industrial Internet"),
    "300033": ("同花顺", "Hithink", "10jqka"),
    "000001": ("平安银行", "Ping An Bank"),
}

_NAME_PREFIX = re.compile(r"^(\*?ST|XD|XR|DR|N|C)(?=[\u4e00-\u9fff])")


def _clean_name(name: str) -> str:
    """A security short name as it appears in text: no XD/XR/DR/*ST prefix, no -U/-W suffix, NFKC."""
    n = unicodedata.normalize("NFKC", str(name)).strip().replace(" ", "")
    n = _NAME_PREFIX.sub("", n)
    n = re.sub(r"-[A-Z]{1,2}$", "", n)
    return n


def company_aliases(symbol: str, name: str = "", extra: Mapping[str, Iterable[str]] | None = None
                    ) -> tuple[str, ...]:
    """Every spelling that names ``symbol`` in text: the code, the short name, table and config aliases.

    Order is stable (code, short name, table aliases, config aliases); repeats are dropped.
    """
    out: list[str] = [str(symbol)[:6]]
    if not name:
        try:
            from .symbols import resolve

            name = resolve(symbol).name
        except UnknownSymbol:
            name = ""
    for n in [name, *ALIASES.get(symbol, ()), *((extra or {}).get(symbol, ()))]:
        c = _clean_name(n) if n else ""
        if c and len(c) >= 2 and c not in out:
            out.append(c)
    return tuple(out)


@lru_cache(maxsize=1)
def _known_names() -> tuple[tuple[str, str], ...]:
    from .symbols import security_table

    t = security_table()
    pairs: list[tuple[str, str]] = []
    for r in t[t["kind"] == "stock"].itertuples(index=False):
        n = _clean_name(r.name) if r.name else ""
        if len(n) >= 3:
            pairs.append((n, r.id))
    for sym, names in ALIASES.items():
        for n in names:
            c = _clean_name(n)
            if len(c) >= 2:
                pairs.append((c, sym))
    seen: set[str] = set()
    out = []
    for n, s in pairs:
        if n not in seen:
            seen.add(n)
            out.append((n, s))
    return tuple(out)


def known_companies(extra: Mapping[str, Iterable[str]] | None = None) -> tuple[tuple[str, str], ...]:
    """(name, symbol) pairs of every company this package can recognise in text."""
    pairs = list(_known_names())
    have = {n for n, _ in pairs}
    for sym, names in (extra or {}).items():
        for n in names:
            c = _clean_name(n)
            if len(c) >= 2 and c not in have:
                have.add(c)
                pairs.append((c, sym))
    return tuple(pairs)


# --- text matching -------------------------------------------------------------------------------


def norm_text(text) -> str:
    """NFKC, lower-case; None/NaN → ''."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ""
    return unicodedata.normalize("NFKC", str(text)).lower()


def _is_latin(s: str) -> bool:
    return all(ord(ch) < 0x3000 for ch in s)


@lru_cache(maxsize=4096)
def _pattern(name: str) -> re.Pattern:
    n = norm_text(name)
    if n.isdigit():
        return re.compile(rf"(?<!\d){re.escape(n)}(?!\d)")
    if _is_latin(n):
        return re.compile(rf"(?<![a-z0-9]){re.escape(n)}(?![a-z0-9])")
    return re.compile(re.escape(n))


def find_names(text: str, names: Iterable[str]) -> list[tuple[int, str]]:
    """(position, name) of each of ``names`` found in ``text`` (already ``norm_text``-ed), by position.

    A name contained in a longer found name at the same place (讯飞 inside 科大讯飞) is not reported twice.
    """
    hits: list[tuple[int, int, str]] = []
    for n in names:
        m = _pattern(n).search(text)
        if m:
            hits.append((m.start(), m.end(), n))
    hits.sort(key=lambda h: (h[0], -(h[1] - h[0])))
    out: list[tuple[int, str]] = []
    covered: list[tuple[int, int]] = []
    for s, e, n in hits:
        if any(cs <= s and e <= ce for cs, ce in covered):
            continue
        covered.append((s, e))
        out.append((s, n))
    return out


def find_cues(text: str, cues: Iterable[str]) -> list[str]:
    """The cues present in ``text`` (``norm_text``-ed), in lexicon order; a cue contained in another
    found cue is dropped (声明 when 严正声明 is found, 传言 when 市场传言 is)."""
    found = [c for c in cues if norm_text(c) in text]
    return [c for c in found if not any(c != o and norm_text(c) in norm_text(o) for o in found)]


_TAG = re.compile(r"^[\[【(（]?[^：:\]】)）]{1,6}[\]】)）：:]\s*")


def title_subject(title: str) -> str:
    """The title without a short leading tag such as ``网传：``, ``小作文：`` or ``【快讯】``."""
    t = norm_text(title).strip()
    return _TAG.sub("", t, count=1)


def leading_name(title: str, names: Iterable[str]) -> str | None:
    """The one of ``names`` that opens the title — at its very start, or right after a short leading
    tag (``网传：科大讯飞…``) — else None."""
    t = norm_text(title).strip()
    for text in (t, title_subject(title)):
        hits = find_names(text, names)
        if hits and hits[0][0] == 0:
            return hits[0][1]
    return None


# --- entity relevance ----------------------------------------------------------------------------


def entity_relevance(title: str, body: str | None, item_symbol: str | None, symbol: str,
                     aliases: tuple[str, ...], others: tuple[tuple[str, str], ...],
                     weights: Mapping[str, float] | None = None, display: str = "") -> tuple[float, list[str], dict]:
    """How much an item is *about* ``symbol``: a number in [0, 1], the reasons, and facts for callers.

    * names the company (code, short name or alias) in the title: ``title`` weight (0.6); only in the
      body: ``body`` weight (0.3);
    * filed under the same symbol: ``symbol`` weight (0.3); a market-wide item (no symbol) that does not
      name the company gets ``market`` (0.1) and nothing else;
    * another known company named in the title while ours is only in the body (a passing mention):
      × ``passing`` (0.4); both in the title: co-subject × ``co_subject`` (1.0: a headline entity is
      fully relevant, as in RavenPack's relevance), or × ``led_by_other`` (0.7) when the other company
      opens the title and ours is not named first; filed under another symbol: × ``other_symbol`` (0.6).
    """
    w = {"title": 0.6, "body": 0.3, "symbol": 0.3, "market": 0.1, "passing": 0.4, "co_subject": 1.0,
         "led_by_other": 0.7, "other_symbol": 0.6}
    if weights:
        w.update(weights)
    label = display or (aliases[1] if len(aliases) > 1 else symbol)
    if item_symbol is not None and (not isinstance(item_symbol, str) and pd.isna(item_symbol)):
        item_symbol = None
    t, b = norm_text(title), norm_text(body)
    in_title = find_names(t, aliases)
    in_body = find_names(b, aliases) if not in_title else []
    own = set(aliases)
    other_title = [(p, n) for p, n in find_names(t, [n for n, s in others if s != symbol and n not in own])]
    other_title = [(p, n) for p, n in other_title
                   if not any(norm_text(n) in norm_text(a) for a in aliases)]
    reasons: list[str] = []
    score = 0.0
    facts = {"in_title": bool(in_title), "in_body": bool(in_body), "filed_under": False,
             "market_item": False, "passing": False, "others": [n for _, n in other_title]}
    if in_title:
        score += w["title"]
        reasons.append(f"names {_display(in_title[0][1], label)} in title")
    elif in_body:
        score += w["body"]
        reasons.append(f"names {_display(in_body[0][1], label)} in body only")
    if item_symbol is not None and str(item_symbol) == symbol:
        score += w["symbol"]
        facts["filed_under"] = True
        reasons.append(f"filed under {symbol}")
    elif item_symbol is None or str(item_symbol) == "":
        if not (in_title or in_body):
            facts["market_item"] = True
            reasons.append(f"market-wide item; does not name {label}")
            return w["market"], reasons, facts
    else:
        if not (in_title or in_body):
            return 0.0, [f"filed under {item_symbol}; does not name {label}"], facts
        score *= w["other_symbol"]
        reasons.append(f"filed under another symbol ({item_symbol})")
    if other_title:
        names = "、".join(dict.fromkeys(n for _, n in other_title))
        if not in_title:
            score *= w["passing"]
            facts["passing"] = True
            reasons.append(f"mentions {label} only in passing; title is about {names}")
        else:
            lead = leading_name(title, [n for _, n in other_title])
            if lead is not None and leading_name(title, aliases) is None:
                score *= w["led_by_other"]
                reasons.append(f"title is led by {lead}")
            else:
                score *= w["co_subject"]
                reasons.append(f"co-subject with {names}")
    return min(max(score, 0.0), 1.0), reasons, facts


def _display(found: str, label: str) -> str:
    return found if not found.isdigit() else f"{found} ({label})"


def is_company_own(kind: str, source: str | None, title: str, aliases: tuple[str, ...],
                   filed_under: bool) -> bool:
    """True when an item is the company's own word: an announcement or 互动易 reply filed under it, or a
    statement whose source names the company or whose title opens with the company's name."""
    if kind in ("announcement", "qa_reply") and filed_under:
        return True
    if kind == "statement":
        if find_names(norm_text(source), aliases):
            return True
        return leading_name(title, aliases) is not None
    return False


# --- near-duplicates -----------------------------------------------------------------------------

_SUFFIX = re.compile(r"\s*[-_|｜—–]+\s*[^-_|｜—–]{1,10}$")


def normalise_title(title: str) -> str:
    """Title reduced for near-duplicate comparison: NFKC, lower-case, a trailing "- 某某网" source tag
    removed, whitespace, punctuation and symbols dropped."""
    t = norm_text(title).strip()
    t = _SUFFIX.sub("", t) if len(t) > 16 else t
    return "".join(ch for ch in t if not (ch.isspace() or unicodedata.category(ch)[0] in "PSZ"))


def char_ngrams(text: str, n: int = 3) -> frozenset[str]:
    if len(text) < n:
        return frozenset([text]) if text else frozenset()
    return frozenset(text[i:i + n] for i in range(len(text) - n + 1))


def title_similarity(a: str, b: str, n: int = 3) -> float:
    """Jaccard similarity of the character ``n``-grams of two normalised titles (1.0 = same)."""
    ga, gb = char_ngrams(normalise_title(a), n), char_ngrams(normalise_title(b), n)
    if not ga or not gb:
        return 0.0
    return len(ga & gb) / len(ga | gb)


def collapse_near_duplicates(items: pd.DataFrame, threshold: float = 0.8, n: int = 3,
                             order: list[str] | None = None) -> pd.DataFrame:
    """Keep the first of each group of items whose titles are near-duplicates.

    ``items`` is visited in ``order`` (default ``ts, id``) and an item joins the first kept item whose
    title similarity is ≥ ``threshold``; kept rows get ``duplicates`` (how many were folded in) and
    ``duplicate_ids`` / ``duplicate_sources`` (in visiting order). Deterministic for a given frame.
    """
    if items.empty:
        out = items.copy()
        out["duplicates"] = pd.Series([], dtype="int64")
        out["duplicate_ids"] = pd.Series([], dtype=object)
        out["duplicate_sources"] = pd.Series([], dtype=object)
        return out
    ordered = items.sort_values(order or ["ts", "id"], kind="stable")
    kept_pos: list[int] = []
    grams: list[frozenset[str]] = []
    dup_ids: dict[int, list[str]] = {}
    dup_src: dict[int, list[str]] = {}
    for pos, (title, iid, src) in enumerate(zip(ordered["title"], ordered["id"], ordered["source"])):
        g = char_ngrams(normalise_title(title), n)
        hit = None
        for k, kg in zip(kept_pos, grams):
            if g and kg and len(g & kg) / len(g | kg) >= threshold:
                hit = k
                break
        if hit is None:
            kept_pos.append(pos)
            grams.append(g)
            dup_ids[pos], dup_src[pos] = [], []
        else:
            dup_ids[hit].append(str(iid))
            dup_src[hit].append(str(src or ""))
    out = ordered.iloc[kept_pos].copy()
    out["duplicates"] = [len(dup_ids[p]) for p in kept_pos]
    out["duplicate_ids"] = [dup_ids[p] for p in kept_pos]
    out["duplicate_sources"] = [dup_src[p] for p in kept_pos]
    return out


# --- reading a user's news archive ---------------------------------------------------------------

#: Header spellings accepted by ``read_news_file`` (case-insensitive), → canonical column.
NEWS_FILE_COLUMNS: dict[str, str] = {
    "id": "id",
    "ts": "ts", "time": "ts", "datetime": "ts", "date": "ts", "publish_time": "ts", "pub_time": "ts",
    "published": "ts", "published_at": "ts", "发布时间": "ts", "时间": "ts", "日期": "ts",
    "ts_precision": "ts_precision", "precision": "ts_precision", "时间精度": "ts_precision",
    "symbol": "symbol", "code": "symbol", "ticker": "symbol", "代码": "symbol", "股票代码": "symbol",
    "source": "source", "media": "source", "来源": "source", "文章来源": "source",
    "kind": "kind", "type": "kind", "类型": "kind",
    "title": "title", "headline": "title", "标题": "title", "新闻标题": "title",
    "body": "body", "content": "body", "summary": "body", "内容": "body", "新闻内容": "body", "摘要": "body",
    "url": "url", "link": "url", "链接": "url", "新闻链接": "url",
}
KIND_SYNONYMS: dict[str, str] = {
    "新闻": "news", "资讯": "news", "公告": "announcement", "互动易": "qa_reply", "e互动": "qa_reply",
    "问答": "qa_reply", "社交": "social", "社媒": "social", "传闻": "social", "研报": "broker_note",
    "券商": "broker_note", "声明": "statement", "qa": "qa_reply", "rumor": "social",
}

_DATE_ONLY = re.compile(r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}$|^\d{8}$")
_WITH_SECONDS = re.compile(r"\d{1,2}:\d{2}:\d{2}")
_WITH_MINUTES = re.compile(r"\d{1,2}:\d{2}")
_CJK_DATE = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日\s*(?:(\d{1,2})[:时](\d{1,2})(?:[:分](\d{1,2})秒?)?分?)?")


def _decode(path: Path, data: bytes, encoding: str | None) -> str:
    if encoding:
        try:
            return data.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise BadInput(f"{path}: cannot decode as {encoding}: {exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        first = exc
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise BadInput(f"{path}: not UTF-8 or GBK text (undecodable byte 0x{data[first.start]:02x} "
                       f"at offset {first.start})") from None


def _parse_ts(value, where: str) -> tuple[pd.Timestamp, str]:
    """One timestamp cell → (tz-aware Shanghai timestamp, inferred precision)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and not np.isfinite(value):
            raise BadInput(f"{where}: empty timestamp")
        try:
            unit = "ms" if abs(value) > 1e11 else "s"
            t = pd.Timestamp(int(value), unit=unit, tz="UTC")
        except (OverflowError, ValueError, TypeError):   # OutOfBoundsDatetime is a ValueError
            t = None
        if t is None or pd.isna(t):
            shown = repr(value) if len(repr(value)) <= 30 else f"{repr(value)[:27]}..."
            raise BadInput(f"{where}: {shown} is not a valid epoch time (seconds or milliseconds since "
                           "1970-01-01 UTC, or write a date/time such as 2023-05-24 15:40:56)") from None
        return t.tz_convert(TZ), "second"
    s = str(value).strip()
    if not s:
        raise BadInput(f"{where}: empty timestamp")
    m = _CJK_DATE.fullmatch(s)
    if m:
        y, mo, d, hh, mm, ss = m.groups()
        s = f"{y}-{int(mo):02d}-{int(d):02d}" + (f" {int(hh):02d}:{int(mm):02d}" if hh else "") + (
            f":{int(ss):02d}" if ss else "")
    if _DATE_ONLY.match(s):
        precision = "day"
    elif _WITH_SECONDS.search(s):
        precision = "second"
    elif _WITH_MINUTES.search(s):
        precision = "minute"
    else:
        precision = "second"
    try:
        t = pd.Timestamp(s)
    except (ValueError, TypeError, OverflowError):
        t = None
    if t is None or pd.isna(t):
        raise BadInput(f"{where}: {s!r} is not a date/time (use e.g. 2023-05-24 15:40:56, optionally "
                       "with +08:00)")
    t = t.tz_localize(TZ) if t.tzinfo is None else t.tz_convert(TZ)
    if precision == "day":
        t = t.normalize()
    return t, precision


def _cell(v):
    if v is None:
        return None
    if isinstance(v, float) and np.isnan(v):
        return None
    s = str(v).strip() if not isinstance(v, (int, float)) or isinstance(v, bool) else v
    return None if isinstance(s, str) and s == "" else s


def _records_from_text(path: Path, text: str) -> tuple[list[dict], str]:
    """Rows of the file as dicts with the file's own keys, and the row word ("row"/"line"/"item")."""
    suffix = path.suffix.lower()
    head = text.lstrip()[:1]
    if suffix in (".jsonl", ".ndjson") or (suffix == ".json" and head == "{") or (
            suffix not in (".csv", ".tsv", ".txt", ".json") and head == "{"):
        rows: list[dict] = []
        for i, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BadInput(f"{path}: line {i}: not valid JSON ({exc.msg} at column {exc.colno})") from None
            except RecursionError:
                raise BadInput(f"{path}: line {i}: not valid JSON (nested too deeply)") from None
            if not isinstance(obj, dict):
                raise BadInput(f"{path}: line {i}: expected a JSON object, got {type(obj).__name__}")
            obj["__row__"] = i
            rows.append(obj)
        return rows, "line"
    if suffix == ".json" or head == "[":
        try:
            arr = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadInput(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
        except RecursionError:
            raise BadInput(f"{path}: not valid JSON (nested too deeply)") from None
        if not isinstance(arr, list):
            raise BadInput(f"{path}: expected a JSON array of objects or one JSON object per line")
        rows = []
        for i, obj in enumerate(arr, start=1):
            if not isinstance(obj, dict):
                raise BadInput(f"{path}: item {i}: expected a JSON object, got {type(obj).__name__}")
            rows.append({**obj, "__row__": i})
        return rows, "item"
    sep = "\t" if suffix == ".tsv" else ","
    from .sources.csvfile import csv_layout_problem

    def layout(check_rows: bool) -> BadInput | None:
        found = csv_layout_problem(text, sep, check_rows=check_rows)
        if found is None:
            return None
        row, problem = found
        return BadInput(f"{path}: {problem}" if row is None else f"{path}: row {row}: {problem}")

    problem = layout(False)   # a repeated header name (pandas would rename the second one)
    if problem is not None:
        raise problem
    try:
        raw = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        problem = layout(True)
        if problem is not None:
            raise problem from None
        raise BadInput(f"{path}: not a readable CSV: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw.index, pd.RangeIndex):
        # pandas made the surplus fields of a too-long row into an index: every column is shifted
        problem = layout(True)
        if problem is not None:
            raise problem
        # only empty surplus fields (lines ending in a comma, as some exports write them)
        with warnings.catch_warnings():   # "loss of data with index_col=False": only empty fields are lost
            warnings.simplefilter("ignore", pd.errors.ParserWarning)
            raw = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, index_col=False)
    raw.columns = [str(c).strip() for c in raw.columns]
    recs = raw.to_dict("records")
    for i, r in enumerate(recs, start=1):
        r["__row__"] = i
    return recs, "row"


def _map_columns(path: Path, keys: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    taken: dict[str, str] = {}
    for k in keys:
        if k == "__row__":
            continue
        canon = NEWS_FILE_COLUMNS.get(str(k).strip().lower()) or NEWS_FILE_COLUMNS.get(str(k).strip())
        if canon is None:
            continue
        if canon in taken:
            raise BadInput(f"{path}: columns {taken[canon]!r} and {k!r} both mean {canon!r}; keep one")
        taken[canon] = k
        mapping[k] = canon
    missing = [c for c in ("ts", "title") if c not in taken]
    if missing:
        accepted = {c: sorted(k for k, v in NEWS_FILE_COLUMNS.items() if v == c) for c in missing}
        raise BadInput(f"{path}: missing column(s) {', '.join(repr(c) for c in missing)} (accepted names: "
                       + "; ".join(f"{c}: {', '.join(v)}" for c, v in accepted.items()) + ")")
    return mapping


def read_news_file(path, *, symbol: str | None = None, source: str | None = None,
                   encoding: str | None = None) -> pd.DataFrame:
    """Read a user's news archive (CSV, TSV, JSON Lines or a JSON array) into canonical news.

    * Encoding: UTF-8 with or without BOM, else GBK/GB18030 (or ``encoding`` when given).
    * Columns: the canonical names or the spellings in ``NEWS_FILE_COLUMNS`` (发布时间, 标题, 内容, 链接 …);
      ``ts`` and ``title`` are required, other unknown columns are ignored.
    * Times: naive stamps are exchange-local (Asia/Shanghai); explicit offsets are honoured. Without a
      ``ts_precision`` column the precision is inferred per row: a bare date → ``day`` (00:00),
      ``HH:MM`` → ``minute``, ``HH:MM:SS`` or epoch seconds/ms → ``second``.
    * ``symbol`` cells may be any spelling ``symbols.resolve`` accepts (002230, sz002230, 002230.SZ,
      科大讯飞); empty means a market-wide item unless the ``symbol`` argument gives a default.
    * ``kind`` accepts the canonical kinds or 公告/互动易/研报/声明/传闻…; empty means ``news``.
    * ``source`` empty falls back to the ``source`` argument, else ''.
    * ``id`` is ``schema.news_id`` (hash of ts, symbol, source, normalised title) unless the file gives
      one, so reading the same file twice yields identical ids; rows with the same id are kept once.

    Any bad cell raises ``BadInput`` naming the file, the row (CSV data row, header not counted; JSONL
    line; JSON array item) and the column as the file spells it, and nothing is returned.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise BadInput(f"{p}: no such file") from None
    except IsADirectoryError:
        raise BadInput(f"{p}: is a folder, expected a news file (.csv, .jsonl, .json)") from None
    except OSError as exc:
        raise BadInput(f"{p}: cannot read ({exc.strerror})") from None
    text = _decode(p, data, encoding)
    if not text.strip():
        raise BadInput(f"{p}: empty file, no news rows")
    records, word = _records_from_text(p, text)
    if not records:
        raise BadInput(f"{p}: no news rows")
    keys: list[str] = []
    for r in records:
        for k in r:
            if k not in keys:
                keys.append(k)
    mapping = _map_columns(p, keys)
    default_symbol = None
    if symbol is not None:
        from .symbols import resolve

        default_symbol = resolve(symbol).id
    col = {canon: orig for orig, canon in mapping.items()}   # the file's own header, for messages
    sym_cache: dict[str, str] = {}
    out: dict[str, list] = {c: [] for c in NEWS_COLUMNS}
    for r in records:
        where = f"{p}: {word} {r['__row__']}"
        for k, canon_key in mapping.items():   # JSON objects/arrays are not cells (str() would hide them)
            v = r.get(k)
            if isinstance(v, (dict, list)):
                raise BadInput(f"{where}: column {k!r}: expected {'a date/time' if canon_key == 'ts' else 'text'}, "
                               f"got a JSON {'object' if isinstance(v, dict) else 'array'}")
        row = {canon: _cell(r.get(k)) for k, canon in mapping.items()}
        ts_raw = row.get("ts")
        if ts_raw is None:
            raise BadInput(f"{where}: column {col['ts']!r}: empty timestamp")
        ts, inferred = _parse_ts(ts_raw, f"{where}: column {col['ts']!r}")
        prec = row.get("ts_precision")
        if prec is None:
            prec = inferred
        else:
            prec = str(prec).strip().lower()
            if prec not in TS_PRECISIONS:
                raise BadInput(f"{where}: column {col['ts_precision']!r}: {prec!r} is not one of "
                               f"{', '.join(TS_PRECISIONS)}")
            if prec == "day":
                ts = ts.normalize()
        title = row.get("title")
        if title is None or not str(title).strip():
            raise BadInput(f"{where}: column {col['title']!r}: empty title")
        kind = row.get("kind")
        if kind is None:
            kind = "news"
        else:
            k = str(kind).strip()
            kind = KIND_SYNONYMS.get(k, KIND_SYNONYMS.get(k.lower(), k.lower()))
            if kind not in NEWS_KINDS:
                raise BadInput(f"{where}: column {col['kind']!r}: {k!r} is not one of {', '.join(NEWS_KINDS)} "
                               "(or 新闻/公告/互动易/研报/声明/传闻)")
        sym_raw = row.get("symbol")
        if sym_raw is None:
            sym = default_symbol
        else:
            if isinstance(sym_raw, bool) or (isinstance(sym_raw, float) and not float(sym_raw).is_integer()):
                raise BadInput(f"{where}: column {col['symbol']!r}: {sym_raw!r} is not a symbol code (use e.g. "
                               "002230, sz002230, 002230.SZ or 科大讯飞; leave empty for a market-wide item)")
            s = str(int(sym_raw)) if isinstance(sym_raw, (int, float)) else str(sym_raw).strip()
            if s.isascii() and s.isdigit() and len(s) < 6:
                s = s.zfill(6)
            if s not in sym_cache:
                from .symbols import resolve

                try:
                    sym_cache[s] = resolve(s).id
                except UnknownSymbol:
                    raise BadInput(f"{where}: column {col['symbol']!r}: unknown symbol {s!r} (use e.g. 002230, "
                                   "sz002230, 002230.SZ or 科大讯飞; leave empty for a market-wide item)") from None
            sym = sym_cache[s]
        src = row.get("source")
        src = str(src).strip() if src is not None else (source or "")
        iid = row.get("id")
        out["id"].append(str(iid) if iid is not None else None)
        out["ts"].append(ts)
        out["ts_precision"].append(prec)
        out["symbol"].append(sym)
        out["source"].append(src)
        out["kind"].append(kind)
        out["title"].append(str(title).strip())
        body = row.get("body")
        out["body"].append(str(body) if body is not None else None)
        url = row.get("url")
        out["url"].append(str(url).strip() if url is not None else None)
    df = pd.DataFrame(out)
    df["ts"] = pd.Series(out["ts"], dtype=f"datetime64[us, {TZ}]")
    canon = validate_news(df, origin=str(p))
    return canon.drop_duplicates("id", keep="first").reset_index(drop=True)
