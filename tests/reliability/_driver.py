"""Subprocess entry for the kill / concurrency tests: ``python _driver.py <anomaly args>``.

Runs ``anomaly.cli.main`` after registering the test source ``rtremote`` (the bundled sample served
as a remote source, so the scan fetches into the store) and, when ``RT_PAUSE`` is set, a pause point
at which the process writes ``RT_MARK`` and waits (for ``RT_RELEASE``, or until it is killed).

Env: ``RT_DELAY`` seconds per bars() call; ``RT_FAIL`` comma-separated symbols that raise SourceError;
``RT_PAUSE`` ``bars|N`` · ``storebars|N`` · ``replace|GLOB|N[|before|after]``.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import rt_support  # noqa: E402

import anomaly.fetch  # noqa: E402,F401  (same import order as the test suite)
import anomaly.sources  # noqa: E402

_orig = anomaly.sources.get_source


def _get_source(name, **opts):
    if (name or "").strip() == rt_support.REMOTE:
        fail = [s for s in os.environ.get("RT_FAIL", "").split(",") if s]
        return rt_support.RemoteSample(delay=float(os.environ.get("RT_DELAY", "0") or 0), fail=fail)
    return _orig(name, **opts)


anomaly.sources.get_source = _get_source
anomaly.fetch.get_source = _get_source
rt_support.install_pause_points()

if __name__ == "__main__":
    from anomaly.cli import main

    sys.exit(main(sys.argv[1:]))
