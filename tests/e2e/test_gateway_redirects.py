"""`_redirects` files (src/gateway/redirects, redirstep; ipfs/specs
web-redirects-file): ipfs/gateway-conformance's tests/redirects_file_test.go
ported with its fixtures (redirects.car, redirects-spa.car and the
redirects_file dnslink.yml, in tests/e2e/fixtures/gateway-conformance), and a
site made here with `warren add`: rules apply only on origins of their own
(subdomains, DNSLink hosts, content sites), never on the path gateway, only
to missing paths; a rule that climbs out of the site with .. is refused."""
import base64
import subprocess

import pytest
import yaml

from conftest import ROOT, WARREN
from dnsmasq import Dnsmasq
from edgeenv import Edge, create_tunnel
from gwenv import B58, add, get

FIX = ROOT / "tests" / "e2e" / "fixtures" / "gateway-conformance"
GW, SUB = "gw.example.com", "example.com"


def v1(cid0):
    """A CIDv0's DNS-safe CIDv1 (base32, dag-pb), as the suite's DNSSafeCidV1."""
    n = 0
    for ch in cid0:
        n = n * 58 + B58.index(ch)
    mh = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return "b" + base64.b32encode(b"\x01\x70" + mh).decode().lower().rstrip("=")


def dump(car):
    import json
    r = subprocess.run(["node", str(ROOT / "tests" / "npm" / "dag_dump.mjs"), str(FIX / car)],
                       capture_output=True, text=True, timeout=60, check=True)
    return json.loads(r.stdout)


