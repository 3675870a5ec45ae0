"""The edge's gateway fetching what its store lacks from the IPFS network
(`warren edge --p2p`): daemon A holds a multi-block file and a folder; an
edge with its own empty repo, bootstrapped from A, serves them through the
gateway byte for byte (a file, a path into the folder, its index.html, a
range, a CAR verified by npm's @ipld/car, a raw block); the fetched blocks
land in the edge's repo unpinned and are served from it once A is gone; a
CID nobody has is a 504 within the --gateway-timeout; a request over the
--gateway-fetches limit is a 503; metrics count all of it. Also: a file held
in part is completed mid-response, the timeout bounds progress (a 128 MiB
file slower than it is served whole), SIGTERM with a request waiting, and an
edge that reaches the provider only through the DHT."""
import hashlib
import json
import os
import random
import subprocess
import threading
import time

import pytest

from conftest import WARREN
from daemon import Daemon
from edgeenv import Edge, create_tunnel
from gwenv import B58, car_verify, check_block, get, metric, varint

GW = "gw.test"
TIMEOUT_S = 4


def w(repo, *args, timeout=120, **kw):
    return subprocess.run([str(WARREN), "--repo", str(repo), *map(str, args)],
                          capture_output=True, timeout=timeout, **kw)


def fetches(edge, result):
    return metric(edge, f'warren_gateway_fetches_total{{result="{result}"}}')


@pytest.fixture
def net(tmp_path):
    """Daemon A with a 3 MB file (12 blocks of 256 KiB and a root) and a
    folder with an index.html; an edge whose repo holds none of it,
    bootstrapped from A."""
    a_repo, e_repo = tmp_path / "a", tmp_path / "edge"
    for r in (a_repo, e_repo):
        assert w(r, "init").returncode == 0
    rnd = random.Random(13)
    big = rnd.randbytes(3_000_000)
    (tmp_path / "big.bin").write_bytes(big)
    site = tmp_path / "site"
    (site / "docs").mkdir(parents=True)
    (site / "index.html").write_text("<!doctype html><title>A</title><p>served from A</p>\n")
    (site / "docs" / "notes.txt").write_text("notes kept by A\n")
    a = Daemon(a_repo)
    edge = None
    try:
        cid = w(a_repo, "add", "-Q", tmp_path / "big.bin", text=True).stdout.strip()
        root = w(a_repo, "add", "-Q", "-r", site, text=True).stdout.strip()
        assert cid.startswith("Qm") and root.startswith("Qm"), (cid, root)
        addr = next(x for x in json.loads(w(a_repo, "id").stdout)["Addresses"]
                    if "/127.0.0.1/" in x)
        tunnels, _ = create_tunnel(tmp_path, "other", "other.example.com")
        edge = Edge(tmp_path, tunnels, "--repo", e_repo, "--gateway", GW, "--bootstrap", addr,
                    "--gateway-timeout", f"{TIMEOUT_S}s", "--gateway-fetches", "1")
        edge.wait_for(r"DHT bootstrap done peers=1")
        yield {"a": a, "edge": edge, "e_repo": e_repo, "cid": cid, "big": big, "root": root,
               "tmp": tmp_path}
    finally:
        if edge:
            edge.stop()
        a.stop()


