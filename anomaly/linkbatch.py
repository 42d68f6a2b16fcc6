"""Linking all events at once: one ``newsindex.NewsIndex`` sorted by meeting time, windows found by
``searchsorted``, company names found by one RE2 scan, and the per-item scores of ``anomaly.linkscore``
computed once per (item, onset) where they do not depend on the company. The events are identical to
linking each one with ``linkscore._link`` (tests and the ``link`` benchmark compare them).
"""
from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pandas as pd

from .linkconfig import LinkConfig
from .linkscore import _Event, _alias_regex, _cue_score, _timing_of, _timing_parts, _window
from .news import (char_ngrams, company_aliases, entity_relevance, find_cues, is_company_own, norm_text,
                   normalise_title)
from .schema import TZ


# --- linking all events at once (the indexed path) ------------------------------------------------


class _Batch:
    """What linking many events against one ``NewsIndex`` shares: lexicons normalised once, the
    known-company names indexed by first character, per-item facts, the assessment of a market-wide
    item per onset (the same for every company that it does not name), and title similarities."""

    def __init__(self, cfg: LinkConfig, others):
        self.cfg = cfg
        self.others = others
        self.cues = tuple(tuple(norm_text(c) for c in lex) for lex in
                          (cfg.rumor_cues, cfg.clarification_cues, cfg.reaction_cues))
        lits = sorted({c for lex in self.cues for c in lex})
        # any normalised cue at all (an empty cue is in every text)
        self.any_cue = None if "" in lits else re.compile("|".join(re.escape(c) for c in lits) or "(?!x)x")
        self.other_lits = [norm_text(n) for n, _ in others]
        self.other_always = [i for i, lit in enumerate(self.other_lits) if not lit]
        self.other_first: dict[str, list[int]] = {}
        for i, lit in enumerate(self.other_lits):
            if lit:
                self.other_first.setdefault(lit[0], []).append(i)
        self.market: dict = {}
        self.market_rel: dict = {}
        self.body_cues: dict = {}
        self.grams: dict = {}
        self.similar: dict = {}
        self.meets: dict = {}
        self.parts: dict = {}
        self.no_other: set = set()

    def features(self, it) -> tuple:
        """Item-only facts ``_score_item`` derives: title cues, timing parts, ts text, id text."""
        x = it.x
        if x is None:
            cfg, tn = self.cfg, it.title_n
            if self.any_cue is None or self.any_cue.search(tn):
                cues = (_cues(tn, cfg.rumor_cues, self.cues[0]), _cues(tn, cfg.clarification_cues, self.cues[1]),
                        _cues(tn, cfg.reaction_cues, self.cues[2]))
            else:
                cues = ([], [], [])
            tk = (it.ts_precision, it.pub_lo_ns, it.meet_ns)     # all ``_timing_parts`` depends on
            parts = self.parts.get(tk)
            if parts is None:
                parts = self.parts[tk] = _timing_parts(it)
            x = it.x = (*cues, parts, it.ts_iso, str(it.id))
        return x

    def screen_titles(self, items) -> None:
        """Mark the items whose title holds no known company name at all (one RE2 pass), so that
        ``narrowed_others`` has nothing to look for in them."""
        import pyarrow as pa
        import pyarrow.compute as pc

        from .newsindex import _re2_literal

        lits = sorted({lit for lit in self.other_lits if lit})
        items = [it for it in items if it.pos not in self.no_other]
        if not lits or not items or self.other_always:
            return
        hit = pc.match_substring_regex(pa.array([it.title_n for it in items], type=pa.large_string()),
                                       "|".join(_re2_literal(x) for x in lits)).to_pylist()
        for it, h in zip(items, hit):
            if not h:
                self.no_other.add(it.pos)

    def narrowed_others(self, it) -> tuple:
        """The known companies whose normalised name occurs in the title: ``entity_relevance``
        finds no other name there, so it answers the same with these as with all of them."""
        if it.pos in self.no_other:
            return ()
        t = it.title_n
        idx = list(self.other_always)
        lits = self.other_lits
        for ch in set(t):
            for i in self.other_first.get(ch, ()):
                if lits[i] in t:
                    idx.append(i)
        idx.sort()
        return tuple(self.others[i] for i in idx)

    def body(self, it, which: int) -> list[str]:
        k = (it.pos, which)
        got = self.body_cues.get(k)
        if got is None:
            lex = self.cfg.clarification_cues if which == 1 else self.cfg.reaction_cues
            got = self.body_cues[k] = _cues(it.body_n, lex, self.cues[which])
        return got

    def is_similar(self, a, b) -> bool:
        """``collapse_near_duplicates``' test: both titles have n-grams and Jaccard ≥ threshold."""
        k = (a.pos, b.pos) if a.pos < b.pos else (b.pos, a.pos)
        got = self.similar.get(k)
        if got is None:
            ga, la = self.gram(a)
            gb, lb = self.gram(b)
            if not la or not lb:
                got = False
            elif (la / lb if la < lb else lb / la) < self.cfg.duplicate_threshold:
                got = False             # Jaccard ≤ min/max: cannot reach the threshold
            else:
                inter = len(ga & gb)
                got = inter / (la + lb - inter) >= self.cfg.duplicate_threshold
            self.similar[k] = got
        return got

    def any_similar(self, its: list, grams: list, union: frozenset) -> bool:
        """Whether any of ``its`` passes the near-duplicate test with any of ``grams`` (whose union
        is ``union``: sharing fewer than the threshold's share of an item's grams with all of them
        together rules it out, as Jaccard ≤ |shared| / |own grams|)."""
        thr = self.cfg.duplicate_threshold
        for it in its:
            ga, la = self.gram(it)
            if not la or len(ga & union) / la < thr:
                continue
            for gb, lb in grams:
                if lb and (la / lb if la < lb else lb / la) >= thr:
                    inter = len(ga & gb)
                    if inter / (la + lb - inter) >= thr:
                        return True
        return False

    def gram(self, it) -> tuple:
        g = self.grams.get(it.pos)
        if g is None:
            grams = char_ngrams(normalise_title(it.title), self.cfg.ngram)
            g = self.grams[it.pos] = (grams, len(grams))
        return g

    def meets_text(self, it) -> str:
        """``meet_lo.isoformat()`` (the datetime's own when no nanoseconds are lost: same text)."""
        got = self.meets.get(it.pos)
        if got is None:
            got = self.meets[it.pos] = it.meet_lo.isoformat() if it.meet_ns % 1000 == 0 else \
                pd.Timestamp(it.meet_ns, tz=TZ).isoformat()
        return got


