"""link: 10,000 anomalies against 1,000,000 news items (SYNTHETIC, ``benchmarks/data.py``).

Two lines:

``link``        ours = one call of the library's ``anomaly.correlate.link_events`` over all anomalies
                and all news (news index, window matching, relevance/cue scoring, near-duplicate
                collapse, roles, verdicts, explanations; the event study is off — no bars are passed —
                so only the news side is timed), measured in full, ``repeats`` times, each run with
                the library's memo caches cleared first (compiled alias patterns, Unicode tables,
                timestamps), i.e. cold.
                baseline = per-anomaly boolean filtering of the whole news frame followed by the
                library's own per-item scoring (``linkscore._score_item``) — the straightforward
                composition, the way the library itself linked before the news index; scaled from
                ``baseline_extrapolated_from`` anomalies (plus ``_prepare_news`` once).
                ``same_events``: on the first ``same_events_checked`` anomalies, ``link_events``
                returns byte-identical events (``json.dumps(..., sort_keys=True)``) to the
                straightforward per-event path (``correlate._link_events(reference=True)``:
                ``_prepare_news`` + ``_link`` per event).
``link_match``  the candidate-selection stage alone (which items each anomaly considers), all
                anomalies × all news: ours = ``newsindex.NewsIndex`` (preparation) +
                ``linkbatch._select_indexed`` (windows, filed-under items, the RE2 name scan, nearest
                market-wide items) — library code, the same stage ``link_events`` runs.
                baseline = the pre-index selection (``linkscore._prepare_news`` + per anomaly a
                boolean mask over the whole frame, the alias regex over the window, the nearest market
                items), scaled from a subset; ``same_candidates`` checks both select the same items
                there.
"""
from __future__ import annotations

import json

import pandas as pd

from ..common import emit, measure_ours, record, targets_met, timed, warm_calendar


def make_inputs(n_anomalies: int, n_news: int):
    from anomaly.simulate import synthetic_symbols

    from ..data import company_names, make_anomalies, make_news

    syms = synthetic_symbols(5000)["symbol"].tolist()
    names = company_names(syms)
    news = make_news(n_news, syms, names)
    anomalies = make_anomalies(n_anomalies, syms)
    meta = pd.DataFrame({"name": [names[s] for s in syms], "industry": ""}, index=pd.Index(syms, name="symbol"))
    return news, anomalies, meta, names


def _event(row, names):
    from anomaly.linkscore import _Event
    from anomaly.markettime import CLOSE, OPEN, at

    day = row["end"].tz_convert("Asia/Shanghai").date()
    return _Event(row["symbol"], names.get(row["symbol"], ""), "", day, at(day, OPEN), at(day, CLOSE), False, -1)


def cold_caches() -> None:
    """Clear the library's memo caches, so that every timed run starts cold."""
    from anomaly import linkbatch, linkscore, markettime, news, newsindex

    for f in (news._pattern, linkbatch._alias_re, linkscore._alias_regex, markettime.at, newsindex._images,
              newsindex._context_chars, newsindex._flag_class):
        f.cache_clear()
    linkscore._ISO.clear()
    linkbatch._CUES.clear()


def library_candidates(prepared: pd.DataFrame, ev, cfg) -> pd.DataFrame:
    """The pre-index selection (``linkscore._candidates``, what ``linkscore._link`` scores), one anomaly
    at a time: a boolean mask over the whole prepared news frame, then the alias regex."""
    from anomaly.linkscore import _candidates

    return _candidates(ev, prepared, cfg)


def baseline_link(prepared: pd.DataFrame, anomalies: pd.DataFrame, names, cfg) -> list:
    """Per anomaly: boolean-filter the whole frame, then score every candidate (library scoring)."""
    from anomaly.linkscore import _score_item
    from anomaly.news import collapse_near_duplicates, company_aliases, known_companies

    others = known_companies(cfg.aliases)
    out = []
    for _, row in anomalies.iterrows():
        ev = _event(row, names)
        cand = library_candidates(prepared, ev, cfg)
        links = []
        if len(cand):
            cand = collapse_near_duplicates(cand, cfg.duplicate_threshold, cfg.ngram,
                                            order=["pub_lo", "_prec_rank", "id"])
            aliases = company_aliases(ev.symbol, ev.name, cfg.aliases)
            for _, item in cand.iterrows():
                link = _score_item(item, ev, aliases, others, cfg)
                if link is not None and link["score"] is not None and link["score"] >= cfg.min_link_score:
                    links.append(link)
        links.sort(key=lambda l: (-l["score"], l["ts"], l["id"]))
        out.append(links[:cfg.max_links])
    return out


