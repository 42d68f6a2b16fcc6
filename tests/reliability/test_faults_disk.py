"""A full disk or an unwritable output folder (simulated: the tests run as root, where chmod does not
stop writes, so ``os.replace`` / ``os.fsync`` / ``os.mkdir`` / ``tempfile.mkdtemp`` are made to raise
the errno the kernel would give). Expected: one clear ``error:`` line naming the path, nothing
corrupted (store bytes and inodes unchanged, the previous report intact), no temporary litter.
"""
from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path

import pytest

import rt_support as rt


def _under(path, root) -> bool:
    try:
        Path(os.fspath(path)).resolve().relative_to(Path(root).resolve())
        return True
    except ValueError:
        return False


def fail_replace_under(monkeypatch, root, err=errno.ENOSPC):
    real = os.replace

    def replace(src, dst, *a, **k):
        if _under(dst, root):
            raise OSError(err, os.strerror(err), os.fspath(dst))
        return real(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", replace)


def deny_mkdir_under(monkeypatch, root):
    real_mkdir, real_mkdtemp = os.mkdir, tempfile.mkdtemp

    def mkdir(path, *a, **k):
        if _under(path, root):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))
        return real_mkdir(path, *a, **k)

    def mkdtemp(*a, dir=None, **k):
        if dir is not None and _under(dir, root):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(dir))
        return real_mkdtemp(*a, dir=dir, **k)

    monkeypatch.setattr(os, "mkdir", mkdir)
    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)


@pytest.fixture
def filled_store(tmp_path, prestore, cli, monkeypatch):
    """A store holding 399001.SZ and the three watch-list stocks for 2023-05 (what fetch will extend)."""
    store = tmp_path / "store"
    shutil.copytree(prestore, store)
    rt.install_source(monkeypatch, rt.RemoteSample())
    r = cli(["fetch", *rt.WATCH, "--start", "2023-05-04", "--end", "2023-05-12", "--source", rt.REMOTE, "--store", store])
    assert r.code == 0, r.err
    return store


def _fetch_more(cli, store):
    return cli(["fetch", *rt.WATCH, "--start", "2023-05-04", "--end", rt.DATE, "--source", rt.REMOTE, "--store", store])


@pytest.mark.parametrize("how", ["replace", "fsync"])
def test_fetch_disk_full_store_unchanged(how, cli, monkeypatch, filled_store, snapshot):
    before = snapshot(filled_store)
    if how == "replace":
        fail_replace_under(monkeypatch, filled_store)
    else:
        def fsync(fd):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        monkeypatch.setattr(os, "fsync", fsync)
    r = _fetch_more(cli, filled_store)
    assert r.code == 1
    assert r.out.splitlines() == [
        f"{s}: FAILED: disk full while writing {filled_store}/bars/daily/{s}.parquet; the store was left as it was"
        for s in rt.WATCH]
    assert "Traceback" not in r.err
    assert snapshot(filled_store) == before          # same bytes, same inodes, same mtimes
    assert rt.temp_litter(filled_store) == []


@pytest.fixture
def completed(tmp_path, baseline):
    """A store and out dir that already hold a complete scan of the date (copied from the baseline)."""
    root = tmp_path / "done"
    store, out = root / "store", root / "out"
    shutil.copytree(baseline.scenario.store, store)
    shutil.copytree(baseline.scenario.out, out)
    cfg = rt.write_config(root / "nightly.toml", store)
    return store, out, cfg


def _scan(cli, cfg, out):
    return cli(["scan", "--config", cfg, "--date", rt.DATE, "--out", out, "--no-plots"])


def test_scan_disk_full_writing_report_one_clear_line_nothing_corrupted(cli, monkeypatch, completed, baseline, snapshot):
    store, out, cfg = completed
    rt.install_source(monkeypatch, rt.RemoteSample())
    store_before = snapshot(store)
    fail_replace_under(monkeypatch, out)
    r = _scan(cli, cfg, out)
    assert r.code == 1
    line = rt.the_error_line(r.err)
    assert "internal error" not in line
    assert "disk full" in line and str(out) in line, line
    assert rt.report_files(out / rt.DATE) == baseline.files          # yesterday's report still readable
    assert snapshot(store) == store_before                        # stored results untouched
    assert rt.temp_litter(out) == []


def test_scan_disk_full_writing_results_one_clear_line_store_unchanged(cli, monkeypatch, completed, baseline, snapshot):
    store, out, cfg = completed
    rt.install_source(monkeypatch, rt.RemoteSample())
    results = store / "results"
    # change the stored results so the rerun really has to rewrite them
    (results / rt.DATE / "events.parquet").unlink()
    before = snapshot(results)
    fail_replace_under(monkeypatch, results)
    r = _scan(cli, cfg, out)
    assert r.code == 1
    assert rt.the_error_line(r.err) == (f"error: disk full while writing {results}/{rt.DATE}/events.parquet; "
                                        "the store was left as it was")
    assert snapshot(results) == before
    assert rt.temp_litter(store) == []
    assert rt.report_files(out / rt.DATE) == baseline.files


def test_scan_unwritable_out_dir_fails_fast_with_one_line(cli, monkeypatch, completed, snapshot):
    """An output folder the user cannot write is bad input (exit 2), said in one line naming it — and
    found before the night's fetch and detection, not after them."""
    store, out, cfg = completed
    calls = []
    rt.install_source(monkeypatch, rt.RemoteSample(calls=calls))
    new_out = out.parent / "reports-readonly"
    deny_mkdir_under(monkeypatch, new_out)
    store_before = snapshot(store)
    r = _scan(cli, cfg, new_out)
    assert rt.the_error_line(r.err) == f"error: cannot write the report under {new_out}: Permission denied"
    assert snapshot(store) == store_before
    assert r.code == 2
    assert calls == []


def test_scan_out_is_a_file_in_config(cli, monkeypatch, tmp_path, prestore):
    rt.install_source(monkeypatch, rt.RemoteSample())
    shutil.copytree(prestore, tmp_path / "store")
    blocker = tmp_path / "reports"
    blocker.write_text("not a folder")
    cfg = rt.write_config(tmp_path / "c.toml", tmp_path / "store", out=blocker)
    r = cli(["scan", "--config", cfg, "--date", rt.DATE, "--no-plots"])
    line = rt.the_error_line(r.err)
    assert str(blocker) in line and "internal error" not in line
    assert r.code == 2
    assert blocker.read_text() == "not a folder"


def test_plot_to_missing_folder_is_bad_input(cli, tmp_path):
    target = tmp_path / "no" / "such" / "dir" / "x.png"
    r = cli(["plot", "002230", "--date", rt.DATE, "--source", "sample", "--out", target])
    line = rt.the_error_line(r.err)
    assert "internal error" not in line and str(target) in line
    assert r.code == 2


def test_report_folder_permissions_follow_the_umask(baseline):
    """The nightly report is read by other people/processes (a web server, the analysts' group): its
    folder must get the umask's permissions like its files do, not mkdtemp's private 0700."""
    old = os.umask(0)
    os.umask(old)
    day_dir = baseline.scenario.day_dir
    files = {p.name: p.stat().st_mode & 0o777 for p in day_dir.iterdir() if p.is_file()}
    assert set(files.values()) == {0o666 & ~old}, files
    assert oct(day_dir.stat().st_mode & 0o777) == oct(0o777 & ~old)