def _cues(text: str, cues: tuple[str, ...], normalised: tuple[str, ...]) -> list[str]:
    """``news.find_cues``: its answer depends on the text only through which normalised cues occur
    in it, so it is computed once per such set (and is empty when none does)."""
    present = tuple(c for c in normalised if c in text)
    if not present:
        return []
    key = (cues, present)
    got = _CUES.get(key)
    if got is None:
        if len(_CUES) > 10_000:
            _CUES.clear()
        got = _CUES[key] = find_cues(text, cues)
    return list(got)


_CUES: dict = {}


def _role_ns(lo: int, hi: int, exact: bool, t0_lo: int, t0_hi: int) -> str:
    """``_time_role`` on nanoseconds."""
    if exact:
        if lo < t0_lo:
            return "precursor"
        return "concurrent" if lo < t0_hi else "response"
    if hi <= t0_lo:
        return "precursor"
    if lo >= t0_hi:
        return "response"
    return "concurrent"


@lru_cache(maxsize=8192)
def _alias_re(aliases: tuple[str, ...]) -> re.Pattern:
    return re.compile(_alias_regex(aliases))


def _assess(it, f: tuple, ev: _Event, rel: float, filed: bool, aliases, batch: _Batch) -> tuple:
    """``_score_item`` after relevance: (score, rumor, role, time role, own, denial, cue reasons, timing
    sentence). ``f``: the item's ``_Batch.features``."""
    cfg = batch.cfg
    rumor_cues, denial, react, parts = f[0], f[1], f[2], f[3]
    kind = it.kind
    trole = _role_ns(it.pub_lo_ns, it.pub_hi_ns, parts[1], ev.t0_lo.value, ev.t0_hi.value)
    own = is_company_own(kind, it.source, it.title, aliases, filed)
    if own:
        denial = denial or batch.body(it, 1)
        react = react or batch.body(it, 2)
    clar = bool(denial) or (own and bool(react))
    role = "clarification" if clar else trole
    rumor = kind == "social" or bool(rumor_cues)
    timing, when = _timing_of(parts, trole, ev, cfg)
    score, cue_reasons = _cue_score(kind, trole, rumor_cues, denial, react, clar, rumor, own, rel, timing, cfg)
    return (score, rumor and trole in ("precursor", "concurrent") and not clar, role, trole, own, denial,
            cue_reasons, when)


