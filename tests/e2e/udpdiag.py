"""Helpers for the UDP end-to-end tests: a `warren diag udp --listen` server
that can run inside a network namespace, and namespace set-up that always
cleans up."""
import contextlib
import os
import re
import signal
import socket
import subprocess
import time

from conftest import WARREN

LISTEN_RE = re.compile(r"^listening on (\S+):(\d+) ")


def have_ipv6():
    """True when this host can bind ::1 (some containers disable IPv6)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def netns_prefix(ns):
    return ["ip", "netns", "exec", ns] if ns else []


class Listener:
    """A running `warren diag udp --listen`; .port is the port it bound."""

    def __init__(self, addr, ns=None, extra=()):
        self.proc = subprocess.Popen(
            netns_prefix(ns) + [str(WARREN), "diag", "udp", "--listen", addr, *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = LISTEN_RE.match(line)
        if not m:
            self.proc.kill()
            err = self.proc.stderr.read()
            raise AssertionError(f"listener did not start: {line!r} {err!r}")
        self.port = int(m.group(2))
        self.out = ""
        self.err = ""

    def stop(self):
        """Ends the server with SIGTERM (it closes cleanly) and collects its output."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        self.out += out
        self.err += err
        return self.proc.returncode

    def datagram_lines(self):
        return [dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
                for line in self.out.splitlines() if line.startswith("datagram ")]


@contextlib.contextmanager
def listener(addr, ns=None, extra=()):
    srv = Listener(addr, ns, extra)
    try:
        yield srv
    finally:
        srv.stop()


def diag_connect(target, ns=None, count=3, interval=20, timeout=500, extra=()):
    return subprocess.run(
        netns_prefix(ns) + [str(WARREN), "diag", "udp", "--connect", target, "--count",
                            str(count), "--interval", str(interval), "--timeout", str(timeout),
                            *extra],
        capture_output=True, text=True, timeout=60)


def sh(*args, check=True):
    return subprocess.run(list(args), capture_output=True, text=True, check=check)


@contextlib.contextmanager
def netns_pair(tag):
    """Two namespaces (server, client) joined by a veth pair, all named with
    the pid. Yields (srv_ns, cli_ns, srv_if, cli_if). Always removed."""
    pid = os.getpid()
    srv, cli = f"wrs{tag}{pid}", f"wrc{tag}{pid}"
    sif, cif = f"ws{tag}{pid}"[:15], f"wc{tag}{pid}"[:15]
    try:
        sh("ip", "netns", "add", srv)
        sh("ip", "netns", "add", cli)
        sh("ip", "link", "add", sif, "netns", srv, "type", "veth", "peer", "name", cif,
           "netns", cli)
        for ns, dev in ((srv, sif), (cli, cif)):
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "link", "set", dev, "up")
        yield srv, cli, sif, cif
    finally:
        sh("ip", "netns", "del", srv, check=False)
        sh("ip", "netns", "del", cli, check=False)


@contextlib.contextmanager
def capture(ns, dev, path, bpf="udp"):
    """tcpdump in a namespace, writing to path; stopped (and flushed) on exit."""
    # -Z root: keep writing into the test's private tmp dir; --immediate-mode:
    # hand each packet over at once, so nothing is still buffered at SIGINT.
    proc = subprocess.Popen(["ip", "netns", "exec", ns, "tcpdump", "-Z", "root", "-i", dev, "-n",
                             "-U", "--immediate-mode", "-w", path, bpf], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        # tcpdump says "listening on" once the capture is live.
        line = proc.stderr.readline()
        assert "listening on" in line, f"tcpdump did not start: {line!r}"
        yield proc
    finally:
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def read_capture(path):
    """The capture as tcpdump's one-line-per-packet text."""
    return sh("tcpdump", "-n", "-r", path).stdout.splitlines()
