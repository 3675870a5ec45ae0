"""The gateway serving names (src/gateway/nameres, gwname): /ipns/<key> from
IPNS records in the repo (made by `warren name publish` and by npm's `ipns`),
/ipns/<domain> and DNSLink hosts through a real DNS server (dnsmasq started
here), subdomains <name>.ipns.<host> with the subdomain spec's redirects and
DNS-label inlining, `--content HOST=/ipns/NAME` and `HOST=dnslink`,
`--dnslink` for any host, signed records as
application/vnd.ipfs.ipns-record (checked by js-ipns), headers (X-Ipfs-Path
keeps the /ipns/ path, Cache-Control from the record's TTL), and errors: 404
for an unknown name, 502 for a refused record, 504 when DNS does not answer."""
import shutil
import subprocess
import time

import pytest

from conftest import ROOT, run_warren
from dnsmasq import Dnsmasq
from edgeenv import Edge, create_tunnel
from gwenv import add, get, metric

NPM = ROOT / "tests" / "npm"
GW, SUB = "gw.test", "sub.test"


def w(repo, *args, ok=True):
    p = run_warren("--repo", repo, *args)
    if ok:
        assert p.returncode == 0, (args, p.stdout, p.stderr)
    return p


def node_ready():
    node = shutil.which("node")
    assert node, "node is missing: scripts/install-deps installs nodejs and npm"
    if not (NPM / "node_modules" / "ipns").exists():
        subprocess.run([shutil.which("npm"), "ci", "--no-audit", "--no-fund"], cwd=NPM,
                       check=True, capture_output=True, timeout=600)
    return node


def js(*args):
    return subprocess.run([node_ready(), str(NPM / "ipns.mjs"), *map(str, args)],
                          capture_output=True, text=True, timeout=60)


class Env:
    def __init__(self, tmp):
        self.tmp = tmp
        self.repo = tmp / "repo"
        site = tmp / "site"
        (site / "docs").mkdir(parents=True)
        (site / "index.html").write_text("<!doctype html><p>site home</p>\n")
        (site / "docs" / "a.txt").write_text("hello from docs/a.txt\n")
        other = tmp / "other"
        other.mkdir()
        (other / "b.txt").write_text("the second site\n")
        self.cids = add(self.repo, site, "--cid-version=1")
        self.other = add(self.repo, other, "--cid-version=1")
        self.root = self.cids[""]
        # a warren key published with a 90 s TTL; a second pointing at a domain
        self.key = w(self.repo, "key", "gen", "site").stdout.strip()
        w(self.repo, "name", "publish", "--allow-offline", "--key", "site", "--ttl", "90s",
          f"/ipfs/{self.root}")
        self.key2 = w(self.repo, "key", "gen", "todns").stdout.strip()
        w(self.repo, "name", "publish", "--allow-offline", "--key", "todns",
          "/ipns/dl.test/docs")
        self.dns = Dnsmasq(tmp, [
            ("_dnslink.dl.test", f"dnslink=/ipfs/{self.root}"),
            ("_dnslink.sub-path.test", f"dnslink=/ipfs/{self.root}/docs"),
            ("_dnslink.any.test", f"dnslink=/ipfs/{self.other['']}"),
            ("_dnslink.tokey.test", f"dnslink=/ipns/{self.key}"),
            ("_dnslink.www.my-site.test", f"dnslink=/ipfs/{self.other['']}"),
            ("_dnslink.loop-a.test", "dnslink=/ipns/loop-b.test"),
            ("_dnslink.loop-b.test", "dnslink=/ipns/loop-a.test"),
        ], ttl=60)
        self.tunnels, _ = create_tunnel(tmp, "other", "other.example.com")
        self.edge = Edge(tmp, self.tunnels, "--repo", self.repo, "--gateway", GW,
                         "--subdomain-gateway", SUB, "--content", f"named.test=/ipns/{self.key}",
                         "--content", "dl.test=dnslink", "--dnslink",
                         "--dns-resolver", self.dns.addr, "--dns-timeout", "700ms")

    def close(self):
        self.edge.stop()
        self.dns.stop()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    e = Env(tmp_path_factory.mktemp("gwnames"))
    yield e
    e.close()


def max_age(h):
    cc = h["cache-control"]
    assert cc.startswith("public, max-age="), cc
    return int(cc.split("=")[1])


