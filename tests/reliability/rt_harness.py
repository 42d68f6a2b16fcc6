"""Subprocess harness of the reliability suite: run the CLI through ``_driver.py``, stop it at a
pause point, SIGKILL it; scenario folders (store copy + config + out dir)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import rt_support as rt

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "_driver.py"


def subprocess_environ(tmp: Path, **extra) -> dict:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    for k in [k for k in env if k.startswith("RT_")]:
        env.pop(k)
    env["ANOMALY_STORE"] = str(tmp / "default-store-never-used")
    env["MPLBACKEND"] = "Agg"
    env.update({k: str(v) for k, v in extra.items()})
    return env


@dataclass
class Driver:
    tmp: Path

    def start(self, args, **env) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, str(DRIVER), *map(str, args)], env=subprocess_environ(self.tmp, **env),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(self.tmp))

    def run(self, args, timeout: float = 90, **env) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(DRIVER), *map(str, args)], env=subprocess_environ(self.tmp, **env),
                              capture_output=True, text=True, timeout=timeout, cwd=str(self.tmp))

    def run_until(self, args, pause: str, timeout: float = 60, **env) -> tuple[subprocess.Popen, str]:
        """Start, wait until the pause point is reached, and return (process, label) — still alive."""
        mark = self.tmp / f"mark-{time.monotonic_ns()}"
        p = self.start(args, RT_PAUSE=pause, RT_MARK=mark, **env)
        deadline = time.monotonic() + timeout
        while not mark.exists():
            if p.poll() is not None:
                out, err = p.communicate()
                raise AssertionError(f"process ended (rc={p.returncode}) before pause point {pause!r}:\n{out}\n{err}")
            if time.monotonic() > deadline:
                kill(p)
                raise AssertionError(f"pause point {pause!r} not reached within {timeout} s")
            time.sleep(0.01)
        return p, mark.read_text()


def kill(p: subprocess.Popen) -> None:
    """SIGKILL one process we started (by its pid) and reap it."""
    if p.poll() is None:
        os.kill(p.pid, signal.SIGKILL)
    p.communicate(timeout=30)



@dataclass
class Scenario:
    root: Path
    store: Path
    out: Path
    config: Path

    @property
    def day_dir(self) -> Path:
        return self.out / rt.DATE

    def scan_args(self, *extra) -> list[str]:
        return ["scan", "--config", str(self.config), "--date", rt.DATE, "--out", str(self.out), "--no-plots", *extra]


def make_scenario(root: Path, prestore: Path, **cfg) -> Scenario:
    root.mkdir(parents=True, exist_ok=True)
    store = root / "store"
    if prestore is not None:
        shutil.copytree(prestore, store)
    out = root / "out"
    config = rt.write_config(root / "nightly.toml", store, **cfg)
    return Scenario(root, store, out, config)


@dataclass
class Baseline:
    scenario: Scenario
    files: dict            # report file name → bytes
    store: dict            # store parquet rel path → frame
    stdout: str


