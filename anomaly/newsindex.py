"""The correlator's news index: a news archive prepared once, sorted by the time each item meets the
market, so that every anomaly event finds its candidate items without touching the whole archive.

``correlate.link_events`` links each event (one symbol × trading day) to the items whose market
meeting time ``meet_lo`` lies in the event's window, and of those it scores the items filed under the
symbol, the items that name it, and the market-wide items closest to t₀. This module answers those
three questions for thousands of events against millions of items; the scoring stays in
``anomaly.correlate``. It selects exactly the items the straightforward per-event filter
(``linkscore._prepare_news`` + ``linkscore._link``) selects — ``tests/test_correlate_fast.py``
checks the two against each other.

Preparation (once per archive, vectorised)
    Meeting times with the correlator's own vectorised calendar rules (``linkscore._interval_ns``);
    the order ``(meet_lo, prepared rank)`` where the prepared rank is the straightforward path's
    order ``(ts, id)`` (stable), so every tie is broken the same way; per-symbol position arrays; the
    titles and bodies as Arrow strings (only ASCII lower-cased: NFKC is never computed for the whole
    archive). Item fields are turned into Python values only for the items some event considers.

Windows and filed-under items
    ``np.searchsorted`` on the sorted meeting times; per-symbol positions are sliced the same way.

Names (``scan_names``)
    The straightforward path runs the alias regex (``linkscore._alias_regex``: code with digit
    boundaries, short name, aliases; Python ``re`` on NFKC + lower-cased text) over every in-window item
    of every event. Here the items are cut into blocks of consecutive meeting times, and one RE2 pass
    (``pyarrow.compute.match_substring_regex``) per block looks for the plain literals of all symbols
    whose windows touch the block. That pass runs on the raw text, so it must find every item whose
    *normalised* text contains a literal: it also flags any item holding a character that NFKC +
    lower-casing could turn into a literal character (fullwidth ``０``/``Ａ``, ``⾦`` for 金, ``①``, a
    ligature, …; ``_flag_class`` derives that set from Python's own ``unicodedata``). Only the items
    it reports are normalised with ``news.norm_text`` and checked with the exact alias regex, so the
    answer is the straightforward path's answer, not an approximation.

Nearest market-wide items
    Ranked by ``(|meet_lo − t₀|, prepared rank)`` — the same order as the straightforward
    ``(distance, ts, id)`` stable sort, because the prepared rank already orders ``(ts, id)`` —
    from the slice around t₀ only, and shared by every event with the same window and t₀.
"""
from __future__ import annotations

import itertools
import re
import sys
import unicodedata
from functools import lru_cache

import numpy as np
import pandas as pd

from .schema import NEWS_COLUMNS, TZ, validate_news

_PREC_RANK = {"second": 0, "minute": 1, "session": 2, "day": 3}
_EMPTY = np.empty(0, dtype=np.int64)
#: Upper bound on the symbols whose literals share one RE2 pass, and the item count a block aims for
#: (RE2 builds its DFA lazily per call: small blocks pay the warm-up, large literal sets blow its
#: memory budget and fall back to the slow NFA).
_BLOCK_SYMBOLS = 400
_BLOCK_ITEMS = 20_000
_DST_FREE_FROM = pd.Timestamp("1992-01-01").value   # Asia/Shanghai has no clock change after 1991


# --- Unicode: which raw characters can become literal characters after NFKC + lower -----------------


def _code_points() -> list[str]:
    # planes 0–1 and the CJK compatibility supplement: every other code point has no
    # decomposition and no case mapping in Unicode
    return [chr(c) for c in itertools.chain(range(1, 0xD800), range(0xE000, 0x20000), range(0x2F800, 0x2FA20))]


def _per_char(form: str, chars: list[str]) -> list[str]:
    """``unicodedata.normalize(form, c)`` for every character, in one call (NUL is a starter with no
    compositions, so it keeps the characters apart)."""
    out = unicodedata.normalize(form, "\x00".join(chars)).split("\x00")
    if len(out) != len(chars):                      # pragma: no cover - cannot happen
        out = [unicodedata.normalize(form, c) for c in chars]
    return out


@lru_cache(maxsize=1)
def _images() -> dict[str, str]:
    """Character → ``NFKC(c).lower()`` where that differs from the character."""
    chars = _code_points()
    return {c: k.lower() for c, k in zip(chars, _per_char("NFKC", chars)) if k.lower() != c}


