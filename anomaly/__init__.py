"""anomaly — A-share price anomalies, linked to the rumors and news that moved them.

The public API for notebooks (imports are lazy so ``import anomaly`` stays cheap)::

    import anomaly as an
    bars = an.load_bars("sample", [an.resolve("科大讯飞")], start, end)
    records = an.run_detectors(bars, an.default_detectors(), an.Context(...))  # or an.detect_range(...)
    events = an.link_symbol_day(an.resolve("002230"), date, "daily", "sample", an.load_config())
    fig = an.plot_event(events[0], bars, index_bars)
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    # symbols, calendar, config
    "resolve": "anomaly.symbols", "Symbol": "anomaly.symbols",
    "trading_days": "anomaly.calendar", "why_closed": "anomaly.calendar",
    "load_config": "anomaly.config", "Config": "anomaly.config",
    # data
    "load_bars": "anomaly.fetch", "load_news": "anomaly.fetch", "fetch_to_store": "anomaly.fetch",
    "Store": "anomaly.store", "get_source": "anomaly.sources", "sample_daily_bars": "anomaly.sources.sample",
    "read_news_file": "anomaly.news",
    # detect
    "make_detector": "anomaly.detect", "run_detectors": "anomaly.detect", "Context": "anomaly.detect",
    "available_detectors": "anomaly.detect",
    "detect_range": "anomaly.pipeline", "link_symbol_day": "anomaly.pipeline", "pick_symbols": "anomaly.pipeline",
    # link, event study
    "link_events": "anomaly.correlate", "event_study": "anomaly.eventstudy", "caar": "anomaly.eventstudy",
    # report, plot, scan
    "plot_event": "anomaly.plot", "run_scan": "anomaly.scan",
    "font_properties": "anomaly.fonts", "apply_cjk_font": "anomaly.fonts", "cjk_label": "anomaly.fonts",
    "find_cjk_font": "anomaly.fonts",
    # synthetic data (labelled synthetic)
    "simulate_market": "anomaly.simulate", "simulate_daily": "anomaly.simulate",
}
# Public name → name in its module (public names never shadow the subpackages anomaly.fetch/detect).
_RENAMES = {"available_detectors": "available", "fetch_to_store": "fetch", "cjk_label": "label"}

__all__ = sorted(_EXPORTS) + ["default_detectors"]


def default_detectors(freq: str = "daily", config=None):
    """The configured default detectors for ``freq`` (``"daily"`` or an intraday frequency)."""
    from .config import load_config
    from .pipeline import detectors_for

    return detectors_for(freq, config or load_config())


def __getattr__(name: str):
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'anomaly' has no attribute {name!r}")
    value = getattr(importlib.import_module(mod), _RENAMES.get(name, name))
    globals()[name] = value
    return value
