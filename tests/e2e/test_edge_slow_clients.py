"""Slow and greedy clients (issue 10, bullet 6): an HTTP/0.9 request line is
answered with a 400 at once; one client address cannot take every
connection (127.0.0.1 against 127.0.0.2 as two clients); and 10,000 idle
connections that each sent half a request line cost the edge under 20 MB of
RSS (read buffers are lent only while bytes arrive)."""
import os
import resource
import socket
import struct
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import WARREN, curl
from edgeenv import Edge, create_tunnel, free_udp_port


@pytest.fixture
def tunnels(tmp_path):
    t, _ = create_tunnel(tmp_path, "web", "app.example.com")
    return t


def test_http09_gets_400_at_once(tmp_path, tunnels):
    edge = Edge(tmp_path, tunnels)
    try:
        t0 = time.monotonic()
        with socket.create_connection(edge.http, timeout=10) as s:
            s.sendall(b"GET /\r\n")
            out = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                out += b
        took = time.monotonic() - t0
        assert out.startswith(b"HTTP/1.1 400 "), out[:200]
        assert b"HTTP/0.9" in out
        assert took < 1.0, f"the 400 took {took:.2f} s"
        edge.wait_for(r"WRN Refused a request .*status=400 reason=\"request line without an HTTP "
                      r"version \(HTTP/0.9 is not supported\)\"")
    finally:
        edge.stop()


def connect_from(src, addr):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(5)
    s.connect(addr)
    return s


def metrics_text(edge):
    with urllib.request.urlopen(edge.murl("/metrics"), timeout=5) as r:
        return r.read().decode()


def test_one_client_cannot_lock_others_out(tmp_path, tunnels):
    # The case: --max-connections 300, and 300 sockets from one address.
    edge = Edge(tmp_path, tunnels, "--max-connections", "300", "--max-connections-per-client",
                "50")
    socks = []
    refused = 0
    try:
        for _ in range(300):
            try:
                socks.append(connect_from("127.0.0.1", edge.http))
            except ConnectionResetError:  # the reset can beat connect()'s return
                refused += 1
        # The edge resets all but 50 of them at accept.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            m = metrics_text(edge)
            if edge.metric(m, 'warren_edge_errors_total{reason="client_connection_limit"}') >= 250:
                break
            time.sleep(0.1)
        m = metrics_text(edge)
        assert edge.metric(m, 'warren_edge_errors_total{reason="client_connection_limit"}') == 250
        assert edge.metric(m, "warren_edge_http_connections") == 50
        # The refused ones see a reset (or an EOF), not an answer.
        for s in socks:
            s.setblocking(False)
            try:
                refused += s.recv(1) == b""
            except ConnectionResetError:
                refused += 1
            except BlockingIOError:
                pass
        assert refused == 250
        # Another client is served (the edge's own 404 for an unknown host).
        r = curl("--interface", "127.0.0.2", "-o", "/dev/null", "-w", "%{http_code}",
                 f"http://{edge.http[0]}:{edge.http[1]}/", "-H", "Host: nope.example.com")
        assert r.returncode == 0 and r.stdout == b"404", (r.returncode, r.stdout, r.stderr)
        # The log says it at powers of two, not 250 times.
        lines = [l for l in edge.log().splitlines() if "too many connections from this client" in l]
        assert 1 <= len(lines) <= 9, len(lines)
        assert "client=127.0.0.1" in lines[0] and "limit=50" in lines[0]
        # Once the greedy client lets go, it is admitted again.
        for s in socks:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        socks = []
        r = curl("--interface", "127.0.0.1", "-o", "/dev/null", "-w", "%{http_code}",
                 f"http://{edge.http[0]}:{edge.http[1]}/", "-H", "Host: nope.example.com")
        assert r.stdout == b"404"
    finally:
        for s in socks:
            s.close()
        edge.stop()


def vm_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def idle_rss_growth(tmp, tunnels, binary, n=10000):
    """Starts the edge (binary), opens n connections that each sent half a
    request line, and returns (RSS before, RSS after) in KiB."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = n + 500
    if hard < need:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {need}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, need), hard))
    quic_port = free_udp_port()
    args = [binary, "edge", "--listen", f"127.0.0.1:{quic_port}", "--http", "127.0.0.1:0",
            "--tunnels",
            tunnels, "--self-signed", tmp / "certs", "--max-connections", str(n + 100),
            "--header-timeout", "5m"]
    if binary == WARREN:
        args += ["--max-connections-per-client", "0"]
    edge = subprocess.Popen([str(a) for a in args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    socks = []
    try:
        port = None
        deadline = time.monotonic() + 10
        while port is None and time.monotonic() < deadline:
            # The HTTP listener is the edge's only TCP socket in LISTEN
            # besides the http2 twin of the QUIC port; ask the kernel.
            out = subprocess.run(["ss", "-Htlnp"], capture_output=True, text=True).stdout
            ports = [int(l.split()[3].rsplit(":", 1)[1]) for l in out.splitlines()
                     if f"pid={edge.pid}," in l]
            ports = [p for p in ports if p != quic_port]
            if ports:
                port = ports[0]
            else:
                time.sleep(0.05)
        assert port, "the edge did not listen"
        addr = ("127.0.0.1", port)
        # Warm up: a few real requests, so the loop's own buffers exist.
        for _ in range(5):
            with socket.create_connection(addr, timeout=5) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: nope.example.com\r\nConnection: close\r\n\r\n")
                while s.recv(65536):
                    pass
        time.sleep(0.3)
        before = vm_rss_kib(edge.pid)
        for i in range(n):
            s = socket.create_connection(addr, timeout=10)
            s.sendall(b"GET /slow-client-%d HTT" % i)
            socks.append(s)
        # Every connection accepted and read: the edge's sockets are all
        # established and their receive queues empty.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            out = subprocess.run(["ss", "-Htn", "state", "established", f"sport = :{port}"],
                                 capture_output=True, text=True).stdout.splitlines()
            if len(out) >= n and all(l.split()[0] == "0" for l in out):
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"only {len(out)} connections established and read")
        time.sleep(0.5)
        after = vm_rss_kib(edge.pid)
        assert edge.poll() is None, "the edge died"
        return before, after
    finally:
        for s in socks:  # a reset: 10,000 ports in TIME-WAIT would trouble later tests
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        edge.terminate()
        try:
            edge.wait(20)
        except subprocess.TimeoutExpired:
            edge.kill()
            edge.wait()


def test_10000_idle_slow_connections_cost_under_20_mb(tmp_path, tunnels):
    before, after = idle_rss_growth(tmp_path, tunnels, WARREN)
    growth = after - before
    print(f"edge RSS before {before} KiB, after 10000 idle connections {after} KiB "
          f"(+{growth / 1024:.1f} MiB, {growth * 1024 / 10000:.0f} bytes each)")
    assert growth < 20 * 1024, f"RSS grew by {growth / 1024:.1f} MiB"


if __name__ == "__main__":
    # Compare another build: python3 test_edge_slow_clients.py /path/to/warren
    import pathlib
    import tempfile
    sys.path.insert(0, os.path.dirname(__file__))
    binary = pathlib.Path(sys.argv[1])
    with tempfile.TemporaryDirectory() as d:
        tmp = pathlib.Path(d)
        t, _ = create_tunnel(tmp, "web", "app.example.com")
        b, a = idle_rss_growth(tmp, t, binary)
        print(f"{binary}: RSS before {b} KiB, after {a} KiB (+{(a - b) / 1024:.1f} MiB)")