@lru_cache(maxsize=1)
def _context_chars() -> tuple[frozenset, tuple]:
    """The characters around which NFKC depends on the neighbours (combining marks, what decomposes
    to them or to the second element of a canonical composition, capital sigma), and the
    canonical composites."""
    chars = _code_points()
    nfkd = _per_char("NFKD", chars)
    second = set(chr(c) for c in itertools.chain(range(0x1161, 0x1176), range(0x11A8, 0x11C3)))  # Hangul V, T
    composites = []
    for c, d in zip(chars, nfkd):
        if d == c:
            continue
        dec = unicodedata.decomposition(c)
        if dec and not dec.startswith("<"):
            parts = dec.split()
            if len(parts) == 2:
                a, b = chr(int(parts[0], 16)), chr(int(parts[1], 16))
                if unicodedata.normalize("NFC", a + b) == c:
                    composites.append(c)
                    if unicodedata.combining(b) == 0:
                        second.add(b)
    special = [c for c, d in zip(chars, nfkd)
               if unicodedata.combining(c) or c in second or "\u03a3" in unicodedata.normalize("NFKC", c)
               or (d != c and any(unicodedata.combining(x) or x in second for x in d))]
    return frozenset(special), tuple(composites)


def _cjk(ch: str) -> bool:
    """A unified CJK ideograph (no decomposition, no case, never part of a composition)."""
    o = ord(ch)
    return 0x3400 <= o <= 0x4DBF or 0x4E00 <= o <= 0x9FFF or (0x20000 <= o <= 0x3FFFF and not 0x2F800 <= o <= 0x2FA1F)


def _inert(ch: str) -> bool:
    """A literal character that canonical composition can neither create nor absorb into a
    composite that lower-cases back to it: ASCII (not upper case) and unified CJK ideographs."""
    o = ord(ch)
    return (0 < o < 0x80 and not ("A" <= ch <= "Z")) or 0x3400 <= o <= 0x4DBF or 0x4E00 <= o <= 0x9FFF or (
        0x20000 <= o <= 0x3FFFF and not 0x2F800 <= o <= 0x2FA1F)


@lru_cache(maxsize=64)
def _flag_class(literal_chars: frozenset) -> str:
    """RE2 character class of the raw characters an item must not contain for a plain search of the
    ASCII-lower-cased raw text to find every literal its normalised text contains ('' if none).

    A character is flagged when its image is a literal character other than itself (fullwidth
    forms, compatibility ideographs, Kangxi radicals, circled digits …; ASCII capitals excepted,
    the text is ASCII-lower-cased), or when its image has several characters one of which is a
    literal character (``⑴`` → ``(1)``, ``ﬁ``). Literal characters that are all ASCII or unified CJK
    cannot come out of a composition (the one composite that lower-cases into ASCII, ``İ``, reads
    the same raw as normalised: ``i`` + combining dot; ``tests/test_correlate_fast.py`` checks this
    against the running Unicode database), so combining sequences need no flag; any other literal
    character makes every context-dependent character (combining marks and what decomposes to them,
    Hangul jamo that compose, capital sigma) flagged as well.
    """
    flagged = set()
    for c, im in _images().items():
        if len(im) == 1:
            if im in literal_chars and not ("A" <= c <= "Z"):
                flagged.add(c)
        elif any(x in literal_chars for x in im):
            flagged.add(c)
    if not all(_inert(ch) for ch in literal_chars):
        flagged |= _context_chars()[0]
    if not flagged:
        return ""
    cps = sorted(ord(c) for c in flagged)
    ranges: list[list[int]] = []
    for c in cps:
        if ranges and ranges[-1][1] == c - 1:
            ranges[-1][1] = c
        else:
            ranges.append([c, c])
    return "[" + "".join(f"\\x{{{a:x}}}" if a == b else f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in ranges) + "]"


_RE2_META = re.compile(r"[\\.+*?()|\[\]{}^$]")


def _re2_literal(lit: str) -> str:
    """A literal for RE2: metacharacters and non-printable ASCII escaped."""
    out = []
    for ch in lit:
        if _RE2_META.match(ch):
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{{{ord(ch):x}}}")
        else:
            out.append(ch)
    return "".join(out)