def _visit_key(it) -> tuple:
    return it.pub_lo_ns, it.prec_rank, it.id


def _collapse(its: list, batch: _Batch) -> tuple[list, list, list]:
    """``news.collapse_near_duplicates`` over items (order ``pub_lo, precision rank, id``, stable):
    (kept items in visiting order, their (duplicate ids, duplicate sources) or None, and every
    item's grams in visiting order)."""
    if len(its) > 1:
        its = sorted(its, key=_visit_key)
    kept: list = []
    dups: list = []
    for it in its:
        hit = None
        for k, kt in enumerate(kept):
            if batch.is_similar(it, kt):
                hit = k
                break
        if hit is None:
            kept.append(it)
            dups.append(None)
        else:
            if dups[hit] is None:
                dups[hit] = ([], [])
            dups[hit][0].append(str(it.id))
            dups[hit][1].append(str(it.source or ""))
    grams = [batch.gram(it) for it in its]
    return kept, dups, grams, frozenset().union(*(g for g, _ in grams))


def _entries(kept: list, dups: list, ev: _Event, ctx: tuple, aliases, lits, display: str, market_rel: tuple,
             batch: _Batch) -> list:
    """The scored kept items of one event as (sort key, item, assessment, relevance reasons, facts,
    duplicates), in kept order; ``None`` reasons/facts: a market-wide item that does not name the
    company (its reasons are the company's ``market_rel``)."""
    cfg = batch.cfg
    pre = []
    for it, dup in zip(kept, dups):
        f = it.x or batch.features(it)
        if it.symbol is None and it.kind != "statement" and not any(
                l in it.title_n or l in it.body_n for l in lits):
            # a market-wide item that does not name the company (``entity_relevance`` returns before
            # looking at anything else): the same assessment for every company
            if market_rel[0] <= 0:
                continue
            key = (it.pos, ctx)
            a = batch.market.get(key)
            if a is None:
                a = batch.market[key] = _assess(it, f, ev, market_rel[0], False, aliases, batch)
            reasons0 = facts = None
        else:
            r = entity_relevance(it.title, it.body, it.symbol, ev.symbol, aliases, batch.narrowed_others(it),
                                 cfg.relevance, display=display)
            if r[0] <= 0:
                continue
            reasons0, facts = r[1], r[2]
            a = _assess(it, f, ev, r[0], facts["filed_under"], aliases, batch)
        score = a[0]
        if score is None or score < cfg.min_link_score:
            continue
        pre.append(((-score, 0 if a[1] else 1, it.meet_ns, f[4], f[5]), it, a, reasons0, facts, dup))
    return pre


def _select_indexed(evs: list[_Event], index, cfg: LinkConfig, during=None) -> tuple[dict, list, dict]:
    """The candidates ``_link`` scores, for every event at once: (window per event day, per event
    ``(specific, near)`` positions or None when its window holds no item, aliases per symbol).
    ``specific``: the items
    filed under the symbol or naming it, in prepared order; ``near``: the market-wide items that do
    not name it (the ``4 × max_market_links`` nearest t₀ when there are more). ``during(positions)``
    runs while the name scan is in flight, with the filed and nearest market items."""
    windows: dict = {}
    for ev in evs:
        if ev.day not in windows:
            windows[ev.day] = _window(ev, cfg)
    aliases_of: dict = {}
    for ev in evs:
        if ev.symbol not in aliases_of:
            aliases_of[ev.symbol] = company_aliases(ev.symbol, ev.name, cfg.aliases)
    if index.n == 0:
        return windows, [None] * len(evs), aliases_of
    pos_win = {d: index.window(w[0].value, w[1].value) for d, w in windows.items()}
    mkt_win = {d: index.market_range(*w) for d, w in pos_win.items()}
    by_day: dict = {}
    for ev in evs:
        i0, i1 = pos_win[ev.day]
        if i1 > i0:
            by_day.setdefault(ev.day, set()).add(ev.symbol)
    scan = index.scan_names({d: pos_win[d] for d in by_day}, {d: sorted(v) for d, v in by_day.items()}, aliases_of)
    try:
        return _select_with(scan, evs, index, cfg, windows, pos_win, mkt_win, aliases_of, during)
    finally:
        scan.close()


