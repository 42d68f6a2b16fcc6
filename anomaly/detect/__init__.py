"""Detectors: daily (OHLC range, abnormal return, volatility, volume, exchange rules, cross-section)
and intraday (cliff/spike, Lee–Mykland jumps). Import registers them by short name."""
from __future__ import annotations

import importlib

from .base import REGISTRY, Context, Detector, available, make_detector, prepare_bars, register, run_detectors

# Modules that register detectors; a missing module (work in progress) must not break the rest.
_BUILTIN = ("daily_range", "abnormal_return", "volatility", "volume", "exchange_rules",
            "intraday_cliff", "jumps")
for _m in _BUILTIN:
    try:
        importlib.import_module(f"{__name__}.{_m}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"{__name__}.{_m}":
            raise

__all__ = ["REGISTRY", "Context", "Detector", "available", "make_detector", "prepare_bars",
           "register", "run_detectors"]
