"""DNSLink end to end: `warren resolve` asks a real DNS server (dnsmasq,
started per test on a free loopback port) through c-ares on warren's event
loop: the _dnslink. record and the bare-host fallback, several records, TXT
values split into 255-byte strings (and an answer long enough for TCP),
/ipns chains and loops, NXDOMAIN, TTL caching and a server that never answers."""
import select
import socket
import subprocess
import time

import pytest

from conftest import WARREN, run_warren
from dnsmasq import Dnsmasq

CID1 = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"
CID2 = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
CID0 = "QmPZ9gcCEpqKTo6aq61g2nXGUhM4iCL3ewB6LDXZCtioEB"


@pytest.fixture
def dns(tmp_path):
    servers = []

    def start(records, **kw):
        d = Dnsmasq(tmp_path, records, **kw)
        servers.append(d)
        return d

    yield start
    for d in servers:
        d.stop()


def resolve(server, *args, timeout=20):
    return run_warren("resolve", "--dns-resolver", server.addr, *args, timeout=timeout)


def test_dnslink_record_and_path(dns):
    d = dns([("_dnslink.plain.test", f"dnslink=/ipfs/{CID1}"),
             ("_dnslink.sub.test", f"dnslink=/ipfs/{CID1}/docs/")])
    r = resolve(d, "/ipns/plain.test")
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"/ipfs/{CID1}\n"
    # the bare domain, a path after it, a path in the record, upper case
    r = resolve(d, "plain.test", "/ipns/Plain.Test/a/b.html", "/ipns/sub.test/x")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [f"/ipfs/{CID1}", f"/ipfs/{CID1}/a/b.html",
                                     f"/ipfs/{CID1}/docs/x"]
    assert d.queries("_dnslink.plain.test") >= 1


def test_dnslink_prefix_wins_and_bare_host_fallback(dns):
    d = dns([("_dnslink.both.test", f"dnslink=/ipfs/{CID1}"),
             ("both.test", f"dnslink=/ipfs/{CID0}"),
             ("bare.test", "v=spf1 -all"),
             ("bare.test", f"dnslink=/ipfs/{CID2}"),
             ("spf.test", "v=spf1 -all")])
    r = resolve(d, "both.test")
    assert r.stdout == f"/ipfs/{CID1}\n", r.stderr
    assert d.queries("both.test") == 0  # no need to ask the bare name
    r = resolve(d, "bare.test")
    assert r.stdout == f"/ipfs/{CID2}\n", r.stderr
    assert d.queries("_dnslink.bare.test") == 1 and d.queries("bare.test") == 1
    r = resolve(d, "spf.test")
    assert r.returncode == 1
    assert "_dnslink.spf.test does not exist (NXDOMAIN" in r.stderr
    assert "spf.test has TXT records but none starts with \"dnslink=\"" in r.stderr


def test_several_records_choose_the_smallest(dns):
    values = [f"dnslink=/ipfs/{CID1}", f"dnslink=/ipfs/{CID2}", "dnslink=/ipfs/notacid",
              "dnslink=/ipns/other.test", "google-site-verification=x", f"dnslink=/ipfs/{CID0}/z"]
    d = dns([("_dnslink.multi.test", v) for v in values] +
            [("_dnslink.ipns-only.test", "dnslink=/ipns/zz.test"),
             ("_dnslink.ipns-only.test", "dnslink=/ipns/aa.test"),
             ("_dnslink.aa.test", f"dnslink=/ipfs/{CID2}"),
             ("_dnslink.zz.test", f"dnslink=/ipfs/{CID1}")])
    valid_ipfs = [v for v in values if v.startswith("dnslink=/ipfs/") and "notacid" not in v]
    expect = min(valid_ipfs)[len("dnslink="):]
    for _ in range(3):  # whatever order the server hands them out in
        r = resolve(d, "multi.test")
        assert r.stdout == expect + "\n", r.stderr
    r = resolve(d, "-r=false", "ipns-only.test")
    assert r.stdout == "/ipns/aa.test\n", r.stderr
    r = resolve(d, "ipns-only.test")
    assert r.stdout == f"/ipfs/{CID2}\n", r.stderr