def _select_with(scan, evs, index, cfg, windows, pos_win, mkt_win, aliases_of, during) -> tuple[dict, list, dict]:
    k_near = 4 * cfg.max_market_links
    rank = index.rank
    is_market = index.is_market
    ranked_cache: dict = {}
    # while the name scan runs (RE2 in a worker thread): what does not depend on it
    filed = index.filed_many([ev.symbol for ev in evs], [pos_win[ev.day] for ev in evs])
    early = []
    for ev, f in zip(evs, filed):
        if f is None:
            continue
        i0, i1 = pos_win[ev.day]
        early.append(f)
        j0, j1 = mkt_win[ev.day]
        if j1 - j0 > k_near:
            key = (j0, j1, ev.t0_lo.value, k_near)
            if key not in ranked_cache:
                ranked_cache[key] = index.nearest_market(j0, j1, ev.t0_lo.value, k_near)[:k_near].tolist()
            early.append(ranked_cache[key])
        else:
            early.append(index.market_pos[j0:j1])
    if during is not None and early:
        during(np.concatenate([np.asarray(e, dtype=np.int64) for e in early]))
    named = scan.result(lambda s, text: _alias_re(aliases_of[s]).search(text) is not None)
    named = {k: v.tolist() for k, v in named.items()}
    cands: list = []
    for ev, f in zip(evs, filed):
        if f is None:
            cands.append(None)
            continue
        mine = named.get((ev.symbol, ev.day), ())
        spec = f.tolist()
        if mine:
            spec = sorted(set(spec).union(mine))
        if len(spec) > 1:
            r = rank[spec].tolist()
            spec = [p for _, p in sorted(zip(r, spec))]
        mine_mkt = [p for p in mine if is_market[p]]
        j0, j1 = mkt_win[ev.day]
        if (j1 - j0) - len(mine_mkt) > k_near:
            need = k_near + len(mine_mkt)
            key = (j0, j1, ev.t0_lo.value, need)
            ranked = ranked_cache.get(key)
            if ranked is None:
                ranked = ranked_cache[key] = index.nearest_market(j0, j1, ev.t0_lo.value, need)[:need].tolist()
            if mine_mkt:
                skip = set(mine_mkt)
                near = [p for p in ranked if p not in skip][:k_near]
            else:
                near = ranked[:k_near]
        else:
            mpos = index.market_pos[j0:j1].tolist()
            if mine_mkt:
                skip = set(mine_mkt)
                mpos = [p for p in mpos if p not in skip]
            near = [p for _, p in sorted(zip(rank[mpos].tolist(), mpos))] if len(mpos) > 1 else mpos
        cands.append((spec, near) if spec or near else None)
    return windows, cands, aliases_of


