"""Benchmarks of ``anomaly``: speed (``python -m benchmarks``) and detection quality
(``python -m benchmarks.quality``). Not part of the test suite's pass/fail; see docs/performance.md."""