def _cuttable(literals: dict) -> dict:
    """symbol → those of its literals that no literal of another symbol can overlap (contain, lie
    in, or share an end with): cutting them out of a text hides no other symbol's name. A literal
    left uncut keeps its text in the literal-by-literal scan, so this only saves work."""
    if any("\x00" in lit for lits in literals.values() for lit in lits):
        return {}
    owner: dict[str, str] = {}
    inside: dict[str, str] = {}         # substrings of a literal's length → single owner, or '*'
    prefix: dict[str, str] = {}         # proper prefixes
    suffix: dict[str, str] = {}         # proper suffixes
    uniq = {s: set(lits) for s, lits in literals.items()}
    lengths = sorted({len(lit) for lits in uniq.values() for lit in lits})

    def put(d: dict, k: str, s: str) -> None:
        o = d.get(k)
        if o is None:
            d[k] = s
        elif o != s:
            d[k] = "*"

    for s, lits in uniq.items():
        for lit in lits:
            put(owner, lit, s)
            n = len(lit)
            for m in lengths:
                if m > n:
                    break
                for i in range(n - m + 1):
                    put(inside, lit[i:i + m], s)
            for k in range(1, n):
                put(prefix, lit[:k], s)
                put(suffix, lit[k:], s)
    out: dict[str, list] = {}
    for s, lits in uniq.items():
        ok = []
        for lit in lits:
            n = len(lit)
            if not n or owner[lit] != s or inside[lit] != s:
                continue                      # shared, or inside another symbol's literal
            if any(owner.get(lit[i:i + m], s) != s for m in lengths if m < n for i in range(n - m + 1)):
                continue                      # holds another symbol's literal
            if any(prefix.get(lit[-k:], s) != s or suffix.get(lit[:k], s) != s for k in range(1, n)):
                continue                      # an end of it can begin or end another symbol's literal
            ok.append(lit)
        if ok:
            out[s] = sorted(ok, key=len, reverse=True)
    return out


# --- text columns as the straightforward path sees them ---------------------------------------------


def _raw_text(v) -> str:
    """The string ``news.norm_text`` normalises for a raw cell (None/NaN → '')."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    return str(v)


def _conv(v):
    """``linkscore._prepare_news``'s conversion of ``source/body/url`` cells (missing → None)."""
    return None if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)


def _conv_symbol(v):
    """… and of ``symbol`` cells (missing or '' → None: a market-wide item)."""
    return None if v is None or (not isinstance(v, str) and pd.isna(v)) or str(v) == "" else str(v)


def _arrow_texts(col: pd.Series, converted: bool):
    """The column as an Arrow ``large_string`` array of the text ``norm_text`` would see: the raw
    cell for titles, the converted cell (missing → '') for bodies. Fast for string columns."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        if isinstance(col.dtype, pd.StringDtype) or col.dtype == object:
            arr = pa.array(col, type=pa.large_string(), from_pandas=True)
            if isinstance(arr, pa.ChunkedArray):
                arr = arr.combine_chunks()
            if not arr.null_count or converted:
                return arr            # a missing cell reads as '', and a null matches no literal
            if isinstance(col.dtype, pd.StringDtype):
                na = col.dtype.na_value
                if na is None or (isinstance(na, float) and np.isnan(na)):
                    return arr
                return pc.fill_null(arr, pa.scalar(str(na), type=pa.large_string()))  # pd.NA reads '<NA>'
            # object column: what the missing cell holds decides its text
            vals = col.to_numpy(dtype=object)
            texts = arr.to_pylist()
            for i in np.flatnonzero(col.isna().to_numpy()):
                texts[i] = _raw_text(vals[i])
            return pa.array(texts, type=pa.large_string())
    except (pa.ArrowException, TypeError, ValueError):
        pass
    vals = col.to_numpy(dtype=object)
    texts = [("" if _conv(v) is None else str(v)) if converted else _raw_text(v) for v in vals]
    try:
        return pa.array(texts, type=pa.large_string())
    except (pa.ArrowException, UnicodeError):
        return None           # e.g. lone surrogates: no prefilter, every in-window item is checked


# --- items -----------------------------------------------------------------------------------------


class Item:
    """One news item with the values the straightforward path's ``iterrows`` row holds (converted
    ``symbol/source/body/url``, filled ``ts_precision``; ``ts`` as its ISO text), its publication and
    meeting times (UTC ns and local ``datetime``), its normalised title and body, and ``x``: the
    correlator's cache."""
    __slots__ = ("pos", "id", "ts_iso", "ts_precision", "symbol", "source", "kind", "title", "body", "url",
                 "pub_lo_ns", "pub_hi_ns", "meet_ns", "pub_lo", "meet_lo", "prec_rank", "title_n", "body_n",
                 "x")

    def __getitem__(self, key):          # item["title"] like a row, for the library's helpers
        return getattr(self, key)


