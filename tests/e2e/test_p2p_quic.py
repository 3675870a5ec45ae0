"""warren's libp2p QUIC transport (/udp/P/quic-v1, libp2p TLS) against js-libp2p 3
with @chainsafe/libp2p-quic from npm (tests/npm-p2p), in both directions:
ping, identify, 200 concurrent echo streams byte for byte; warren to warren
with a wrong peer ID refused; a listener on 0.0.0.0 dialled at 127.0.0.2
answers from 127.0.0.2 (the QUIC client drops anything else); the daemon
serves QUIC swarm addresses from flags and from kubo's config."""
import json
import re
import subprocess

from conftest import WARREN, run_warren
from daemon import Daemon
from p2pdiag import js_peer, json_lines, warren_listener

WARREN_PROTOCOLS = ["/ipfs/id/1.0.0", "/ipfs/id/push/1.0.0", "/ipfs/ping/1.0.0",
                    "/warren/echo/1.0.0"]
QUIC = r"/udp/\d+/quic-v1"


def run_js(*args, timeout=120):
    with js_peer(*args) as js:
        code = js.p.wait(timeout=timeout)
    return code, json_lines(js.lines), js.stderr


def test_js_dials_warren_over_quic_at_a_second_address(warren_bin):
    srv, sid, addr = warren_listener(listen="/ip4/0.0.0.0/udp/0/quic-v1")
    with srv:
        m = re.fullmatch(rf"/ip4/(\d+\.\d+\.\d+\.\d+)/udp/(\d+)/quic-v1/p2p/{sid}", addr)
        assert m, addr
        port = m.group(2)
        # Dial the wildcard listener at 127.0.0.2: replies must come from there.
        target = f"/ip4/127.0.0.2/udp/{port}/quic-v1/p2p/{sid}"
        code, ev, err = run_js("dial", target, "--ping", "5", "--streams", "200",
                               "--bytes", "65536")
        assert code == 0, (err, ev)
        jid = ev[0]["id"]
        opened = [e for e in ev if e["event"] == "connection:open"]
        assert opened and opened[0]["remote"] == target
        ident = [e for e in ev if e["event"] == "identify"]
        assert ident and ident[0]["peer"] == sid
        assert ident[0]["agent"] == "warren/0.1.0"
        assert sorted(ident[0]["protocols"]) == sorted(WARREN_PROTOCOLS)
        assert f"/ip4/127.0.0.1/udp/{port}/quic-v1" in ident[0]["listenAddrs"]
        assert all(re.fullmatch(rf"/ip4/[\d.]+/udp/{port}/quic-v1", a)
                   for a in ident[0]["listenAddrs"]), ident[0]["listenAddrs"]
        observed = ident[0]["observedAddr"]
        assert re.fullmatch(rf"/ip4/127\.0\.0\.1{QUIC}", observed), observed
        pings = [e for e in ev if e["event"] == "ping"]
        assert [p["i"] for p in pings] == [1, 2, 3, 4, 5]
        assert all(0 <= p["rtt_ms"] < 1000 for p in pings)
        streams = [e for e in ev if e["event"] == "streams"][0]
        assert streams["ok"] == 200 and streams["failed"] == 0, streams
        srv.wait_for(lambda l: l == f"connected {jid} {observed}")


