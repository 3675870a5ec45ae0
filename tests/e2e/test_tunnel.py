"""The QUIC tunnel end to end: curl -> warren edge -> QUIC -> warren tunnel run -> origin.py."""
import base64
import concurrent.futures
import hashlib
import json
import os
import socket
import subprocess

import pytest

from conftest import curl, run_warren
from origin import pattern_sha256
from tunnelenv import Proc, TunnelEnv, free_port


@pytest.fixture
def tunnel(tmp_path):
    env = TunnelEnv(tmp_path)
    yield env
    env.close()


def sha(b):
    return hashlib.sha256(b).hexdigest()


def test_get_and_post_small(tunnel):
    r = curl("-f", *tunnel.curl_args("/hello"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"Hello from the origin\n"
    body = os.urandom(1024)
    r = subprocess.run(["curl", "-sSf", "--data-binary", "@-", *tunnel.curl_args("/sha256")],
                       input=body, capture_output=True, timeout=30)
    assert r.stdout.decode().split() == [sha(body), "1024"]


def test_forwarded_headers(tunnel):
    r = curl("-f", "-H", "X-Custom: yes", *tunnel.curl_args("/headers?x=1"))
    info = json.loads(r.stdout)
    h = {k.lower(): v for k, v in info["headers"]}
    assert info["path"] == "/headers?x=1"
    assert h["x-custom"] == "yes"
    assert h["x-forwarded-for"] == "127.0.0.1"
    assert h["x-forwarded-proto"] == "http"
    assert "for=127.0.0.1" in h["forwarded"]
    assert h["host"].startswith(tunnel.host)


def test_large_download_and_upload(tunnel, tmp_path):
    n = 200 * 1024 * 1024
    r = subprocess.run(["curl", "-sSf", *tunnel.curl_args(f"/bytes/{n}")], capture_output=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout) == n and sha(r.stdout) == pattern_sha256(n)
    big = tmp_path / "big"
    with open(big, "wb") as f:
        f.write(r.stdout)
    r = subprocess.run(["curl", "-sSf", "--data-binary", f"@{big}",
                        *tunnel.curl_args("/sha256")], capture_output=True, timeout=300)
    assert r.stdout.decode().split() == [pattern_sha256(n), str(n)]


def test_chunked_both_ways(tunnel, tmp_path):
    r = curl("-f", "-D", tmp_path / "h", *tunnel.curl_args("/chunked/1000000"))
    assert sha(r.stdout) == pattern_sha256(1000000)
    body = os.urandom(300000)
    (tmp_path / "b").write_bytes(body)
    r = curl("-f", "-H", "Transfer-Encoding: chunked", "--data-binary", f"@{tmp_path / 'b'}",
             *tunnel.curl_args("/sha256"))
    assert r.stdout.decode().split() == [sha(body), "300000"]


def test_100_concurrent_requests(tunnel):
    def one(i):
        r = subprocess.run(["curl", "-sSf", *tunnel.curl_args(f"/bytes/{1000 + i}")],
                           capture_output=True, timeout=60)
        return r.returncode, r.stdout

    with concurrent.futures.ThreadPoolExecutor(100) as pool:
        results = list(pool.map(one, range(100)))
    for i, (rc, out) in enumerate(results):
        assert rc == 0 and sha(out) == pattern_sha256(1000 + i), i


def test_websocket_echo(tunnel):
    s = socket.create_connection(("127.0.0.1", tunnel.http_port), 5)
    s.settimeout(10)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /ws HTTP/1.1\r\nHost: {tunnel.host}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    assert head.startswith(b"HTTP/1.1 101"), head
    want = base64.b64encode(hashlib.sha1(
        (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
    assert b"Sec-WebSocket-Accept: " + want in head
    for msg in (b"hello", os.urandom(70000)):
        mask = os.urandom(4)
        n = len(msg)
        hdr = bytes([0x82]) + (bytes([0x80 | n]) if n < 126 else
                               bytes([0x80 | 127]) + n.to_bytes(8, "big"))
        s.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(msg)))
        got = b""
        need = 2 + (0 if n < 126 else 8) + n
        while len(got) < need:
            got += s.recv(65536)
        assert got[2 + (0 if n < 126 else 8):] == msg
    s.close()


def test_unknown_host_404_and_offline_502(tunnel):
    r = curl("-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: nobody.test",
             f"{tunnel.url}/")
    assert r.stdout == b"404"
    tunnel.connector.stop()
    r = curl("-w", "\n%{http_code}", *tunnel.curl_args("/hello"))
    assert r.stdout.endswith(b"\n502"), r.stdout
    assert b"offline" in r.stdout.lower()


def test_connector_restart_resumes(tunnel):
    tunnel.connector.stop()
    tunnel.start_connector()
    assert curl("-f", *tunnel.curl_args("/hello")).returncode == 0


def test_edge_restart_connector_reconnects(tunnel):
    tunnel.edges[0].stop()
    tunnel.edges.pop()
    tunnel.start_edge()
    tunnel.connector.wait_for(r"INF Registered tunnel connection", count=2 * tunnel.ha,
                              timeout=20)
    assert curl("-f", *tunnel.curl_args("/hello")).returncode == 0


def test_one_of_two_edges_killed(tmp_path):
    env = TunnelEnv(tmp_path, ha=2)
    try:
        # A second edge with the same tunnels file, and a connector over both.
        p2, h2 = free_port(), free_port()
        env.start_edge(port=p2, http_port=h2)
        env.connector.stop()
        env.start_connector(edges=[f"127.0.0.1:{env.edge_port}", f"127.0.0.1:{p2}"])
        env.edges[0].stop()
        args = ["--resolve", f"{env.host}:{h2}:127.0.0.1", f"http://{env.host}:{h2}/hello"]
        for _ in range(20):
            assert curl("-f", *args).returncode == 0
    finally:
        env.close()


@pytest.mark.parametrize("bind,dial", [("0.0.0.0", "127.0.0.2"), ("::", "127.0.0.2")])
def test_multihomed_edge(tmp_path, bind, dial):
    if bind == "::" and not socket.has_ipv6:
        pytest.skip("no IPv6 on this host")
    env = TunnelEnv(tmp_path, edge_bind=bind, dial=dial, ha=1)
    try:
        assert curl("-f", *env.curl_args("/hello")).stdout == b"Hello from the origin\n"
    finally:
        env.close()


def test_wrong_secret_refused(tunnel):
    tunnel.connector.stop()
    cred = json.loads(tunnel.cred.read_text())
    cred["TunnelSecret"] = base64.b64encode(os.urandom(32)).decode()
    bad = tunnel.tmp / "bad.json"
    bad.write_text(json.dumps(cred))
    os.chmod(bad, 0o600)
    args = tunnel.connector_args()
    args[args.index("--credentials-file") + 1] = bad
    c = Proc(args, "bad-connector")
    try:
        c.wait_for(r"ERR Register tunnel error from server side.*unauthorized")
    finally:
        c.stop()


def test_hostname_of_another_tunnel_refused(tunnel):
    r = run_warren("tunnel", "create", "thief", "--hostname", tunnel.host, "--tunnels",
                   tunnel.tunnels, "--credentials-file", tunnel.tmp / "thief.json")
    assert r.returncode != 0
    assert tunnel.host in r.stderr
