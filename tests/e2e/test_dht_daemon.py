"""The DHT in `warren daemon`: `warren add` announces what it added, and
`warren routing findprovs|findpeer|provide|get|put` and kubo's
/api/v0/routing/* answer through the daemon, with a js-libp2p node running
@libp2p/kad-dht (Amino, tests/npm-p2p/dht.mjs) on the same DHT."""
import base64
import json
import os
import subprocess
import time

import pytest

from conftest import ROOT, WARREN, curl
from daemon import Daemon
from dhtnodes import js_dht, providers

NPM_RPC = ROOT / "tests" / "npm-rpc"


def w(repo, *args, timeout=60, **kw):
    return subprocess.run([str(WARREN), "--repo", str(repo), *map(str, args)],
                          capture_output=True, timeout=timeout, **kw)


def node_id(repo):
    return json.loads(w(repo, "id").stdout)


@pytest.fixture
def two(tmp_path):
    """Daemon A, and daemon B started with A as its bootstrap peer."""
    a_repo, b_repo = tmp_path / "a", tmp_path / "b"
    for r in (a_repo, b_repo):
        assert w(r, "init").returncode == 0
    a = Daemon(a_repo)
    b = None
    try:
        aid = node_id(a_repo)
        b = Daemon(b_repo, "--bootstrap", aid["Addresses"][0])
        deadline = time.time() + 10
        while "DHT bootstrap done" not in b.output() and time.time() < deadline:
            time.sleep(0.05)
        assert "DHT bootstrap done peers=1" in b.output(), b.output()
        yield a, b, aid
    finally:
        for d in (a, b):
            if d:
                d.stop()


def test_add_is_found_by_js_and_by_another_daemon(two, tmp_path):
    a, b, aid = two
    f = tmp_path / "hello.txt"
    f.write_bytes(b"found through the DHT " + os.urandom(16))
    cid = w(a.repo, "add", "-Q", "--cid-version", "1", f, text=True).stdout.strip()
    assert cid.startswith("bafk"), cid
    # B finds A through the CLI (A announced the add in the background)
    deadline = time.time() + 10
    while True:
        r = w(b.repo, "routing", "findprovs", cid, text=True)
        assert r.returncode == 0, r.stderr
        if aid["ID"] in r.stdout.split() or time.time() > deadline:
            break
        time.sleep(0.2)
    assert r.stdout.split() == [aid["ID"]]
    # the API's answer in kubo's shape: one Provider event (Type 4) per line
    body = curl("-X", "POST", f"{b.url}/api/v0/routing/findprovs?arg={cid}&num-providers=1")
    ev = [json.loads(l) for l in body.stdout.splitlines()]
    assert ev[0]["Type"] == 4 and ev[0]["ID"] == "" and ev[0]["Extra"] == ""
    assert ev[0]["Responses"][0]["ID"] == aid["ID"]
    assert ev[0]["Responses"][0]["Addrs"] == [aid["Addresses"][0].split("/p2p/")[0]]
    # findpeer: A's listen address
    r = w(b.repo, "routing", "findpeer", aid["ID"], text=True)
    assert r.returncode == 0 and r.stdout.split() == [aid["Addresses"][0].split("/p2p/")[0]], r
    # a JS node that knows only A finds A as provider
    with js_dht() as js:
        assert js.cmd("dial " + aid["Addresses"][0])[-1]["table"] >= 1
        got = js.cmd(f"findprovs {cid} 1", timeout=60)
        assert aid["ID"] in providers(got), got


def test_daemon_finds_js_provider(two):
    a, b, aid = two
    cid = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
    with js_dht() as js:
        assert js.cmd("dial " + aid["Addresses"][0])[-1]["table"] >= 1
        assert js.cmd("provide " + cid, timeout=60)[-1].get("ok")
        r = w(b.repo, "routing", "findprovs", cid, text=True)
        assert r.returncode == 0 and js.id in r.stdout.split(), (r.stdout, r.stderr)