def test_gateway_fetches_missing_content_from_the_network(net):
    edge, cid, big, e_repo = net["edge"], net["cid"], net["big"], net["e_repo"]
    # the edge's store has none of it; the cache-only form says so (412)
    assert w(e_repo, "--offline", "block", "stat", cid).returncode != 0
    st, _, _ = get(edge, GW, f"/ipfs/{cid}", "-H", "Cache-Control: only-if-cached")
    assert st == 412
    assert fetches(edge, "ok") == 0

    # the file, byte for byte, fetched from A through Bitswap
    t0 = time.monotonic()
    st, hdrs, body = get(edge, GW, f"/ipfs/{cid}")
    took = time.monotonic() - t0
    assert st == 200, body[:300]
    assert len(body) == len(big) and hashlib.sha256(body).digest() == hashlib.sha256(big).digest()
    assert hdrs["etag"] == f'"{cid}"' and hdrs["x-ipfs-path"] == f"/ipfs/{cid}"
    assert took < TIMEOUT_S, took
    assert fetches(edge, "ok") == 1
    # the node's Bitswap counters are on the edge's /metrics: 12 leaves + the root
    assert metric(edge, "warren_bitswap_blocks_received_total") >= 13
    # now local: only-if-cached is served, and no new fetch is made
    st, _, body = get(edge, GW, f"/ipfs/{cid}", "-H", "Cache-Control: only-if-cached")
    assert st == 200 and body == big
    assert fetches(edge, "ok") == 1

    # a folder: a path into it, its index.html, a range, a CAR, a raw block
    root = net["root"]
    st, _, body = get(edge, GW, f"/ipfs/{root}/docs/notes.txt")
    assert st == 200 and body == b"notes kept by A\n"
    st, _, body = get(edge, GW, f"/ipfs/{root}/")
    assert st == 200 and b"served from A" in body
    st, hdrs, body = get(edge, GW, f"/ipfs/{root}/docs/notes.txt", "-H", "Range: bytes=6-9")
    assert st == 206 and body == b"kept"
    st, _, body = get(edge, GW, f"/ipfs/{root}/docs/")  # a listing, fetched on the way before
    assert st == 200 and b"notes.txt" in body
    # file, notes.txt's path, and index.html unless the read-ahead of the
    # folder's children stored it already; the range and the listing were local
    ok = fetches(edge, "ok")
    assert 2 <= ok <= 3, ok

    # a CAR of the whole file, read and hash-checked by @ipld/car: every block
    st, hdrs, body = get(edge, GW, f"/ipfs/{cid}?format=car")
    assert fetches(edge, "ok") == ok  # all local by now
    assert st == 200 and hdrs["content-type"].startswith("application/vnd.ipld.car")
    summary = car_verify(body)
    assert len(summary["blocks"]) == 13, summary  # 12 leaves + the root
    st, _, body = get(edge, GW, f"/ipfs/{cid}?format=raw")
    assert st == 200
    check_block(cid, body)

    # fetched blocks are kept unpinned: pins are untouched
    pins = w(e_repo, "--offline", "pin", "ls", text=True).stdout
    assert cid not in pins and root not in pins

    # with A gone the edge still serves what it fetched
    net["a"].stop()
    st, _, body = get(edge, GW, f"/ipfs/{cid}")
    assert st == 200 and body == big


def test_missing_everywhere_is_a_504_within_the_timeout(net):
    edge = net["edge"]
    nobody = net["tmp"] / "nobody.bin"
    nobody.write_bytes(os.urandom(4096))
    missing = w(net["e_repo"], "add", "-Q", "-n", nobody, text=True).stdout.strip()
    assert missing.startswith("Qm")

    # While one request waits on the network, the limit (--gateway-fetches 1)
    # answers another at once with 503.
    res = {}

    def slow():
        t = time.monotonic()
        res["first"] = get(edge, GW, f"/ipfs/{missing}", timeout=TIMEOUT_S + 30)
        res["first_s"] = time.monotonic() - t

    th = threading.Thread(target=slow)
    th.start()
    deadline = time.monotonic() + 3
    while metric(edge, "warren_gateway_fetches_running") < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert metric(edge, "warren_gateway_fetches_running") == 1
    t = time.monotonic()
    st, _, body = get(edge, GW, f"/ipfs/{missing}/other")
    assert st == 503 and b"fetches from the IPFS network are running" in body, body
    assert time.monotonic() - t < 1.5
    th.join(TIMEOUT_S + 35)

    st, hdrs, body = res["first"]
    assert st == 504, body
    assert b"not found on the IPFS network: no block arrived for 4 s" in body, body
    assert missing.encode() in body or b"was not found" in body, body
    # within the deadline (plus scheduling), not before it
    assert TIMEOUT_S - 0.5 <= res["first_s"] < TIMEOUT_S + 3, res["first_s"]
    assert fetches(edge, "timeout") == 1
    assert fetches(edge, "busy") == 1
    assert metric(edge, 'warren_gateway_responses_total{code="504"}') == 1
    assert metric(edge, "warren_gateway_fetches_running") == 0
    edge.wait_for(r"Gateway fetch from the IPFS network done .*result=timeout")


def test_fetched_blocks_are_collected_by_gc(net):
    edge, cid, e_repo = net["edge"], net["cid"], net["e_repo"]
    st, _, body = get(edge, GW, f"/ipfs/{cid}")
    assert st == 200 and body == net["big"]
    assert edge.stop() == 0
    # the edge held the repo shared: gc runs once it is gone, and removes the
    # fetched (unpinned) blocks
    r = w(e_repo, "--offline", "gc", text=True)
    assert r.returncode == 0, r.stderr
    assert w(e_repo, "--offline", "block", "stat", cid).returncode != 0


