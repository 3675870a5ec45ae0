#!/usr/bin/python3
"""bench/dht.py: providing and finding providers on a local DHT, on loopback.

    /usr/bin/python3 bench/dht.py [--nodes 20] [--keys 10000] [--js-keys 200] [--finds 200]

Starts --nodes `warren diag dht` processes (each bootstraps from the first),
then measures, side by side in one run:
  - warren providing --keys random CIDs in one sweep from one node: keys/s,
    lookups per key and ADD_PROVIDER messages;
  - the same node providing them the way kubo and js kad-dht do, one lookup
    per key (--js-keys of them, extrapolated: `provide CID` one at a time);
  - a js-libp2p node with @libp2p/kad-dht (Amino) joined to the same DHT
    providing --js-keys CIDs one after the other: keys/s;
  - findprovs latency from another warren node (first provider found),
    p50/p95 over --finds CIDs.
"""
import argparse
import os
import pathlib
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests" / "e2e"))
from dhtnodes import js_dht, warren_dht  # noqa: E402
from test_dht import cid_of  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=20)
    ap.add_argument("--keys", type=int, default=10000)
    ap.add_argument("--js-keys", type=int, default=200)
    ap.add_argument("--finds", type=int, default=200)
    ap.add_argument("--k", type=int, default=20,
                    help="bucket size and replication of the warren nodes (below nodes/3, the "
                         "sweep needs several regions)")
    ap.add_argument("--no-js", action="store_true")
    a = ap.parse_args()
    kflag = ("--k", str(a.k))
    nodes = [warren_dht(*kflag)]
    js = None
    try:
        for _ in range(a.nodes - 1):
            nodes.append(warren_dht("--bootstrap", nodes[0].addr, *kflag))
        for x in nodes[1:]:
            assert x.wait_event("bootstrapped")["err"] == 0
        r = nodes[1].cmd(f"provide-random {a.keys}", timeout=600)[-1]
        print(f"warren sweep: {r['keys']} keys in {r['ms']:.0f} ms = "
              f"{r['keys'] / (r['ms'] / 1000):.0f} keys/s; {r['lookups']} lookups "
              f"({r['lookups'] / r['keys']:.5f} per key); {r['messages']} ADD_PROVIDER messages")
        cids = [cid_of(b"one-by-one %d " % i + os.urandom(8)) for i in range(a.js_keys)]
        t0 = time.time()
        for c in cids:
            assert nodes[2].cmd("provide " + c)[-1]["err"] == 0
        dt = time.time() - t0
        print(f"warren one lookup per key: {a.js_keys} keys in {dt * 1000:.0f} ms = "
              f"{a.js_keys / dt:.0f} keys/s")
        js = None if a.no_js else js_dht()
        if js:
            assert js.cmd("dial " + nodes[0].addr)[-1]["table"] >= 1
            time.sleep(1)
        jcids = [cid_of(b"js %d " % i + os.urandom(8)) for i in range(a.js_keys)] if js else []
        t0 = time.time()
        for c in jcids:
            assert js.cmd("provide " + c, timeout=60)[-1].get("ok")
        dt = time.time() - t0
        if js:
            print(f"js kad-dht: {a.js_keys} keys in {dt * 1000:.0f} ms = "
                  f"{a.js_keys / dt:.1f} keys/s")
        # A client-mode node joins last: no provider record was sent to it, so
        # every find goes over the network.
        asker = warren_dht("--client", "--bootstrap", nodes[0].addr, *kflag)
        nodes.append(asker)
        assert asker.wait_event("bootstrapped")["err"] == 0
        lat = []
        for c in (cids + jcids)[: a.finds]:
            got = asker.cmd(f"findprovs {c} 1")
            first = next((o["ms"] for o in got if "provider" in o), None)
            assert first is not None, got
            lat.append(first)
        lat.sort()
        print(f"findprovs (first provider, a client-mode warren node): "
              f"p50 {statistics.median(lat):.2f} ms, p95 {lat[int(len(lat) * 0.95) - 1]:.2f} ms")
    finally:
        if js:
            js.stop()
        for x in nodes:
            x.stop()


if __name__ == "__main__":
    main()