def test_malformed_records_are_refused_with_a_reason(dns):
    d = dns([("_dnslink.bad.test", "dnslink=/ipfs/notacid"),
             ("_dnslink.dots.test", f"dnslink=/ipfs/{CID1}/../etc"),
             ("_dnslink.ns.test", "dnslink=/foo/bar")])
    r = resolve(d, "bad.test")
    assert r.returncode == 1
    assert "unusable: the identifier after /ipfs/ is not a valid CID" in r.stderr
    r = resolve(d, "dots.test")
    assert "the path has a \".\" or \"..\" segment" in r.stderr
    r = resolve(d, "ns.test")
    assert "the namespace is neither /ipfs/ nor /ipns/" in r.stderr
    r = resolve(d, "127.0.0.1")
    assert r.returncode == 1 and "an IP address has no DNSLink" in r.stderr


def test_long_values_split_into_strings(dns):
    # dnsmasq splits a long string into 255-byte character-strings; the
    # resolver joins them back. Three such records (1.8 KB) do not fit the
    # 1232-byte EDNS answer, so the answer comes truncated and c-ares asks
    # again over TCP.
    seg = "/" + "s" * 60
    long_path = seg * 9  # 549 bytes of path
    one = f"dnslink=/ipfs/{CID1}{long_path}"
    assert len(one) > 2 * 255
    parts = (one[:100], one[100:])  # and a value given as two strings
    d = dns([("_dnslink.long.test", one),
             ("_dnslink.parts.test", parts),
             ("_dnslink.tcp.test", one),
             ("_dnslink.tcp.test", f"dnslink=/ipfs/{CID2}{long_path}"),
             ("_dnslink.tcp.test", f"dnslink=/ipns/x.test{long_path}")])
    r = resolve(d, "long.test", "parts.test", "tcp.test")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [f"/ipfs/{CID1}{long_path}"] * 2 + \
        [min(f"/ipfs/{CID1}{long_path}", f"/ipfs/{CID2}{long_path}")]
    # one UDP query for the value that fits; for the big answer the
    # truncated UDP reply and then the TCP query
    assert d.queries("_dnslink.long.test") == 1, d.log()
    assert d.queries("_dnslink.tcp.test") == 2, d.log()


def test_chains_and_loops(dns):
    d = dns([("_dnslink.a.test", "dnslink=/ipns/b.test/x"),
             ("_dnslink.b.test", "dnslink=/ipns/c.test/y"),
             ("c.test", f"dnslink=/ipfs/{CID1}/z"),
             ("_dnslink.loop1.test", "dnslink=/ipns/loop2.test"),
             ("_dnslink.loop2.test", "dnslink=/ipns/loop1.test"),
             ("_dnslink.self.test", "dnslink=/ipns/self.test/again"),
             ("_dnslink.dangling.test", "dnslink=/ipns/gone.test")])
    r = resolve(d, "/ipns/a.test/w")
    assert r.stdout == f"/ipfs/{CID1}/z/y/x/w\n", r.stderr
    r = resolve(d, "-r=false", "/ipns/a.test/w")
    assert r.stdout == "/ipns/b.test/x/w\n", r.stderr
    r = resolve(d, "--recursive=false", "b.test")
    assert r.stdout == "/ipns/c.test/y\n", r.stderr
    t0 = time.monotonic()
    r = resolve(d, "loop1.test")
    assert r.returncode == 1
    assert "after 32 steps; a DNSLink chain may have at most 32 (is there a loop?)" in r.stderr
    assert time.monotonic() - t0 < 5
    # each name was asked once: the cache answers the other rounds
    assert d.queries("_dnslink.loop1.test") == 1 and d.queries("_dnslink.loop2.test") == 1
    r = resolve(d, "self.test")
    assert r.returncode == 1 and "is there a loop?" in r.stderr
    r = resolve(d, "dangling.test")
    assert r.returncode == 1
    assert "(at step 2, gone.test)" in r.stderr and "NXDOMAIN" in r.stderr


