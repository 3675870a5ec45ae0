"""Protocol selection: with --protocol auto and UDP to the edge dropped by an
nftables rule (added and removed by the test, matching only this edge's
port), the connector falls back to http2 and serves; once the rule is gone a
QUIC probe gets through and every connection returns to QUIC on its own."""
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import Origin, curl
from edgeenv import Connector, Edge, create_tunnel, fetch


def nft(*args):
    subprocess.run(["nft", *args], check=True, capture_output=True, timeout=10)


def need_nft():
    if os.geteuid() != 0:
        pytest.skip("needs root to add an nftables rule")
    if not shutil.which("nft"):
        pytest.skip("nft is missing (apt-get install nftables)")


def test_auto_falls_back_to_http2_and_returns_to_quic(tmp_path):
    need_nft()
    table = f"wrtest{os.getpid()}"
    tunnels, cred = create_tunnel(tmp_path, "web", "app.example.com")
    origin = Origin()
    edge = Edge(tmp_path, tunnels)
    conn = None
    added = False
    try:
        nft("add", "table", "inet", table)
        added = True
        nft("add", "chain", "inet", table, "out",
            "{ type filter hook output priority 0 ; policy accept ; }")
        nft("add", "rule", "inet", table, "out", "oifname", "lo", "udp", "dport",
            str(edge.quic_port), "drop")
        conn = Connector(edge, cred, origin.url, ha=2,
                         extra=["--protocol", "auto", "--quic-timeout", "1s",
                                "--quic-probe-interval", "2s", "--metrics", "127.0.0.1:0"])
        mport = re.search(r"Starting metrics server addr=127\.0\.0\.1:(\d+)",
                          conn.wait_for(r"Starting metrics server")[0]).group(1)
        conn.wait_for(r"WRN Unable to connect over QUIC: UDP to the edge looks blocked; "
                      r"falling back to http2 connIndex=0", timeout=20)
        conn.wait_for(r"INF Registered tunnel connection .*protocol=http2", count=2, timeout=30)
        edge.wait_for(r"INF Registered tunnel connection tunnel=web .*protocol=http2", count=2)
        # one warning per connector, not one per connection
        assert conn.log().count("Unable to connect over QUIC") == 1
        h, p = edge.http
        args = ["--resolve", f"app.example.com:{p}:{h}", f"http://app.example.com:{p}/hello"]
        assert curl(*args).stdout == b"Hello from the origin\n"
        # probes keep failing while UDP is dropped
        conn.wait_for(r"QUIC probe failed: staying on http2", timeout=15)
        status, body = fetch(edge.murl("/metrics"))
        assert edge.metric(body.decode(),
                           'warren_edge_tunnel_connections{tunnel="web",protocol="http2"}') == 2
        ctext = curl("-f", f"http://127.0.0.1:{mport}/metrics").stdout.decode()
        assert "warren_tunnel_ha_connections 2" in ctext
        assert 'warren_tunnel_connections{protocol="http2"} 2' in ctext
        assert 'warren_tunnel_connections{protocol="quic"} 0' in ctext

        nft("delete", "table", "inet", table)
        added = False
        conn.wait_for(r"INF Switched back to QUIC connIndex=\d", count=2, timeout=30)
        conn.wait_for(r"INF Registered tunnel connection .*protocol=quic", count=2)
        edge.wait_for(r"INF Unregistered tunnel connection tunnel=web", count=2)
        deadline = time.time() + 15
        while True:
            status, body = fetch(edge.murl("/metrics"))
            text = body.decode()
            q = edge.metric(text, 'warren_edge_tunnel_connections{tunnel="web",protocol="quic"}')
            h2 = edge.metric(text,
                             'warren_edge_tunnel_connections{tunnel="web",protocol="http2"}')
            if (q, h2) == (2, 0) or time.time() > deadline:
                break
            time.sleep(0.2)
        assert (q, h2) == (2, 0)
        for _ in range(20):
            assert curl(*args).stdout == b"Hello from the origin\n"
        ctext = curl("-f", f"http://127.0.0.1:{mport}/metrics").stdout.decode()
        assert 'warren_tunnel_connections{protocol="quic"} 2' in ctext
        assert 'warren_tunnel_connections{protocol="http2"} 0' in ctext
    finally:
        if added:
            subprocess.run(["nft", "delete", "table", "inet", table], capture_output=True)
        if conn:
            conn.stop()
        edge.stop()
        origin.stop()


def test_no_http2_listener(tmp_path):
    """--no-http2-listener: the edge serves QUIC only; a connector forced
    onto http2 cannot connect and says so."""
    tunnels, cred = create_tunnel(tmp_path, "web", "app.example.com")
    origin = Origin()
    edge = Edge(tmp_path, tunnels, "--no-http2-listener")
    c1 = c2 = None
    try:
        assert "http2=- " in edge.log()
        c1 = Connector(edge, cred, origin.url, ha=1, extra=["--protocol", "quic"])
        edge.wait_for(r"INF Registered tunnel connection tunnel=web .*protocol=quic")
        c2 = Connector(edge, cred, origin.url, ha=1, extra=["--protocol", "http2"])
        c2.wait_for(r"ERR Unable to establish connection with the edge connIndex=0")
    finally:
        for c in (c1, c2):
            if c:
                c.stop()
        edge.stop()
        origin.stop()


def test_protocol_from_config_file_and_flag_override(tmp_path):
    """config.yml's `protocol: http2` is used; --protocol quic overrides it."""
    tunnels, cred = create_tunnel(tmp_path, "web", "app.example.com")
    origin = Origin()
    edge = Edge(tmp_path, tunnels)
    cfg = tmp_path / "config.yml"
    cfg.write_text("protocol: http2\n")
    c1 = c2 = None
    try:
        c1 = Connector(edge, cred, origin.url, ha=1, extra=["--config", str(cfg)])
        c1.wait_for(r"INF Starting tunnel .*protocol=http2")
        c1.wait_for(r"INF Registered tunnel connection connIndex=0 .*protocol=http2")
        c1.stop()
        c2 = Connector(edge, cred, origin.url, ha=1,
                       extra=["--config", str(cfg), "--protocol", "quic"])
        c2.wait_for(r"INF Registered tunnel connection connIndex=0 .*protocol=quic")
    finally:
        for c in (c1, c2):
            if c:
                c.stop()
        edge.stop()
        origin.stop()


def test_bad_protocol_flags_are_usage_errors(tmp_path):
    from conftest import run_warren
    r = run_warren("tunnel", "--protocol", "udp", "run")
    assert r.returncode == 2 and "--protocol takes auto, quic or http2" in r.stderr
    r = run_warren("tunnel", "--quic-probe-interval", "soon", "run")
    assert r.returncode == 2 and "--quic-probe-interval takes a duration" in r.stderr
    r = run_warren("edge", "--listen", "127.0.0.1:0", "--listen-http2", "127.0.0.1:0",
                   "--no-http2-listener", "--http", "127.0.0.1:0", "--tunnels", "x.yml",
                   "--self-signed", str(tmp_path))
    assert r.returncode == 2 and "not both" in r.stderr