def test_ipns_key_on_the_path_gateway(env):
    st, h, body = get(env.edge, GW, f"/ipns/{env.key}/docs/a.txt")
    assert st == 200 and body == b"hello from docs/a.txt\n"
    assert h["x-ipfs-path"] == f"/ipns/{env.key}/docs/a.txt"
    assert h["cache-control"] == "public, max-age=90"
    assert h["etag"] == f'"{env.cids["docs/a.txt"]}"'
    assert h["x-ipfs-roots"].split(",")[0] == env.root
    # the folder: redirect to the slash, then its index.html
    st, h, _ = get(env.edge, GW, f"/ipns/{env.key}")
    assert st == 301 and h["location"] == f"/ipns/{env.key}/"
    st, h, body = get(env.edge, GW, f"/ipns/{env.key}/")
    assert st == 200 and b"site home" in body
    assert "immutable" not in h["cache-control"]
    # a record's new value is served at once (records are read per request)
    w(env.repo, "name", "publish", "--allow-offline", "--key", "site", "--ttl", "90s",
      f"/ipfs/{env.other['']}")
    try:
        st, _, body = get(env.edge, GW, f"/ipns/{env.key}/b.txt")
        assert st == 200 and body == b"the second site\n"
    finally:
        w(env.repo, "name", "publish", "--allow-offline", "--key", "site", "--ttl", "90s",
          f"/ipfs/{env.root}")


def b58_peer_id(k):
    """The base58btc peer ID of a base36 CIDv1 libp2p-key name."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    n = 0
    for ch in k[1:]:
        n = n * 36 + digits.index(ch)
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    mh = raw[2:]  # version 1, codec 0x72 (one byte each)
    b58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    n, out = int.from_bytes(mh, "big"), ""
    while n:
        n, r = divmod(n, 58)
        out = b58[r] + out
    return "1" * (len(mh) - len(mh.lstrip(b"\0"))) + out


def dagpb_name(k):
    """The same key as a base36 CIDv1 with the dag-pb codec (as old tools wrote it)."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    n = 0
    for ch in k[1:]:
        n = n * 36 + digits.index(ch)
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    n = int.from_bytes(b"\x01\x70" + raw[2:], "big")
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return "k" + out


def test_key_in_other_forms_redirects(env):
    # base58 peer ID -> the base36 CIDv1 (302, as kubo and the conformance suite)
    b58 = b58_peer_id(env.key)
    assert b58.startswith("12D3KooW")
    st, h, _ = get(env.edge, GW, f"/ipns/{b58}/docs/?x=1")
    assert st == 302 and h["location"] == f"/ipns/{env.key}/docs/?x=1"


def test_key_leads_to_dnslink_and_back(env):
    # key2 -> /ipns/dl.test/docs -> DNSLink -> /ipfs/root/docs
    st, h, body = get(env.edge, GW, f"/ipns/{env.key2}/a.txt")
    assert st == 200 and body == b"hello from docs/a.txt\n"
    assert h["x-ipfs-path"] == f"/ipns/{env.key2}/a.txt"
    # DNSLink -> /ipns/key -> record
    st, h, body = get(env.edge, GW, "/ipns/tokey.test/docs/a.txt")
    assert st == 200 and body == b"hello from docs/a.txt\n"
    # the smaller of the DNS answer's TTL (60 s, counting down) and the record's (90 s)
    assert 0 < max_age(h) <= 60


def test_dnslink_on_the_path_gateway(env):
    st, h, body = get(env.edge, GW, "/ipns/dl.test/docs/a.txt")
    assert st == 200 and body == b"hello from docs/a.txt\n"
    assert h["x-ipfs-path"] == "/ipns/dl.test/docs/a.txt"
    assert "immutable" not in h["cache-control"]
    assert 0 < max_age(h) <= 60  # what is left of the DNS answer's TTL
    st, _, body = get(env.edge, GW, "/ipns/sub-path.test/a.txt")
    assert st == 200 and body == b"hello from docs/a.txt\n"


def test_dnslink_hosts(env):
    # --content dl.test=dnslink
    st, h, body = get(env.edge, "dl.test", "/docs/a.txt")
    assert st == 200 and body == b"hello from docs/a.txt\n"
    assert h["x-ipfs-path"] == "/ipns/dl.test/docs/a.txt"
    st, _, body = get(env.edge, "dl.test:8080", "/")
    assert st == 200 and b"site home" in body
    # --dnslink: any host with a _dnslink record
    st, h, body = get(env.edge, "any.test", "/b.txt")
    assert st == 200 and body == b"the second site\n"
    assert h["x-ipfs-path"] == "/ipns/any.test/b.txt"
    # and one without is the edge's 404
    st, _, body = get(env.edge, "nothing.test", "/")
    assert st == 404 and b"DNSLink" in body


