"""An edge down for 45 s (killed with -9, started again on the same port):
the connectors keep asking about once a second (a QUIC attempt answered with
ICMP port unreachable is "edge down", cheap to repeat, never "UDP blocked"),
so they are back within two seconds of the edge's return, and on QUIC. And
the one case where a refusal does mean "use http2": a firewall rejecting UDP."""
import os
import shutil
import subprocess
import time

import pytest

from conftest import Origin, curl
from edgeenv import Connector, Edge, create_tunnel

HOST = "app.example.com"


def test_edge_down_45s_connectors_back_within_2s_on_quic(tmp_path):
    tunnels, cred = create_tunnel(tmp_path, "web", HOST)
    origin = Origin()
    edge = Edge(tmp_path, tunnels)
    conn = Connector(edge, cred, origin.url, ha=2)  # --protocol auto
    procs = [conn]
    try:
        edge.wait_for(r"INF Registered tunnel connection .*protocol=quic", count=2)
        edge.proc.kill()
        edge.proc.wait()
        time.sleep(45)
        back = Edge(tmp_path, tunnels, quic_port=edge.quic_port)
        procs.append(back)
        t0 = time.monotonic()
        lines = back.wait_for(r"INF Registered tunnel connection", count=2, timeout=10)
        took = time.monotonic() - t0
        assert took < 2.0, took
        assert all("protocol=quic" in l for l in lines), lines
        log = conn.log()
        assert "falling back to http2" not in log and "Falling back to http2" not in log, log
        # It kept asking: attempts all through the outage, none more than ~1 s apart.
        retries = [l for l in conn.lines if "INF Retrying connection" in l]
        assert len(retries) >= 2 * 30, len(retries)
        h, p = back.http
        assert curl("-f", "--resolve", f"{HOST}:{p}:{h}", f"http://{HOST}:{p}/hello").returncode == 0
    finally:
        for p in reversed(procs):
            p.stop()
        edge.stop()
        origin.stop()


def test_udp_rejected_by_a_firewall_falls_back_to_http2(tmp_path):
    """A firewall that rejects UDP (nftables `reject`: ICMP port unreachable,
    as iptables' REJECT) while TCP passes: the QUIC refusal alone looks like
    a down edge, so the connector checks over http2 at once, which works:
    it says so once and serves over http2."""
    if os.geteuid() != 0 or not shutil.which("nft"):
        pytest.skip("needs root and nft to reject UDP")
    tunnels, cred = create_tunnel(tmp_path, "web", HOST)
    origin = Origin()
    edge = Edge(tmp_path, tunnels)
    table = f"wrrej{os.getpid()}"
    conn = None
    subprocess.run(["nft", "add", "table", "inet", table], check=True)
    try:
        subprocess.run(["nft", "add", "chain", "inet", table, "out",
                        "{ type filter hook output priority 0 ; policy accept ; }"], check=True)
        subprocess.run(["nft", "add", "rule", "inet", table, "out", "oifname", "lo", "udp",
                        "dport", str(edge.quic_port), "reject"], check=True)
        conn = Connector(edge, cred, origin.url, ha=2)
        conn.wait_for(r"WRN QUIC is refused but http2 works: UDP to the edge looks rejected",
                      timeout=10)
        edge.wait_for(r"INF Registered tunnel connection .*protocol=http2", count=2, timeout=10)
        assert conn.log().count("looks rejected") == 1
        h, p = edge.http
        assert curl("-f", "--resolve", f"{HOST}:{p}:{h}", f"http://{HOST}:{p}/hello").returncode == 0
    finally:
        subprocess.run(["nft", "delete", "table", "inet", table], capture_output=True)
        if conn:
            conn.stop()
        edge.stop()
        origin.stop()