def test_provide_get_put(two, tmp_path):
    a, b, aid = two
    f = tmp_path / "x"
    f.write_bytes(os.urandom(100))
    cid = w(a.repo, "--offline", "add", "-Q", f, text=True).stdout.strip()
    r = w(a.repo, "routing", "provide", cid, text=True)
    assert r.returncode == 0, r.stderr
    r = w(b.repo, "routing", "findprovs", cid, text=True)
    assert r.stdout.split() == [aid["ID"]]
    # a block the node does not hold is refused, as kubo
    missing = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    r = w(a.repo, "routing", "provide", missing, text=True)
    assert r.returncode != 0 and "not found locally" in r.stderr
    # /pk/: A puts its public key, B gets the same bytes back
    pk = base64.b64decode(aid["PublicKey"])
    kf = tmp_path / "pk"
    kf.write_bytes(pk)
    r = w(a.repo, "routing", "put", f"/pk/{aid['ID']}", kf, text=True)
    assert r.returncode == 0, r.stderr
    r = w(b.repo, "routing", "get", f"/pk/{aid['ID']}")
    assert r.returncode == 0 and r.stdout == pk, r.stderr
    # a key that does not hash to the ID is refused
    bid = node_id(b.repo)["ID"]
    r = w(a.repo, "routing", "put", f"/pk/{bid}", kf, text=True)
    assert r.returncode != 0 and "not valid" in r.stderr, r.stderr
    # /ipns/ has its validator (src/proto/ipns): a public key is no record
    r = w(a.repo, "routing", "put", f"/ipns/{aid['ID']}", kf, text=True)
    assert r.returncode != 0 and "not valid" in r.stderr, r.stderr


def test_provider_records_survive_a_restart(tmp_path):
    """A JS node announces a CID to the daemon (its only peer) and goes; the
    daemon restarts and still answers for it from the repo."""
    repo = tmp_path / "a"
    assert w(repo, "init").returncode == 0
    cid = "bafkreidgvpkjawlxz6sffxzwgooowe5yt7i6wsyg236mfoks77nywkptdq"
    d = Daemon(repo)
    try:
        aid = node_id(repo)
        with js_dht() as js:
            assert js.cmd("dial " + aid["Addresses"][0])[-1]["table"] >= 1
            assert js.cmd("provide " + cid, timeout=60)[-1].get("ok")
            jid = js.id
        # no wait: records not yet written (every 2 s) are written on stop
    finally:
        assert d.stop() == 0
    d = Daemon(repo)
    try:
        assert "Provider records restored records=1" in d.output(), d.output()
        aid = node_id(repo)
        with js_dht() as js:
            assert js.cmd("dial " + aid["Addresses"][0])[-1]["table"] >= 1
            got = js.cmd(f"findprovs {cid} 1", timeout=60)
            assert jid in providers(got), got
    finally:
        d.stop()


def test_bootstrap_from_the_repo_config(tmp_path):
    """kubo's Bootstrap list in <repo>/config: the TCP address with a peer ID
    is used, a /dnsaddr one is skipped with a warning."""
    a_repo, b_repo = tmp_path / "a", tmp_path / "b"
    for r in (a_repo, b_repo):
        assert w(r, "init").returncode == 0
    a = Daemon(a_repo)
    b = None
    try:
        aid = node_id(a_repo)
        dnsaddr = "/dnsaddr/bootstrap.libp2p.io/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN"
        (b_repo / "config").write_text(json.dumps({"Bootstrap": [dnsaddr, aid["Addresses"][0]]}))
        b = Daemon(b_repo)
        deadline = time.time() + 10
        while "DHT bootstrap done" not in b.output() and time.time() < deadline:
            time.sleep(0.05)
        out = b.output()
        assert "DHT bootstrap done peers=1" in out, out
        assert "Skipping a bootstrap address warren cannot dial yet address=" + dnsaddr in out
        r = w(b_repo, "routing", "findpeer", aid["ID"], text=True)
        assert r.returncode == 0 and r.stdout.split() == [aid["Addresses"][0].split("/p2p/")[0]]
    finally:
        for d in (a, b):
            if d:
                d.stop()


def test_kubo_rpc_client_routing(two, tmp_path):
    """npm's kubo-rpc-client reads the routing answers (QueryEvent ndjson)."""
    a, b, aid = two
    f = tmp_path / "k"
    f.write_bytes(os.urandom(64))
    cid = w(a.repo, "--offline", "add", "-Q", "--cid-version", "1", f, text=True).stdout.strip()
    bid = node_id(b.repo)
    r = subprocess.run(["node", "routing.mjs", a.url, cid, bid["ID"], aid["ID"], aid["PublicKey"]],
                       cwd=NPM_RPC, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["provide"] == ["SENDING_QUERY"]
    assert [p["id"] for p in out["provs"]] == [aid["ID"]]
    assert out["provs"][0]["addrs"] == [aid["Addresses"][0].split("/p2p/")[0]]
    assert out["peer"] == {"id": bid["ID"], "addrs": [bid["Addresses"][0].split("/p2p/")[0]]}
    assert out["put"] == ["VALUE"]
    assert out["get"] == aid["PublicKey"]