def test_content_site_with_ipns_root(env):
    st, h, body = get(env.edge, "named.test", "/docs/a.txt")
    assert st == 200 and body == b"hello from docs/a.txt\n"
    assert h["x-ipfs-path"] == f"/ipns/{env.key}/docs/a.txt"
    assert h["cache-control"] == "public, max-age=90"


def test_subdomains(env):
    st, h, body = get(env.edge, f"{env.key}.ipns.{SUB}", "/docs/a.txt")
    assert st == 200 and body == b"hello from docs/a.txt\n"
    assert h["x-ipfs-path"] == f"/ipns/{env.key}/docs/a.txt"
    # path form -> subdomain (keys as base36, DNS names inlined)
    st, h, _ = get(env.edge, SUB, f"/ipns/{env.key}/docs/?q=1")
    assert st == 301 and h["location"] == f"http://{env.key}.ipns.{SUB}/docs/?q=1"
    st, h, _ = get(env.edge, SUB, "/ipns/www.my-site.test/b.txt",
                   "-H", "X-Forwarded-Proto: https")
    assert st == 301 and h["location"] == f"https://www-my--site-test.ipns.{SUB}/b.txt"
    # the inlined label and the plain DNS name both serve the DNSLink
    for host in (f"www-my--site-test.ipns.{SUB}", f"www.my-site.test.ipns.{SUB}"):
        st, h, body = get(env.edge, host, "/b.txt")
        assert st == 200 and body == b"the second site\n", host
        assert h["x-ipfs-path"] == "/ipns/www.my-site.test/b.txt"
    # a key as a dag-pb CID -> its canonical libp2p-key label, path and query kept
    other = dagpb_name(env.key)
    assert other != env.key
    st, h, _ = get(env.edge, f"{other}.ipns.{SUB}", "/docs/?q=2")
    assert st == 301 and h["location"] == f"http://{env.key}.ipns.{SUB}/docs/?q=2"


def test_ipns_record_responses(env, tmp_path):
    for args in ((f"/ipns/{env.key}?format=ipns-record",),
                 (f"/ipns/{env.key}", "-H", "Accept: application/vnd.ipfs.ipns-record")):
        st, h, body = get(env.edge, GW, *args)
        assert st == 200, body
        assert h["content-type"] == "application/vnd.ipfs.ipns-record"
        assert h["content-disposition"] == f'attachment; filename="{env.key}.ipns-record"'
        assert h["cache-control"] == "public, max-age=90"
        assert h["x-content-type-options"] == "nosniff"
        f = tmp_path / "rec"
        f.write_bytes(body)
        # js-ipns validates the bytes as this name's record, pointing at the site
        p = js("validate", env.key, f)
        assert p.returncode == 0, p.stdout + p.stderr
        assert f'"value":"/ipfs/{env.root}"' in p.stdout
        st2, h2, _ = get(env.edge, GW, *args, "-H", f"If-None-Match: {h['etag']}")
        assert st2 == 304
    # the subdomain form serves it too
    st, _, body2 = get(env.edge, f"{env.key}.ipns.{SUB}", "/?format=ipns-record")
    assert st == 200 and body2 == body
    # not for a path below the name, nor for a DNSLink name
    assert get(env.edge, GW, f"/ipns/{env.key}/docs?format=ipns-record")[0] == 400
    assert get(env.edge, GW, "/ipns/dl.test?format=ipns-record")[0] == 400


def test_js_ipns_record_served(env, tmp_path):
    rec = tmp_path / "js.rec"
    p = js("create", tmp_path / "jskey", rec, f"/ipfs/{env.other['']}", 1, 3_600_000, "v2only", 30)
    assert p.returncode == 0, p.stderr
    name = p.stdout.strip()
    assert get(env.edge, GW, f"/ipns/{name}/b.txt")[0] == 404  # not known yet
    w(env.repo, "name", "put", name, rec)
    st, h, body = get(env.edge, GW, f"/ipns/{name}/b.txt")
    assert st == 200 and body == b"the second site\n"
    assert h["cache-control"] == "public, max-age=30"
    st, _, got = get(env.edge, GW, f"/ipns/{name}?format=ipns-record")
    assert st == 200 and got == rec.read_bytes()


