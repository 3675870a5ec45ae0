"""warren's libp2p host against itself and against misbehaving raw TCP
clients: peer IDs, ping, identify, echo streams, handshake timeout, garbage,
connection limits, a dialed peer that is not who the address says."""
import re
import socket
import time

from conftest import run_warren
from p2pdiag import warren_listener


def test_dial_identify_ping_streams(warren_bin):
    srv, sid, addr = warren_listener()
    with srv:
        assert re.fullmatch(r"12D3KooW[1-9A-HJ-NP-Za-km-z]{44}", sid)
        assert addr.startswith("/ip4/127.0.0.1/tcp/") and addr.endswith("/p2p/" + sid)
        r = run_warren("diag", "p2p", "--dial", addr, "--identify", "--ping", "3",
                       "--streams", "50", "--bytes", "200K", timeout=60)
        assert r.returncode == 0, r.stderr
        out = r.stdout.splitlines()
        cid = out[0].split()[1]
        assert f"connected {sid} " + addr.split("/p2p/")[0] in out
        assert "identify agent warren/0.1.0" in out
        for p in ["/ipfs/id/1.0.0", "/ipfs/id/push/1.0.0", "/ipfs/ping/1.0.0", "/warren/echo/1.0.0"]:
            assert f"identify protocol {p}" in out
        assert "identify listen " + addr.split("/p2p/")[0] in out
        observed = [l for l in out if l.startswith("identify observed /ip4/127.0.0.1/tcp/")]
        assert len(observed) == 1
        rtts = [float(l.split("rtt_ms=")[1]) for l in out if l.startswith("ping ")]
        assert len(rtts) == 3 and all(0 < x < 1000 for x in rtts)
        assert any(re.fullmatch(r"echo streams=50 bytes=204800 ok=50 failed=0 ms=[0-9.]+", l)
                   for l in out), out
        # The listener saw the dialer by the same peer ID.
        srv.wait_for(lambda l: l.startswith(f"connected {cid} "))


def test_wrong_peer_id_refused(warren_bin):
    srv, sid, addr = warren_listener()
    other, oid, _ = warren_listener()
    with srv, other:
        wrong = addr.split("/p2p/")[0] + "/p2p/" + oid
        r = run_warren("diag", "p2p", "--dial", wrong, "--ping", "1", timeout=30)
        assert r.returncode == 1
        assert f"dialed peer {oid} but {sid} answered" in r.stderr


def wait_closed(s):
    """Reads until the peer closes (FIN or RST); returns the bytes read."""
    data = b""
    while True:
        try:
            d = s.recv(4096)
        except ConnectionResetError:
            return data
        if not d:
            return data
        data += d


def test_handshake_timeout_garbage_and_limit(warren_bin):
    srv, sid, addr = warren_listener("--handshake-timeout", "700", "--max-conns", "3")
    port = int(addr.split("/")[4])
    with srv:
        # A client that connects and says nothing is dropped after the timeout.
        t0 = time.time()
        s = socket.create_connection(("127.0.0.1", port))
        s.settimeout(5)
        assert wait_closed(s) == b"\x13/multistream/1.0.0\n"
        assert 0.6 < time.time() - t0 < 3
        s.close()
        # Garbage instead of multistream-select, or another version of it:
        # dropped at once, not at the timeout.
        for junk in [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 10, b"\x13/multistream/2.0.0\n",
                     b"\x13/multistream/1.0.0\n\x05/tls\n\x07/noise\n" + bytes(range(256))]:
            s = socket.create_connection(("127.0.0.1", port))
            s.settimeout(5)
            s.sendall(junk)
            t0 = time.time()
            wait_closed(s)
            assert time.time() - t0 < 0.5, junk
            s.close()
        # Past --max-conns idle connections, the next one is refused.
        # (The connections dropped above count until the host has cleaned
        # them up, a loop turn or two later: retry until three are held.)
        held = []
        for _ in range(30):
            if len(held) == 3:
                break
            h = socket.create_connection(("127.0.0.1", port))
            h.settimeout(5)
            try:
                if h.recv(100) == b"\x13/multistream/1.0.0\n":  # accepted
                    held.append(h)
                    continue
            except ConnectionResetError:
                pass
            h.close()
            time.sleep(0.1)
        assert len(held) == 3
        extra = socket.create_connection(("127.0.0.1", port))
        extra.settimeout(5)
        assert wait_closed(extra) == b""
        for h in held:
            h.close()
        extra.close()
        # It still serves a real peer afterwards.
        time.sleep(1)
        r = run_warren("diag", "p2p", "--dial", addr, "--ping", "2", timeout=30)
        assert r.returncode == 0, r.stderr
    err = srv.stderr
    assert "Connection refused: too many connections" in err


def test_key_file_keeps_identity(warren_bin, tmp_path):
    key = tmp_path / "k"
    ids = []
    for _ in range(2):
        r = run_warren("diag", "p2p", "--key", key, "--listen", "/ip4/127.0.0.1/tcp/0",
                       "--dial", "/ip4/127.0.0.1/tcp/1", "--timeout", "2000")
        ids.append(r.stdout.splitlines()[0])
    assert ids[0] == ids[1] and ids[0].startswith("id 12D3KooW")
    assert (key.stat().st_mode & 0o777) == 0o600
    assert key.stat().st_size == 68 and key.read_bytes()[:4] == b"\x08\x01\x12\x40"


def test_ipv6_loopback(warren_bin):
    srv = None
    from p2pdiag import Proc
    from conftest import WARREN
    with Proc([WARREN, "diag", "p2p", "--listen", "/ip6/::1/tcp/0"]) as srv:
        sid = srv.readline().split()[1]
        addr = srv.wait_for(lambda l: l.startswith("listen ")).split()[1]
        assert addr.startswith("/ip6/::1/tcp/") and addr.endswith(sid)
        r = run_warren("diag", "p2p", "--dial", addr, "--identify", "--ping", "1", timeout=30)
        assert r.returncode == 0, r.stderr
        assert any(l.startswith("identify observed /ip6/::1/tcp/") for l in r.stdout.splitlines())
