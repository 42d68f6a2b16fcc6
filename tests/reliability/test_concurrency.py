"""Two scans on one store at once: the second is refused with one clear line, the first completes."""
from __future__ import annotations

import rt_support as rt
from rt_harness import kill


def test_second_scan_refused_while_first_holds_the_lock(driver, scenario, baseline, cli, monkeypatch, tmp_path):
    rt.install_source(monkeypatch, rt.RemoteSample())
    release = tmp_path / "release"
    first, _ = driver.run_until(scenario.scan_args(), "storebars|1", RT_RELEASE=release)
    try:
        store_before = rt.read_store(scenario.store)
        second = cli(scenario.scan_args())
        assert second.code == 1
        assert second.err_lines == [f"error: another scan is running on store {scenario.store}"]
        assert second.out == ""
        # the refused scan wrote nothing
        assert rt.frames_equal(store_before, rt.read_store(scenario.store)) == []
        assert not scenario.day_dir.exists()
    finally:
        release.write_text("go")
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert rt.report_files(scenario.day_dir) == baseline.files
    assert rt.frames_equal(baseline.store, rt.read_store(scenario.store)) == []


def test_two_scans_started_together(driver, scenario, baseline):
    """Started in the same instant: one runs; the other either is refused with the lock message
    (exit 1) or, if it got the lock after the first finished, reruns idempotently (exit 0)."""
    procs = [driver.start(scenario.scan_args(), RT_DELAY="0.2") for _ in range(2)]
    results = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=120)
        except Exception:
            kill(p)
            raise
        results.append((p.returncode, out, err))
    codes = sorted(r[0] for r in results)
    assert codes in ([0, 0], [0, 1]), results
    for code, out, err in results:
        if code == 1:
            lines = [l for l in err.splitlines() if l.strip()]
            assert lines == [f"error: another scan is running on store {scenario.store}"], err
    assert rt.report_files(scenario.day_dir) == baseline.files
    assert rt.store_problems(scenario.store) == []
    assert rt.frames_equal(baseline.store, rt.read_store(scenario.store)) == []


def test_lock_released_when_holder_is_killed(driver, scenario, baseline):
    """flock dies with its process: a SIGKILLed scan never leaves the store locked for the next night."""
    p, _ = driver.run_until(scenario.scan_args(), "storebars|1")
    kill(p)
    assert (scenario.store / ".scan.lock").exists()
    r = driver.run(scenario.scan_args())
    assert r.returncode == 0, r.stderr
    assert rt.report_files(scenario.day_dir) == baseline.files