def test_errors(env, tmp_path):
    unknown = "k51qzi5uqu5dlkw8pxuw9qmqayfdeh4kfebhmreauqdc6a7c3y7d5i9fi8mk9w"
    st, _, body = get(env.edge, GW, f"/ipns/{unknown}")
    assert st == 404 and b"no IPNS record" in body
    st, _, body = get(env.edge, GW, "/ipns/not%20a%20name%21")
    assert st == 400
    st, _, body = get(env.edge, GW, "/ipns/nxdomain.test/")
    assert st == 404 and b"does not exist" in body
    st, _, body = get(env.edge, GW, "/ipns/loop-a.test/")
    assert st == 502 and b"loop" in body
    # a record that expired since it was stored: refused, 502
    rec = tmp_path / "short.rec"
    p = js("create", tmp_path / "shortkey", rec, f"/ipfs/{env.root}", 1, 1500, "v1")
    assert p.returncode == 0, p.stderr
    name = p.stdout.strip()
    w(env.repo, "name", "put", name, rec)
    assert get(env.edge, GW, f"/ipns/{name}/docs/a.txt")[0] == 200
    time.sleep(1.6)
    st, _, body = get(env.edge, GW, f"/ipns/{name}/docs/a.txt")
    assert st == 502 and b"refused" in body, body
    assert get(env.edge, GW, f"/ipns/{name}?format=ipns-record")[0] == 502


def test_dns_timeout_is_504(env, tmp_path):
    # a DNS server that swallows every query: the lookup's budget (700 ms), then 504
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    edge = Edge(tmp_path, env.tunnels, "--repo", env.repo, "--gateway", GW,
                "--dns-resolver", f"127.0.0.1:{port}", "--dns-timeout", "700ms")
    try:
        t0 = time.monotonic()
        st, _, body = get(edge, GW, "/ipns/slow.test/")
        took = time.monotonic() - t0
        assert st == 504, body
        assert took < 5, took
    finally:
        edge.stop()
        s.close()


def test_dnslink_lookups_are_bounded(env, tmp_path):
    """--dnslink with made-up hosts and a DNS server that never answers: at
    most --dns-max-lookups domains are asked at once; a request needing one
    more is answered 503 at once (not after the DNS timeout), counted and
    logged; a cached host and the path gateway still answer."""
    import socket
    import threading
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    edge = Edge(tmp_path, env.tunnels, "--repo", env.repo, "--gateway", GW, "--dnslink",
                "--dns-resolver", f"127.0.0.1:{port}", "--dns-timeout", "3s",
                "--dns-max-lookups", "3")
    try:
        got = {}

        def ask(i):
            t0 = time.monotonic()
            st, _, body = get(edge, f"made-up-{i}.test", "/")
            got[i] = (st, time.monotonic() - t0, body)

        held = [threading.Thread(target=ask, args=(i,)) for i in range(3)]
        for t in held:
            t.start()
        time.sleep(0.5)  # the three lookups are running, unanswered
        ask(3)
        ask(4)
        for i in (3, 4):
            st, took, body = got[i]
            assert st == 503 and took < 1.5, (st, took, body)
            assert b"3 DNS lookups are running already" in body, body
        assert get(edge, GW, f"/ipfs/{env.root}/docs/a.txt")[0] == 200
        for t in held:
            t.join(timeout=10)
        assert [got[i][0] for i in range(3)] == [504, 504, 504], got
        assert metric(edge, 'warren_dnslink_txt_queries_total{result="refused"}') == 2
        assert "DNSLink lookup refused: too many running" in edge.log()
        # The three ended: a new domain is asked again (and times out).
        assert get(edge, "made-up-5.test", "/")[0] == 504
    finally:
        edge.stop()
        s.close()


def test_client_leaving_mid_lookup(env, tmp_path):
    """A user who leaves while DNS is asked: the exchange ends cleanly, the
    edge keeps serving."""
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    edge = Edge(tmp_path, env.tunnels, "--repo", env.repo, "--gateway", GW,
                "--dns-resolver", f"127.0.0.1:{port}", "--dns-timeout", "2s")
    try:
        for _ in range(5):
            c = socket.create_connection(edge.http)
            c.sendall(f"GET /ipns/gone.test/ HTTP/1.1\r\nHost: {GW}\r\n\r\n".encode())
            time.sleep(0.05)
            c.close()
        st, _, body = get(edge, GW, f"/ipns/{env.key}/docs/a.txt")
        assert st == 200 and body == b"hello from docs/a.txt\n"
        time.sleep(2.5)  # the swallowed lookups end; nothing may crash
        assert edge.proc.poll() is None
        assert get(edge, GW, f"/ipfs/{env.root}/docs/a.txt")[0] == 200
    finally:
        edge.stop()
        s.close()


