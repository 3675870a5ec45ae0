"""Ingress rules checked against cloudflared's own test cases.

The configurations and expected outcomes below are taken from cloudflared's
ingress/ingress_test.go (TestParseIngress, TestFindMatchingRule), Copyright
Cloudflare, Inc., licensed under the Apache License 2.0
(https://www.apache.org/licenses/LICENSE-2.0); warren runs them through
`warren tunnel ingress validate` and `ingress rule` as a cloudflared user would.
Cases for services warren does not have (tcp://, ssh://, bastion, socks) are
left out. The Go regexp cases after them are the ones cloudflared users write.
"""
import pytest

from conftest import run_warren


def validate(tmp_path, yaml):
    cfg = tmp_path / "config.yml"
    cfg.write_text(yaml)
    return run_warren("tunnel", "ingress", "validate", "--config", cfg)


def rule(tmp_path, yaml, url):
    cfg = tmp_path / "config.yml"
    cfg.write_text(yaml)
    return run_warren("tunnel", "ingress", "rule", url, "--config", cfg)


# (name, config, valid) from TestParseIngress.
PARSE_CASES = [
    ("Multiple rules", """
ingress:
 - hostname: tunnel1.example.com
   service: https://localhost:8000
 - hostname: "*"
   service: https://localhost:8001
""", True),
    ("Extra keys", """
ingress:
 - hostname: "*"
   service: https://localhost:8000
extraKey: extraValue
""", True),
    ("ws service", """
ingress:
 - hostname: "*"
   service: wss://localhost:8000
""", True),
    ("Hostname can be omitted", """
ingress:
 - service: https://localhost:8000
""", True),
    ("Unicode domain", """
ingress:
 - hostname: môô.cloudflare.com
   service: https://localhost:8000
 - service: https://localhost:8001
""", True),
    ("Invalid service", """
ingress:
 - hostname: "*"
   service: https://local host:8000
""", False),
    ("Last rule isn't catchall", """
ingress:
 - hostname: example.com
   service: https://localhost:8000
""", False),
    ("First rule is catchall", """
ingress:
 - service: https://localhost:8000
 - hostname: example.com
   service: https://localhost:8000
""", False),
    ("Catch-all rule can't have a path", """
ingress:
 - service: https://localhost:8001
   path: /subpath1/(.*)/subpath2
""", False),
    ("Invalid regex", """
ingress:
 - hostname: example.com
   service: https://localhost:8000
   path: "*/subpath2"
 - service: https://localhost:8001
""", False),
    ("Service must have a scheme", """
ingress:
 - service: localhost:8000
""", False),
    ("Wildcard not at start", """
ingress:
 - hostname: "test.*.example.com"
   service: https://localhost:8000
""", False),
    ("Service can't have a path", """
ingress:
 - service: https://localhost:8000/static/
""", False),
    ("Invalid HTTP status", """
ingress:
 - service: http_status:asdf
""", False),
    ("Invalid HTTP status code", """
ingress:
 - service: http_status:8080
""", False),
    ("Valid HTTP status", """
ingress:
 - service: http_status:404
""", True),
    ("Valid hello world service", """
ingress:
 - service: hello_world
""", True),
]


@pytest.mark.parametrize("name,yaml,valid", PARSE_CASES, ids=[c[0] for c in PARSE_CASES])
def test_parse_ingress_as_cloudflared(warren_bin, tmp_path, name, yaml, valid):
    r = validate(tmp_path, yaml)
    assert (r.returncode == 0) == valid, r.stdout + r.stderr
    if not valid:
        assert "Validation failed" in r.stderr, r.stderr


def test_unicode_rule_matches_its_punycode_form(warren_bin, tmp_path):
    yaml = PARSE_CASES[4][1]
    r = rule(tmp_path, yaml, "https://xn--m-xgaa.cloudflare.com/")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1] == "Matched rule #0"
    r = rule(tmp_path, yaml, "https://other.cloudflare.com/")
    assert r.stdout.splitlines()[1] == "Matched rule #1"


def test_invalid_unicode_hostname_refused(warren_bin, tmp_path):
    # cloudflared's "Invalid unicode domain": a lone surrogate, as UTF-8 bytes.
    cfg = tmp_path / "config.yml"
    cfg.write_bytes(b"ingress:\n - hostname: \xed\xa3\xb3.cloudflare.com\n"
                    b"   service: https://localhost:8000\n - service: http_status:404\n")
    r = run_warren("tunnel", "ingress", "validate", "--config", cfg)
    assert r.returncode == 1
    # libyaml refuses the text before the ingress sees it.
    assert "Validation failed" in r.stderr and "invalid Unicode character" in r.stderr, r.stderr


FIND_RULES = """
ingress:
 - hostname: tunnel-a.example.com
   service: http://localhost:8000
 - hostname: tunnel-b.example.com
   path: /health
   service: http://localhost:8001
 - hostname: "*"
   service: http_status:404
"""


# (host, path, rule index) from TestFindMatchingRule: indices count from 0.
@pytest.mark.parametrize("host,path,want", [
    ("tunnel-a.example.com", "/", 0),
    ("tunnel-a.example.com", "/pages/about", 0),
    ("tunnel-a.example.com:443", "/pages/about", 0),
    ("tunnel-b.example.com", "/health", 1),
    ("tunnel-b.example.com", "/index.html", 2),
    ("tunnel-c.example.com", "/", 2),
])
def test_find_matching_rule_as_cloudflared(warren_bin, tmp_path, host, path, want):
    r = rule(tmp_path, FIND_RULES, f"https://{host}{path}")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1] == f"Matched rule #{want}"


GO_REGEX = """
ingress:
 - hostname: app.example.com
   path: (?i)^/ADMIN/
   service: http://localhost:8000
 - hostname: app.example.com
   path: ^/api/v\\d+/(?:users|groups)/[\\w-]+$
   service: http://localhost:8001
 - hostname: app.example.com
   path: \\.(?:png|jpe?g)$
   service: http://localhost:8002
 - service: http_status:404
"""


@pytest.mark.parametrize("path,want", [
    ("/admin/users", 0),
    ("/Admin/", 0),
    ("/api/v2/users/jo-ann", 1),
    ("/api/vx/users/jo", 3),
    ("/api/v1/teams/x", 3),
    ("/img/cat.JPEG", 3),
    ("/img/cat.jpeg", 2),
])
def test_go_regexp_paths_route_as_in_cloudflared(warren_bin, tmp_path, path, want):
    r = rule(tmp_path, GO_REGEX, f"https://app.example.com{path}")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1] == f"Matched rule #{want}", r.stdout


@pytest.mark.parametrize("path,why", [
    (r"\bword", r"no POSIX equivalent for a word boundary: `\b`"),
    ("a++", "invalid nested repetition operator: `++`"),
    (r"(a)\1", r"invalid escape sequence: `\1`"),
])
def test_untranslatable_regexp_named_in_the_refusal(warren_bin, tmp_path, path, why):
    r = validate(tmp_path, f"""
ingress:
 - hostname: app.example.com
   path: '{path}'
   service: http://localhost:8000
 - service: http_status:404
""")
    assert r.returncode == 1
    assert f"Rule #1 has an invalid regex: {why}" in r.stderr, r.stderr


@pytest.mark.parametrize("url", ["ht tp://bad", "http://a b/", "http://app.example.com:80x/"])
def test_invalid_url_refused(warren_bin, tmp_path, url):
    r = rule(tmp_path, FIND_RULES, url)
    assert r.returncode == 1
    assert r.stderr.strip() == f"warren: {url} is not a valid URL"