class NewsIndex:
    """A news frame prepared for linking (see the module docstring)."""

    def __init__(self, news: pd.DataFrame | None):
        self.n = 0
        self.meet = _EMPTY
        if news is None or len(news) == 0:
            return
        need = [c for c in NEWS_COLUMNS if c not in news.columns]
        if need or not isinstance(news["ts"].dtype, pd.DatetimeTZDtype) or news["id"].isna().any():
            news = validate_news(news, origin="news")
        from .linkscore import _interval_ns, _localize

        self.frame = news
        n = self.n = len(news)
        dti = pd.DatetimeIndex(news["ts"])
        local = dti.tz_convert(TZ).tz_localize(None).as_unit("ns").asi8
        prec = news["ts_precision"].fillna("minute").astype(str)
        self._prec = prec
        is_day = (prec == "day").to_numpy()
        is_session = (prec == "session").to_numpy()
        lo, hi, m_lo = _interval_ns(local, is_day, is_session)
        if n and int(local.min()) < _DST_FREE_FROM:
            # clock changes in the data's range: localise every interval as the straightforward path
            # does, so that an impossible local time raises the same error there and here
            _localize(lo), _localize(hi), _localize(_interval_ns(local, is_day, is_session, meet_hi=True)[3])
        self._lo_local, self._hi_local = lo, hi
        meet = _localize(m_lo)
        # prepared order: stable (ts, id), exactly the straightforward ``sort_values(["ts", "id"])``
        by_rank = self._prepared_order(dti.as_unit("ns").asi8, news["id"])
        rank = np.empty(n, dtype=np.int64)
        rank[by_rank] = np.arange(n)
        order = by_rank[np.argsort(meet[by_rank], kind="stable")]
        self.row = order                        # position → row of ``frame``
        self.meet = meet[order]
        self.rank = rank[order]
        # symbols as the straightforward path converts them (None = market-wide)
        codes, uniq = pd.factorize(news["symbol"], use_na_sentinel=True)
        names = [_conv_symbol(u) for u in uniq]
        canon: dict[str, int] = {}
        remap = np.array([canon.setdefault(s, len(canon)) if s is not None else -1 for s in names] or [-1],
                         dtype=np.int64)
        sym = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1)[order]
        self.sym = sym
        self._sym_code = canon
        self._sym_names = {c: name for name, c in canon.items()}
        by_sym = np.argsort(sym, kind="stable")
        self._by_sym = by_sym
        self._sym_bounds = np.searchsorted(sym[by_sym], np.arange(-1, len(canon) + 1))
        self.is_market = sym < 0
        self.market_pos = by_sym[self._sym_bounds[0]:self._sym_bounds[1]]     # sym == -1, in position order
        self.market_meet = self.meet[self.market_pos]
        self._texts = None
        self._norm: dict[int, tuple[str, str]] = {}
        self._items: dict[int, Item] = {}
        self._ranked: dict = {}

    # -- order ---------------------------------------------------------------------------------------

    @staticmethod
    def _prepared_order(ts: np.ndarray, ids: pd.Series) -> np.ndarray:
        n = len(ts)
        if n < 2:
            return np.arange(n)
        step = np.diff(ts)
        if (step >= 0).all():
            tie = np.flatnonzero(step == 0)
            if not len(tie):
                return np.arange(n)
            a = ids.take(tie).to_numpy(dtype=object)
            b = ids.take(tie + 1).to_numpy(dtype=object)
            try:
                if all(x <= y for x, y in zip(a, b)):
                    return np.arange(n)
            except TypeError:
                pass
        frame = pd.DataFrame({"ts": ts, "id": ids.to_numpy(dtype=object) if ids.dtype == object else ids.array})
        return frame.sort_values(["ts", "id"], kind="stable").index.to_numpy()

    # -- windows -------------------------------------------------------------------------------------

    def window(self, lo: int, hi: int) -> tuple[int, int]:
        """Positions [i0, i1) whose ``meet_lo`` lies in [lo, hi] (UTC ns)."""
        return int(np.searchsorted(self.meet, lo, "left")), int(np.searchsorted(self.meet, hi, "right"))

    def filed_many(self, symbols: list[str], windows: list[tuple[int, int]]) -> list:
        """Per (symbol, window [i0, i1)) pair, the positions of the items filed under the symbol in the
        window (sorted; None where the window is empty), all looked up at once."""
        n = len(symbols)
        out: list = [None] * n
        codes = np.array([self._sym_code.get(s, -1) for s in symbols], dtype=np.int64)
        lo = np.array([w[0] for w in windows], dtype=np.int64)
        hi = np.array([w[1] for w in windows], dtype=np.int64)
        if not n:
            return out
        # positions grouped by symbol code, in order: one key per (code, position)
        key = self.sym[self._by_sym] * (self.n + 1) + self._by_sym
        a = np.searchsorted(key, codes * (self.n + 1) + lo)
        b = np.searchsorted(key, codes * (self.n + 1) + hi)
        by_sym = self._by_sym
        for k in range(n):
            if hi[k] > lo[k]:
                out[k] = by_sym[a[k]:b[k]] if codes[k] >= 0 else _EMPTY
        return out

    def market_range(self, i0: int, i1: int) -> tuple[int, int]:
        """Indices [j0, j1) into ``market_pos`` of the market-wide items among positions [i0, i1)."""
        return int(np.searchsorted(self.market_pos, i0)), int(np.searchsorted(self.market_pos, i1))

    def nearest_market(self, j0: int, j1: int, t0: int, need: int) -> np.ndarray:
        """Market-wide positions of ``market_pos[j0:j1]`` ordered by (|meet − t0|, prepared rank): at
        least the first ``need`` of that order (all of them when there are fewer)."""
        key = (j0, j1, t0)
        got = self._ranked.get(key)
        if got is not None and (got[0] >= need or len(got[1]) == j1 - j0):
            return got[1]
        need = max(need, 64)
        mm = self.market_meet
        if j1 - j0 <= need:
            a, b = j0, j1
        else:
            k = int(np.searchsorted(mm[j0:j1], t0)) + j0
            left = t0 - mm[max(j0, k - need):k]
            right = mm[k:min(j1, k + need)] - t0
            cut = np.partition(np.concatenate([left, right]), need - 1)[need - 1]
            a = max(j0, int(np.searchsorted(mm, t0 - cut, "left")))
            b = min(j1, int(np.searchsorted(mm, t0 + cut, "right")))
        pos = self.market_pos[a:b]
        dist = np.abs(mm[a:b] - t0)
        ranked = pos[np.lexsort((self.rank[pos], dist))]
        self._ranked[key] = (need, ranked)
        return ranked

    # -- names ---------------------------------------------------------------------------------------

    def _text_arrays(self):
        """Titles and bodies as Arrow strings in frame order: raw (for ``norm_text``) and ASCII
        lower-cased (for the literal search); None when the text cannot be put in Arrow."""
        if self._texts is None:
            import pyarrow.compute as pc

            raw = []
            for col, conv in (("title", False), ("body", True)):
                arr = _arrow_texts(self.frame[col], conv)
                if arr is None:
                    self._texts = False
                    return None
                raw.append(arr)
            self._texts = (raw[0], raw[1], pc.ascii_lower(raw[0]), pc.ascii_lower(raw[1]))
        return self._texts or None

    def _norm_texts(self, positions) -> None:
        """``norm_text`` of title and body for positions not done yet (from the Arrow arrays)."""
        import pyarrow as pa

        todo = [p for p in positions if p not in self._norm]
        if not todo:
            return
        from .news import norm_text

        title, body = self._texts[0], self._texts[1]
        rows = pa.array(self.row[todo])
        for p, t, b in zip(todo, title.take(rows).to_pylist(), body.take(rows).to_pylist()):
            self._norm[p] = (norm_text(t), norm_text(b))

    def text(self, p: int) -> str:
        """The straightforward path's ``_text``: normalised title, newline, normalised body."""
        got = self._norm.get(p)
        if got is None:
            if self._text_arrays() is not None:
                self._norm_texts([p])
                got = self._norm[p]
            else:
                it = self.item(p)
                got = self._norm[p] = (it.title_n, it.body_n)
        return got[0] + "\n" + got[1]

    def scan_names(self, windows: dict, symbols_by_day: dict, aliases: dict) -> "_NameScan":
        """Find the items that name each event's symbol. ``windows``: day → (i0, i1);
        ``symbols_by_day``: day → the symbols with an event that day; ``aliases``: symbol → its
        aliases (``news.company_aliases``). The RE2 passes run in a worker thread (Arrow releases the
        GIL), so the caller can do other work until ``.result(verify)``, which returns (symbol, day) →
        the sorted positions in that day's window, not filed under the symbol, whose normalised
        ``title\nbody`` the exact alias regex finds (``verify(symbol, text)``); items filed under the
        symbol are candidates whatever they name. ``.close()`` (idempotent) waits for the worker."""
        return _NameScan(self, windows, symbols_by_day, aliases)

    def _block_entries(self, b0: int, b1: int, texts, pos_of_row):
        """A block's titles and bodies (ASCII lower-cased), each entry's position, and which
        entries belong to the block (None: all)."""
        import pyarrow as pa

        title_l, body_l = texts[2], texts[3]
        rows = self.row[b0:b1]
        r0, r1 = int(rows.min()), int(rows.max()) + 1
        if r1 - r0 <= 2 * (b1 - b0):          # the block is (nearly) a run of frame rows: slice them
            at = pos_of_row[r0:r1]
            ent = pa.concat_arrays([title_l.slice(r0, r1 - r0), body_l.slice(r0, r1 - r0)])
            pos_of = np.concatenate([at, at])
            return ent, pos_of, (pos_of >= b0) & (pos_of < b1)
        take = pa.array(rows)
        ent = pa.concat_arrays([title_l.take(take), body_l.take(take)])
        return ent, np.concatenate([np.arange(b0, b1), np.arange(b0, b1)]), None

    def _blocks(self, days, windows, symbols_by_day, skip):
        """Runs of consecutive positions with the symbols whose windows touch them, merged while a
        block stays under ``_BLOCK_SYMBOLS`` symbols (or is still small)."""
        cuts = sorted({windows[d][0] for d in days} | {windows[d][1] for d in days})
        starts = sorted(days, key=lambda d: windows[d][0])
        ends = sorted(days, key=lambda d: windows[d][1])
        active: dict = {}
        si = ei = 0
        segs = []
        for a, b in zip(cuts[:-1], cuts[1:]):
            while si < len(starts) and windows[starts[si]][0] <= a:
                active[starts[si]] = True
                si += 1
            while ei < len(ends) and windows[ends[ei]][1] <= a:
                active.pop(ends[ei], None)
                ei += 1
            if active:
                segs.append((a, b, {s for d in active for s in symbols_by_day[d] if s not in skip}))
        block = None
        for a, b, syms in segs:
            if not syms:
                continue
            if block is not None and block[1] == a and (
                    block[1] - block[0] < _BLOCK_ITEMS and len(block[2] | syms) <= _BLOCK_SYMBOLS):
                block = (block[0], b, block[2] | syms)
                continue
            if block is not None:
                yield block
            block = (a, b, set(syms))
        if block is not None:
            yield block

    # -- item values ---------------------------------------------------------------------------------

    def items(self):
        """The items built so far."""
        return list(self._items.values())

    def item(self, p: int) -> Item:
        it = self._items.get(p)
        if it is None:
            self.materialise(np.array([p]))
            it = self._items[p]
        return it

    def materialise(self, positions) -> None:
        """Build the ``Item`` of every position not built yet (one vectorised take per column)."""
        pos = np.unique(np.asarray(positions, dtype=np.int64))
        if len(pos):
            pos = pos[[p not in self._items for p in pos.tolist()]]
        if not len(pos):
            return
        from .linkscore import _localize
        from .news import norm_text

        rows = self.row[pos]
        f = self.frame

        def take(c):
            return f[c].take(rows).to_numpy(dtype=object)

        ids, titles, kinds = take("id"), take("title"), take("kind")
        syms, srcs, bodies, urls = take("symbol"), take("source"), take("body"), take("url")
        ts = pd.DatetimeIndex(f["ts"].take(rows))
        ts_ns = ts.as_unit("ns").asi8
        ts_dt = ts.to_pydatetime()
        precs = self._prec.take(rows).tolist()
        lo = _localize(self._lo_local[rows])
        hi = _localize(self._hi_local[rows])
        meet = self.meet[pos]
        lo_dt = pd.DatetimeIndex(lo, tz="UTC").tz_convert(TZ).to_pydatetime()
        meet_dt = pd.DatetimeIndex(meet, tz="UTC").tz_convert(TZ).to_pydatetime()
        norm = self._norm
        for k, p in enumerate(pos.tolist()):
            it = Item()
            it.pos = p
            it.id, it.title, it.kind = ids[k], titles[k], kinds[k]
            it.symbol, it.body, it.url = _conv_symbol(syms[k]), _conv(bodies[k]), _conv(urls[k])
            it.source = _conv(srcs[k]) or ""
            # ``ts.isoformat()``: the datetime's text is the Timestamp's unless nanoseconds are lost
            it.ts_iso = ts_dt[k].isoformat() if ts_ns[k] % 1000 == 0 else ts[k].isoformat()
            it.ts_precision = precs[k]
            it.pub_lo_ns, it.pub_hi_ns, it.meet_ns = int(lo[k]), int(hi[k]), int(meet[k])
            it.pub_lo, it.meet_lo = lo_dt[k], meet_dt[k]
            it.prec_rank = _PREC_RANK.get(it.ts_precision, 4)
            got = norm.get(p)
            if got is None:
                got = norm[p] = (norm_text(it.title), norm_text(it.body))
            it.title_n, it.body_n = got
            it.x = None
            self._items[p] = it