def links(block):
    """The link hashes of a dag-pb block (PBNode field 2, PBLink field 1)."""
    def fields(b):
        i = 0
        while i < len(b):
            key, i = varint(b, i)
            num, wt = key >> 3, key & 7
            if wt == 0:
                v, i = varint(b, i)
            elif wt == 2:
                n, i = varint(b, i)
                v, i = b[i:i + n], i + n
            else:
                raise AssertionError(f"wire type {wt}")
            yield num, v
    return [dict(fields(v))[1] for num, v in fields(block) if num == 2]


def b58(raw):
    n, out = int.from_bytes(raw, "big"), ""
    while n:
        n, r = divmod(n, 58)
        out = B58[r] + out
    return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + out


def test_a_file_held_in_part_is_completed_mid_response(net):
    """The edge holds the file's root and first leaf only (as after a fetch
    that timed out): the response starts from the store and, at the first
    missing leaf, waits while the rest of the file is fetched, then goes on."""
    edge, cid, big, e_repo = net["edge"], net["cid"], net["big"], net["e_repo"]
    a_repo = net["a"].repo
    root = w(a_repo, "block", "get", cid).stdout
    hashes = links(root)
    assert len(hashes) == 12
    first = w(a_repo, "block", "get", b58(hashes[0])).stdout
    for data in (root, first):
        r = w(e_repo, "--offline", "block", "put", "--cid-codec", "dag-pb", input=data)
        assert r.returncode == 0, r.stderr
    st, hdrs, body = get(edge, GW, f"/ipfs/{cid}")
    assert st == 200 and hdrs["content-length"] == str(len(big))
    assert body == big
    assert fetches(edge, "ok") == 1
    edge.wait_for(r"Gateway fetch from the IPFS network done .*for=rest-of-file result=ok")
    assert not [l for l in edge.lines if "for=request" in l]


def second_edge(net, *flags, yaml=False):
    """Another edge with its own empty repo, bootstrapped from A (by flag,
    or with yaml by the config file's keys)."""
    tmp = net["tmp"] / f"second-{time.monotonic_ns()}"
    tmp.mkdir()
    repo = tmp / "repo"
    assert w(repo, "init").returncode == 0
    a_id = json.loads(w(net["a"].repo, "id").stdout)
    addr = next(x for x in a_id["Addresses"] if "/127.0.0.1/" in x)
    tunnels, _ = create_tunnel(tmp, "other", "other.example.com")
    if yaml:
        conf = tmp / "edge.yml"
        conf.write_text(f"bootstrap: [{addr}]\n" + "".join(
            f"{k.lstrip('-')}: {v}\n" for k, v in zip(flags[::2], flags[1::2])))
        flags = ("--config", conf)
    else:
        flags = ("--bootstrap", addr, *flags)
    edge = Edge(tmp, tunnels, "--repo", repo, "--gateway", GW, *flags)
    return tmp, repo, edge


def test_the_timeout_bounds_progress_not_the_whole_fetch(net):
    """gateway-timeout: 1s (in the YAML config, with bootstrap), and a 128 MiB
    file that takes longer than that to arrive: blocks keep arriving, so it
    is served whole."""
    size = 128 << 20
    f = net["tmp"] / "large.bin"
    with open(f, "wb") as out:
        for _ in range(size >> 20):
            out.write(os.urandom(1 << 20))
    cid = w(net["a"].repo, "add", "-Q", f, text=True, timeout=300).stdout.strip()
    want = hashlib.sha256(f.read_bytes()).hexdigest()
    tmp, repo, edge = second_edge(net, "--gateway-timeout", "1s", yaml=True)
    try:
        edge.wait_for(r"DHT bootstrap done peers=1")
        edge.wait_for(r"Gateway fetches missing blocks from the IPFS network timeoutMs=1000 "
                      r"maxFetches=16")
        h, p = edge.http
        t = time.monotonic()
        r = subprocess.run(["curl", "-sS", "-H", f"Host: {GW}", f"http://{h}:{p}/ipfs/{cid}"],
                           capture_output=True, timeout=120)
        took = time.monotonic() - t
        assert r.returncode == 0, r.stderr
        assert len(r.stdout) == size and hashlib.sha256(r.stdout).hexdigest() == want
        assert took > 1.0, took  # longer than the timeout, yet not cut short
        assert fetches(edge, "ok") == 1 and fetches(edge, "timeout") == 0
    finally:
        edge.stop()


