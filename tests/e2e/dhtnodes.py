"""Helpers for the DHT tests: `warren diag dht` and tests/npm-p2p/dht.mjs
(js-libp2p with @libp2p/kad-dht) as processes driven by commands on stdin,
answering JSON lines numbered by command."""
import json
import subprocess

from conftest import WARREN
from p2pdiag import NODE, NPM_P2P, Proc

DHT_JS = NPM_P2P / "dht.mjs"


class DhtNode(Proc):
    def __init__(self, argv, **kw):
        super().__init__(argv, stdin=subprocess.PIPE, **kw)
        self.seq = 0
        self.events = []
        first = self.next_json(timeout=30)
        assert first.get("event") == "started", first
        self.id = first["id"]
        self.addrs = first["addrs"]
        self.addr = self.addrs[0] if self.addrs[0].endswith(self.id) else f"{self.addrs[0]}/p2p/{self.id}"

    def next_json(self, timeout=30):
        while True:
            line = self.readline(timeout).strip()
            if line.startswith("{"):
                return json.loads(line)

    def send(self, line):
        self.p.stdin.write((line + "\n").encode())
        self.p.stdin.flush()
        self.seq += 1
        return self.seq

    def cmd(self, line, timeout=30):
        """Runs one command; returns its lines (the last one ends it)."""
        n = self.send(line)
        return self.collect(n, line.split()[0], timeout)

    def collect(self, n, name, timeout=30):
        got = []
        while True:
            o = self.next_json(timeout)
            if o.get("n") != n:
                self.events.append(o)
                continue
            got.append(o)
            if name != "findprovs" or o.get("done") or "error" in o and o["error"]:
                return got

    def wait_event(self, name, timeout=30):
        for o in self.events:
            if o.get("event") == name:
                return o
        while True:
            o = self.next_json(timeout)
            if o.get("event") == name:
                return o
            self.events.append(o)

    def stop(self):
        if self.p.stdin:
            try:
                self.p.stdin.close()
            except OSError:
                pass
            self.p.stdin = None
        return super().stop()


def warren_dht(*extra):
    return DhtNode([WARREN, "diag", "dht", "--listen", "/ip4/127.0.0.1/tcp/0", *extra])


def js_dht():
    assert NODE.exists(), "tests/npm-p2p is not installed: run make npm-deps"
    return DhtNode([NODE, DHT_JS], cwd=NPM_P2P)


def providers(lines):
    return {o["provider"]["id"]: o["provider"]["addrs"] for o in lines if "provider" in o}


HELIA_DHT_JS = NPM_P2P / "helia_dht.mjs"


def helia_dht():
    """A Helia 7 node with Bitswap and kad-dht (Amino, server mode), driven
    like js_dht (tests/npm-p2p/helia_dht.mjs)."""
    assert NODE.exists(), "tests/npm-p2p is not installed: run make npm-deps"
    return DhtNode([NODE, HELIA_DHT_JS], cwd=NPM_P2P)