def run(size: dict, label: str) -> None:
    from anomaly import correlate, linkbatch, linkscore
    from anomaly.linkconfig import LinkConfig
    from anomaly.newsindex import NewsIndex

    warm_calendar()
    N, M = size["anomalies"], size["news"]
    gen_s, (news, anomalies, meta, names) = timed(lambda: make_inputs(N, M))
    cfg = LinkConfig()

    # --- line 1: the library's link_events, all anomalies × all news, measured in full ---
    sec, runs, peak, scope, events = measure_ours(
        lambda: correlate.link_events(anomalies, news, None, None, meta=meta), size["repeats"], before=cold_caches)
    n_links = sum(len(e["news"]) for e in events)
    verdicts = pd.Series([e["verdict"] for e in events]).value_counts().to_dict() if events else {}
    del events
    prep_s, prepared = timed(lambda: linkscore._prepare_news(news))
    kb = min(size["baseline_anomalies"], N)
    bsec, _ = timed(lambda: baseline_link(prepared, anomalies.iloc[:kb], names, cfg))
    base_full = prep_s + bsec / kb * N
    # identity with the straightforward per-event path on a subset (same news, same prepared frame)
    k = min(size["library_anomalies"], N)
    sub = anomalies.iloc[:k]
    ref_s, ref = timed(lambda: correlate._link_events(sub, news, None, None, meta=meta, reference=True,
                                                      prepared=prepared))
    same = json.dumps(ref, sort_keys=True) == json.dumps(correlate.link_events(sub, news, None, None, meta=meta),
                                                         sort_keys=True)
    rec = record("link", N, sec, "per-anomaly boolean filtering of the whole news frame + the library's "
                 "per-item scoring (linkscore._score_item)", base_full, peak, "anomalies",
                 data="synthetic", size=label, news=M,
                 timed="one anomaly.correlate.link_events call over all anomalies and all news, without event "
                       "study (no bars): news index, window matching, scoring, near-duplicates, verdicts, "
                       "explanations; library memo caches cleared before every run",
                 seconds_runs=[round(x, 3) for x in runs], seconds_extrapolated_from=N,
                 peak_rss_scope=scope, links=n_links,
                 verdicts={str(a): int(b) for a, b in verdicts.items()},
                 baseline_extrapolated_from=kb, baseline_subset_seconds=round(bsec, 3),
                 baseline_prepare_news_seconds=round(prep_s, 3),
                 same_events=bool(same), same_events_checked=k,
                 reference_subset_seconds=round(ref_s, 3),
                 note="seconds_extrapolated_from = n: ours is measured on all anomalies, not extrapolated",
                 data_seconds=round(gen_s, 2))
    rec.update(targets_met(rec, ratio_min=50, seconds_max=5.0))
    emit(rec)

    # --- line 2: the selection stage (library code), full size, vs the pre-index selection (subset) ---
    evs = [_event(row, names) for _, row in anomalies.iterrows()]

    sec2, runs2, peak2, scope2, _ = measure_ours(lambda: linkbatch._select_indexed(evs, NewsIndex(news), cfg),
                                                 size["repeats"], before=cold_caches)
    kb2 = min(size["baseline_anomalies"], N)
    sel = []

    def lib_sel():
        for ev in evs[:kb2]:
            sel.append(library_candidates(prepared, ev, cfg))

    bsec2, _ = timed(lib_sel)
    base2 = prep_s + bsec2 / kb2 * N
    index = NewsIndex(news)
    _, cands = linkbatch._select_indexed(evs[:kb2], index, cfg)[:2]

    def ids(c):
        if not c:
            return set()
        pos = c[0] + c[1]
        return set(news["id"].iloc[index.row[pos]].astype(str)) if pos else set()

    same2 = all(ids(cands[i]) == set(sel[i]["id"].astype(str)) for i in range(kb2))
    n_cand = sum(len(c[0]) + len(c[1]) for c in cands if c)
    rec2 = record("link_match", N, sec2, "the pre-index selection: _prepare_news + per anomaly a boolean mask over "
                  "the whole news frame, alias regex over the window, nearest market items", base2, peak2,
                  "anomalies", data="synthetic", size=label, news=M,
                  timed="library code: newsindex.NewsIndex (vectorised preparation, order by meeting time) + "
                        "linkbatch._select_indexed (searchsorted windows, filed-under items, RE2 name scan, "
                        "nearest market-wide items) over all anomalies; library memo caches cleared first",
                  seconds_runs=[round(x, 3) for x in runs2], peak_rss_scope=scope2,
                  baseline_extrapolated_from=kb2, baseline_subset_seconds=round(bsec2, 3),
                  baseline_prepare_news_seconds=round(prep_s, 3), same_candidates=bool(same2),
                  candidates_per_anomaly_subset=round(n_cand / max(kb2, 1), 2))
    rec2.update(targets_met(rec2, ratio_min=50, seconds_max=5.0))
    emit(rec2)
