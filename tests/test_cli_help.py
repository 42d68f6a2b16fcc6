"""Every command documents itself with an example, and cheap commands never import akshare."""
from __future__ import annotations

import subprocess
import sys

import pytest

from anomaly.cli import cli

COMMANDS = sorted(cli.commands)


def test_core_commands_registered():
    assert {"fetch", "bars", "detect", "news", "link", "scan", "plot", "calendar", "symbols"} <= set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_command_help_has_example(run_cli, name):
    r = run_cli([name, "--help"])
    assert r.code == 0, r.err
    assert r.err == ""
    assert "Example" in r.out, r.out
    lines = [line.strip() for line in r.out.splitlines()]
    assert any(line.startswith(f"anomaly {name} ") or line == f"anomaly {name}" for line in lines), r.out
    assert "Usage: anomaly " + name in r.out
    for flag in ("--store", "--source", "--config", "-v, --verbose"):
        assert flag in r.out, (name, flag)


@pytest.mark.parametrize("name", COMMANDS)
def test_command_short_help_flag(run_cli, name):
    r = run_cli([name, "-h"])
    assert r.code == 0 and "Example" in r.out


def test_group_help_lists_commands_and_example(run_cli):
    r = run_cli(["--help"])
    assert r.code == 0, r.err
    assert "Example" in r.out
    assert any(line.strip().startswith("anomaly ") for line in r.out.splitlines())
    for name in COMMANDS:
        assert f"  {name}" in r.out, name


def _python(code: str, env, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=120)


def test_help_does_not_import_akshare(subprocess_env, repo_root):
    p = _python("import sys; from anomaly.cli import main; main(['--help']); print('akshare' in sys.modules)",
                subprocess_env, repo_root)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == "False"


@pytest.mark.parametrize("argv", [
    ["bars", "002230", "--start", "2023-05-22", "--end", "2023-05-26", "--source", "sample"],
    ["bars", "002230", "--start", "2023-05-22", "--end", "2023-05-26", "--source", "sample", "--format", "json"],
    ["calendar", "2023-06-22"],
    ["symbols", "科大讯飞"],
    ["fetch", "--help"],
], ids=["bars", "bars-json", "calendar", "symbols", "fetch-help"])
def test_offline_commands_do_not_import_akshare(subprocess_env, repo_root, argv):
    code = (f"import sys; from anomaly.cli import main; rc = main({argv!r}); "
            "print('RC', rc); print('AKSHARE', 'akshare' in sys.modules)")
    p = _python(code, subprocess_env, repo_root)
    assert p.returncode == 0, p.stderr
    tail = p.stdout.strip().splitlines()[-2:]
    assert tail == ["RC 0", "AKSHARE False"], (p.stdout[-500:], p.stderr)


def test_python_dash_m_help(subprocess_env, repo_root):
    p = subprocess.run([sys.executable, "-m", "anomaly", "--help"], capture_output=True, text=True,
                       env=subprocess_env, cwd=repo_root, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "Usage: anomaly" in p.stdout and "Example" in p.stdout
