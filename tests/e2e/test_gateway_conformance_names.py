"""The IPNS and DNSLink cases of ipfs/gateway-conformance, ported: its IPNS
records (tests/fixtures/ipns) kept in the edge's repo, its dnslink.yml
records (tests/e2e/fixtures/gateway-conformance/dnslink) served by dnsmasq
started here, and the content from its gateway-cache fixture. From
tests/path_gateway_ipns_test.go (TestGatewayIPNSPath,
TestRedirectCanonicalIPNS, TestGatewayIPNSRecordWithSubpath),
trustless_gateway_ipns_test.go (TestGatewayIPNSRecord), path_gateway_unixfs_test.go
(TestGatewayCacheWithIPNS),
dnslink_gateway_ipns_test.go (TestDNSLinkGatewayIPNS), dnslink_gateway_test.go
(the DNSLink-with-sub-path case) and subdomain_gateway_ipns_test.go (the
Ed25519 and DNSLink cases). Records checked by the suite's own rules: bodies,
statuses, headers; the served record is validated by npm's `ipns`."""
import shutil
import subprocess

import pytest
import yaml

from conftest import ROOT, WARREN
from dnsmasq import Dnsmasq
from edgeenv import Edge, create_tunnel
from gwenv import check_block, get

FIX = ROOT / "tests" / "e2e" / "fixtures" / "gateway-conformance"
IPNS = ROOT / "tests" / "fixtures" / "ipns"
NPM = ROOT / "tests" / "npm"
GW, SUB = "gw.example.com", "example.com"

V1 = "k51qzi5uqu5dm4tm0wt8srkg9h9suud4wuiwjimndrkydqm81cqtlb5ak6p7ku"
V1V2_BROKEN_VALUE = "k51qzi5uqu5dlmit2tuwdvnx4sbnyqgmvbxftl0eo3f33wwtb9gr7yozae9kpw"
V1V2_BROKEN_SIG_V2 = "k51qzi5uqu5diamp7qnnvs1p1gzmku3eijkeijs3418j23j077zrkok63xdm8c"
V1V2_BROKEN_SIG_V1 = "k51qzi5uqu5dilgf7gorsh9vcqqq4myo6jd4zmqkuy9pxyxi5fua3uf7axph4y"
V1V2 = "k51qzi5uqu5dlkw8pxuw9qmqayfdeh4kfebhmreauqdc6a7c3y7d5i9fi8mk9w"
V2 = "k51qzi5uqu5dit2ku9mutlfgwyz8u730on38kd10m97m36bjt66my99hb6103f"
SUBPATH = "k51qzi5uqu5djokp3m1keo36hoxtd6u3a1d2rg1camf6al7p3huy63dojlm57c"
ED25519_B58 = "12D3KooWLQzUv2FHWGVPXTXSZpdHs7oHbXub2G5WC8Tx4NQhyd2d"
ED25519_B36 = "k51qzi5uqu5dk3v4rmjber23h16xnr23bsggmqqil9z2gduiis5se8dht36dam"
HELLO = b"hello\n"  # the CIDv1 both subdomain records and the gateway-cache file hold


def record_file(name):
    return next(IPNS.glob(f"{name}*.ipns-record"))


def identity_body(name):
    """What the suite expects for a record whose value is an identity CID:
    its digest (mustBytesFromRawCID)."""
    r = subprocess.run([str(WARREN), "name", "inspect", str(record_file(name))],
                       capture_output=True, text=True, timeout=10)
    value = next(l.split()[1] for l in r.stdout.splitlines() if l.startswith("Value:"))
    s = value.split("/")[2][1:].upper()
    import base64
    raw = base64.b32decode(s + "=" * (-len(s) % 8))
    # version 1, codec raw 0x55, identity 0x00, length
    assert raw[0] == 1 and raw[1] == 0x55 and raw[2] == 0
    return raw[4:4 + raw[3]]


