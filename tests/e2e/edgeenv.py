"""Helpers for the edge's end-to-end tests: a real `warren edge` with its log
collected, tunnels made with `warren tunnel create`, raw HTTP over sockets."""
import os
import re
import signal
import socket
import subprocess
import threading
import time

from conftest import WARREN


def free_udp_port():
    """A port free for UDP and for a TCP listener on any address: the edge
    serves QUIC on the UDP port and http2 on the TCP port with the same
    number (on a busy machine a random UDP port is often some TCP
    connection's local port)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                t.bind(("0.0.0.0", port))
            return port
        except OSError:
            continue
    raise RuntimeError("no port free for both UDP and TCP")


def create_tunnel(tmp, name, *hosts, tunnels=None):
    """Runs `warren tunnel create`; returns (tunnels file, credentials file)."""
    tunnels = tunnels or tmp / "tunnels.yml"
    cred = tmp / f"{name}.json"
    args = [str(WARREN), "tunnel", "create", name, "--tunnels", str(tunnels),
            "--credentials-file", str(cred)]
    for h in hosts:
        args += ["--hostname", h]
    r = subprocess.run(args, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return tunnels, cred


class LoggedProc:
    """A warren process whose output lines are collected as they come, so a
    test can wait for a log line."""

    def __init__(self, args, name, env=None):
        self.name = name
        self.lines = []
        self.cond = threading.Condition()
        # A session of its own, so stop() reaches a traced warren too (strace
        # detaches on a signal and would leave it running).
        self.proc = subprocess.Popen([str(a) for a in args], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, errors="replace",
                                     env=env, start_new_session=True)
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_for(self, pattern, timeout=15, count=1):
        """Waits until count log lines match pattern; returns the matches."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                hits = [l for l in self.lines if rx.search(l)]
                if len(hits) >= count:
                    return hits
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(f"{self.name}: no {count} line(s) matching "
                                         f"{pattern!r} in:\n" + "\n".join(self.lines[-40:]))
                self.cond.wait(min(left, 0.2))

    def log(self):
        with self.cond:
            return "\n".join(self.lines)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        try:  # whatever the process started (a traced warren) goes with it
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return self.proc.returncode


class Edge(LoggedProc):
    """A running `warren edge` on loopback with ports picked by the kernel
    (the QUIC port may be given, to restart an edge where connectors look).
    .http and .metrics are (host, port); .quic_port is the UDP port."""

    def __init__(self, tmp, tunnels, *extra, metrics=True, quic_port=None, bind="127.0.0.1"):
        self.quic_port = quic_port or free_udp_port()
        listen = f"[{bind}]:{self.quic_port}" if ":" in bind else f"{bind}:{self.quic_port}"
        args = [WARREN, "edge", "--listen", listen, "--http", "127.0.0.1:0",
                "--tunnels", tunnels, "--self-signed", tmp / "certs"]
        if metrics:
            args += ["--metrics", "127.0.0.1:0"]
        self.ca = tmp / "certs" / "edge.crt"
        super().__init__(args + list(extra), "edge")
        line = self.wait_for(r"INF Starting edge")[0]
        h = re.search(r"http=([\d.]+):(\d+)", line)
        self.http = (h.group(1), int(h.group(2)))
        m = re.search(r"metrics=([\d.]+):(\d+)", line)
        self.metrics = (m.group(1), int(m.group(2))) if m else None

    @property
    def url(self):
        return f"http://{self.http[0]}:{self.http[1]}"

    def murl(self, path):
        return f"http://{self.metrics[0]}:{self.metrics[1]}{path}"

    def metric(self, text, name):
        """The value of one sample line `name` (with its labels) in /metrics text, or 0."""
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        return 0.0


class Connector(LoggedProc):
    """A running `warren tunnel run` for the tunnel in cred, dialling edges
    (Edge objects, or "ADDR:PORT" strings with ca given)."""

    def __init__(self, edges, cred, origin_url, ha=2, name="web", ca=None, grace="5s",
                 extra=()):
        edges = edges if isinstance(edges, list) else [edges]
        args = [WARREN, "tunnel"]
        for e in edges:
            args += ["--edge", e if isinstance(e, str) else f"127.0.0.1:{e.quic_port}"]
        ca = ca or edges[0].ca
        super().__init__(args + ["--edge-ca", ca, "--credentials-file", cred, "--url",
                                 origin_url, "--ha-connections", ha, "--grace-period", grace,
                                 *extra, "run", name], "connector")


def raw_http(addr, data, timeout=5):
    """Sends raw bytes, returns everything the server sends until it closes."""
    with socket.create_connection(addr, timeout=timeout) as s:
        s.sendall(data)
        out = b""
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                out += b
        except socket.timeout:
            pass
        return out


def fetch(url, timeout=10):
    """GET url with the standard library; returns (status, body bytes)."""
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