def test_client_leaving_mid_lookup_http2(env, tmp_path):
    """The same over HTTP/2: curl gives up (RST_STREAM) while DNS is asked."""
    import re
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    edge = Edge(tmp_path, env.tunnels, "--repo", env.repo, "--gateway", GW, "--https",
                "127.0.0.1:0", "--dns-resolver", f"127.0.0.1:{port}", "--dns-timeout", "2s")
    try:
        line = edge.wait_for(r"INF Starting edge")[0]
        hp = int(re.search(r"https=[\d.]+:(\d+)", line).group(1))
        base = ["curl", "-sS", "-k", "--http2", "--resolve", f"{GW}:{hp}:127.0.0.1"]
        r = subprocess.run(base + ["--max-time", "0.3", f"https://{GW}:{hp}/ipns/gone.test/"],
                           capture_output=True, timeout=10)
        assert r.returncode == 28, r.stderr  # curl's timeout: it left mid-lookup
        r = subprocess.run(base + ["-o", "-", "-w", " %{http_version} %{http_code}",
                                   f"https://{GW}:{hp}/ipns/{env.key}/docs/a.txt"],
                           capture_output=True, timeout=10)
        assert r.stdout == b"hello from docs/a.txt\n 2 200", r.stdout
        time.sleep(2.5)
        assert edge.proc.poll() is None
    finally:
        edge.stop()
        s.close()


def test_tunnel_with_dnslink_fallback(env, tmp_path):
    """A tunnel's hostname whose content is its DNSLink (`--content HOST=dnslink`):
    the origin answers while a connector is attached, the DNSLink's content
    when it is gone."""
    from conftest import Origin
    from edgeenv import Connector
    host = "app.test"
    dns = Dnsmasq(tmp_path, [(f"_dnslink.{host}", f"dnslink=/ipfs/{env.root}")])
    tunnels, cred = create_tunnel(tmp_path, "web", host)
    origin = Origin()
    edge = Edge(tmp_path, tunnels, "--repo", env.repo, "--content", f"{host}=dnslink",
                "--dns-resolver", dns.addr)
    conn = Connector(edge, cred, origin.url, ha=1)
    try:
        edge.wait_for(r"INF Registered tunnel connection tunnel=web")
        st, _, body = get(edge, host, "/hello")
        assert st == 200 and body  # the origin's answer
        # the origin's 502: answered from the DNSLink's content (which lacks the path)
        st, _, body = get(edge, host, "/status/502")
        assert st == 404 and b"status" in body
        conn.stop(sig=9)
        st, h, body = get(edge, host, "/docs/a.txt", "--max-time", "20")
        assert st == 200 and body == b"hello from docs/a.txt\n"
        assert h["x-ipfs-path"] == f"/ipns/{host}/docs/a.txt"
    finally:
        conn.stop()
        edge.stop()
        origin.stop()
        dns.stop()


def test_yaml_config_keys(env, tmp_path):
    """dnslink, dns-resolver, dns-timeout and a content mapping to dnslink, from
    the edge's YAML file."""
    cfg = tmp_path / "edge.yml"
    cfg.write_text(f"repo: {env.repo}\ndnslink: true\ndns-resolver: {env.dns.addr}\n"
                   f"dns-timeout: 1s\ncontent:\n  site.yaml.test: dnslink\n"
                   f"  named.yaml.test: /ipns/{env.key}/docs\n")
    edge = Edge(tmp_path, env.tunnels, "--config", cfg)
    try:
        st, _, body = get(edge, "any.test", "/b.txt")  # dnslink: true
        assert st == 200 and body == b"the second site\n"
        st, _, body = get(edge, "named.yaml.test", "/a.txt")
        assert st == 200 and body == b"hello from docs/a.txt\n"
        st, _, body = get(edge, "site.yaml.test", "/")  # no record: the gateway's 404
        assert st == 404 and b"site.yaml.test" in body
    finally:
        edge.stop()
    bad = subprocess.run([str(ROOT / "build" / "warren"), "edge", "--listen", "127.0.0.1:0",
                          "--http", "127.0.0.1:0", "--self-signed", tmp_path / "certs",
                          "--dnslink", "--dns-resolver", "not-an-address"],
                         capture_output=True, text=True, timeout=20)
    assert bad.returncode != 0 and "not-an-address" in bad.stderr
