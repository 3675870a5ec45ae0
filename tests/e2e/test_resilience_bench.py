"""bench/resilience.py's smoke test: one short run of the connector-kill fault
through warren prints its table, and none of the load's requests failed."""
import re
import subprocess

from conftest import ROOT


def test_resilience_bench_kill_fault():
    r = subprocess.run(["/usr/bin/python3", str(ROOT / "bench" / "resilience.py"),
                        "--only", "warren", "--faults", "kill", "--seconds", "3",
                        "--workers", "8"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    m = re.search(r"warren, 2 connectors\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", r.stdout)
    assert m, r.stdout
    sent, failed, worst_ms = int(m.group(1)), int(m.group(2)), int(m.group(3))
    assert sent > 100 and failed == 0 and worst_ms < 2000, r.stdout