def test_sigterm_with_a_request_waiting_on_the_network(net):
    """A request waits on the network (60 s timeout) when the edge is told to
    stop: after the grace period its connection is closed, the node's
    shutdown wakes the fetch, and the edge exits at once, cleanly."""
    tmp, repo, edge = second_edge(net, "--grace-period", "1s")
    try:
        edge.wait_for(r"DHT bootstrap done peers=1")
        nobody = tmp / "nobody.bin"
        nobody.write_bytes(os.urandom(4096))
        missing = w(repo, "add", "-Q", "-n", nobody, text=True).stdout.strip()
        h, p = edge.http
        curl = subprocess.Popen(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                                 "-H", f"Host: {GW}", f"http://{h}:{p}/ipfs/{missing}"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 5
        while metric(edge, "warren_gateway_fetches_running") < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert metric(edge, "warren_gateway_fetches_running") == 1
        t = time.monotonic()
        assert edge.stop(timeout=15) == 0
        took = time.monotonic() - t
        assert took < 5, took  # the 1 s grace, not the 60 s fetch timeout
        out, _ = curl.communicate(timeout=10)
        assert out.decode() in ("000", "503"), out  # cut, or told the edge is stopping
        deadline = time.monotonic() + 3  # the log reader thread may lag the exit
        while not any("Node stopped" in l for l in edge.lines) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any("Node stopped" in l for l in edge.lines), edge.lines[-20:]
    finally:
        edge.stop()


def test_content_found_through_the_dht(tmp_path):
    """The edge knows only R; A, also bootstrapped from R, holds and announces
    a file. The edge's node learns of A through the DHT (R names it) and the
    gateway serves A's file byte for byte."""
    repos = {k: tmp_path / k for k in ("r", "a", "edge")}
    for r in repos.values():
        assert w(r, "init").returncode == 0
    data = random.Random(5).randbytes(2_000_000)
    (tmp_path / "d.bin").write_bytes(data)
    ds, edge = [], None
    try:
        r = Daemon(repos["r"])
        ds.append(r)
        raddr = next(x for x in json.loads(w(repos["r"], "id").stdout)["Addresses"]
                     if "/127.0.0.1/" in x)
        a = Daemon(repos["a"], "--bootstrap", raddr)
        ds.append(a)
        aid = json.loads(w(repos["a"], "id").stdout)["ID"]
        deadline = time.time() + 10
        while "DHT bootstrap done" not in a.output() and time.time() < deadline:
            time.sleep(0.05)
        cid = w(repos["a"], "add", "-Q", tmp_path / "d.bin", text=True).stdout.strip()
        # A announced it: R names A as its provider.
        deadline = time.time() + 20
        while time.time() < deadline:
            got = w(repos["r"], "routing", "findprovs", cid, text=True).stdout.split()
            if aid in got:
                break
            time.sleep(0.2)
        assert aid in got
        tunnels, _ = create_tunnel(tmp_path, "other", "other.example.com")
        edge = Edge(tmp_path, tunnels, "--repo", repos["edge"], "--gateway", GW,
                    "--bootstrap", raddr, "--gateway-timeout", "20s")
        edge.wait_for(r"DHT bootstrap done")
        st, _, body = get(edge, GW, f"/ipfs/{cid}")
        assert st == 200 and body == data
        assert fetches(edge, "ok") == 1
        # A was never named to the edge: its node reached A through the DHT
        assert not any(aid in str(x) for x in edge.proc.args)
        edge.wait_for(r"peer=" + aid)
    finally:
        if edge:
            edge.stop()
        for d in reversed(ds):
            d.stop()


def test_requests_for_the_same_content_share_one_fetch(net):
    """Five users ask at once for a 32 MiB file only A has, under
    --gateway-fetches 1: one fetch runs, the four others wait on it (none is
    turned away), and all five get the file byte for byte."""
    edge = net["edge"]
    f = net["tmp"] / "popular.bin"
    f.write_bytes(os.urandom(32 << 20))
    want = f.read_bytes()
    cid = w(net["a"].repo, "add", "-Q", f, text=True).stdout.strip()
    h, p = edge.http
    procs = [subprocess.Popen(["curl", "-sS", "-H", f"Host: {GW}", f"http://{h}:{p}/ipfs/{cid}"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(5)]
    outs = [pr.communicate(timeout=120) for pr in procs]
    for pr, (out, err) in zip(procs, outs):
        assert pr.returncode == 0, err
        assert out == want
    assert fetches(edge, "ok") == 1
    assert fetches(edge, "busy") == 0
    assert fetches(edge, "shared") >= 1  # the others came while it ran, or found it local
    assert fetches(edge, "ok") + fetches(edge, "shared") <= 5
