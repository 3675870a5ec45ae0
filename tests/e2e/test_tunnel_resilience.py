"""The connector's side of the tunnel: reconnecting after restarts, several
edges, multihomed edges, chunked uploads, and its command line."""
import hashlib
import json
import os
import socket
import time

import pytest

from conftest import WARREN as ROOT_WARREN, Origin, curl, run_warren
from edgeenv import Connector, Edge, LoggedProc, create_tunnel

HOST = "app.example.com"


def via(edge, path):
    h, p = edge.http
    return ["--resolve", f"{HOST}:{p}:{h}", f"http://{HOST}:{p}{path}"]


@pytest.fixture
def setup(tmp_path):
    tunnels, cred = create_tunnel(tmp_path, "web", HOST)
    origin = Origin()
    procs = []
    yield tmp_path, tunnels, cred, origin, procs
    for p in reversed(procs):
        p.stop()
    origin.stop()


def test_chunked_upload(setup):
    tmp, tunnels, cred, origin, procs = setup
    edge = Edge(tmp, tunnels)
    procs += [edge, Connector(edge, cred, origin.url, ha=1)]
    edge.wait_for(r"INF Registered tunnel connection")
    body = os.urandom(300000)
    (tmp / "b").write_bytes(body)
    r = curl("-f", "-H", "Transfer-Encoding: chunked", "--data-binary", f"@{tmp / 'b'}",
             *via(edge, "/sha256"))
    assert r.stdout.decode().split() == [hashlib.sha256(body).hexdigest(), "300000"]


def test_connector_restart_resumes(setup):
    tmp, tunnels, cred, origin, procs = setup
    edge = Edge(tmp, tunnels)
    procs.append(edge)
    c = Connector(edge, cred, origin.url, ha=2)
    c.wait_for(r"INF Registered tunnel connection", count=2)
    c.stop()
    c = Connector(edge, cred, origin.url, ha=2)
    procs.append(c)
    c.wait_for(r"INF Registered tunnel connection", count=2)
    assert curl("-f", *via(edge, "/hello")).stdout == b"Hello from the origin\n"


def test_edge_restart_connector_reconnects(setup):
    tmp, tunnels, cred, origin, procs = setup
    edge = Edge(tmp, tunnels)
    c = Connector(edge, cred, origin.url, ha=2)
    procs.append(c)
    c.wait_for(r"INF Registered tunnel connection", count=2)
    edge.stop()
    c.wait_for(r"INF Retrying connection", timeout=40)
    edge = Edge(tmp, tunnels, quic_port=edge.quic_port)
    procs.append(edge)
    # Backoff starts at 250 ms with full jitter, a refusal is retried within
    # a second: back within seconds.
    c.wait_for(r"INF Registered tunnel connection", count=4, timeout=20)
    assert curl("-f", *via(edge, "/hello")).returncode == 0


def test_one_of_two_edges_killed(setup):
    tmp, tunnels, cred, origin, procs = setup
    e1 = Edge(tmp, tunnels)
    e2 = Edge(tmp, tunnels)
    c = Connector([e1, e2], cred, origin.url, ha=2)
    procs += [e2, c]
    e1.wait_for(r"INF Registered tunnel connection")
    e2.wait_for(r"INF Registered tunnel connection")
    e1.stop()
    for _ in range(20):
        assert curl("-f", *via(e2, "/hello")).stdout == b"Hello from the origin\n"


@pytest.mark.parametrize("bind", ["0.0.0.0", "::"])
def test_multihomed_edge_reached_at_127_0_0_2(setup, bind):
    """An edge on a wildcard address answers from the address it was reached
    on: a connector dialling 127.0.0.2 registers and serves."""
    if bind == "::" and not socket.has_ipv6:
        pytest.skip("no IPv6 on this host")
    tmp, tunnels, cred, origin, procs = setup
    edge = Edge(tmp, tunnels, bind=bind)
    c = Connector([f"127.0.0.2:{edge.quic_port}"], cred, origin.url, ha=1, ca=edge.ca)
    procs += [edge, c]
    c.wait_for(r"INF Registered tunnel connection connIndex=0 .*ip=127\.0\.0\.2:")
    assert curl("-f", *via(edge, "/hello")).stdout == b"Hello from the origin\n"


def test_edge_given_by_name(setup):
    # A name is resolved (io/dns) before each dial; logs show the address dialled.
    tmp, tunnels, cred, origin, procs = setup
    edge = Edge(tmp, tunnels)
    procs.append(edge)
    c = Connector([f"localhost:{edge.quic_port}"], cred, origin.url, ha=2, ca=edge.ca)
    procs.append(c)
    lines = c.wait_for(r"INF Registered tunnel connection", count=2)
    assert all(f"ip=127.0.0.1:{edge.quic_port} " in l for l in lines), lines
    assert curl("-f", *via(edge, "/hello")).stdout == b"Hello from the origin\n"


