"""Finding and fetching across warren and JS nodes through the DHT alone
(issue 12): a Helia 7 node (tests/npm-p2p/helia_dht.mjs: @helia/bitswap and
@libp2p/kad-dht with the Amino protocol in server mode) that knows only a
bootstrap peer finds a warren daemon as provider through the DHT, dials it
and fetches a multi-block file byte for byte; a warren daemon that knows only
a JS bootstrap node finds content added to Helia the same way; an IPNS record
made by npm's `ipns` and put with kad-dht is got, validated and resolved by
warren, a forged one is refused, and a record warren's `name publish` puts is
got by the JS node through its DHT and validated with npm's `ipns`."""
import json
import os
import re
import time

from daemon import Daemon
from dhtnodes import helia_dht, js_dht
from test_dht_daemon import node_id, w

CID = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"


def boot_daemon(repo, *flags):
    assert w(repo, "init").returncode == 0
    return Daemon(repo, *flags)


def wait_bootstrapped(d, timeout=15):
    deadline = time.time() + timeout
    while "DHT bootstrap done" not in d.output() and time.time() < deadline:
        time.sleep(0.05)
    assert re.search(r'DHT bootstrap done peers=[1-9]\d* err=""', d.output()), d.output()


def swarm_peers(d):
    return w(d.repo, "swarm", "peers", text=True).stdout


def cut(d, peer):
    """Disconnects d from peer, so only a provider lookup can bring it back."""
    if peer not in swarm_peers(d):
        return
    w(d.repo, "swarm", "disconnect", peer)
    deadline = time.time() + 10
    while peer in swarm_peers(d) and time.time() < deadline:
        time.sleep(0.1)
    assert peer not in swarm_peers(d)


def test_helia_finds_warren_through_the_dht_and_fetches(tmp_path):
    """Daemon A adds a file and announces it; Helia knows only daemon B."""
    size = 5 * 1024 * 1024 + 12345
    data = os.urandom(size)
    f = tmp_path / "f"
    f.write_bytes(data)
    b = boot_daemon(tmp_path / "b")
    a = None
    try:
        baddr = node_id(b.repo)["Addresses"][0]
        a = boot_daemon(tmp_path / "a", "--bootstrap", baddr)
        wait_bootstrapped(a)
        aid = node_id(a.repo)["ID"]
        # kubo's layout: CIDv0, 256 KiB dag-pb leaves (21 of them and a root).
        r = w(a.repo, "add", "-Q", f, text=True)
        assert r.returncode == 0, r.stderr
        cid = r.stdout.strip()
        # A's background announce reached B.
        deadline = time.time() + 20
        while aid not in w(b.repo, "routing", "findprovs", cid, text=True).stdout.split():
            assert time.time() < deadline, "B never learnt A's provider record"
            time.sleep(0.2)
        with helia_dht() as h:
            assert h.cmd("dial " + baddr)[-1]["table"] >= 1
            assert aid not in h.cmd("peers")[-1]["peers"]
            out = tmp_path / "out"
            got = h.cmd(f"fetch {cid} {out} 60000", timeout=90)[-1]
            assert got.get("bytes") == size, got
            assert out.read_bytes() == data
            print(f"\nHelia found A through the DHT and fetched {size} bytes in {got['ms']} ms")
            # Helia dialled A itself: the provider record gave it A's address.
            assert aid in h.cmd("peers")[-1]["peers"]
        # B never held the file: every block came from A.
        r = w(b.repo, "--offline", "cat", cid)
        assert r.returncode != 0 and b"not in the store" in r.stderr, r.stderr
    finally:
        for d in (a, b):
            if d:
                d.stop()