def dnslinks():
    out = {}
    for f in sorted((FIX / "dnslink").glob("*.yml")):
        for key, d in yaml.safe_load(f.read_text())["dnslinks"].items():
            out[key] = d
    return out


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("confnames")
    repo = tmp / "repo"
    r = subprocess.run([str(WARREN), "--repo", str(repo), "dag", "import",
                        str(FIX / "gateway-cache.car")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    # Valid records go in as any record would (validated by `name put`); the
    # refused ones are written where the repo keeps records, as if they had
    # come unchecked from elsewhere: the gateway must refuse them itself.
    (repo / "ipns").mkdir(exist_ok=True)
    for name in (V1V2, V2, V1V2_BROKEN_SIG_V1, SUBPATH, ED25519_B58):
        r = subprocess.run([str(WARREN), "--repo", str(repo), "name", "put", name,
                            str(record_file(name))], capture_output=True, text=True, timeout=10)
        assert r.returncode == 0, (name, r.stderr)
    for name in (V1, V1V2_BROKEN_VALUE, V1V2_BROKEN_SIG_V2):
        shutil.copy(record_file(name), repo / "ipns" / name)
    links = dnslinks()
    dns = Dnsmasq(tmp, [(f"_dnslink.{d['domain']}", f"dnslink={d['path']}")
                        for d in links.values()], zones=("example.org",))
    tunnels, _ = create_tunnel(tmp, "other", "other.example.net")
    edge = Edge(tmp, tunnels, "--repo", repo, "--gateway", GW, "--subdomain-gateway", SUB,
                "--dnslink", "--dns-resolver", dns.addr)
    edge.links = links
    edge.repo = repo
    yield edge
    edge.stop()
    dns.stop()


# ---- TestGatewayIPNSPath ---------------------------------------------------------

@pytest.mark.parametrize("name", [V1, V1V2_BROKEN_VALUE, V1V2_BROKEN_SIG_V2])
def test_ipns_path_refused_records_are_5xx(gw, name):
    st, _, body = get(gw, GW, f"/ipns/{name}")
    assert 500 <= st <= 599, (st, body)


@pytest.mark.parametrize("name", [V1V2_BROKEN_SIG_V1, V1V2, V2])
def test_ipns_path_valid_records(gw, name):
    st, h, body = get(gw, GW, f"/ipns/{name}")
    assert st == 200 and body == identity_body(name)
    assert h["x-ipfs-path"] == f"/ipns/{name}"


# ---- TestRedirectCanonicalIPNS ---------------------------------------------------

def test_redirect_canonical_ipns(gw):
    st, h, _ = get(gw, GW, "/ipns/12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK/root2/")
    assert st == 302
    assert h["location"] == "/ipns/k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8/root2/"
    st, h, _ = get(gw, GW, "/ipns/QmcJM7PRfkSbcM5cf1QugM5R37TLRKyJGgBEhXjLTB8uA2/root2/")
    assert st == 302
    assert h["location"] == "/ipns/k2k4r8ol4m8kkcqz509c1rcjwunebj02gcnm5excpx842u736nja8ger/root2/"


# ---- TestGatewayIPNSRecordWithSubpath --------------------------------------------

def test_ipns_record_with_subpath(gw):
    st, _, body = get(gw, GW, f"/ipns/{SUBPATH}/root3/root4/index.html")
    assert st == 200 and body == HELLO


# ---- TestGatewayIPNSRecord -------------------------------------------------------

def js_validate(name, data, tmp_path):
    f = tmp_path / "got.ipns-record"
    f.write_bytes(data)
    node = shutil.which("node")
    if not (NPM / "node_modules" / "ipns").exists():
        subprocess.run([shutil.which("npm"), "ci", "--no-audit", "--no-fund"], cwd=NPM,
                       check=True, capture_output=True, timeout=600)
    r = subprocess.run([node, str(NPM / "ipns.mjs"), "validate", name, str(f)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


@pytest.mark.parametrize("name", [V1V2, V2])
@pytest.mark.parametrize("how", ["format", "accept"])
def test_ipns_record_responses(gw, name, how, tmp_path):
    args = ((f"/ipns/{name}?format=ipns-record",) if how == "format" else
            (f"/ipns/{name}", "-H", "Accept: application/vnd.ipfs.ipns-record"))
    st, h, body = get(gw, GW, *args)
    assert st == 200
    assert "attachment;" in h["content-disposition"]
    assert "application/vnd.ipfs.ipns-record" in h["content-type"]
    assert "public, max-age=1800" in h["cache-control"]
    # IsIPNSRecord(name).IsValid().PointsTo(value)
    assert body == record_file(name).read_bytes()
    out = js_validate(name, body, tmp_path)
    value = "/ipfs/" + out.split('"value":"/ipfs/')[1].split('"')[0]
    assert f'"value":"{value}"' in out


def test_ipns_record_filename(gw):
    st, h, _ = get(gw, GW, f"/ipns/{V1V2}?format=ipns-record&filename=test%D1%82%D0%B5%D1%81%D1%82.ipns-record")
    assert st == 200
    assert ("attachment; filename=\"test____.ipns-record\"; "
            "filename*=UTF-8''test%D1%82%D0%B5%D1%81%D1%82.ipns-record") in h["content-disposition"]


# ---- DNSLink gateway -------------------------------------------------------------

def test_dnslink_over_ipns(gw):
    for key in ("dnslink-over-ipns", "dnslink-over-ipns-cidv1"):
        st, _, body = get(gw, gw.links[key]["domain"], "/")
        assert st == 200 and body == HELLO, key


def test_dnslink_with_subpath(gw):
    st, _, body = get(gw, gw.links["dnslink-with-subpath"]["domain"], "/root3/root4/index.html")
    assert st == 200 and body == HELLO


# ---- subdomain gateway, IPNS -----------------------------------------------------

def test_subdomain_ipns_ed25519(gw):
    st, h, _ = get(gw, SUB, f"/ipns/{ED25519_B58}")
    assert st == 301 and h["location"] == f"http://{ED25519_B36}.ipns.{SUB}/"
    st, h, _ = get(gw, SUB, f"/ipns/{ED25519_B36}")
    assert st == 301 and h["location"] == f"http://{ED25519_B36}.ipns.{SUB}/"
    st, _, body = get(gw, f"{ED25519_B36}.ipns.{SUB}", "/")
    assert st == 200 and body == HELLO


def test_subdomain_ipns_dnslink(gw):
    wiki = gw.links["wikipedia"]["domain"]
    test = gw.links["test"]["domain"]
    inline = lambda d: d.replace("-", "--").replace(".", "-")
    st, h, _ = get(gw, SUB, f"/ipns/{wiki}/wiki/")
    assert st == 301 and h["location"] == f"http://{inline(wiki)}.ipns.{SUB}/wiki/"
    st, h, _ = get(gw, SUB, f"/ipns/{wiki}/wiki/", "-H", "X-Forwarded-Proto: https")
    assert st == 301 and h["location"] == f"https://{inline(wiki)}.ipns.{SUB}/wiki/"
    for host in (f"{test}.ipns.{SUB}", f"{inline(test)}.ipns.{SUB}"):
        st, _, body = get(gw, host, "/")
        assert st == 200 and body == HELLO, host
    for key in ("dnslink-over-ipns", "dnslink-over-ipns-cidv1"):
        d = gw.links[key]["domain"]
        for host in (f"{d}.ipns.{SUB}", f"{inline(d)}.ipns.{SUB}"):
            st, _, body = get(gw, host, "/")
            assert st == 200 and body == HELLO, host


# ---- TestGatewayCacheWithIPNS ------------------------------------------------------

CACHE_KEY = "k51qzi5uqu5dlxdsdu5fpuu7h69wu4ohp32iwm9pdt9nq3y5rpn3ln9j12zfhe"


@pytest.fixture(scope="module")
def cache_dag():
    from test_gateway_conformance import Dag
    return Dag("gateway-cache")


def cache_control_ok(h):
    cc = h.get("cache-control", "")
    return cc == "" or cc.startswith("public, max-age=")


@pytest.mark.parametrize("sub,etag", [
    ("root2/root3/", "dirindex"),
    ("root2/root3/root4/", "index"),
    ("root2/root3/root4/index.html", "file"),
])
def test_cache_with_ipns(gw, cache_dag, sub, etag):
    subprocess.run([str(WARREN), "--repo", str(gw.repo), "name", "put", CACHE_KEY,
                    str(record_file(CACHE_KEY))], check=True, capture_output=True, timeout=10)
    st, h, _ = get(gw, GW, f"/ipns/{CACHE_KEY}/{sub}")
    assert st == 200
    assert h["x-ipfs-path"] == f"/ipns/{CACHE_KEY}/{sub}"
    parts = [p for p in sub.split("/") if p]
    want_roots = [cache_dag.cid(*parts[:i]) for i in range(len(parts) + 1)]
    assert h["x-ipfs-roots"] == ",".join(want_roots)
    last = want_roots[-1]
    if etag == "dirindex":
        assert h["etag"].startswith('"DirIndex-') and h["etag"].endswith(f"_CID-{last}\"")
    else:
        assert h["etag"] == f'"{last}"'
    assert cache_control_ok(h)
    if etag == "file":
        st, _, _ = get(gw, GW, f"/ipns/{CACHE_KEY}/{sub}", "-H", f"If-None-Match: \"{last}\"")
        assert st == 304


def test_cache_with_ipns_raw_block(gw, cache_dag):
    subprocess.run([str(WARREN), "--repo", str(gw.repo), "name", "put", CACHE_KEY,
                    str(record_file(CACHE_KEY))], check=True, capture_output=True, timeout=10)
    st, h, body = get(gw, GW, f"/ipns/{CACHE_KEY}/root2/root3/root4/?format=raw")
    assert st == 200
    check_block(cache_dag.cid("root2", "root3", "root4"), body)
    assert cache_control_ok(h)
