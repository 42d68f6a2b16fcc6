"""PROTOTYPE (benchmarks only, not library code): the news-window matching stage of the correlator
done in sorted, batched form — the concrete proposal for ``anomaly.correlate._link`` /
``_prepare_news`` measured by the ``link_match`` benchmark.

It selects, for every anomaly event, exactly the candidate items the library's ``_link`` selects
before scoring (checked against the library's own selection on a subset by the benchmark):

* items whose market-meeting time ``meet_lo`` lies in the event's window [open of the
  ``precursor_days``-th trading day before, close of the ``response_days``-th after];
* of those, the items filed under the symbol, the items whose normalised title/body names it (code
  with digit boundaries, short name, aliases: ``correlate._alias_regex``), and of the market-wide
  items that do not name it the ``4 × max_market_links`` closest to t₀ (ties by ts, then id).

How it avoids the library's per-event costs:

1. ``prepare``: one vectorised pass (``_intervals`` for the meeting times — the library's own
   vectorised helper — and pyarrow NFKC/lower-case for the text) instead of per-row Python; the
   frame is then sorted by ``meet_lo`` once.
2. Window = ``np.searchsorted`` on the sorted meeting times (O(log N)) instead of a boolean mask
   over all N items plus a copy of every in-window row.
3. Filed-under items: per-symbol position arrays, sliced with ``searchsorted``.
4. Names: events are grouped by event day (same window); one RE2 pass (``pyarrow.compute.
   match_substring_regex``, which needs the lookbehind-free form ``(^|\\D)002230($|\\D)``) over the
   day's window finds the items naming *any* of that day's symbols, and per-symbol patterns then run
   on those few items only. The library's ``(?<!\\d)…`` lookbehind makes pandas fall back from
   pyarrow to Python ``re`` on every in-window item of every event.
5. Nearest market items: ordered once per event day (they share t₀), then filtered per symbol.
"""
from __future__ import annotations

import re
from collections import defaultdict

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

TZ = "Asia/Shanghai"


def _re2(aliases: tuple[str, ...]) -> str:
    """The library's alias pattern (``correlate._alias_regex``) without lookbehind, for RE2."""
    from anomaly.news import norm_text

    parts = []
    for a in aliases:
        n = re.escape(norm_text(a))
        if a.isdigit():
            parts.append(rf"(?:^|\D){n}(?:$|\D)")
        elif all(ord(ch) < 0x3000 for ch in a):
            parts.append(rf"(?:^|[^a-z0-9]){n}(?:$|[^a-z0-9])")
        else:
            parts.append(n)
    return "|".join(parts) if parts else r"[^\s\S]"


def _norm(col: pd.Series) -> pa.Array:
    """NFKC + lower-case in pyarrow (pandas' ``str.normalize`` loops in Python); None → ''."""
    arr = pa.array(col.astype("str").fillna("")).cast(pa.large_string())
    return pc.utf8_lower(pc.utf8_normalize(arr, "NFKC"))


class PreparedNews:
    """News sorted by meeting time, with the arrays the matching needs."""

    def __init__(self, news: pd.DataFrame):
        from anomaly.correlate import _intervals

        prec = news["ts_precision"].fillna("minute").astype(str)
        _, _, meet_lo, _ = _intervals(news["ts"], prec)
        meet = pd.DatetimeIndex(meet_lo).as_unit("ns").asi8
        order = np.argsort(meet, kind="stable")
        self.meet = meet[order]
        self.ts = pd.DatetimeIndex(news["ts"]).as_unit("ns").asi8[order]
        self.id = news["id"].astype(str).to_numpy(dtype=object)[order]
        sym = news["symbol"].astype("str").fillna("").to_numpy(dtype=object)[order]
        self.is_market = sym == ""
        text = pc.binary_join_element_wise(_norm(news["title"]), _norm(news["body"]),
                                           pa.scalar("\n", type=pa.large_string()))
        self.text = pc.take(text, pa.array(order))
        pos = np.arange(len(order))
        # per-symbol sorted positions without a 5,000-group groupby: one stable argsort by code
        codes, uniq = pd.factorize(sym)
        by_code = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[by_code], np.arange(len(uniq) + 1))
        self._by_code, self._bounds = by_code, bounds
        self._code_of = {u: i for i, u in enumerate(uniq)}
        self.market_pos = pos[self.is_market]
        self.market_meet = self.meet[self.is_market]

    def symbol_positions(self, symbol: str) -> np.ndarray:
        """Sorted positions of the items filed under ``symbol``."""
        c = self._code_of.get(symbol)
        if c is None:
            return np.empty(0, np.int64)
        return self._by_code[self._bounds[c]:self._bounds[c + 1]]


def _window_ns(day, cfg) -> tuple[int, int, int]:
    from anomaly.correlate import _CLOSE, _OPEN, _at, _shift

    lo = _at(_shift(day, -cfg.precursor_days), _OPEN)
    hi = _at(_shift(day, cfg.response_days), _CLOSE)
    t0 = _at(day, _OPEN)
    return lo.value, hi.value, t0.value


