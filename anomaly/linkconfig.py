"""The correlator's parameters: windows, weights, lexicons, thresholds (``[link]`` in a config)."""
from __future__ import annotations

from dataclasses import dataclass, field
from dataclasses import replace as dataclasses_replace
from typing import Mapping

from .eventstudy import DEFAULT_ESTIMATION, DEFAULT_WINDOWS
from .news import CLARIFICATION_CUES, REACTION_CUES, RUMOR_CUES

#: Which record of a symbol-day is the primary one (first = most telling); unknown kinds come last,
#: ties broken by |score|.
KIND_PRIORITY: tuple[str, ...] = (
    "limit_down_close", "limit_up_close", "range_crash", "range_spike", "cliff", "spike", "jump",
    "limit_down_touch", "limit_up_touch", "abnormal_3d", "serious_10d", "serious_30d", "deviation_1d_lhb",
    "amplitude_lhb", "turnover_lhb", "abnormal_return", "vol_surprise", "volume_surge",
)
INTRADAY_KINDS: tuple[str, ...] = ("cliff", "spike", "jump")


@dataclass(frozen=True)
class LinkConfig:
    """Parameters of the correlator (their meaning is in ``anomaly.correlate``'s module docstring)."""
    precursor_days: int = 2            # trading days before the event day that precursors may come from
    response_days: int = 1             # trading days after the event day that responses may come from
    concurrent_minutes: int = 2        # clock slack after an intraday record's end still called concurrent
    base_weight: float = 0.4
    timing_weight: float = 0.3
    cue_weight: float = 0.3
    relevance: Mapping[str, float] = field(default_factory=lambda: {
        "title": 0.6, "body": 0.3, "symbol": 0.3, "market": 0.1, "passing": 0.4, "co_subject": 1.0,
        "led_by_other": 0.7, "other_symbol": 0.6})
    timing: Mapping[str, float] = field(default_factory=lambda: {
        "concurrent_exact": 1.0, "concurrent_session": 0.95, "concurrent_day": 0.8,
        "precursor_same_day": 0.95, "precursor_per_day": 0.2, "response_same_day": 0.9,
        "response_per_day": 0.2})
    cues: Mapping[str, float] = field(default_factory=lambda: {
        "rumor_social": 1.0, "rumor": 0.8, "clarification": 0.7, "rumor_reference": 0.3, "reaction": 0.3})
    linked_threshold: float = 0.5      # best link ≥ this → news_linked
    strong_news_threshold: float = 0.75  # company-specific link ≥ this overrides market/sector_wide
    min_link_score: float = 0.05       # links below are dropped
    max_links: int = 20
    max_market_links: int = 3          # market-wide items that do not name the company
    duplicate_threshold: float = 0.8
    ngram: int = 3
    rumor_cues: tuple[str, ...] = RUMOR_CUES
    clarification_cues: tuple[str, ...] = CLARIFICATION_CUES
    reaction_cues: tuple[str, ...] = REACTION_CUES
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)   # symbol → extra names
    benchmarks: Mapping[str, str] = field(default_factory=dict)  # symbol or "SZ.main" → index id
    windows: tuple[tuple[int, int], ...] = DEFAULT_WINDOWS
    estimation: tuple[int, int] = DEFAULT_ESTIMATION
    min_estimation_days: int = 60
    market_wide_share: float = 0.30
    sector_wide_share: float = 0.50
    kind_priority: tuple[str, ...] = KIND_PRIORITY
    intraday_kinds: tuple[str, ...] = INTRADAY_KINDS
    severity_kind_bonus: float = 0.5
    digits: int = 6

    @classmethod
    def from_dict(cls, data: Mapping | None, where: str = "link") -> "LinkConfig":
        """Build from a config table; unknown keys and wrong types raise ``ConfigError`` naming
        ``where.key``. Mapping fields (``relevance``, ``timing``, ``cues``) are merged over the
        defaults; ``aliases`` values and lexicons are lists of strings; ``windows`` a list of pairs."""
        from dataclasses import fields

        from .errors import ConfigError

        base = cls()
        known = {f.name: f for f in fields(cls)}
        kw: dict = {}
        for key, value in (data or {}).items():
            if key not in known:
                raise ConfigError(f"{where}.{key}: unknown key (known: {', '.join(sorted(known))})")
            default = getattr(base, key)
            try:
                if isinstance(default, Mapping):
                    if not isinstance(value, Mapping):
                        raise TypeError("expected a table")
                    if key == "aliases":
                        kw[key] = {str(k): tuple(str(x) for x in v) for k, v in value.items()}
                    elif key == "benchmarks":
                        kw[key] = {str(k): str(v) for k, v in value.items()}
                    else:
                        bad = [k for k in value if k not in default]
                        if bad:
                            raise TypeError(f"unknown entry {bad[0]!r} (known: {', '.join(default)})")
                        kw[key] = {**default, **{k: float(v) for k, v in value.items()}}
                elif key in ("windows",):
                    kw[key] = tuple((int(a), int(b)) for a, b in value)
                elif key == "estimation":
                    a, b = value
                    kw[key] = (int(a), int(b))
                elif isinstance(default, tuple):
                    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                        raise TypeError("expected a list of strings")
                    kw[key] = tuple(value)
                elif isinstance(default, bool) or isinstance(value, bool):
                    raise TypeError("expected a number")
                elif isinstance(default, int):
                    if int(value) != value:
                        raise TypeError("expected a whole number")
                    kw[key] = int(value)
                else:
                    kw[key] = float(value)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{where}.{key}: {exc} (got {value!r})") from None
        return dataclasses_replace(base, **kw)
