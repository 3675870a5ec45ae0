"""The wrong-source bug where it bites in production: hosts with several
addresses, built in network namespaces joined by veth (names carry the pid;
everything is deleted even when a test fails). Needs root for `ip netns`."""
import re
import shutil

import pytest

from conftest import is_root
from udpdiag import capture, diag_connect, have_ipv6, listener, netns_pair, read_capture, sh

pytestmark = [
    pytest.mark.skipif(not is_root(), reason="creating network namespaces needs root"),
    pytest.mark.skipif(not shutil.which("ip"), reason="iproute2 (ip) is not installed"),
]


@pytest.mark.skipif(not have_ipv6(), reason="IPv6 is not available on this host")
def test_ipv6_secondary_address(warren_bin):
    """Server with a primary and a secondary IPv6 address; the secondary is
    deprecated, so the kernel's source selection never picks it. A client
    talking to the secondary gets its replies from the secondary."""
    with netns_pair("6") as (srv, cli, sif, cif):
        sh("ip", "-n", srv, "addr", "add", "2001:db8:6::1/64", "dev", sif, "nodad")
        sh("ip", "-n", srv, "addr", "add", "2001:db8:6::2/64", "dev", sif, "nodad",
           "preferred_lft", "0")
        sh("ip", "-n", cli, "addr", "add", "2001:db8:6::100/64", "dev", cif, "nodad")
        with listener("[::]:0", ns=srv) as good:
            res = diag_connect(f"[2001:db8:6::2]:{good.port}", ns=cli, timeout=2000)
            assert res.returncode == 0, res.stdout + res.stderr
            assert f"OK: 3/3 replies came back from [2001:db8:6::2]:{good.port}" in res.stdout
        lines = good.datagram_lines()
        assert lines and all(d["reply_src"] == "2001:db8:6::2" for d in lines)
        assert all(d["kernel_choice"] == "2001:db8:6::1" for d in lines)
        assert all(d["iface"] == sif for d in lines)
        # Control: plain sendto() answers from the primary, and the client says so.
        with listener("[::]:0", ns=srv, extra=["--sendto-reply"]) as bad:
            res = diag_connect(f"[2001:db8:6::2]:{bad.port}", ns=cli, timeout=500)
            assert res.returncode == 1, res.stdout
            assert f"came from [2001:db8:6::1]:{bad.port} instead" in res.stdout


def capture_sources(lines, port):
    """(source, destination) IP pairs of the UDP packets leaving port."""
    out = []
    for line in lines:
        m = re.search(r"IP6? (\S+)\.(\d+) > (\S+)\.(\d+): UDP", line)
        if m and int(m.group(2)) == port:
            out.append((m.group(1), m.group(3)))
    return out


def test_two_addresses_one_interface_capture(warren_bin, tmp_path):
    """The seed topology: the server's interface has 198.51.100.10 and
    203.0.113.10, its default route prefers the second. A client sends to the
    first; the capture on the server's interface shows every reply leaving
    from the first. The sendto() control leaves from the second."""
    with netns_pair("2") as (srv, cli, sif, cif):
        sh("ip", "-n", srv, "addr", "add", "198.51.100.10/32", "dev", sif)
        sh("ip", "-n", srv, "addr", "add", "203.0.113.10/32", "dev", sif)
        sh("ip", "-n", srv, "route", "add", "default", "dev", sif, "src", "203.0.113.10")
        sh("ip", "-n", cli, "addr", "add", "192.0.2.1/32", "dev", cif)
        sh("ip", "-n", cli, "route", "add", "default", "dev", cif, "src", "192.0.2.1")

        pcap = str(tmp_path / "good.pcap")
        with listener("0.0.0.0:0", ns=srv) as good:
            with capture(srv, sif, pcap):
                res = diag_connect(f"198.51.100.10:{good.port}", ns=cli, timeout=2000)
        assert res.returncode == 0, res.stdout + res.stderr
        replies = capture_sources(read_capture(pcap), good.port)
        assert len(replies) == 6, replies  # 3 probes from each client socket
        assert all(src == "198.51.100.10" and dst == "192.0.2.1" for src, dst in replies)
        assert all(d["kernel_choice"] == "203.0.113.10" for d in good.datagram_lines())

        pcap = str(tmp_path / "bad.pcap")
        with listener("0.0.0.0:0", ns=srv, extra=["--sendto-reply"]) as bad:
            with capture(srv, sif, pcap):
                res = diag_connect(f"198.51.100.10:{bad.port}", ns=cli, timeout=500)
        assert res.returncode == 1
        assert f"came from 203.0.113.10:{bad.port} instead" in res.stdout
        replies = capture_sources(read_capture(pcap), bad.port)
        assert replies and all(src == "203.0.113.10" for src, _ in replies), replies