def test_warren_dials_js_over_quic(warren_bin):
    with js_peer("listen", "--quic") as js:
        started = json_lines([js.readline(timeout=30)])[0]
        jid = started["id"]
        addr = started["addrs"][0]
        assert re.fullmatch(rf"/ip4/127\.0\.0\.1{QUIC}/p2p/{jid}", addr), addr
        r = run_warren("diag", "p2p", "--dial", addr, "--identify", "--ping", "5",
                       "--streams", "200", "--bytes", "64K", timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        out = r.stdout.splitlines()
        wid = out[0].split()[1]
        assert out[1] == f"connected {jid} " + addr.split("/p2p/")[0]
        agent = [l for l in out if l.startswith("identify agent ")][0]
        assert re.fullmatch(r"identify agent js-libp2p/3\.\d+\.\d+ node/22\.\d+\.\d+", agent)
        protos = {l.split()[2] for l in out if l.startswith("identify protocol ")}
        assert {"/ipfs/id/1.0.0", "/ipfs/ping/1.0.0", "/warren/echo/1.0.0"} <= protos
        assert "identify listen " + addr.split("/p2p/")[0] in out
        observed = [l for l in out if l.startswith("identify observed ")]
        assert len(observed) == 1
        assert re.fullmatch(rf"identify observed /ip4/127\.0\.0\.1{QUIC}/p2p/{wid}", observed[0])
        rtts = [float(l.split("rtt_ms=")[1]) for l in out if l.startswith("ping ")]
        assert len(rtts) == 5 and all(0 < x < 1000 for x in rtts)
        assert any(re.fullmatch(r"echo streams=200 bytes=65536 ok=200 failed=0 ms=[0-9.]+", l)
                   for l in out), out
        ev = json_lines([js.wait_for(lambda l: '"identify"' in l and wid in l)])[0]
        assert ev["agent"] == "warren/0.1.0"
        assert sorted(ev["protocols"]) == sorted(WARREN_PROTOCOLS)
        assert re.fullmatch(rf"/ip4/127\.0\.0\.1{QUIC}", ev["observedAddr"])


def test_warren_to_warren_quic_and_a_wrong_peer_id(warren_bin):
    srv, sid, addr = warren_listener(listen="/ip4/127.0.0.1/udp/0/quic-v1")
    with srv:
        r = run_warren("diag", "p2p", "--dial", addr, "--identify", "--ping", "3",
                       "--streams", "50", "--bytes", "256K", timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        out = r.stdout.splitlines()
        assert out[1] == f"connected {sid} " + addr.split("/p2p/")[0]
        assert "identify agent warren/0.1.0" in out
        assert any(re.fullmatch(r"echo streams=50 bytes=262144 ok=50 failed=0 ms=[0-9.]+", l)
                   for l in out), out
        # The certificate proves another peer than the one asked for.
        other = "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq"
        wrong = addr.split("/p2p/")[0] + "/p2p/" + other
        r = run_warren("diag", "p2p", "--dial", wrong, "--ping", "1", timeout=30)
        assert r.returncode != 0
        assert f"dialed peer {other} but {sid} answered" in r.stdout + r.stderr


def daemon_id(repo):
    r = subprocess.run([str(WARREN), "--repo", str(repo), "id"], capture_output=True, text=True,
                       timeout=30)
    return json.loads(r.stdout)


def js_pings(addr):
    code, ev, err = run_js("dial", addr, "--ping", "2", timeout=60)
    assert code == 0, err
    assert [e["i"] for e in ev if e["event"] == "ping"] == [1, 2]
    ident = [e for e in ev if e["event"] == "identify"]
    assert ident and ident[0]["agent"] == "warren/0.1.0"


def test_daemon_serves_quic_from_the_flag(tmp_path, warren_bin):
    repo = tmp_path / "repo"
    assert subprocess.run([str(WARREN), "--repo", str(repo), "init"]).returncode == 0
    d = Daemon(repo, "--swarm", "/ip4/127.0.0.1/udp/0/quic-v1")
    try:
        me = daemon_id(repo)
        assert len(me["Addresses"]) == 1
        addr = me["Addresses"][0]
        assert re.fullmatch(rf"/ip4/127\.0\.0\.1{QUIC}/p2p/{me['ID']}", addr), addr
        js_pings(addr)
    finally:
        d.stop()


def test_daemon_serves_quic_from_kubos_config(tmp_path, warren_bin):
    repo = tmp_path / "repo"
    assert subprocess.run([str(WARREN), "--repo", str(repo), "init"]).returncode == 0
    # kubo's shape: TCP and QUIC served, WebTransport skipped with a warning.
    cfg = {"Addresses": {"Swarm": ["/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1",
                                   "/ip4/127.0.0.1/udp/0/quic-v1/webtransport"]}}
    (repo / "config").write_text(json.dumps(cfg))
    d = Daemon(repo, default_swarm=False)
    try:
        me = daemon_id(repo)
        addrs = me["Addresses"]
        assert len(addrs) == 2, addrs
        assert re.fullmatch(rf"/ip4/127\.0\.0\.1/tcp/\d+/p2p/{me['ID']}", addrs[0])
        assert re.fullmatch(rf"/ip4/127\.0\.0\.1{QUIC}/p2p/{me['ID']}", addrs[1])
        js_pings(addrs[1])
        js_pings(addrs[0])
        log = d.output()
        skipped = [l for l in log.splitlines() if "Skipping a swarm address" in l]
        assert len(skipped) == 1 and "/quic-v1/webtransport" in skipped[0], log
    finally:
        d.stop()


def free_udp_port():
    import socket
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind(("::", 0))
        return s.getsockname()[1]


def test_ip4_and_ip6_quic_listeners_share_a_port(warren_bin):
    # kubo's defaults listen on UDP 4001 twice, /ip4 and /ip6: the IPv6
    # endpoint must not take IPv4 too.
    port = free_udp_port()
    srv, sid, _ = warren_listener("--listen", f"/ip6/::/udp/{port}/quic-v1",
                                  listen=f"/ip4/0.0.0.0/udp/{port}/quic-v1")
    with srv:
        for host in ("/ip4/127.0.0.1", "/ip6/::1"):
            addr = f"{host}/udp/{port}/quic-v1"
            r = run_warren("diag", "p2p", "--dial", f"{addr}/p2p/{sid}", "--ping", "2",
                           timeout=30)
            assert r.returncode == 0, r.stdout + r.stderr
            out = r.stdout.splitlines()
            assert out[1] == f"connected {sid} {addr}"
            assert len([l for l in out if l.startswith("ping ")]) == 2