def _link_indexed(evs: list[_Event], index, cfg: LinkConfig, others) -> list[tuple[list[dict], tuple]]:
    """``_link`` for every event at once against a ``newsindex.NewsIndex``: the same candidates,
    links, scores, reasons and order, computed with shared work (see the module docs of
    ``newsindex``). Market-wide items that do not name the company are assessed once per item and
    onset; only the links that make the cut are turned into dicts."""
    batch = _Batch(cfg, others)

    def during(positions) -> None:           # overlaps the name scan
        index.materialise(positions)
        for it in index.items():
            batch.features(it)
            batch.gram(it)

    windows, cands, aliases_of = _select_indexed(evs, index, cfg, during)
    near_collapse: dict = {}
    near_pre_of: dict = {}
    lits_of: dict = {}
    every = [p for c in cands if c for part in c for p in part]
    if every:
        index.materialise(every)
        batch.screen_titles(index.items())
    item = index.item
    out = []
    for ev, cand in zip(evs, cands):
        window = windows[ev.day]
        if not cand:
            out.append(([], window))
            continue
        spec_pos, near_pos = cand
        aliases = aliases_of[ev.symbol]
        lits = lits_of.get(ev.symbol)
        if lits is None:
            lits = lits_of[ev.symbol] = tuple(norm_text(a) for a in aliases)
        display = ev.name or ev.symbol
        ctx = (ev.day, ev.minute, ev.t0_lo.value, ev.t0_hi.value)
        # near-duplicate collapse in the straightforward order (pub_lo, precision rank, id; stable):
        # the market items' own collapse is shared by every event with the same ones; when no
        # specific item is a near-duplicate of one of them, the two groups collapse independently
        spec_its = [item(p) for p in spec_pos]
        near_key = tuple(near_pos)
        ncol = near_collapse.get(near_key)
        if ncol is None:
            ncol = near_collapse[near_key] = _collapse([item(p) for p in near_key], batch)
        mk = (ev.symbol, aliases, display)
        market_rel = batch.market_rel.get(mk)
        if market_rel is None:
            # what ``entity_relevance`` says of a market-wide item that does not name the company
            market_rel = batch.market_rel[mk] = entity_relevance("", "", None, ev.symbol, aliases, (),
                                                                 cfg.relevance, display=display)
        if spec_its and near_key and batch.any_similar(spec_its, ncol[2], ncol[3]):
            kept, dups = _collapse(spec_its + [item(p) for p in near_key], batch)[:2]
            pre = _entries(kept, dups, ev, ctx, aliases, lits, display, market_rel, batch)
            pre.sort(key=lambda x: x[0])
        else:
            ks, ds = _collapse(spec_its, batch)[:2] if spec_its else ([], [])
            near_pre = None
            if ncol[0]:
                ck = (near_key, ctx)
                cached = near_pre_of.get(ck)
                if cached is None:
                    its = ncol[0]
                    plain = all(it.symbol is None and it.kind != "statement" for it in its)
                    joined = "\x00".join(it.title_n + "\x01" + it.body_n for it in its)
                    cached = near_pre_of[ck] = (plain, joined, None)
                plain, joined, entries = cached
                if plain and market_rel[0] > 0 and not any(l in joined or "\x00" in l or "\x01" in l for l in lits):
                    # none of them names the company: each is the same market item for every company
                    if entries is None:
                        entries = _entries(ncol[0], ncol[1], ev, ctx, aliases, lits, display, market_rel, batch)
                        entries.sort(key=lambda x: x[0])
                        near_pre_of[ck] = (plain, joined, entries)
                    near_pre = entries
            if near_pre is not None:
                pre = _entries(ks, ds, ev, ctx, aliases, lits, display, market_rel, batch)
                if pre:
                    keys = {x[0] for x in near_pre}
                    if any(x[0] in keys for x in pre):      # a full tie: keep the kept order exactly
                        near_pre = None
                    else:
                        pre = sorted(pre + near_pre, key=lambda x: x[0])
                else:
                    pre = near_pre
            if near_pre is None:
                if ncol[0] and ks:
                    both = sorted(zip(ks + ncol[0], ds + ncol[1]), key=lambda kd: _visit_key(kd[0]))
                    kept, dups = [k for k, _ in both], [d for _, d in both]
                elif ks:
                    kept, dups = ks, ds
                else:
                    kept, dups = ncol[0], ncol[1]
                pre = _entries(kept, dups, ev, ctx, aliases, lits, display, market_rel, batch)
                if len(pre) > 1:
                    pre.sort(key=lambda x: x[0])
        links, n_market = [], 0
        for _, it, a, reasons0, facts, dup in pre:
            if reasons0 is None:
                reasons0, facts = market_rel[1], market_rel[2]
            market = facts["market_item"]
            if market:
                if n_market >= cfg.max_market_links:
                    continue
                n_market += 1
            score, rumor, role, trole, own, denial, cue_reasons, when = a
            reasons = list(reasons0) + cue_reasons + [when]
            n_dup = 0
            if dup is not None:
                n_dup = len(dup[0])
                srcs = [s for s in dup[1] if s]
                reasons.append(f"{n_dup} near-duplicate{'s' if n_dup > 1 else ''} collapsed"
                               + (f" ({'; '.join(dict.fromkeys(srcs))})" if srcs else ""))
            f = it.x
            title, kind = it.title, it.kind
            public = {"id": f[5], "ts": f[4], "ts_precision": it.ts_precision, "source": it.source or "",
                      "kind": kind, "title": title, "url": it.url, "role": role, "score": score,
                      "reasons": reasons, "meets": batch.meets_text(it), "duplicates": n_dup}
            links.append({"score": score, "title": title, "kind": kind, "role": role, "_rumor": rumor,
                          "_own": own, "_denial": denial, "_market": market,
                          "_specific": facts["in_title"] or facts["filed_under"], "_trole": trole,
                          "_public": public,
                          # already what ``_jsonable`` makes of it when the raw cells are strings
                          "_json": type(title) is str and type(kind) is str})
            if len(links) >= cfg.max_links:
                break
        out.append((links, window))
    return out
