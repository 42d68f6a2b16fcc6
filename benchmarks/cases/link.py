"""link: 10,000 anomalies against 1,000,000 news items (SYNTHETIC, ``benchmarks/data.py``).

Two lines:

``link``        ours = the library's ``anomaly.correlate.link_events`` (news preparation, window
                matching, relevance/cue scoring, near-duplicate collapse, roles, verdicts,
                explanations; the event study is off — no bars are passed — so only the news side is
                timed). The library links event by event, so the full 10,000 would take tens of
                minutes: it runs on ``seconds_extrapolated_from`` anomalies and the record gives
                ``prepare + per-event × n`` (the one-off ``_prepare_news`` is timed separately).
                baseline = per-anomaly boolean filtering of the whole news frame followed by the
                library's own per-item scoring (``correlate._score_item``) — the straightforward
                composition; scaled from ``baseline_extrapolated_from`` anomalies. Both sides are
                extrapolated: the line says so.
``link_match``  the news-window matching stage alone (which items each anomaly considers).
                ours = the sorted/batched PROTOTYPE in ``benchmarks/link_proto.py`` (the proposal for
                the library; not library code), all anomalies × all news, measured in full.
                baseline = the library's own selection (``_prepare_news`` + per anomaly a boolean mask
                over the whole frame, the alias regex over the window, the nearest market items),
                scaled from a subset; ``same_candidates`` checks both select the same items there.
"""
from __future__ import annotations

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
    from anomaly.correlate import _CLOSE, _OPEN, _at, _Event

    day = row["end"].tz_convert("Asia/Shanghai").date()
    return _Event(row["symbol"], names.get(row["symbol"], ""), "", day, _at(day, _OPEN), _at(day, _CLOSE), False, -1)


def library_candidates(prepared: pd.DataFrame, ev, cfg) -> pd.DataFrame:
    """The library's pre-scoring selection (``correlate._link``), one anomaly at a time."""
    from anomaly.correlate import _alias_regex, _window
    from anomaly.news import company_aliases

    w_lo, w_hi = _window(ev, cfg)
    inwin = prepared[(prepared["meet_lo"] >= w_lo) & (prepared["meet_lo"] <= w_hi)]
    if inwin.empty:
        return inwin
    aliases = company_aliases(ev.symbol, ev.name, cfg.aliases)
    names_us = inwin["_text"].str.contains(_alias_regex(aliases), regex=True)
    filed = inwin["symbol"] == ev.symbol
    market = inwin["symbol"].isna() & ~names_us
    specific = inwin[filed | names_us]
    near = inwin[market]
    if len(near) > 4 * cfg.max_market_links:
        dist = (near["meet_lo"] - ev.t0_lo).abs()
        near = near.assign(_dist=dist).sort_values(["_dist", "ts", "id"], kind="stable").head(
            4 * cfg.max_market_links).drop(columns="_dist")
    return pd.concat([specific, near]) if len(near) else specific


def baseline_link(prepared: pd.DataFrame, anomalies: pd.DataFrame, names, cfg) -> list:
    """Per anomaly: boolean-filter the whole frame, then score every candidate (library scoring)."""
    from anomaly.correlate import _score_item
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
    from anomaly import correlate
    from anomaly.correlate import LinkConfig

    from .. import link_proto

    warm_calendar()
    N, M = size["anomalies"], size["news"]
    gen_s, (news, anomalies, meta, names) = timed(lambda: make_inputs(N, M))
    cfg = LinkConfig()

    # --- line 1: the library's link_events (both sides extrapolated from subsets) ---
    prep_s, prepared = timed(lambda: correlate._prepare_news(news))
    k = min(size["library_anomalies"], N)
    sub = anomalies.iloc[:k]
    sec_k, runs, peak, scope, events = measure_ours(lambda: correlate.link_events(sub, news, None, None, meta=meta),
                                                    1)
    per_event = max(sec_k - prep_s, 0.0) / k
    ours_full = prep_s + per_event * N
    kb = min(size["baseline_anomalies"], N)
    bsec, _ = timed(lambda: baseline_link(prepared, anomalies.iloc[:kb], names, cfg))
    base_full = prep_s + bsec / kb * N
    verdicts = pd.Series([e["verdict"] for e in events]).value_counts().to_dict() if events else {}
    rec = record("link", N, ours_full, "per-anomaly boolean filtering of the whole news frame + the library's "
                 "per-item scoring (correlate._score_item)", base_full, peak, "anomalies",
                 data="synthetic", size=label, news=M, timed="anomaly.correlate.link_events without event study "
                 "(no bars): news preparation once + per-event matching, scoring, verdict",
                 seconds_extrapolated_from=k, seconds_subset=round(sec_k, 3), prepare_news_seconds=round(prep_s, 3),
                 per_event_seconds=round(per_event, 5),
                 baseline_extrapolated_from=kb, baseline_subset_seconds=round(bsec, 3),
                 peak_rss_scope=scope + f"; link_events over {k} anomalies",
                 verdicts_subset={str(a): int(b) for a, b in verdicts.items()},
                 note="the library itself links one anomaly at a time with a boolean mask over the whole news "
                      "frame, so ours and the baseline do the same work (ratio ~1); see link_match for the "
                      "sorted/batched proposal",
                 data_seconds=round(gen_s, 2))
    rec.update(targets_met(rec, ratio_min=50, seconds_max=5.0))
    emit(rec)

    # --- line 2: the matching stage, prototype (full size) vs the library's selection (subset) ---
    def proto():
        p = link_proto.PreparedNews(news)
        return link_proto.candidates(p, anomalies, names, cfg)

    sec, runs, peak2, scope2, cands = measure_ours(proto, size["repeats"])
    kb2 = min(size["baseline_anomalies"], N)
    sel = []

    def lib_sel():
        for _, row in anomalies.iloc[:kb2].iterrows():
            sel.append(library_candidates(prepared, _event(row, names), cfg))

    bsec2, _ = timed(lib_sel)
    base2 = prep_s + bsec2 / kb2 * N
    p = link_proto.PreparedNews(news)
    same = all(set(p.id[cands[i]]) == set(sel[i]["id"].astype(str)) for i in range(kb2))
    n_cand = sum(len(c) for c in cands)
    rec2 = record("link_match", N, sec, "the library's selection: _prepare_news + per anomaly a boolean mask over "
                  "the whole news frame, alias regex over the window, nearest market items", base2, peak2,
                  "anomalies", data="synthetic", size=label, news=M,
                  timed="PROTOTYPE benchmarks/link_proto.py (not library code): vectorised news preparation, "
                        "sort by meeting time, searchsorted windows, per-day RE2 name matching; all anomalies",
                  seconds_runs=[round(x, 3) for x in runs], peak_rss_scope=scope2,
                  baseline_extrapolated_from=kb2, baseline_subset_seconds=round(bsec2, 3),
                  baseline_prepare_news_seconds=round(prep_s, 3), same_candidates=bool(same),
                  candidates_per_anomaly=round(n_cand / max(N, 1), 2))
    rec2.update(targets_met(rec2, ratio_min=50, seconds_max=5.0))
    emit(rec2)