def test_warren_finds_helia_through_the_dht_and_fetches(tmp_path):
    """Helia adds a file and provides it into the DHT of a JS bootstrap node
    (kad-dht, not Helia); daemon A knows only that bootstrap node."""
    size = 3 * 1024 * 1024 + 777
    data = os.urandom(size)
    f = tmp_path / "g"
    f.write_bytes(data)
    a = None
    with js_dht() as boot, helia_dht() as h:
        try:
            assert h.cmd("dial " + boot.addr)[-1]["table"] >= 1
            cid = h.cmd(f"add {f}")[-1]["cid"]
            assert h.cmd("provide " + cid, timeout=60)[-1].get("ok")
            a = boot_daemon(tmp_path / "a", "--bootstrap", boot.addr)
            wait_bootstrapped(a)
            # The bootstrap's lookups may have connected A to Helia: cut that.
            cut(a, h.id)
            r = w(a.repo, "--offline", "cat", cid)
            assert r.returncode != 0 and b"not in the store" in r.stderr, r.stderr
            t0 = time.time()
            r = w(a.repo, "--timeout", "60s", "cat", cid, timeout=90)
            assert r.returncode == 0, (r.stderr, a.output())
            assert r.stdout == data
            print(f"\nwarren found Helia through the DHT and fetched {size} bytes "
                  f"in {time.time() - t0:.2f}s")
            assert h.id in swarm_peers(a)
            assert boot.id not in w(a.repo, "routing", "findprovs", cid, text=True).stdout
        finally:
            if a:
                a.stop()


def test_ipns_record_from_js_through_the_dht(tmp_path):
    """Helia's kad-dht puts a record npm's `ipns` signed into daemon B; daemon
    C, started afterwards knowing only B, gets the same bytes with `routing
    get`, resolves the name, and a forged record is refused."""
    b = boot_daemon(tmp_path / "b")
    c = None
    try:
        baddr = node_id(b.repo)["Addresses"][0]
        with helia_dht() as h:
            assert h.cmd("dial " + baddr)[-1]["table"] >= 1
            put = h.cmd(f"put-ipns /ipfs/{CID}/js 7", timeout=60)[-1]
            assert put.get("acks", 0) >= 1, put
            name, record = put["name"], bytes.fromhex(put["record"])
            assert name.startswith("k51")
            # A forgery: the same record with its value changed (the V2
            # signature no longer verifies); B's validator refuses it.
            i = record.rfind(b"/js")
            forged = record[:i + 1] + b"x" + record[i + 2:]
            bad = h.cmd(f"put-raw {name} {forged.hex()}", timeout=60)[-1]
            assert bad.get("acks") == 0, bad
        c = boot_daemon(tmp_path / "c", "--bootstrap", baddr)
        wait_bootstrapped(c)
        r = w(c.repo, "routing", "get", f"/ipns/{name}")
        assert r.returncode == 0, (r.stderr, c.output())
        assert r.stdout == record
        r = w(c.repo, "name", "resolve", name, text=True)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == f"/ipfs/{CID}/js"
        rec = tmp_path / "js.rec"
        rec.write_bytes(record)
        r = w(c.repo, "name", "inspect", "--verify", name, rec)
        assert r.returncode == 0, r.stderr
        assert b"Sequence: 7" in r.stdout and b"Valid: true" in r.stdout, r.stdout
    finally:
        for d in (c, b):
            if d:
                d.stop()


def test_ipns_record_from_warren_through_the_dht(tmp_path):
    """Daemon A's `name publish` puts its record into the DHT (A bootstrapped
    from B); a Helia node that knows only B gets it with kad-dht and npm's
    `ipns` validates it; the bytes are A's record."""
    b = boot_daemon(tmp_path / "b")
    a = None
    try:
        baddr = node_id(b.repo)["Addresses"][0]
        a = boot_daemon(tmp_path / "a", "--bootstrap", baddr)
        wait_bootstrapped(a)
        kid = w(a.repo, "key", "gen", "site", text=True).stdout.strip()
        r = w(a.repo, "name", "publish", "--key", "site", f"/ipfs/{CID}/warren", text=True)
        assert r.returncode == 0, r.stderr
        mine = w(a.repo, "name", "get", "site").stdout
        with helia_dht() as h:
            assert h.cmd("dial " + baddr)[-1]["table"] >= 1
            got = h.cmd("get-ipns " + kid, timeout=60)[-1]
            assert "error" not in got, got
            assert got["value"] == f"/ipfs/{CID}/warren"
            assert got["sequence"] == "0"
            assert bytes.fromhex(got["record"]) == mine
            # A new value: the next sequence wins in the JS node's DHT too.
            r = w(a.repo, "name", "publish", "--key", "site", f"/ipfs/{CID}/v2", text=True)
            assert r.returncode == 0, r.stderr
            got = h.cmd("get-ipns " + kid, timeout=60)[-1]
            assert got.get("value") == f"/ipfs/{CID}/v2", got
            assert got["sequence"] == "1"
    finally:
        for d in (a, b):
            if d:
                d.stop()
