"""warren's libp2p host against js-libp2p 3 from npm (tests/npm-p2p: TCP,
@chainsafe/libp2p-noise, @chainsafe/libp2p-yamux, identify, ping) in both
directions: ping, identify, 200 concurrent echo streams byte for byte, and a
JS peer that sends garbage after the handshake."""
import re
import signal
import time

from conftest import run_warren
from p2pdiag import js_peer, json_lines, warren_listener

WARREN_PROTOCOLS = ["/ipfs/id/1.0.0", "/ipfs/id/push/1.0.0", "/ipfs/ping/1.0.0",
                    "/warren/echo/1.0.0"]


def run_js(*args, timeout=120):
    with js_peer(*args) as js:
        code = js.p.wait(timeout=timeout)
    return code, json_lines(js.lines), js.stderr


def test_js_dials_warren(warren_bin):
    srv, sid, addr = warren_listener()
    with srv:
        code, ev, err = run_js("dial", addr, "--ping", "5", "--streams", "200", "--bytes", "65536")
        assert code == 0, err
        started = ev[0]
        assert started["event"] == "started"
        jid = started["id"]
        # js-libp2p may identify a connection more than once; each must agree.
        ident = [e for e in ev if e["event"] == "identify"]
        assert ident and all(e == dict(ident[0], observedAddr=e["observedAddr"]) for e in ident)
        assert ident[0]["peer"] == sid
        assert ident[0]["agent"] == "warren/0.1.0"
        assert ident[0]["protocolVersion"] == "ipfs/0.1.0"
        assert sorted(ident[0]["protocols"]) == sorted(WARREN_PROTOCOLS)
        assert ident[0]["listenAddrs"] == [addr.split("/p2p/")[0]]
        # What warren saw as the JS peer's address, told back through identify.
        observed = ident[0]["observedAddr"]
        assert re.fullmatch(r"/ip4/127\.0\.0\.1/tcp/\d+", observed)
        pings = [e for e in ev if e["event"] == "ping"]
        assert [p["i"] for p in pings] == [1, 2, 3, 4, 5]
        assert all(0 <= p["rtt_ms"] < 1000 for p in pings)
        streams = [e for e in ev if e["event"] == "streams"][0]
        assert streams["ok"] == 200 and streams["failed"] == 0, streams
        # warren logged the JS peer by the ID JS printed, from the port JS
        # was observed at.
        srv.wait_for(lambda l: l == f"connected {jid} {observed}")


def test_warren_dials_js(warren_bin):
    with js_peer("listen") as js:
        started = json_lines([js.readline(timeout=30)])[0]
        jid = started["id"]
        addr = started["addrs"][0]
        assert addr.endswith("/p2p/" + jid)
        r = run_warren("diag", "p2p", "--dial", addr, "--identify", "--ping", "5",
                       "--streams", "200", "--bytes", "64K", timeout=120)
        assert r.returncode == 0, r.stderr
        out = r.stdout.splitlines()
        wid = out[0].split()[1]
        assert out[1] == f"connected {jid} " + addr.split("/p2p/")[0]
        agent = [l for l in out if l.startswith("identify agent ")][0]
        assert re.fullmatch(r"identify agent js-libp2p/3\.\d+\.\d+ node/22\.\d+\.\d+", agent)
        assert "identify protocol-version ipfs/0.1.0" in out
        protos = {l.split()[2] for l in out if l.startswith("identify protocol ")}
        assert {"/ipfs/id/1.0.0", "/ipfs/ping/1.0.0", "/warren/echo/1.0.0"} <= protos
        assert "identify listen " + addr.split("/p2p/")[0] in out
        observed = [l for l in out if l.startswith("identify observed ")]
        assert len(observed) == 1
        assert re.fullmatch(rf"identify observed /ip4/127\.0\.0\.1/tcp/\d+/p2p/{wid}", observed[0])
        rtts = [float(l.split("rtt_ms=")[1]) for l in out if l.startswith("ping ")]
        assert len(rtts) == 5 and all(0 < x < 1000 for x in rtts)
        assert any(re.fullmatch(r"echo streams=200 bytes=65536 ok=200 failed=0 ms=[0-9.]+", l)
                   for l in out), out
        # JS identified warren too, with warren's protocols and agent.
        ev = json_lines([js.wait_for(lambda l: '"identify"' in l and wid in l)])[0]
        assert ev["agent"] == "warren/0.1.0"
        assert sorted(ev["protocols"]) == sorted(WARREN_PROTOCOLS)


def test_js_garbage_after_handshake(warren_bin):
    srv, sid, addr = warren_listener()
    with srv:
        code, ev, err = run_js("dial", addr, "--garbage")
        assert code == 0, err
        jid = ev[0]["id"]
        names = [e["event"] for e in ev]
        assert "garbage-sent" in names
        # warren hung up on the JS peer...
        after = [e for e in ev if e["event"] == "after-garbage"][0]
        assert after["status"] == "closed"
        line = srv.wait_for(lambda l: l.startswith(f"disconnected {jid} "))
        assert "err=malformed input" in line and "broke the yamux protocol" in line
        # ...and serves the next one.
        code, ev, err = run_js("dial", addr, "--ping", "2", "--streams", "5")
        assert code == 0, err
        assert [e["i"] for e in ev if e["event"] == "ping"] == [1, 2]


def test_frozen_js_peer_dropped_by_keepalive(warren_bin):
    """A peer that stops answering (SIGSTOP: no FIN, no RST) is dropped once a
    keep-alive PING goes unanswered for a period."""
    srv, sid, addr = warren_listener("--keepalive", "300")
    with srv, js_peer("dial", addr, "--stay", "60000") as js:
        jid = json_lines([js.readline(timeout=30)])[0]["id"]
        js.wait_for(lambda l: '"staying"' in l, timeout=30)
        srv.wait_for(lambda l: l.startswith(f"connected {jid} "))
        js.p.send_signal(signal.SIGSTOP)
        t0 = time.time()
        try:
            line = srv.wait_for(lambda l: l.startswith(f"disconnected {jid} "), timeout=10)
        finally:
            js.p.send_signal(signal.SIGCONT)
        assert "err=timed out" in line and "answered no keep-alive PING for 300 ms" in line
        assert time.time() - t0 < 2
