"""The Kademlia DHT (src/routing) against @libp2p/kad-dht 16 from npm with
the Amino protocol /ipfs/kad/1.0.0 (tests/npm-p2p/dht.mjs: server mode, no
bootstrap of its own, loopback addresses kept), and warren nodes among
themselves: providers found both ways knowing only a bootstrap address, a
mixed swarm, /pk/ records, 20 warren nodes with a third killed, and the
provide sweep's cost on a 20-node DHT."""
import hashlib
import os
import signal
import time

from dhtnodes import js_dht, providers, warren_dht

# CIDv1 raw of sha2-256(b) in base32, as `warren add --raw-leaves` names a block.
B32 = "abcdefghijklmnopqrstuvwxyz234567"


def cid_of(data: bytes) -> str:
    raw = bytes([0x01, 0x55, 0x12, 0x20]) + hashlib.sha256(data).digest()
    bits = "".join(f"{b:08b}" for b in raw)
    bits += "0" * (-len(bits) % 5)
    return "b" + "".join(B32[int(bits[i:i + 5], 2)] for i in range(0, len(bits), 5))


def test_js_finds_warren_provider_from_bootstrap_only():
    cid = cid_of(b"warren provides this " + os.urandom(8))
    with warren_dht() as boot, warren_dht() as prov, js_dht() as js:
        assert prov.cmd("bootstrap " + boot.addr)[-1]["err"] == 0
        r = prov.cmd("provide " + cid)[-1]
        assert r["err"] == 0 and r["keys"] == 1 and r["messages"] >= 1, r
        # The JS node knows only the bootstrap node.
        assert js.cmd("dial " + boot.addr)[-1]["table"] >= 1
        got = js.cmd(f"findprovs {cid} 1", timeout=60)
        found = providers(got)
        assert prov.id in found, got
        # with an address JS can dial: warren's own listen address
        want = prov.addr.split("/p2p/")[0]
        assert any(a.split("/p2p/")[0] == want for a in found[prov.id]), found


def test_warren_finds_js_provider_from_bootstrap_only():
    cid = cid_of(b"js provides this " + os.urandom(8))
    with js_dht() as jsboot, js_dht() as jsprov, warren_dht() as w:
        assert jsprov.cmd("dial " + jsboot.addr)[-1]["table"] >= 1
        r = jsprov.cmd("provide " + cid, timeout=60)[-1]
        assert r.get("ok"), r
        # warren knows only the JS bootstrap node.
        assert w.cmd("bootstrap " + jsboot.addr)[-1]["err"] == 0
        got = w.cmd(f"findprovs {cid} 1", timeout=60)
        assert got[-1]["done"] and got[-1]["err"] == 0, got
        found = providers(got)
        assert jsprov.id in found, got
        assert jsprov.addr.split("/p2p/")[0] in found[jsprov.id]
        # and the JS provider's addresses come back by peer ID too
        peers = w.cmd("findpeer " + jsprov.id, timeout=60)[-1]["peers"]
        assert peers and peers[0]["id"] == jsprov.id


def test_mixed_swarm_resolves_both_ways():
    """4 warren and 3 JS nodes, all started from one warren node; each
    provides its own CID; every node finds every provider."""
    nodes = []
    try:
        boot = warren_dht()
        nodes.append(boot)
        for i in range(3):
            nodes.append(warren_dht())
            nodes.append(js_dht())
        for n in nodes[1:]:
            if n.p.args[0].endswith("warren"):
                assert n.cmd("bootstrap " + boot.addr)[-1]["err"] == 0
            else:
                assert n.cmd("dial " + boot.addr)[-1]["table"] >= 1
        cids = {}
        for n in nodes:
            cid = cid_of(b"mixed " + n.id.encode())
            cids[cid] = n.id
            r = n.cmd("provide " + cid, timeout=60)[-1]
            assert r.get("ok") or r.get("err") == 0, r
        for n in nodes:
            for cid, who in cids.items():
                got = n.cmd(f"findprovs {cid} 1", timeout=60)
                assert who in providers(got), (n.id, who, got)
    finally:
        for n in nodes:
            n.stop()


def test_pk_records_between_warren_nodes():
    with warren_dht() as a, warren_dht() as b, warren_dht() as c:
        for n in (b, c):
            assert n.cmd("bootstrap " + a.addr)[-1]["err"] == 0
        assert b.cmd("put-pk")[-1]["err"] == 0
        got = c.cmd("get-pk " + b.id)[-1]
        assert got["err"] == 0
        # the value is b's PublicKey protobuf: Ed25519 (08 01 12 20 || key)
        assert got["value"].startswith("08011220") and len(got["value"]) == 72
        assert c.cmd("get-pk " + c.id)[-1]["err"] != 0  # never put