def test_nxdomain(dns):
    d = dns([("_dnslink.other.test", f"dnslink=/ipfs/{CID1}")])
    r = resolve(d, "/ipns/missing.test")
    assert r.returncode == 1 and r.stdout == ""
    assert "DNSLink of missing.test: _dnslink.missing.test does not exist (NXDOMAIN" in r.stderr
    assert "missing.test does not exist (NXDOMAIN" in r.stderr.split(";")[1]


class Session:
    """`warren resolve --stdin`: one process, names in, answers out, its cache
    kept between lines."""

    def __init__(self, server, *args):
        self.proc = subprocess.Popen([str(WARREN), "resolve", "--stdin", "--dns-resolver",
                                      server.addr, *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def ask(self, name, timeout=10):
        self.proc.stdin.write(name + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        assert ready, f"no answer for {name} within {timeout}s"
        return self.proc.stdout.readline().rstrip("\n")

    def close(self):
        self.proc.stdin.close()
        try:
            rc = self.proc.wait(10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(5)
        return rc


def test_ttl_cache(dns):
    d = dns([("_dnslink.ttl.test", f"dnslink=/ipfs/{CID1}")], ttl=3)
    s = Session(d, "--negative-ttl", "2s")
    try:
        assert s.ask("ttl.test") == f"/ipfs/{CID1}"
        t_first = time.monotonic()
        assert s.ask("new.test").startswith("error: DNSLink of new.test:")
        t_neg = time.monotonic()
        d.restart([("_dnslink.ttl.test", f"dnslink=/ipfs/{CID2}"),
                   ("_dnslink.new.test", f"dnslink=/ipfs/{CID0}")])
        # within the TTLs the old answers stay, and the new server is not asked
        assert s.ask("ttl.test") == f"/ipfs/{CID1}"
        assert s.ask("new.test").startswith("error: ")
        assert time.monotonic() - t_first < 2, "too slow to test within the TTL"
        assert d.queries("_dnslink.ttl.test") == 0 and d.queries("_dnslink.new.test") == 0
        # past them, the new records
        time.sleep(max(0, t_neg + 2.2 - time.monotonic()))
        assert s.ask("new.test") == f"/ipfs/{CID0}"
        time.sleep(max(0, t_first + 3.2 - time.monotonic()))
        assert s.ask("ttl.test") == f"/ipfs/{CID2}"
        assert d.queries("_dnslink.ttl.test") == 1 and d.queries("_dnslink.new.test") == 1
    finally:
        rc = s.close()
    assert rc == 1  # one line failed


def test_ttl_zero_is_not_cached(dns):
    d = dns([("_dnslink.zero.test", f"dnslink=/ipfs/{CID1}")], ttl=0)
    s = Session(d)
    try:
        assert s.ask("zero.test") == f"/ipfs/{CID1}"
        assert s.ask("zero.test") == f"/ipfs/{CID1}"
        assert d.queries("_dnslink.zero.test") == 2
    finally:
        assert s.close() == 0


def test_silent_server_times_out(tmp_path):
    # a UDP socket that never reads: the query is swallowed, no ICMP comes back
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        t0 = time.monotonic()
        r = run_warren("resolve", "--timeout", "600ms", "--dns-resolver", f"127.0.0.1:{port}",
                       "slow.test", timeout=20)
        took = time.monotonic() - t0
    assert r.returncode == 1
    assert f"no answer from 127.0.0.1:{port} for the TXT record of _dnslink.slow.test" \
        in r.stderr
    assert 0.5 < took < 2.5, took


def test_nothing_listening_and_bad_flags(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    r = run_warren("resolve", "--dns-resolver", f"127.0.0.1:{port}", "x.test")
    assert r.returncode == 1 and "refused or failed" in r.stderr
    assert time.monotonic() - t0 < 2
    r = run_warren("resolve", "--dns-resolver", "dns.example:53", "x.test")
    assert r.returncode == 2 and "not ADDR:PORT with a numeric address" in r.stderr
    r = run_warren("resolve")
    assert r.returncode == 2 and "resolve needs a name" in r.stderr
    r = run_warren("resolve", "--dns-resolver", f"127.0.0.1:{port}", "/ipfs/" + CID1)
    assert r.returncode == 0 and r.stdout == f"/ipfs/{CID1}\n"
