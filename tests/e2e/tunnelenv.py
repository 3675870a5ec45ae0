"""A whole tunnel on loopback for end-to-end tests: real warren edge, real
connector (`warren tunnel run`), real origin (origin.py), driven with curl."""
import os
import re
import signal
import socket
import subprocess
import threading
import time

from conftest import WARREN, Origin


def free_port(kind=socket.SOCK_STREAM, host="127.0.0.1"):
    """A port nothing listens on right now (TCP and UDP alike, for an edge)."""
    while True:
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        other = socket.SOCK_DGRAM if kind == socket.SOCK_STREAM else socket.SOCK_STREAM
        try:
            with socket.socket(socket.AF_INET, other) as s:
                s.bind((host, port))
            return port
        except OSError:
            continue


class Proc:
    """A warren process whose log lines are collected as they come."""

    def __init__(self, args, name):
        self.name = name
        self.args = [str(WARREN), *map(str, args)]
        self.lines = []
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, errors="replace")
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()

    def wait_for(self, pattern, timeout=15, count=1):
        """Waits until count log lines match pattern; returns them."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                hits = [l for l in self.lines if rx.search(l)]
                if len(hits) >= count:
                    return hits
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(f"{self.name}: no {count} line(s) matching {pattern!r} "
                                         f"in:\n" + "\n".join(self.lines[-40:]))
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
        return self.proc.returncode


class TunnelEnv:
    """An edge, a tunnel owning `host`, a connector and an origin."""

    def __init__(self, tmp, host="app.test", edge_bind="127.0.0.1", dial="127.0.0.1",
                 ha=2, origin=None, extra_connector=()):
        self.tmp = tmp
        self.host = host
        self.origin = origin or Origin()
        self.own_origin = origin is None
        self.tunnels = tmp / "tunnels.yml"
        self.cred = tmp / "cred.json"
        self.certs = tmp / "certs"
        r = subprocess.run([str(WARREN), "tunnel", "create", "web", "--hostname", host,
                            "--tunnels", self.tunnels, "--credentials-file", self.cred],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        self.edge_port = free_port()
        self.http_port = free_port()
        self.edge_bind = edge_bind
        self.edges = []
        self.start_edge()
        self.dial = dial
        self.ha = ha
        self.extra_connector = list(extra_connector)
        self.connector = None
        self.start_connector()

    def edge_addr(self, bind=None):
        b = bind or self.edge_bind
        return f"[{b}]:{self.edge_port}" if ":" in b else f"{b}:{self.edge_port}"

    def start_edge(self, port=None, http_port=None):
        e = Proc(["edge", "--listen", self.edge_addr() if port is None else
                  f"{self.edge_bind}:{port}",
                  "--http", f"127.0.0.1:{http_port or self.http_port}",
                  "--tunnels", self.tunnels, "--self-signed", self.certs], "edge")
        self._wait_tcp(http_port or self.http_port)
        self.edges.append(e)
        return e

    def connector_args(self, edges=None):
        edges = edges or [f"{self.dial}:{self.edge_port}"]
        args = ["tunnel"]
        for e in edges:
            args += ["--edge", e]
        return args + ["--edge-ca", self.certs / "edge.crt", "--credentials-file", self.cred,
                       "--url", self.origin.url, "--ha-connections", self.ha,
                       *self.extra_connector, "run", "web"]

    def start_connector(self, edges=None, wait=True):
        self.connector = Proc(self.connector_args(edges), "connector")
        if wait:
            self.connector.wait_for(r"INF Registered tunnel connection", count=self.ha)
        return self.connector

    def _wait_tcp(self, port, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"nothing listens on 127.0.0.1:{port}")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.http_port}"

    def curl_args(self, path):
        """curl arguments reaching `path` on the tunnel's host through the edge."""
        return ["--resolve", f"{self.host}:{self.http_port}:127.0.0.1",
                f"http://{self.host}:{self.http_port}{path}"]

    def close(self):
        if self.connector:
            self.connector.stop()
        for e in self.edges:
            e.stop()
        if self.own_origin:
            self.origin.stop()
