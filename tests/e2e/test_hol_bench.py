"""bench/hol.py's smoke test: the namespaces, delay and loss rules come up, one
quic cell at 0% loss measures small requests and the bulk download, and every
namespace it made is gone afterwards."""
import os
import re
import subprocess

import pytest

from conftest import ROOT, is_root


def namespaces():
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def test_hol_one_quic_cell():
    if not is_root():
        pytest.skip("needs root for network namespaces")
    r = subprocess.run(["/usr/bin/python3", str(ROOT / "bench" / "hol.py"), "--loss", "0",
                        "--seconds", "2", "--protocols", "quic"], capture_output=True, text=True,
                       timeout=90)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "GSO off" in r.stdout
    m = re.search(r"quic\s+0%: p50 ([\d.]+) p95 ([\d.]+) p99 ([\d.]+) ms, bulk ([\d.]+) MB/s, "
                  r"(\d+)/(\d+) failed", r.stdout)
    assert m, r.stdout
    p50, p99, mbs = float(m.group(1)), float(m.group(3)), float(m.group(4))
    # 20 ms added each way: no small request can finish in less than one
    # round trip (40 ms), and none failed.
    assert 40 <= p50 <= p99, r.stdout
    assert mbs > 0, r.stdout
    assert m.group(5) == "0" and m.group(6) == "40", r.stdout
    names = re.search(r"namespaces (\S+) and (\S+)", r.stdout)
    assert names, r.stdout
    assert names.group(1) not in namespaces() and names.group(2) not in namespaces()

def test_hol_refuses_without_root():
    # As a user other than root it must say why and exit non-zero.
    if not is_root():
        r = subprocess.run(["/usr/bin/python3", str(ROOT / "bench" / "hol.py")],
                           capture_output=True, text=True, timeout=30)
    else:
        r = subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
                            "/usr/bin/python3", str(ROOT / "bench" / "hol.py")],
                           capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "needs root" in r.stderr