def start_swarm(n, *extra):
    nodes = [warren_dht(*extra)]
    for i in range(n - 1):
        nodes.append(warren_dht("--bootstrap", nodes[0].addr, *extra))
    for x in nodes[1:]:
        assert x.wait_event("bootstrapped")["err"] == 0
    return nodes


def test_20_nodes_with_a_third_killed():
    t0 = time.time()
    nodes = start_swarm(20)
    try:
        # every node looks itself up once more so the tables fill
        for x in nodes:
            x.cmd("closest " + x.id)
        cids = []
        provs = nodes[:4]
        for i, p in enumerate(provs):
            cs = [cid_of(f"swarm {i} {j}".encode() + os.urandom(4)) for j in range(5)]
            r = p.cmd("provide " + " ".join(cs))[-1]
            assert r["err"] == 0 and r["keys"] == 5, r
            cids += [(c, p.id) for c in cs]
        # kill -9 a third of the others
        victims = nodes[4:11]
        for v in victims:
            os.kill(v.p.pid, signal.SIGKILL)
            v.p.wait()
        alive = [x for x in nodes if x not in victims]
        for x in alive[4:]:
            for c, who in cids[::3]:
                got = x.cmd(f"findprovs {c} 1", timeout=30)
                assert who in providers(got), (x.id, c, got)
        assert time.time() - t0 < 60
    finally:
        for x in nodes:
            x.stop()


def test_provide_sweep_shares_lookups():
    """10,000 keys provided into a 20-node DHT: the sweep needs a handful
    of lookups, not one per key; the numbers are printed for the report."""
    nodes = start_swarm(20)
    try:
        r = nodes[5].cmd("provide-random 10000", timeout=120)[-1]
        assert r["err"] == 0 and r["keys"] == 10000, r
        assert r["lookups"] <= 10, r
        assert r["messages"] >= 10000 * 19 * 0.9, r
        print(f"\nprovide sweep: {r['keys']} keys in {r['ms']:.0f} ms = "
              f"{r['keys'] / (r['ms'] / 1000):.0f} keys/s, {r['lookups']} lookups "
              f"({r['lookups'] / r['keys']:.4f} per key), {r['messages']} ADD_PROVIDER messages")
    finally:
        for x in nodes:
            x.stop()


def test_keys_provided_alone_are_announced_to_the_first_peer():
    """X provides with nobody to tell; Y joins X, and X announces to Y at
    once; X is killed; Z, knowing only Y, still finds X as provider."""
    cid = cid_of(b"lonely " + os.urandom(8))
    with warren_dht() as x, warren_dht() as y, warren_dht() as z:
        r = x.cmd("provide " + cid)[-1]
        assert r["err"] != 0 and r["keys"] == 1, r  # nobody to tell
        assert y.cmd("bootstrap " + x.addr)[-1]["err"] == 0
        deadline = time.time() + 5
        while time.time() < deadline:
            # Y holds X's record once X's reprovide reached it
            got = y.cmd(f"findprovs {cid} 1")
            if x.id in providers(got) and got[0].get("ms", 99) < 1:
                break
            time.sleep(0.1)
        # On a quiet machine Y's lookup can reach X itself within a millisecond,
        # before X's ADD_PROVIDER (sent when Y joined) has landed: give it time.
        time.sleep(1)
        os.kill(x.p.pid, signal.SIGKILL)
        x.p.wait()
        assert z.cmd("bootstrap " + y.addr)[-1]["err"] == 0
        got = z.cmd(f"findprovs {cid} 1")
        assert x.id in providers(got), got


def test_sweep_regions_place_records_where_lookups_look():
    """With k = 4 on 30 nodes a sweep needs several regions; every key's
    record still sits where a lookup for it looks: a client-mode node that
    joined afterwards finds a sample of them."""
    nodes = start_swarm(30, "--k", "4")
    asker = None
    try:
        cids = [cid_of(b"region %d " % i + os.urandom(6)) for i in range(400)]
        r = nodes[3].cmd("provide " + " ".join(cids), timeout=60)[-1]
        assert r["err"] == 0 and r["keys"] == 400, r
        assert 1 < r["lookups"] < 40, r
        assert r["messages"] == 400 * 4, r
        asker = warren_dht("--client", "--k", "4", "--bootstrap", nodes[0].addr)
        assert asker.wait_event("bootstrapped")["err"] == 0
        for c in cids[::10]:
            got = asker.cmd(f"findprovs {c} 1")
            assert nodes[3].id in providers(got), (c, got)
    finally:
        if asker:
            asker.stop()
        for x in nodes:
            x.stop()
