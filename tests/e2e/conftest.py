"""Shared fixtures for the end-to-end tests: they run the real build/warren."""
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
WARREN = ROOT / "build" / "warren"


def run_warren(*args, check=False, timeout=30, **kw):
    """Runs build/warren with args; returns the CompletedProcess (text mode)."""
    return subprocess.run([str(WARREN), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, check=check, **kw)


@pytest.fixture(scope="session")
def warren_bin():
    assert WARREN.exists(), "build/warren is missing: run make first"
    return WARREN


def warren_processes():
    """{pid: command line} of the running processes whose program is this tree's
    build/warren (a test's own, or one it leaked)."""
    found = {}
    for d in pathlib.Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if os.readlink(d / "exe") != str(WARREN):
                continue
            found[int(d.name)] = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
    return found


_BEFORE = {}


def pytest_sessionstart(session):
    _BEFORE.update(warren_processes())


def pytest_sessionfinish(session, exitstatus):
    """No test may leave a warren process behind: the suite fails, names the
    leaked commands and ends them, so one leak cannot hold ports for the next run."""
    leaked = {pid: cmd for pid, cmd in warren_processes().items() if pid not in _BEFORE}
    if not leaked:
        return
    for pid, cmd in leaked.items():
        print(f"\nleaked process {pid}: {cmd}")
        try:
            os.kill(pid, 9)
        except OSError:
            pass
    session.exitstatus = 1


def is_root():
    return os.geteuid() == 0


ORIGIN = ROOT / "tests" / "e2e" / "origin.py"


class Origin:
    """A running tests/e2e/origin.py; .port and .url."""

    def __init__(self, host="127.0.0.1"):
        self.proc = subprocess.Popen(["/usr/bin/python3", str(ORIGIN), "--host", host],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("listening "), line
        self.port = int(line.split()[1])
        self.url = f"http://{host}:{self.port}"

    def stop(self):
        self.proc.kill()
        self.proc.wait(5)


@pytest.fixture
def origin():
    o = Origin()
    yield o
    o.stop()


def curl(*args, timeout=60):
    """Runs curl -sS with args; returns the CompletedProcess (bytes)."""
    return subprocess.run(["curl", "-sS", *map(str, args)], capture_output=True,
                          timeout=timeout)