def _alias_table(aliases: tuple[str, ...]) -> list[tuple[str, re.Pattern | None]]:
    """(normalised literal, exact boundary pattern or None for CJK names) per alias."""
    from anomaly.news import norm_text

    out = []
    for a in aliases:
        n = norm_text(a)
        if a.isdigit():
            out.append((n, re.compile(rf"(?<!\d){re.escape(n)}(?!\d)")))
        elif all(ord(ch) < 0x3000 for ch in a):
            out.append((n, re.compile(rf"(?<![a-z0-9]){re.escape(n)}(?![a-z0-9])")))
        else:
            out.append((n, None))
    return out


def candidates(prep: PreparedNews, anomalies: pd.DataFrame, names: dict[str, str], cfg=None) -> list[np.ndarray]:
    """Per anomaly row (daily records: t₀ = the event day's session), the candidate positions."""
    from anomaly.correlate import LinkConfig
    from anomaly.news import company_aliases

    cfg = cfg or LinkConfig()
    k_near = 4 * cfg.max_market_links
    days = anomalies["end"].dt.tz_convert(TZ).dt.date.to_numpy()
    syms = anomalies["symbol"].astype(str).to_numpy()
    by_day: dict = defaultdict(list)
    for i, d in enumerate(days):
        by_day[d].append(i)
    windows = {d: _window_ns(d, cfg) for d in by_day}
    table = {s: _alias_table(company_aliases(s, names.get(s, ""), cfg.aliases)) for s in set(syms)}
    # 1. names: per event day (one shared window), a literal RE2 prefilter for all the day's
    #    symbols, then per alias a literal search on the few hits, then the exact boundary check
    named: dict = {}
    for d, rows in by_day.items():
        lo, hi, _ = windows[d]
        i0 = int(np.searchsorted(prep.meet, lo, side="left"))
        i1 = int(np.searchsorted(prep.meet, hi, side="right"))
        day_syms = sorted({syms[r] for r in rows})
        if i1 <= i0:
            continue
        texts = prep.text.slice(i0, i1 - i0)
        lits = sorted({re.escape(n) for s in day_syms for n, _ in table[s]}, key=len, reverse=True)
        hit = np.flatnonzero(pc.match_substring_regex(texts, "|".join(lits)).to_numpy(zero_copy_only=False))
        if not len(hit):
            continue
        sub = pc.take(texts, pa.array(hit))
        for s in day_syms:
            found = np.zeros(len(hit), dtype=bool)
            for lit, exact in table[s]:
                m = pc.match_substring(sub, lit).to_numpy(zero_copy_only=False)
                if exact is not None and m.any():
                    idx = np.flatnonzero(m)
                    vals = pc.take(sub, pa.array(idx)).to_pylist()
                    m[idx] = [exact.search(v) is not None for v in vals]
                found |= m
            if found.any():
                named[(s, d)] = hit[found] + i0
    empty = np.empty(0, np.int64)
    out: list[np.ndarray] = [empty] * len(anomalies)
    for d, rows in by_day.items():
        lo, hi, t0 = windows[d]
        i0 = int(np.searchsorted(prep.meet, lo, side="left"))
        i1 = int(np.searchsorted(prep.meet, hi, side="right"))
        # 2. market items of the window ordered by (|meet - t0|, ts, id), shared by the day's events
        j0 = int(np.searchsorted(prep.market_meet, lo, side="left"))
        j1 = int(np.searchsorted(prep.market_meet, hi, side="right"))
        mpos = prep.market_pos[j0:j1]
        n_market = len(mpos)
        if n_market > k_near:
            dist = np.abs(prep.market_meet[j0:j1] - t0)
            want_n = min(n_market, k_near + 64)
            cut = np.partition(dist, want_n - 1)[want_n - 1]
            sel = np.flatnonzero(dist <= cut)
            order = np.lexsort((prep.id[mpos[sel]], prep.ts[mpos[sel]], dist[sel]))
            ranked = mpos[sel[order]]
        else:
            ranked = mpos
        for r in rows:
            s = syms[r]
            # 3. filed under the symbol: its own sorted positions, sliced to the window
            own = prep.symbol_positions(s)
            a0, a1 = np.searchsorted(own, [i0, i1])
            mine = named.get((s, d), empty)
            spec = np.union1d(own[a0:a1], mine)
            if len(mine):
                in_mkt = np.isin(mine, mpos)
                n_here = n_market - int(in_mkt.sum())
                mkt_mine = mine[in_mkt]
            else:
                n_here, mkt_mine = n_market, empty
            if n_here > k_near:
                near = ranked[~np.isin(ranked, mkt_mine)][:k_near] if len(mkt_mine) else ranked[:k_near]
            else:
                near = np.setdiff1d(mpos, mkt_mine) if len(mkt_mine) else mpos
            out[r] = np.union1d(spec, near)
    return out