def test_run_refuses_an_edge_that_does_not_resolve(tmp_path):
    _, cred = create_tunnel(tmp_path, "web", HOST)
    r = run_warren("tunnel", "--edge", "no-such-edge.invalid:7844", "--edge-fingerprint", "00",
                   "--credentials-file", cred, "--url", "http://127.0.0.1:2", "run", "web")
    assert r.returncode == 1
    assert r.stderr == "warren: the edge address no-such-edge.invalid:7844 does not resolve.\n"


def test_run_refuses_bad_setups(tmp_path):
    _, cred = create_tunnel(tmp_path, "web", HOST)
    r = run_warren("tunnel", "--edge", "127.0.0.1:1", "--url", "http://127.0.0.1:2", "run")
    assert r.returncode == 2 and "no credentials" in r.stderr
    r = run_warren("tunnel", "--edge", "127.0.0.1:1", "--credentials-file", cred, "--url",
                   "http://127.0.0.1:2", "run", "web")
    assert r.returncode == 2 and "--edge-ca FILE or --edge-fingerprint" in r.stderr
    r = run_warren("tunnel", "--protocol", "udp", "run")
    assert r.returncode == 2 and "--protocol takes auto, quic or http2" in r.stderr
    r = run_warren("tunnel", "--ha-connections", "0", "run")
    assert r.returncode == 2 and "--ha-connections must be between 1 and 64" in r.stderr


def test_connector_metrics_and_ready(setup):
    import re
    tmp, tunnels, cred, origin, procs = setup
    edge = Edge(tmp, tunnels)
    c = Connector(edge, cred, origin.url, ha=2, extra=["--metrics", "127.0.0.1:0"])
    procs += [edge, c]
    port = re.search(r"Starting metrics server addr=127\.0\.0\.1:(\d+)",
                     c.wait_for(r"Starting metrics server")[0]).group(1)
    c.wait_for(r"INF Registered tunnel connection", count=2)
    assert curl("-f", *via(edge, "/hello")).returncode == 0
    ready = curl("-f", f"http://127.0.0.1:{port}/ready").stdout
    assert b'"readyConnections":2' in ready
    text = curl("-f", f"http://127.0.0.1:{port}/metrics").stdout.decode()
    assert "warren_tunnel_ha_connections 2" in text
    assert re.search(r"warren_tunnel_requests_total [1-9]", text)
    assert 'warren_tunnel_response_by_code_total{status_code="200"}' in text
    assert re.search(r'warren_tunnel_rtt_seconds\{connIndex="0"\} 0\.\d+', text)
    assert 'warren_udp_receive_buffer_bytes' in text
    # cloudflared's names beside warren's, for its dashboards
    assert "cloudflared_tunnel_ha_connections 2" in text
    assert re.search(r"cloudflared_tunnel_total_requests [1-9]", text)
    assert 'cloudflared_tunnel_response_by_code{status_code="200"}' in text
    assert "# TYPE cloudflared_tunnel_request_errors counter" in text


def test_origin_connections_are_kept_alive(setup):
    """Requests after the first reuse the connector's pooled origin connection."""
    tmp, tunnels, cred, origin, procs = setup
    edge = Edge(tmp, tunnels)
    c = Connector(edge, cred, origin.url, ha=1)
    procs += [edge, c]
    c.wait_for(r"INF Registered tunnel connection")
    peers = {curl("-f", *via(edge, "/peer")).stdout for _ in range(5)}
    curl("-f", "--data-binary", "x" * 5000, *via(edge, "/sha256"))
    peers.add(curl("-f", *via(edge, "/peer")).stdout)
    assert len(peers) == 1, peers


def test_ingress_rules_unix_status_and_hello(tmp_path):
    """config.yml ingress rules pick the service per request: a Unix-socket
    origin, a fixed status for one path, the built-in hello page for the rest."""
    import subprocess
    from conftest import ORIGIN
    from edgeenv import LoggedProc
    tunnels, cred = create_tunnel(tmp_path, "web", HOST, "other.example.com")
    sock = tmp_path / "origin.sock"
    origin = subprocess.Popen(["/usr/bin/python3", str(ORIGIN), "--unix", str(sock)],
                              stdout=subprocess.PIPE, text=True)
    assert origin.stdout.readline().startswith("listening unix:")
    edge = Edge(tmp_path, tunnels)
    cfg = tmp_path / "config.yml"
    cfg.write_text(f"""tunnel: web
credentials-file: {cred}
edge: [127.0.0.1:{edge.quic_port}]
edge-ca: {edge.ca}
ha-connections: 1
ingress:
  - hostname: {HOST}
    path: ^/teapot
    service: http_status:418
  - hostname: {HOST}
    service: unix:{sock}
  - service: hello_world
""")
    c = LoggedProc([str(ROOT_WARREN), "tunnel", "--config", cfg, "run"], "connector")
    try:
        c.wait_for(r"INF Registered tunnel connection")
        assert curl("-f", *via(edge, "/hello")).stdout == b"Hello from the origin\n"
        r = curl("-o", "/dev/null", "-w", "%{http_code}", *via(edge, "/teapot/x"))
        assert r.stdout == b"418"
        h, p = edge.http
        r = curl("--resolve", f"other.example.com:{p}:{h}", f"http://other.example.com:{p}/")
        assert r.stdout.startswith(b"Hello from warren!")
    finally:
        c.stop()
        edge.stop()
        origin.kill()
        origin.wait(5)


