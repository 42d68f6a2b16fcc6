"""Detectors: daily (OHLC range, abnormal return, volatility, volume, exchange rules, cross-section)
and intraday (cliff/spike, Lee–Mykland jumps). Import registers them by short name."""
from __future__ import annotations

import importlib

from .base import REGISTRY, Context, Detector, available, make_detector, prepare_bars, register, run_detectors

# Modules that register detectors when imported.
_BUILTIN = ("daily_range", "abnormal_return", "volatility", "volume", "exchange_rules",
            "intraday_cliff", "jumps")
for _m in _BUILTIN:
    importlib.import_module(f"{__name__}.{_m}")

__all__ = ["REGISTRY", "Context", "Detector", "available", "make_detector", "prepare_bars",
           "register", "run_detectors"]