class _NameScan:
    """``NewsIndex.named`` in three steps: the patterns of every block (calling thread), the RE2
    passes over the blocks (a worker thread that runs only Arrow kernels, which release the GIL),
    and the attribution of the reported entries to symbols (``result``, calling thread: it owns
    the index's caches)."""

    def __init__(self, index: NewsIndex, windows: dict, symbols_by_day: dict, aliases: dict):
        import threading

        from .news import norm_text

        self.index = index
        self.days = days = [d for d in windows if windows[d][1] > windows[d][0]]
        wins_of: dict[str, list] = {}
        for d in days:
            for s in symbols_by_day[d]:
                wins_of.setdefault(s, []).append((windows[d][0], windows[d][1], d))
        self.wins_of = wins_of
        self.literals = literals = {s: tuple(norm_text(a) for a in aliases[s]) for s in wins_of}
        # a literal whose presence alone decides the regex: a bare (CJK) alias of unified ideographs
        self.bare = {(norm_text(a), s) for s in wins_of for a in aliases[s]
                     if not a.isdigit() and not all(ord(ch) < 0x3000 for ch in a)
                     and norm_text(a) and all(_cjk(ch) for ch in norm_text(a))}
        # symbols no literal search can pre-select (an empty literal, or one spanning title and body)
        self.every = every = {s for s in wins_of if any(lit == "" or "\n" in lit for lit in literals[s])}
        self.jobs: list = []
        self.found: list = []
        self.texts = None
        self.error: BaseException | None = None
        self.thread = None
        if not days:
            return
        lit_chars = frozenset(ch for s in wins_of if s not in every for lit in literals[s] for ch in lit)
        flag = _flag_class(lit_chars)
        esc = {lit: _re2_literal(lit) for s in wins_of if s not in every for lit in literals[s]}
        for b0, b1, syms in index._blocks(days, windows, symbols_by_day, every):
            syms = sorted(syms)
            chunks = []
            for k in range(0, len(syms), _BLOCK_SYMBOLS):
                owners: dict[str, list] = {}
                for s in syms[k:k + _BLOCK_SYMBOLS]:
                    for lit in literals[s]:
                        if s not in owners.setdefault(lit, []):
                            owners[lit].append(s)
                alt = "|".join(esc[x] for x in sorted(owners))
                chunks.append((owners, alt, alt + ("|" + flag if flag else "")))
            self.jobs.append((b0, b1, chunks))
        self.flag = flag
        # The worker re-takes the GIL after every kernel; with the default 5 ms switch interval it
        # would wait for the busy calling thread each time (hundreds of times). A short interval
        # while it runs (restored in ``result``) lets it hand over at once.
        self.switch = sys.getswitchinterval()
        sys.setswitchinterval(min(self.switch, 5e-5))
        self.thread = threading.Thread(target=self._scan, name="newsindex-scan", daemon=True)
        self.thread.start()

    def _scan(self) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        try:
            ix = self.index
            self.texts = ix._text_arrays()
            if self.texts is None:
                return
            pos_of_row = np.empty(ix.n, dtype=np.int64)
            pos_of_row[ix.row] = np.arange(ix.n)
            for b0, b1, chunks in self.jobs:
                ent, pos_of, keep = ix._block_entries(b0, b1, self.texts, pos_of_row)
                for owners, alt, pattern in chunks:
                    hit = pc.fill_null(pc.match_substring_regex(ent, pattern), False).to_numpy(zero_copy_only=False)
                    if keep is not None:
                        hit &= keep
                    idx = np.flatnonzero(hit)
                    if not len(idx):
                        continue
                    sub = ent.take(pa.array(idx))
                    flagged = pc.match_substring_regex(sub, self.flag).to_numpy(zero_copy_only=False) \
                        if self.flag else np.zeros(len(idx), dtype=bool)
                    self.found.append((owners, alt, pos_of[idx], sub, flagged))
        except BaseException as exc:           # re-raised by result()
            self.error = exc

    def close(self) -> None:
        """Wait for the worker and restore the switch interval (idempotent)."""
        if self.thread is not None:
            try:
                self.thread.join()
            finally:
                sys.setswitchinterval(self.switch)
                self.thread = None

    def result(self, verify) -> dict:
        import pyarrow as pa
        import pyarrow.compute as pc

        ix, wins_of, literals = self.index, self.wins_of, self.literals
        found: dict = {}
        checked: dict = {}
        code = {s: ix._sym_code.get(s, -2) for s in wins_of}
        sym = ix.sym

        def add(p: int, s: str, sure: bool) -> None:
            if sym[p] == code[s]:
                return              # filed under the symbol: a candidate anyway, whatever it names
            text = None
            for i0, i1, d in wins_of[s]:
                if i0 <= p < i1:
                    if not sure:
                        k = (p, s)
                        hit = checked.get(k)
                        if hit is None:
                            if text is None:
                                text = ix.text(p)
                            hit = checked[k] = bool(verify(s, text))
                        if not hit:
                            return
                    found.setdefault((s, d), []).append(p)

        self.close()
        if self.error is not None:
            raise self.error
        for s in (sorted(self.every) if self.texts is not None else sorted(wins_of)):
            for i0, i1, _ in wins_of[s]:
                if self.texts is not None:
                    ix._norm_texts(range(i0, i1))
                for p in range(i0, i1):
                    add(p, s, False)
        if self.texts is None:
            return {k: np.array(sorted(set(v)), dtype=np.int64) for k, v in found.items()}
        own = _cuttable({s: literals[s] for s in wins_of if s not in self.every})
        names = ix._sym_names
        bare = self.bare
        for owners, alt, pos, sub, flagged in self.found:
            entries = sub.to_pylist()
            first_of: dict[str, list] = {}
            # Most reported entries are an item naming the very symbol it is filed under, which
            # cannot change any candidate set: cut those names out (where no other symbol's literal
            # can overlap them) and ask RE2 again; only what still matches is scanned literal by
            # literal. An entry without a flagged character holds, in normalised form, exactly the
            # unified-CJK literals its lower-cased raw form holds (they never change or combine
            # under NFKC) and at most the other literals it holds: a bare CJK alias found there
            # names the symbol outright, any other candidate is checked with the exact regex.
            # Flagged entries are scanned in normalised form.
            slow, rest, rest_pos, rest_raw = [], [], [], []
            for p, e, f in zip(pos.tolist(), entries, flagged.tolist()):
                if f:
                    slow.append(p)
                    continue
                e2 = e
                c = sym[p]
                cut = own.get(names[c]) if c >= 0 else None
                if cut:
                    for lit in cut:
                        if lit in e2:
                            e2 = e2.replace(lit, "\x00")
                rest.append(e2)
                rest_pos.append(p)
                rest_raw.append(e)
            again = []
            if rest:
                again = np.flatnonzero(pc.match_substring_regex(pa.array(rest, type=pa.large_string()), alt)
                                       .to_numpy(zero_copy_only=False)).tolist()
            if again or slow:
                for lit in owners:
                    first_of.setdefault(lit[0], []).extend((lit, s) for s in owners[lit])
            for k in again:
                p, e = rest_pos[k], rest_raw[k]
                seen = set()
                for ch in set(e):
                    for lit, s in first_of.get(ch, ()):
                        if lit in e and (lit, s) not in seen:
                            seen.add((lit, s))
                            add(p, s, (lit, s) in bare)
            if slow:
                slow = sorted(set(slow))
                ix._norm_texts(slow)
                for p in slow:
                    text = ix.text(p)
                    cand = []
                    for ch in set(text):
                        for lit, s in first_of.get(ch, ()):
                            if s not in cand and lit in text:
                                cand.append(s)
                    for s in cand:
                        add(p, s, False)
        return {k: np.array(sorted(set(v)), dtype=np.int64) for k, v in found.items()}
