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


def is_root():
    return os.geteuid() == 0
