"""Users' HTTPS certificates chosen by SNI: an edge with two --https-cert pairs
(certificates made with openssl, each naming one hostname) serves each user the
certificate for the hostname it asked for, which curl verifies strictly against
that certificate alone; a client without SNI gets the first pair; connectors
still get the edge's own certificate; bad pairs are refused with one sentence."""
import re
import subprocess

import pytest

from conftest import Origin, curl
from edgeenv import WARREN, Connector, Edge, create_tunnel


def make_cert(d, host):
    crt, key = d / f"{host}.crt", d / f"{host}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", f"/CN={host}",
                    "-addext", f"subjectAltName=DNS:{host}", "-keyout", key, "-out", crt],
                   check=True, capture_output=True)
    return crt, key


def served_subject(port, servername=None):
    """The subject of the certificate the edge presents, with or without SNI."""
    args = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-brief"]
    args += ["-servername", servername] if servername else ["-noservername"]
    r = subprocess.run(args, input=b"", capture_output=True, timeout=10)
    m = re.search(rb"Peer certificate: (.*)", r.stdout + r.stderr)
    assert m, (r.stdout + r.stderr).decode(errors="replace")
    return m.group(1).decode()


@pytest.fixture
def sni_env(tmp_path):
    a = make_cert(tmp_path, "a.example.com")
    b = make_cert(tmp_path, "b.example.com")
    tunnels, cred = create_tunnel(tmp_path, "web", "a.example.com", "b.example.com")
    origin = Origin()
    edge = Edge(tmp_path, tunnels, "--https", "127.0.0.1:0",
                "--https-cert", a[0], "--https-key", a[1],
                "--https-cert", b[0], "--https-key", b[1])
    conn = Connector(edge, cred, origin.url, ha=1)
    edge.wait_for(r"INF Registered tunnel connection tunnel=web")
    line = edge.wait_for(r"INF Starting edge")[0]
    port = int(re.search(r"https=127\.0\.0\.1:(\d+)", line).group(1))
    yield {"a": a, "b": b, "port": port, "edge": edge}
    conn.stop()
    edge.stop()
    origin.stop()


@pytest.mark.parametrize("http", ["--http2", "--http1.1"])
def test_each_hostname_gets_its_own_certificate(sni_env, http):
    port = sni_env["port"]
    for host in ("a", "b"):
        name = f"{host}.example.com"
        r = curl(http, "--cacert", sni_env[host][0], "--connect-to", f"{name}:443:127.0.0.1:{port}",
                 "-o", "/dev/null", "-w", "%{http_code}", f"https://{name}/bytes/1000")
        assert r.returncode == 0, r.stderr.decode()
        assert r.stdout == b"200"
        # The other hostname's certificate alone does not verify this one.
        other = sni_env["b" if host == "a" else "a"][0]
        r = curl(http, "--cacert", other, "--connect-to", f"{name}:443:127.0.0.1:{port}",
                 f"https://{name}/")
        assert r.returncode != 0


def test_no_sni_or_unknown_name_gets_the_first_pair(sni_env):
    port = sni_env["port"]
    assert "CN = a.example.com" in served_subject(port)
    assert "CN = a.example.com" in served_subject(port, "other.example.net")
    assert "CN = b.example.com" in served_subject(port, "b.example.com")


def test_bad_pairs_are_refused(tmp_path):
    a = make_cert(tmp_path, "a.example.com")
    b = make_cert(tmp_path, "b.example.com")
    tunnels, _ = create_tunnel(tmp_path, "web", "a.example.com")
    base = [WARREN, "edge", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
            "--tunnels", tunnels, "--self-signed", tmp_path / "certs", "--https", "127.0.0.1:0"]
    cases = [
        (["--https-cert", a[0]], 2, "come in pairs: 1 certificate(s), 0 key(s)"),
        (["--https-cert", a[0], "--https-key", b[1]], 1, "does not belong to the certificate"),
        (["--https-cert", a[0], "--https-key", a[1], "--https-cert", b[0], "--https-key",
          tmp_path / "missing.key"], 1, "missing.key"),
    ]
    for extra, code, text in cases:
        r = subprocess.run(list(map(str, base + extra)), capture_output=True, text=True,
                           timeout=10)
        assert r.returncode == code, r.stderr
        errors = [l for l in r.stderr.splitlines() if l.startswith("warren: ")]
        assert len(errors) == 1 and text in errors[0], r.stderr  # one sentence says it
    r = subprocess.run(list(map(str, base[:-2] + ["--https-cert", a[0], "--https-key", a[1]])),
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "give --https ADDR:PORT too" in r.stderr


def test_yaml_lists_of_certificates(tmp_path):
    a = make_cert(tmp_path, "a.example.com")
    b = make_cert(tmp_path, "b.example.com")
    tunnels, _ = create_tunnel(tmp_path, "web", "a.example.com", "b.example.com")
    cfg = tmp_path / "edge.yml"
    cfg.write_text(f"https: 127.0.0.1:0\nhttps-cert: [{a[0]}, {b[0]}]\n"
                   f"https-key:\n  - {a[1]}\n  - {b[1]}\n")
    edge = Edge(tmp_path, tunnels, "--config", cfg)
    try:
        line = edge.wait_for(r"INF Starting edge")[0]
        port = int(re.search(r"https=127\.0\.0\.1:(\d+)", line).group(1))
        assert "CN = b.example.com" in served_subject(port, "b.example.com")
        assert "CN = a.example.com" in served_subject(port)
    finally:
        edge.stop()