def test_run_with_a_token_from_the_environment(setup):
    """cloudflared's way: `tunnel token NAME` on the edge, TUNNEL_TOKEN (and
    TUNNEL_EDGE, TUNNEL_CACERT, TUNNEL_URL) on the connector, no files."""
    tmp, tunnels, cred, origin, procs = setup
    edge = Edge(tmp, tunnels)
    procs.append(edge)
    token = run_warren("tunnel", "token", "web", "--tunnels", tunnels).stdout.strip()
    env = {**os.environ, "TUNNEL_TOKEN": token, "TUNNEL_EDGE": f"127.0.0.1:{edge.quic_port}",
           "TUNNEL_CACERT": str(edge.ca), "TUNNEL_URL": origin.url}
    conn = LoggedProc([ROOT_WARREN, "tunnel", "--ha-connections", "1", "run"], "connector",
                      env=env)
    procs.append(conn)
    edge.wait_for(r"INF Registered tunnel connection")
    r = curl("-fsS", *via(edge, "/hello"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"Hello from the origin\n"


def test_run_name_must_be_the_credentials_tunnel(setup):
    """`run other` with web's credentials is refused (it used to connect as web)."""
    tmp, tunnels, cred, origin, procs = setup
    r = run_warren("tunnel", "--edge", "127.0.0.1:9", "--credentials-file", cred, "--url",
                   origin.url, "run", "other")
    assert r.returncode == 1
    web_id = json.loads(cred.read_text())["TunnelID"]
    assert f'warren: {cred} is for tunnel "web" ({web_id}), not "other"' in r.stderr, r.stderr


def get_timed(edge, path="/hello"):
    t = time.monotonic()
    r = curl("-s", "-o", "/dev/null", "-w", "%{http_code}", *via(edge, path))
    return r.stdout.decode(), time.monotonic() - t


@pytest.mark.parametrize("protocol", ["quic", "http2"])
def test_connector_killed_costs_under_a_second(setup, protocol):
    """kill -9 of a connector with 4 connections: its host answers the edge's
    packets with ICMP port unreachable (QUIC) or its kernel closes the TCP
    connections (http2), so a GET gets its 502 at once instead of after the
    30 s idle timeout; a connector started again serves the very next GET."""
    tmp, tunnels, cred, origin, procs = setup
    edge = Edge(tmp, tunnels)
    procs.append(edge)
    conn = Connector(edge, cred, origin.url, ha=4, extra=("--protocol", protocol))
    procs.append(conn)
    edge.wait_for(r"INF Registered tunnel connection", count=4)
    assert get_timed(edge)[0] == "200"
    conn.proc.kill()
    conn.proc.wait()
    status, took = get_timed(edge)
    assert status == "502" and took < 1.0, (status, took)
    again = Connector(edge, cred, origin.url, ha=4, extra=("--protocol", protocol))
    procs.append(again)
    edge.wait_for(r"INF Registered tunnel connection", count=8)
    status, took = get_timed(edge)
    assert status == "200" and took < 1.0, (status, took)


def test_connector_killed_and_restarted_at_once(setup):
    """Killed and restarted before the edge noticed: the old connections stay
    registered beside the new ones until a request touches one; its ICMP
    refusal then closes all of them together, and the request is retried on
    a new connection, not on another dead one."""
    tmp, tunnels, cred, origin, procs = setup
    edge = Edge(tmp, tunnels)
    procs.append(edge)
    conn = Connector(edge, cred, origin.url, ha=4)
    procs.append(conn)
    edge.wait_for(r"INF Registered tunnel connection", count=4)
    conn.proc.kill()
    conn.proc.wait()
    again = Connector(edge, cred, origin.url, ha=4)
    procs.append(again)
    edge.wait_for(r"INF Registered tunnel connection", count=8)
    for _ in range(8):
        status, took = get_timed(edge)
        assert status == "200" and took < 1.0, (status, took)
    edge.wait_for(r"answered ICMP port unreachable", count=4, timeout=5)


@pytest.mark.parametrize("protocol", ["quic", "http2"])
def test_edge_killed_and_restarted_serves_within_two_seconds(setup, protocol):
    """kill -9 of the edge and a new one on the same ports: the connectors'
    once-a-second keep-alive meets a refusal (ICMP, a stateless reset or a
    TCP RST) and they register again at once, instead of at a keep-alive ten
    seconds away."""
    tmp, tunnels, cred, origin, procs = setup
    edge = Edge(tmp, tunnels)
    procs.append(edge)
    conn = Connector(edge, cred, origin.url, ha=2, extra=("--protocol", protocol))
    procs.append(conn)
    edge.wait_for(r"INF Registered tunnel connection", count=2)
    edge.proc.kill()
    edge.proc.wait()
    t0 = time.monotonic()
    again = Edge(tmp, tunnels, quic_port=edge.quic_port)
    procs.append(again)
    again.wait_for(r"INF Registered tunnel connection", count=2, timeout=10)
    took = time.monotonic() - t0
    assert get_timed(again)[0] == "200"
    assert took < 2.5, took
