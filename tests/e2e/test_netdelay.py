"""bench/netdelay really delays packets: UDP round trips across a veth pair
grow by the configured delay once an nftables rule queues them to it."""
import os
import subprocess
import time

import pytest

from conftest import ROOT, is_root

NETDELAY = ROOT / "build" / "bench" / "netdelay"

ECHO_SERVER = r"""
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("192.0.2.2", 9000))
while True:
    d, a = s.recvfrom(2048)
    s.sendto(d, a)
"""

RTT_CLIENT = r"""
import socket, time, statistics
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.connect(("192.0.2.2", 9000))
rtts = []
for i in range(10):
    t = time.monotonic()
    s.send(b"x%d" % i)
    s.recv(2048)
    rtts.append((time.monotonic() - t) * 1000)
print(statistics.median(rtts))
"""


def sh(*cmd, check=True):
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


@pytest.fixture
def veth_pair():
    if not is_root():
        pytest.skip("needs root for network namespaces")
    tag = f"nd{os.getpid() % 100000}"
    a, b = f"{tag}a", f"{tag}b"
    sh("ip", "netns", "add", a)
    sh("ip", "netns", "add", b)
    try:
        sh("ip", "link", "add", f"{tag}x", "netns", a, "type", "veth", "peer", "name", f"{tag}y",
           "netns", b)
        sh("ip", "-n", a, "addr", "add", "192.0.2.1/24", "dev", f"{tag}x")
        sh("ip", "-n", b, "addr", "add", "192.0.2.2/24", "dev", f"{tag}y")
        for ns, dev in ((a, f"{tag}x"), (b, f"{tag}y")):
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        yield a, b, f"{tag}x"
    finally:
        sh("ip", "netns", "del", a, check=False)
        sh("ip", "netns", "del", b, check=False)


def median_rtt(ns):
    r = sh("ip", "netns", "exec", ns, "/usr/bin/python3", "-c", RTT_CLIENT)
    return float(r.stdout)


def test_netdelay_adds_its_delay(veth_pair):
    a, b, dev = veth_pair
    server = subprocess.Popen(["ip", "netns", "exec", b, "/usr/bin/python3", "-c", ECHO_SERVER])
    delayer = None
    try:
        time.sleep(0.3)
        base = median_rtt(a)
        # This kernel has no nft `queue` expression (CONFIG_NFT_QUEUE unset) but
        # has the xtables NFQUEUE target, which iptables reaches through nft.
        sh("ip", "netns", "exec", a, "iptables", "-A", "OUTPUT", "-o", dev, "-j", "NFQUEUE",
           "--queue-num", "3")
        delayer = subprocess.Popen(["ip", "netns", "exec", a, str(NETDELAY), "--queue", "3",
                                    "--delay", "40"], stdout=subprocess.PIPE, text=True)
        assert "queue 3" in delayer.stdout.readline()
        delayed = median_rtt(a)
        assert 38 <= delayed - base <= 90, (base, delayed)
    finally:
        server.kill()
        if delayer:
            delayer.terminate()
            delayer.wait(5)
