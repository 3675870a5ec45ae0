"""`make demo` (scripts/demo): a whole tunnel on loopback with the hello_world origin, then
the site snapshotted through the tunnel and served from the store once the connector is gone."""
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import ROOT, WARREN, curl

DEMO = ROOT / "scripts" / "demo"


def tunnel_built():
    edge = subprocess.run([str(WARREN), "edge", "--help"], capture_output=True)
    run = subprocess.run([str(WARREN), "tunnel", "run", "--help"], capture_output=True,
                         text=True)
    return edge.returncode == 0 and "--ha-connections" in run.stdout + run.stderr


pytestmark = pytest.mark.skipif(not WARREN.exists() or not tunnel_built(),
                                reason="build/warren has no edge or connector")


def leftovers(tmp):
    """Processes whose command line names the demo's folder."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if tmp.encode() in f.read():
                    out.append(pid)
        except OSError:
            pass
    return out


def folder(text):
    m = re.search(r"demo: working in (\S+)", text)
    assert m, text
    return m.group(1)


def test_demo_without_a_terminal_answers_once_and_stops(warren_bin):
    res = subprocess.run([str(DEMO)], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                         timeout=90)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "HTTP/1.1 200 OK" in res.stdout
    assert "Hello from warren!" in res.stdout
    assert res.stdout.count("INF Registered tunnel connection") == 2
    # Once through the tunnel, once from the snapshot after the connector stopped.
    assert res.stdout.count("Hello from warren!") == 2
    assert re.search(r"Published to k51\w+: /ipfs/Qm\w+", res.stdout), res.stdout
    assert re.search(r"X-Ipfs-Path: /ipns/k51\w+/", res.stdout), res.stdout
    assert "stopping here" in res.stdout
    tmp = folder(res.stdout)
    assert not os.path.exists(tmp)
    assert leftovers(tmp) == []


def test_demo_with_a_terminal_serves_until_ctrl_c(warren_bin):
    master, slave = os.openpty()
    # CI=true makes the demo stop after one request even on a terminal: this test
    # is about the interactive case, so it runs without it.
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    proc = subprocess.Popen([str(DEMO)], stdin=slave, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            env=env)
    os.close(slave)
    try:
        lines, url = [], None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            m = re.match(r"\s+curl (http://\S+)", line)
            url = url or (m and m.group(1))
            if "Ctrl-C stops the demo" in line:
                break
        out = "".join(lines)
        assert url and "Ctrl-C stops the demo" in out, out
        assert "Hello from warren!" in out
        # Still serving after the connector stopped: the page from the snapshot.
        host, port = re.match(r"http://([^:/]+):(\d+)/", url).groups()
        r = curl("--resolve", f"{host}:{port}:127.0.0.1", url)
        assert r.returncode == 0 and b"Hello from warren!" in r.stdout, r.stderr
        tmp = folder(out)
        assert leftovers(tmp)
        # Ctrl-C: the terminal signals the whole foreground process group.
        os.killpg(proc.pid, signal.SIGINT)
        rest = proc.communicate(timeout=30)[0]
        assert proc.returncode == 130, rest
        assert "demo: stopping" in rest
        assert not os.path.exists(tmp)
        assert leftovers(tmp) == []
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        os.close(master)
