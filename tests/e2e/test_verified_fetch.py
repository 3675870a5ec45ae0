"""npm's @helia/verified-fetch (Helia's trustless-gateway client) with
warren's edge gateway as its only source (issue 13): no libp2p, no delegated
routing, no Bitswap (tests/npm-p2p/verified_fetch.mjs). It asks the gateway
for raw blocks (application/vnd.ipld.raw), checks each against its CID and
walks the UnixFS DAG itself, so a file by path, a folder's index.html, and
multi-block files in both CID versions come back byte for byte only if every
block warren served was the right one; through a proxy that corrupts the
blocks the same client gets nothing (the control)."""
import hashlib
import http.server
import json
import os
import random
import subprocess
import threading
import urllib.request

import pytest

from edgeenv import Edge, create_tunnel
from gwenv import add, metric
from p2pdiag import NODE, NPM_P2P

VF_JS = NPM_P2P / "verified_fetch.mjs"
# The gateway's hostname: verified-fetch sends Host: 127.0.0.1:PORT.
GW = "127.0.0.1"


def make_site(d):
    (d / "docs" / "app").mkdir(parents=True)
    (d / "index.html").write_text("<!doctype html><title>home</title><p>home page</p>\n")
    (d / "docs" / "guide.txt").write_text("read me through a trustless gateway\n")
    (d / "docs" / "app" / "index.html").write_text("<!doctype html><p>the app</p>\n")
    rnd = random.Random(13)
    (d / "docs" / "big.bin").write_bytes(rnd.randbytes(3_000_000))  # 12 leaves


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vf")
    site = tmp / "site"
    make_site(site)
    repo = tmp / "repo"
    v0 = add(repo, site)
    v1 = add(repo, site, "--cid-version=1")
    tunnels, _ = create_tunnel(tmp, "other", "other.example.com")
    edge = Edge(tmp, tunnels, "--repo", repo, "--gateway", GW)
    yield tmp, site, v0, v1, edge
    edge.stop()


def vfetch(env, *urls, gateway=None, timeout_ms=60000):
    """Runs verified-fetch on urls; returns (results by url, block requests)."""
    tmp, _, _, _, edge = env
    gateway = gateway or edge.url
    assert NODE.exists(), "tests/npm-p2p is not installed: run make npm-deps"
    outdir = tmp / "out"
    outdir.mkdir(exist_ok=True)
    r = subprocess.run([str(NODE), str(VF_JS), gateway, str(outdir), *urls], cwd=NPM_P2P,
                       capture_output=True, text=True, timeout=180,
                       env={**os.environ, "VF_TIMEOUT_MS": str(timeout_ms)})
    assert r.returncode == 0, r.stderr
    lines = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]
    assert lines and lines[-1].get("done"), r.stdout + r.stderr
    return {o["url"]: o for o in lines[:-1]}, lines[-1]["requests"]


def same(got, path):
    assert "error" not in got, got
    assert got["status"] == 200, got
    want = path.read_bytes()
    assert got["bytes"] == len(want), got
    assert got["sha256"] == hashlib.sha256(want).hexdigest()
    with open(got["file"], "rb") as f:
        assert f.read() == want


def test_files_and_folders_by_path(env):
    tmp, site, v0, v1, edge = env
    before = metric(edge, 'warren_gateway_requests_total{kind="raw"}')
    urls = {
        f"ipfs://{v0['']}/docs/big.bin": site / "docs" / "big.bin",
        f"ipfs://{v0['']}/docs/guide.txt": site / "docs" / "guide.txt",
        f"ipfs://{v0['']}/docs/app/": site / "docs" / "app" / "index.html",
        f"ipfs://{v1['']}/": site / "index.html",
        f"ipfs://{v1['docs/big.bin']}": site / "docs" / "big.bin",
    }
    missing = f"ipfs://{v0['']}/docs/nothing-here.txt"
    got, requests = vfetch(env, *urls, missing)
    for url, path in urls.items():
        same(got[url], path)
    # verified-fetch walked the folder it fetched and found no such name.
    assert got[missing].get("status") == 404, got[missing]
    assert got[f"ipfs://{v0['']}/docs/guide.txt"]["type"].startswith("text/plain")
    assert got[f"ipfs://{v1['']}/"]["type"].startswith("text/html")
    # Every block came from warren's gateway as a raw block: the two big.bin
    # DAGs alone are 2 x 13 blocks.
    after = metric(edge, 'warren_gateway_requests_total{kind="raw"}')
    assert requests >= 26 and after - before >= 26, (requests, before, after)
    print(f"\nverified-fetch: {len(urls)} URLs, {requests} block requests to warren's gateway")


class Tamper(http.server.ThreadingHTTPServer):
    """A proxy in front of the edge that flips one byte of every raw block
    it passes on: what a lying gateway serves."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.blocks = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(h):
                req = urllib.request.Request(self.upstream + h.path, headers={
                    k: v for k, v in h.headers.items() if k.lower() in ("accept", "user-agent")})
                with urllib.request.urlopen(req, timeout=30) as r:
                    body = bytearray(r.read())
                    ctype = r.headers.get("content-type", "")
                    status = r.status
                if ctype.startswith("application/vnd.ipld.raw") and body:
                    body[len(body) // 2] ^= 0x5A
                    self.blocks += 1
                h.send_response(status)
                h.send_header("Content-Type", ctype)
                h.send_header("Content-Length", str(len(body)))
                h.end_headers()
                h.wfile.write(bytes(body))

            def log_message(h, *a):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()


def test_a_lying_gateway_is_caught(env):
    """The control: the same client through a proxy that corrupts warren's
    blocks gets nothing (so the passing fetches above were verified)."""
    _, site, v0, _, edge = env
    proxy = Tamper(edge.url)
    try:
        url = f"ipfs://{v0['']}/docs/guide.txt"
        got, _ = vfetch(env, url, gateway=proxy.url, timeout_ms=10000)
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert proxy.blocks >= 1
    o = got[url]
    assert "error" in o or o["status"] >= 400, o
    if "error" not in o:
        assert o["sha256"] != hashlib.sha256((site / "docs" / "guide.txt").read_bytes()).hexdigest()