class Env:
    def __init__(self, tmp):
        self.repo = tmp / "repo"
        for car in ("redirects.car", "redirects-spa.car"):
            r = subprocess.run([str(WARREN), "--repo", str(self.repo), "dag", "import",
                                str(FIX / car)], capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stderr
        d = dump("redirects.car")
        self.dirs = {n: c for n, c in d["blocks"][d["roots"][0]]["links"]}
        ex = self.dirs["examples"]
        self.examples = {n: c for n, c in d["blocks"][ex]["links"]}
        spa = dump("redirects-spa.car")
        self.spa_root = spa["roots"][0]
        index = dict(spa["blocks"][self.spa_root]["links"])["index.html"]
        self.spa_index = base64.b64decode(spa["blocks"][index]["data"])  # a raw leaf: the file
        # our own site
        site = tmp / "site"
        (site / "docs").mkdir(parents=True)
        (site / "index.html").write_text("<p>own home</p>\n")
        (site / "docs" / "real.txt").write_text("a real file\n")
        (site / "missing.html").write_text("<p>own 404 page</p>\n")
        (site / "_redirects").write_text(
            "# our rules\n/old/:name /docs/:name 302\n/docs/* /missing.html 404\n")
        self.site = add(self.repo, site, "--cid-version=1")
        bad = tmp / "bad"
        bad.mkdir()
        (bad / "index.html").write_text("bad site\n")
        (bad / "_redirects").write_text("/x /../../etc/passwd 200\n")
        self.bad = add(self.repo, bad, "--cid-version=1")
        self.links = yaml.safe_load((FIX / "dnslink" / "redirects_file.yml").read_text())["dnslinks"]
        self.dns = Dnsmasq(tmp, [(f"_dnslink.{d['domain']}", f"dnslink={d['path']}")
                                 for d in self.links.values()], zones=("example.org",))
        tunnels, _ = create_tunnel(tmp, "other", "other.example.net")
        self.edge = Edge(tmp, tunnels, "--repo", self.repo, "--gateway", GW,
                         "--subdomain-gateway", SUB, "--dnslink", "--dns-resolver", self.dns.addr,
                         "--content", f"own.example.net=/ipfs/{self.site['']}")

    def host(self, cid):
        return f"{v1(cid) if cid.startswith('Qm') else cid}.ipfs.{SUB}"

    def close(self):
        self.edge.stop()
        self.dns.stop()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    e = Env(tmp_path_factory.mktemp("redirects"))
    yield e
    e.close()


# ---- TestRedirectsFileSupport ------------------------------------------------------

@pytest.mark.parametrize("path,status,location", [
    ("/redirect-one", 301, "/one.html"),
    ("/301-redirect-one", 301, "/one.html"),
    ("/302-redirect-two", 302, "/two.html"),
    ("/posts/2022/01/01/hello-world", 301, "/articles/2022/01/01/hello-world"),
    ("/splat/one.html", 301, "/redirected-splat/one.html"),
])
def test_redirects(env, path, status, location):
    st, h, _ = get(env.edge, env.host(env.dirs["examples"]), path)
    assert st == status and h["location"] == location


@pytest.mark.parametrize("path", ["/200-index", "/catch-all"])
def test_rewrites_to_index(env, path):
    st, _, body = get(env.edge, env.host(env.dirs["examples"]), path)
    assert st == 200 and b"my index" in body


@pytest.mark.parametrize("path,status,page", [
    ("/not-found/has-no-redirects-entry", 404, "404.html"),
    ("/gone/has-no-redirects-entry", 410, "410.html"),
    ("/unavail/has-no-redirects-entry", 451, "451.html"),
])
def test_custom_error_pages(env, path, status, page):
    st, h, body = get(env.edge, env.host(env.dirs["examples"]), path)
    assert st == status
    assert h["cache-control"] == "public, max-age=29030400, immutable"
    assert h["etag"] == f'"{env.examples[page]}"'
    assert f"my {status}".encode() in body


def test_invalid_files(env):
    st, _, body = get(env.edge, env.host(env.dirs["forced"]), "/not-found")
    assert st == 500 and b"could not parse _redirects:" in body
    st, _, body = get(env.edge, env.host(env.dirs["too-large"]), "/not-found")
    assert st == 500 and b"could not parse _redirects:" in body
    assert b"redirects file size cannot exceed" in body


def test_newlines_and_codes(env):
    st, h, _ = get(env.edge, env.host(env.dirs["newlines"]), "/redirect-one")
    assert st == 301 and h["location"] == "/one.html"
    st, h, _ = get(env.edge, env.host(env.dirs["good-codes"]), "/a301")
    assert st == 301 and h["location"] == "/b301"
    st, _, body = get(env.edge, env.host(env.dirs["bad-codes"]), "/found.html")
    assert st == 200 and b"my found" in body and b"unsupported redirect status" not in body


# ---- TestRedirectsFileSupportWithDNSLink ---------------------------------------------

def test_dnslink(env):
    host = env.links["redirects-examples"]["domain"]
    st, h, _ = get(env.edge, host, "/redirect-one")
    assert st == 301 and h["location"] == "/one.html"
    st, h, body = get(env.edge, host, "/not-found/has-no-redirects-entry")
    assert st == 404 and b"my 404" in body
    assert h["etag"] == '"Qmd9GD7Bauh6N2ZLfNnYS3b7QVAijbud83b8GE8LPMNBBP"'
    assert "immutable" not in h.get("cache-control", "")
    assert "date" in h


# ---- TestRedirectsFileWithIfNoneMatchHeader ------------------------------------------

def spa_hosts(env):
    d = env.links["redirects-spa"]["domain"]
    inline = d.replace("-", "--").replace(".", "-")
    return [env.host(env.spa_root), f"{inline}.ipns.{SUB}", d]


@pytest.mark.parametrize("which", [0, 1, 2], ids=["subdomain-ipfs", "subdomain-ipns", "dnslink"])
def test_spa_if_none_match(env, which):
    host = spa_hosts(env)[which]
    st, h, body = get(env.edge, host, "/missing-page", "-H", "Accept: text/html")
    assert st == 200 and body == env.spa_index
    etag = h["etag"]
    st, _, _ = get(env.edge, host, "/missing-page", "-H", "Accept: text/html",
                   "-H", f"If-None-Match: {etag}")
    assert st == 304


# ---- warren's own ------------------------------------------------------------------

def test_own_site_on_a_content_host(env):
    h = "own.example.net"
    st, hd, _ = get(env.edge, h, "/old/real.txt?x=1")
    assert st == 302 and hd["location"] == "/docs/real.txt?x=1"
    st, _, body = get(env.edge, h, "/docs/real.txt")
    assert st == 200 and body == b"a real file\n"  # an existing file is never redirected
    st, _, body = get(env.edge, h, "/docs/nothing-here")
    assert st == 404 and body == b"<p>own 404 page</p>\n"
    # no rule matches: the plain 404, naming what is missing
    st, _, body = get(env.edge, h, "/nothing")
    assert st == 404 and b"nothing" in body and b"_redirects" not in body


def test_not_on_the_path_gateway(env):
    st, _, body = get(env.edge, GW, f"/ipfs/{env.site['']}/old/real.txt")
    assert st == 404 and b"own 404 page" not in body


def test_rule_leaving_the_site_is_refused(env):
    st, _, body = get(env.edge, env.host(env.bad[""]), "/x")
    assert st == 500 and b"cannot leave the site" in body
    # the file's errors only matter for missing paths
    assert get(env.edge, env.host(env.bad[""]), "/index.html")[0] == 200
