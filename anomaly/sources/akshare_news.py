"""akshare news adapters → canonical news (``id, ts, ts_precision, symbol, source, kind, title, body, url``).

Per-symbol feeds (``AkshareNews.news``):

=========================================  ===================================================
``stock_zh_a_disclosure_report_cninfo``     巨潮资讯 announcements: 代码, 简称, 公告标题, 公告时间 (str
                                            "YYYY-MM-DD HH:MM:SS", Shanghai; cninfo stamps most at
                                            00:00 → precision ``day``), 公告链接 → kind announcement.
                                            ``category="澄清致歉"`` / ``keyword="澄清"`` are supported;
                                            a 澄清致歉 hit is marked in ``body``.
``stock_irm_cninfo``                        深交所互动易 (SZSE companies): 股票代码, 公司简称, 行业, 行业代码,
                                            问题, 提问者, 来源, 提问时间, 更新时间, 提问者编号, 问题编号,
                                            回答ID, 回答内容, 回答者 → kind qa_reply, answered rows only,
                                            ts = 更新时间 (akshare drops the answer's own date field;
                                            the record's update time is when the reply was posted)
``stock_sns_sseinfo``                       上证e互动 (SSE companies): 股票代码, 公司简称, 问题, 回答,
                                            问题时间, 回答时间, 问题来源, 回答来源, 用户名 — times are
                                            page text ("2023年05月24日 16:32", "昨天 18:22", "3小时前")
                                            → kind qa_reply, ts = 回答时间
``stock_news_em``                           东方财富 company news (latest few items only): 关键词, 新闻标题,
                                            新闻内容, 发布时间 ("YYYY-MM-DD HH:MM:SS"), 文章来源, 新闻链接
                                            → kind news, precision second
=========================================  ===================================================

Market-wide feeds (``AkshareNews.market_news``; ``symbol`` null):
``stock_info_global_cls`` 财联社电报 (标题, 内容, 发布日期 datetime.date, 发布时间 datetime.time) and
``stock_info_global_em`` 东方财富快讯 (标题, 摘要, 发布时间 str, 链接). Both serve only the latest
items, so they are useful for the nightly scan, not for history.

Every upstream frame passes :func:`~anomaly.sources.net.require_columns` (a changed site raises
``SchemaChanged`` naming the missing columns); every call goes through ``call_upstream``.
``akshare`` is imported inside the functions only.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Callable

import numpy as np
import pandas as pd

from ..errors import BadInput, SchemaChanged, SourceError
from ..schema import NEWS_COLUMNS, TZ, validate_news
from ..symbols import Symbol
from .base import in_range
from .net import NetPolicy, require_columns

log = logging.getLogger(__name__)

CNINFO, IRM, SSEINFO, EASTMONEY, CLS = ("cninfo.com.cn", "irm.cninfo.com.cn", "sseinfo.com",
                                         "eastmoney.com", "cls.cn")

ANNOUNCEMENT_COLUMNS = ["代码", "简称", "公告标题", "公告时间", "公告链接"]
IRM_COLUMNS = ["股票代码", "公司简称", "问题", "提问时间", "更新时间", "问题编号", "回答内容"]
SSE_COLUMNS = ["股票代码", "公司简称", "问题", "回答", "问题时间", "回答时间"]
NEWS_EM_COLUMNS = ["关键词", "新闻标题", "新闻内容", "发布时间", "文章来源", "新闻链接"]
CLS_COLUMNS = ["标题", "内容", "发布日期", "发布时间"]
EM_FLASH_COLUMNS = ["标题", "摘要", "发布时间", "链接"]

CLARIFICATION_CATEGORY = "澄清致歉"
TITLE_CHARS = 80
#: e互动 needs a code→uid map that akshare builds by walking ~72 pages on first use.
SSE_TIMEOUT = 300.0


def _ak():
    import akshare  # noqa: PLC0415 - lazy on purpose

    return akshare


def _ymd(d: dt.date) -> str:
    return d.strftime("%Y%m%d")


def _span(start: dt.date, end: dt.date) -> str:
    return f"{start:%Y-%m-%d}..{end:%Y-%m-%d}"


def empty_news() -> pd.DataFrame:
    """A typed, empty canonical news frame."""
    df = pd.DataFrame({c: pd.Series([], dtype=object) for c in NEWS_COLUMNS})
    df["ts"] = pd.Series([], dtype=f"datetime64[ns, {TZ}]")
    return validate_news(df)


def _text(s: pd.Series) -> pd.Series:
    """Strings with NaN/None → '' and surrounding whitespace removed."""
    return s.astype(object).where(s.notna(), "").astype(str).str.strip()


_TAGS = re.compile(r"</?em>", re.I)


def _none_if_empty(s: pd.Series) -> pd.Series:
    return s.astype(object).where(s != "", None)


def _strip_tags(s: pd.Series) -> pd.Series:
    return _text(s).str.replace(_TAGS, "", regex=True)


def _clip(text: str, n: int = TITLE_CHARS) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= n else text[: n - 1] + "…"


def _code(s: pd.Series) -> pd.Series:
    return _text(s).str.zfill(6)


def _local_ts(values: pd.Series, what: str, column: str) -> pd.Series:
    """Naive Shanghai wall-clock strings → tz-aware; unparsable values → NaT (all NaT → SchemaChanged)."""
    ts = pd.to_datetime(_text(values), errors="coerce", format="mixed")
    if len(ts) and ts.isna().all():
        raise SchemaChanged(f"{what}: column {column} no longer holds times "
                            f"(e.g. {_text(values).iloc[0]!r})")
    if getattr(ts.dt, "tz", None) is None:
        ts = ts.dt.tz_localize(TZ)
    return ts.dt.tz_convert(TZ)


def _finish(rows: pd.DataFrame, what: str) -> pd.DataFrame:
    """Drop rows without time/title (logging how many) and validate into canonical news."""
    if rows.empty:
        return empty_news()
    bad = rows["ts"].isna() | (rows["title"].astype(str).str.strip() == "")
    if bad.any():
        log.warning("%s: dropped %d row(s) without a usable time or title", what, int(bad.sum()))
        rows = rows[~bad]
    if rows.empty:
        return empty_news()
    try:
        return validate_news(rows.reset_index(drop=True), origin=what)
    except BadInput as exc:
        raise SourceError(f"upstream returned bad news rows: {exc}") from None


# --- mappers (pure) -------------------------------------------------------------------------------


def map_announcements(frame: pd.DataFrame, what: str, category: str = "") -> pd.DataFrame:
    require_columns(frame, ANNOUNCEMENT_COLUMNS, what)
    if frame.empty:
        return empty_news()
    ts = _local_ts(frame["公告时间"], what, "公告时间")
    midnight = (ts.dt.hour == 0) & (ts.dt.minute == 0) & (ts.dt.second == 0)
    body = None
    if category:
        note = f"巨潮资讯公告分类：{category}"
        if category == CLARIFICATION_CATEGORY:
            note += "（澄清/致歉公告 — clarification or apology announcement）"
        body = note
    rows = pd.DataFrame({
        "ts": ts,
        "ts_precision": np.where(midnight, "day", "second"),
        "symbol": _code(frame["代码"]),
        "source": "巨潮资讯",
        "kind": "announcement",
        "title": _strip_tags(frame["公告标题"]),
        "body": body,
        "url": _none_if_empty(_text(frame["公告链接"])),
    })
    return _finish(rows, what)


def map_irm(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    """互动易: one qa_reply per answered question, ts = 更新时间 (when the reply was posted)."""
    require_columns(frame, IRM_COLUMNS, what)
    answer = _text(frame["回答内容"])
    frame = frame[answer != ""]
    if frame.empty:
        return empty_news()
    answer, question = _text(frame["回答内容"]), _text(frame["问题"])
    name = _text(frame["公司简称"])
    qid = _text(frame["问题编号"])
    rows = pd.DataFrame({
        "ts": _local_ts(frame["更新时间"], what, "更新时间"),
        "ts_precision": "second",
        "symbol": _code(frame["股票代码"]),
        "source": "深交所互动易",
        "kind": "qa_reply",
        "title": [f"{n}互动易回复：{_clip(a)}" for n, a in zip(name, answer)],
        "body": [f"问：{q}\n答：{a}" for q, a in zip(question, answer)],
        "url": [f"https://irm.cninfo.com.cn/ircs/question/questionDetail?questionId={i}" if i else None
                for i in qid],
    })
    return _finish(rows, what)


_ABS = re.compile(r"^(\d{4})\s*[年/-]\s*(\d{1,2})\s*[月/-]\s*(\d{1,2})\s*日?\s*(\d{1,2}):(\d{2})(?::(\d{2}))?$")
_MD = re.compile(r"^(\d{1,2})\s*[月/-]\s*(\d{1,2})\s*日?\s*(\d{1,2}):(\d{2})$")
_REL_DAY = re.compile(r"^(今天|昨天|前天)\s*(\d{1,2}):(\d{2})$")
_AGO = re.compile(r"^(\d+)\s*(秒|分钟|小时|天)前$")
_HM = re.compile(r"^(\d{1,2}):(\d{2})$")


def parse_cn_time(text: str, now: pd.Timestamp) -> tuple[pd.Timestamp | None, str]:
    """Parse page-text times like e互动's into ``(tz-aware ts, precision)``; ``(None, "")`` if unknown.

    Absolute "2023年05月24日 16:32" / "2023-05-24 16:32[:05]"; month-day "05月24日 16:32" (this
    year, or last year when that would be in the future); "今天/昨天/前天 HH:MM"; "N秒/分钟/小时/天前";
    "刚刚"; bare "HH:MM" (today). Relative forms are resolved against ``now`` (Shanghai).
    """
    now = pd.Timestamp(now).tz_convert(TZ) if pd.Timestamp(now).tzinfo else pd.Timestamp(now).tz_localize(TZ)
    t = re.sub(r"\s+", " ", str(text or "")).strip()
    try:
        m = _ABS.match(t)
        if m:
            y, mo, d, h, mi, s = m.groups()
            return pd.Timestamp(int(y), int(mo), int(d), int(h), int(mi), int(s or 0), tz=TZ), \
                ("second" if s else "minute")
        m = _MD.match(t)
        if m:
            mo, d, h, mi = map(int, m.groups())
            ts = pd.Timestamp(now.year, mo, d, h, mi, tz=TZ)
            if ts > now + pd.Timedelta(days=1):
                ts = pd.Timestamp(now.year - 1, mo, d, h, mi, tz=TZ)
            return ts, "minute"
        m = _REL_DAY.match(t)
        if m:
            back = {"今天": 0, "昨天": 1, "前天": 2}[m.group(1)]
            day = now.normalize() - pd.Timedelta(days=back)
            return day + pd.Timedelta(hours=int(m.group(2)), minutes=int(m.group(3))), "minute"
        m = _AGO.match(t)
        if m:
            n, unit = int(m.group(1)), m.group(2)
            if unit == "天":
                return (now - pd.Timedelta(days=n)).normalize(), "day"
            delta = {"秒": "seconds", "分钟": "minutes", "小时": "hours"}[unit]
            return (now - pd.Timedelta(**{delta: n})).floor("min"), "minute"
        if t == "刚刚":
            return now.floor("min"), "minute"
        m = _HM.match(t)
        if m:
            return now.normalize() + pd.Timedelta(hours=int(m.group(1)), minutes=int(m.group(2))), "minute"
    except (ValueError, OverflowError):
        return None, ""
    return None, ""


def map_sse(frame: pd.DataFrame, what: str, now: pd.Timestamp) -> pd.DataFrame:
    """上证e互动: one qa_reply per answered question, ts = 回答时间 (page text, parsed)."""
    require_columns(frame, SSE_COLUMNS, what)
    answer = _text(frame["回答"])
    frame = frame[answer != ""]
    if frame.empty:
        return empty_news()
    parsed = [parse_cn_time(x, now) for x in _text(frame["回答时间"])]
    if all(p[0] is None for p in parsed):
        raise SchemaChanged(f"{what}: column 回答时间 no longer holds times "
                            f"(e.g. {_text(frame['回答时间']).iloc[0]!r})")
    answer, question, name = _text(frame["回答"]), _text(frame["问题"]), _text(frame["公司简称"])
    rows = pd.DataFrame({
        "ts": pd.Series([p[0] if p[0] is not None else pd.NaT for p in parsed],
                        dtype=f"datetime64[ns, {TZ}]"),
        "ts_precision": [p[1] or "minute" for p in parsed],
        "symbol": _code(frame["股票代码"]).to_numpy(),
        "source": "上证e互动",
        "kind": "qa_reply",
        "title": [f"{n}e互动回复：{_clip(a)}" for n, a in zip(name, answer)],
        "body": [f"问：{q}\n答：{a}" for q, a in zip(question, answer)],
        "url": None,
    })
    return _finish(rows, what)


def map_news_em(frame: pd.DataFrame, what: str, symbol_id: str) -> pd.DataFrame:
    """东方财富个股新闻: kind news, ts precision second, source = the outlet (文章来源)."""
    require_columns(frame, NEWS_EM_COLUMNS, what)
    if frame.empty:
        return empty_news()
    outlet = _text(frame["文章来源"])
    rows = pd.DataFrame({
        "ts": _local_ts(frame["发布时间"], what, "发布时间"),
        "ts_precision": "second",
        "symbol": symbol_id,
        "source": outlet.where(outlet != "", "东方财富"),
        "kind": "news",
        "title": _strip_tags(frame["新闻标题"]),
        "body": _none_if_empty(_strip_tags(frame["新闻内容"])),
        "url": _none_if_empty(_text(frame["新闻链接"])),
    })
    return _finish(rows, what)


def map_cls(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    """财联社电报: market-wide; an untitled telegraph takes the start of its text as title."""
    require_columns(frame, CLS_COLUMNS, what)
    if frame.empty:
        return empty_news()
    stamp = _text(frame["发布日期"]) + " " + _text(frame["发布时间"])
    title, content = _text(frame["标题"]), _text(frame["内容"])
    rows = pd.DataFrame({
        "ts": _local_ts(stamp, what, "发布日期/发布时间"),
        "ts_precision": "second",
        "symbol": None,
        "source": "财联社",
        "kind": "news",
        "title": [t if t else _clip(c, 60) for t, c in zip(title, content)],
        "body": _none_if_empty(content),
        "url": None,
    })
    return _finish(rows, what)


def map_em_flash(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    """东方财富全球财经快讯: market-wide."""
    require_columns(frame, EM_FLASH_COLUMNS, what)
    if frame.empty:
        return empty_news()
    rows = pd.DataFrame({
        "ts": _local_ts(frame["发布时间"], what, "发布时间"),
        "ts_precision": "second",
        "symbol": None,
        "source": "东方财富快讯",
        "kind": "news",
        "title": _text(frame["标题"]),
        "body": _none_if_empty(_text(frame["摘要"])),
        "url": _none_if_empty(_text(frame["链接"])),
    })
    return _finish(rows, what)


# --- fetchers (network, through call_upstream) ---------------------------------------------------


def announcements(symbol: Symbol, start: dt.date, end: dt.date, *, category: str = "",
                  keyword: str = "", net: NetPolicy | None = None) -> pd.DataFrame:
    """巨潮资讯 announcements of one stock in [start, end] (empty is a normal answer)."""
    ak, net = _ak(), net or NetPolicy()
    extra = (f", category={category}" if category else "") + (f", keyword={keyword}" if keyword else "")
    what = f"akshare stock_zh_a_disclosure_report_cninfo({symbol.code}, {_span(start, end)}{extra})"
    raw = net.call(ak.stock_zh_a_disclosure_report_cninfo, site=CNINFO, what=what, allow_empty=True,
                   symbol=symbol.code, market="沪深京", keyword=keyword, category=category,
                   start_date=_ymd(start), end_date=_ymd(end))
    if raw is None or (raw.empty and len(raw.columns) == 0):
        return empty_news()
    return in_range(map_announcements(raw, what, category), start, end)


def irm_replies(symbol: Symbol, start: dt.date, end: dt.date, *, net: NetPolicy | None = None) -> pd.DataFrame:
    """深交所互动易 replies of one SZSE company posted in [start, end]."""
    ak, net = _ak(), net or NetPolicy()
    what = f"akshare stock_irm_cninfo({symbol.code})"
    raw = net.call(ak.stock_irm_cninfo, site=IRM, what=what, allow_empty=True, symbol=symbol.code)
    if raw is None or (raw.empty and len(raw.columns) == 0):
        return empty_news()
    return in_range(map_irm(raw, what), start, end)


def sse_replies(symbol: Symbol, start: dt.date, end: dt.date, *, net: NetPolicy | None = None,
                now: pd.Timestamp | None = None) -> pd.DataFrame:
    """上证e互动 replies of one SSE company posted in [start, end]."""
    ak, net = _ak(), net or NetPolicy()
    what = f"akshare stock_sns_sseinfo({symbol.code})"
    raw = net.call(ak.stock_sns_sseinfo, site=SSEINFO, what=what, allow_empty=True,
                   timeout=max(net.timeout or 0, SSE_TIMEOUT), symbol=symbol.code)
    if raw is None or (raw.empty and len(raw.columns) == 0):
        return empty_news()
    now = pd.Timestamp.now(tz=TZ) if now is None else now
    return in_range(map_sse(raw, what, now), start, end)


def company_news(symbol: Symbol, start: dt.date, end: dt.date, *, net: NetPolicy | None = None) -> pd.DataFrame:
    """东方财富 news about one stock (the site serves only the latest items) within [start, end]."""
    ak, net = _ak(), net or NetPolicy()
    what = f"akshare stock_news_em({symbol.code})"
    raw = net.call(ak.stock_news_em, site=EASTMONEY, what=what, symbol=symbol.code)
    return in_range(map_news_em(raw, what, symbol.id), start, end)


def cls_flash(start: dt.date, end: dt.date, *, net: NetPolicy | None = None) -> pd.DataFrame:
    """财联社电报 (latest items) within [start, end]."""
    ak, net = _ak(), net or NetPolicy()
    what = "akshare stock_info_global_cls(全部)"
    raw = net.call(ak.stock_info_global_cls, site=CLS, what=what, symbol="全部")
    return in_range(map_cls(raw, what), start, end)


def em_flash(start: dt.date, end: dt.date, *, net: NetPolicy | None = None) -> pd.DataFrame:
    """东方财富全球财经快讯 (latest items) within [start, end]."""
    ak, net = _ak(), net or NetPolicy()
    what = "akshare stock_info_global_em()"
    raw = net.call(ak.stock_info_global_em, site=EASTMONEY, what=what)
    return in_range(map_em_flash(raw, what), start, end)


# --- the combined news source --------------------------------------------------------------------


class AkshareNews:
    """Per-symbol and market-wide news from akshare feeds, combined into one canonical frame.

    A feed that fails is logged and listed in ``frame.attrs["failed_feeds"]``; the call fails
    (``SourceError`` naming every feed) only when every feed failed, or when ``strict``.
    """

    name = "akshare"
    remote = True

    def __init__(self, net: NetPolicy | None = None, now: Callable[[], pd.Timestamp] | None = None,
                 strict: bool = False, **net_options):
        self.net = NetPolicy.build(net, **net_options)
        self._now = now or (lambda: pd.Timestamp.now(tz=TZ))
        self.strict = strict

    # single feeds
    def announcements(self, symbol: Symbol, start: dt.date, end: dt.date, category: str = "",
                      keyword: str = "") -> pd.DataFrame:
        return announcements(symbol, start, end, category=category, keyword=keyword, net=self.net)

    def clarifications(self, symbol: Symbol, start: dt.date, end: dt.date) -> pd.DataFrame:
        """Announcements filed under cninfo's 澄清致歉 category."""
        return self.announcements(symbol, start, end, category=CLARIFICATION_CATEGORY)

    def irm_replies(self, symbol: Symbol, start: dt.date, end: dt.date) -> pd.DataFrame:
        return irm_replies(symbol, start, end, net=self.net)

    def sse_replies(self, symbol: Symbol, start: dt.date, end: dt.date) -> pd.DataFrame:
        return sse_replies(symbol, start, end, net=self.net, now=self._now())

    def company_news(self, symbol: Symbol, start: dt.date, end: dt.date) -> pd.DataFrame:
        return company_news(symbol, start, end, net=self.net)

    def cls_flash(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        return cls_flash(start, end, net=self.net)

    def em_flash(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        return em_flash(start, end, net=self.net)

    # combinations
    def symbol_feeds(self, symbol: Symbol) -> list[tuple[str, Callable]]:
        """The feeds that can hold news about ``symbol`` (Q&A platform by exchange)."""
        feeds: list[tuple[str, Callable]] = [("announcements", self.announcements)]
        if symbol.exchange == "SZ":
            feeds.append(("irm_replies", self.irm_replies))
        elif symbol.exchange == "SH":
            feeds.append(("sse_replies", self.sse_replies))
        feeds.append(("company_news", self.company_news))
        return feeds

    def news(self, symbol: Symbol | None, start: dt.date, end: dt.date) -> pd.DataFrame:
        """News about a stock (announcements, Q&A replies, company news); market-wide for None/indices."""
        if symbol is None or symbol.is_index:
            return self.market_news(start, end)
        return self._combine([(n, (lambda f=f: f(symbol, start, end))) for n, f in self.symbol_feeds(symbol)],
                             f"akshare news for {symbol.id} {_span(start, end)}")

    def market_news(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        """Market-wide flashes (财联社电报, 东方财富快讯) within [start, end]."""
        return self._combine([("cls_flash", lambda: self.cls_flash(start, end)),
                              ("em_flash", lambda: self.em_flash(start, end))],
                             f"akshare market news {_span(start, end)}")

    global_news = market_news

    def _combine(self, feeds: list[tuple[str, Callable[[], pd.DataFrame]]], what: str) -> pd.DataFrame:
        frames, failed = [], []
        for name, fetch in feeds:
            try:
                frames.append(fetch())
            except SourceError as exc:
                log.info("%s", exc)
                failed.append((name, exc))
        if failed and (self.strict or len(failed) == len(feeds)):
            if len(failed) == 1:
                raise failed[0][1]
            raise SourceError(f"{what}: " + " | ".join(f"{n}: {e}" for n, e in failed))
        for name, exc in failed:
            log.warning("%s: feed %s left out: %s", what, name, exc)
        frames = [f for f in frames if not f.empty]
        out = pd.concat(frames, ignore_index=True) if frames else empty_news()
        out = out.drop_duplicates("id").sort_values(["ts", "id"], kind="stable").reset_index(drop=True)
        out.attrs["failed_feeds"] = [f"{n}: {e}" for n, e in failed]
        return out
